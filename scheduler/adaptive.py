"""Adaptive poll intervals: poll sooner when a feed brings news, later when it does not.

The idea is Media Cloud's rss-fetcher's (``fetcher/sched.py`` and its per-feed
``poll_minutes``): each poll moves the feed's interval between bounds by what the poll found,
and failures back off exponentially.  Rasd's rule, over one run's summary:

* ``new_share = new / listed`` — the share of listed items not seen before (``new`` is what
  the run requested: listed (each link once) minus known and too old);
  a 304 / unchanged listing counts as ``new_share = 0``;
* ``new_share >= 0.5`` → × 0.5, ``>= 0.1`` → × 1 (keep), otherwise → × 1.5;
* a failed or timed-out run → base × 2 ** consecutive_failures (exponential backoff);
* the result is clamped to ``[min_seconds, max_seconds]``.

All values are seconds.  :func:`bounds` derives the bounds from an outlet's ``schedule``
(``min_interval_minutes`` default = the interval, ``max_interval_minutes`` default = 8 ×).
"""

from __future__ import annotations

from dataclasses import dataclass

from rasd.core.seeds import Schedule


@dataclass(frozen=True)
class Bounds:
    """Interval bounds in seconds; ``base`` is the configured interval."""

    base: float
    min_seconds: float
    max_seconds: float


def bounds(schedule: Schedule, interval_seconds: float | None = None,
           max_seconds: float | None = None) -> Bounds:
    """Bounds for an interval-scheduled outlet.

    ``interval_seconds`` (tests, benchmarks) replaces ``interval_minutes`` and scales the
    minute bounds with it; ``max_seconds`` overrides the upper bound.

    Raises:
        ValueError: the schedule is a cron schedule (those are not adapted).
    """
    if schedule.interval_minutes is None:
        raise ValueError("cron schedules have no adaptive interval")
    scale = 60.0 if interval_seconds is None else interval_seconds / schedule.interval_minutes
    base = schedule.interval_minutes * scale
    low = (schedule.min_interval_minutes or schedule.interval_minutes) * scale
    high = (schedule.max_interval_minutes or 8 * schedule.interval_minutes) * scale
    if max_seconds is not None:
        high = max_seconds
    low = min(low, base)
    return Bounds(base=base, min_seconds=low, max_seconds=max(high, low))


def next_interval(current: float, b: Bounds, *, ok: bool, listed: int = 0, new: int = 0,
                  consecutive_failures: int = 0) -> float:
    """The interval (seconds) after a run; see the module docstring for the rule."""
    if not ok:
        value = b.base * 2 ** max(consecutive_failures, 1)
    else:
        new_share = new / listed if listed > 0 else 0.0
        if new_share >= 0.5:
            value = current * 0.5
        elif new_share >= 0.1:
            value = current
        else:
            value = current * 1.5
    return round(min(max(value, b.min_seconds), b.max_seconds), 3)
