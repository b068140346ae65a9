"""Adaptive poll intervals that follow an outlet's publishing rate.

The rule (times in seconds, rates in items per second), applied after every successful run of
an interval-scheduled outlet:

* ``k`` — the new items the run found (links listed minus those already known or too old; a
  304 listing's links are counted from its remembered entries, :mod:`rasd.crawler.feedstate`),
  ``dt`` — the time since the previous successful run started, ``I`` — the interval in force,
  ``H`` — the half-life of the estimate (default: half the upper bound, ``max_seconds / 2``);
* ``(k + 1/2) / dt`` is this poll's estimate of the rate: the posterior mean of a Poisson rate
  after ``k`` events in ``dt`` under Jeffreys' prior (a quiet poll says "less than one item in
  ``dt``", not "never");
* the outlet's rate is the time-weighted average of those estimates, each poll weighing
  ``1 - f`` with ``f = 2 ** (-dt / H)``, and the interval stores its inverse:
  ``rate = f / I + (1 - f) * (k + 1/2) / dt``;
* ``I' = clamp(1 / rate, min_seconds, max_seconds)``: the expected time until the next item,
  within the seed's bounds.

What that does: a quiet poll sets ``I' = 2 I / (1 + f)`` (for a 15-minute outlet with the default
2-hour cap: 33 min after 2.7 quiet hours, 1 h after 5, the cap after about 10); the first poll
that finds news brings it down (one item after a night at the cap: 2 h → 87 min; a burst of one
item a minute found by a poll 25 minutes after the last: back to the 15-minute minimum at once,
the weight of that poll being 0.25 and its estimate 61/h); a steady stream of one item every
``g`` seconds settles near ``g / 2`` (the prior's half item per poll), i.e. about two polls per
item, within the bounds.  The estimate needs no state but the interval itself.

Other runs: the first run of an outlet (no earlier successful run: what it finds is the
listing's backlog, not a rate) keeps the interval; a failed or timed-out run sets
``base × 2 ** consecutive_failures`` (exponential backoff, clamped); the first successful run
after failures restarts the estimate from the seed's prior ``1 / base``.  Every run's interval
comes with a one-line reason that the scheduler stores in the run history
(``runs.interval_reason``).

Anchors, and why Rasd does not copy them:

* Media Cloud's rss-fetcher (``fetcher/tasks.py``, ``_check_auto_adjust``) moves a feed's
  ``poll_minutes`` by fixed steps on the *share* of the entries it had already seen: at least
  ``AUTO_ADJUST_MAX_DUPLICATE_PERCENT`` (67 %) duplicates → longer, fewer than
  ``AUTO_ADJUST_MIN_DUPLICATE_PERCENT`` (33 %) → shorter.  Its aim is overlap (a feed must not
  roll over between polls), not latency.  Rasd's former rule was of that kind (× 0.5 at 50 %
  new, keep at 10 %, else × 1.5); since a listing of dozens of items rarely turns half over
  within one interval, the interval only ever grew (10 → 75.9 s, latency 7.6 × base).
* StormCrawler's ``AdaptiveScheduler`` compares a page's signature with the last fetch's:
  changed → ``I × (1 − decr) + min × decr``, unchanged or 304 → ``I × (1 + incr)`` (both rates
  0.5 by default), between ``fetchInterval.min`` and ``max``.  It reacts to *whether* a listing
  changed, not to how much or how often, so it sinks to the minimum for any outlet that
  publishes more than once per interval and oscillates for one that publishes less.

Rasd's rule uses what both leave out: the number of new items per unit of time.
:func:`bounds` derives the bounds from an outlet's ``schedule`` (``min_interval_minutes``
default = the interval, ``max_interval_minutes`` default = 8 ×).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rasd.core.seeds import Schedule

#: Jeffreys' prior for a Poisson rate: half an item of evidence per poll.
PRIOR_ITEMS = 0.5


@dataclass(frozen=True)
class Bounds:
    """Interval bounds in seconds; ``base`` is the configured interval.  ``half_life`` (seconds)
    is the half-life of the rate estimate; ``None`` means ``max_seconds / 2``."""

    base: float
    min_seconds: float
    max_seconds: float
    half_life: float | None = None

    @property
    def fade_seconds(self) -> float:
        return self.half_life if self.half_life else self.max_seconds / 2


@dataclass(frozen=True)
class Step:
    """The interval after a run (seconds) and why, in one line for the run history."""

    interval: float
    reason: str


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


def _clamp(value: float, b: Bounds) -> tuple[float, str]:
    if value < b.min_seconds:
        return b.min_seconds, f", raised to the minimum {b.min_seconds:g} s"
    if value > b.max_seconds:
        return b.max_seconds, f", lowered to the maximum {b.max_seconds:g} s"
    return value, ""


def next_interval(current: float, b: Bounds, *, ok: bool, new: int = 0,
                  elapsed: float | None = None, consecutive_failures: int = 0,
                  after_failures: bool = False) -> Step:
    """The interval after a run; see the module docstring for the rule.

    Args:
        current: the interval in force before the run (seconds).
        ok: the run succeeded.
        new: new items the run found (``k``).
        elapsed: seconds since the previous successful run started (``dt``); ``None`` when
            there was none (the first run).
        consecutive_failures: failed/timed-out runs in a row, this one included (for a failure).
        after_failures: the run succeeded after failed ones (the estimate restarts from the
            seed's prior ``1 / base``).
    """
    if not ok:
        n = max(consecutive_failures, 1)
        value, note = _clamp(b.base * 2 ** n, b)
        return Step(round(value, 3), f"failure {n} in a row: backoff {b.base:g} s × 2^{n}{note}")
    if elapsed is None or elapsed <= 0:
        value, note = _clamp(current, b)
        return Step(round(value, 3), f"first run: {new} listed as new is a backlog, not a rate; "
                                     f"kept {current:g} s{note}")
    previous = b.base if after_failures else current
    weight = 1.0 - 2 ** (-elapsed / b.fade_seconds)
    rate_poll = (new + PRIOR_ITEMS) / elapsed
    rate = (1.0 - weight) / previous + weight * rate_poll
    value, note = _clamp(1.0 / rate, b)
    reason = (f"{new} new in {elapsed:.0f} s: {rate_poll * 3600:.3g}/h this poll (weight "
              f"{weight:.2f}), {3600 / previous:.3g}/h before"
              f"{' (restarted from base)' if after_failures else ''} → {rate * 3600:.3g}/h: "
              f"next item expected in {1.0 / rate:.0f} s{note}")
    if math.isclose(value, current, rel_tol=1e-9):
        reason += " (unchanged)"
    return Step(round(value, 3), reason)
