"""Outlet health from the run history: a state and the reason, by tested change rules.

:func:`assess` reads one outlet's runs (:meth:`rasd.scheduler.history.RunHistory.runs`, oldest
first) and returns a :class:`Assessment`: ``state`` one of :data:`STATES` (least to most severe)
and a one-line ``reason``.  Each rule compares the outlet with *its own* history, never with a
fixed number of articles (the idea of Media Cloud's source-health checks, which flag a source
whose story volume falls well below its own recent average):

* **failing** — the last ``failing_runs`` runs (default 2) failed or timed out, or read no
  listing at all (every feed and sitemap failed or was refused); **degraded** after one such run;
* **dark** — failing for ``dark_runs`` runs in a row (6), or the listings answered *only* 304
  over the last ``only_not_modified_runs`` runs (5), not one full answer even to the unconditional polls
  (:mod:`rasd.crawler.feedstate` forces those): Rasd cannot see the outlet at all;
* **stale** — no new link listed for longer than ``stale_factor`` (3) × the outlet's usual gap
  between runs that listed new links (median of its last 50 gaps; judged from ``min_gaps`` (3)
  gaps on, and only after at least two runs without news): the outlet went quiet, or its
  listing froze;
* **degraded**, also —
  - daily volume: archived articles in the last 24 h below ``volume_drop`` (0.5) × the median of
    the previous ``volume_days`` (7) days, when that median is at least ``volume_min`` (5);
  - extraction yield: over the last ``window_runs`` (3) runs with pages, the share of pages
    ending ``skipped/too_little_text`` is at least ``yield_floor`` (0.5) and ``jump`` (0.3)
    above its share in the runs before (0 without earlier runs);
  - refusals: the share of listed links dropped as ``off_domain``, or of pages ending
    ``skipped/robots``, jumped by ``jump`` over the same windows.

The most severe state wins; reasons of the same state are joined with ``; ``.  The rules'
numbers are the ``health`` settings (:class:`rasd.core.settings.HealthSettings`), passed in as
:class:`Rules`.  A run's ``detail`` (JSON, written by the scheduler from the child's summary:
``outcomes``, ``links``, ``listings`` ``{ok, failed, skipped, not_modified}``, ``conditional``)
feeds the yield, refusal and 304 rules; older rows without it are judged by the other rules.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

#: health states, least to most severe
STATES = ("ok", "degraded", "stale", "failing", "dark")
FAILED = ("failed", "timeout")
DAY = 86400.0


@dataclass(frozen=True)
class Rules:
    """The numbers of the change rules (see the module docstring)."""

    failing_runs: int = 2
    dark_runs: int = 6
    only_not_modified_runs: int = 5
    stale_factor: float = 3.0
    min_gaps: int = 3
    volume_days: int = 7
    volume_drop: float = 0.5
    volume_min: int = 5
    window_runs: int = 3
    yield_floor: float = 0.5
    jump: float = 0.3


def rules_from(settings) -> Rules:
    """:class:`Rules` from the ``health`` settings (:class:`rasd.core.settings.HealthSettings`)."""
    return Rules(**settings.model_dump())


@dataclass(frozen=True)
class Assessment:
    """``state`` (one of :data:`STATES`, or ``never run``) and ``reason`` (one line, empty when ok)."""

    state: str
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "reason": self.reason}


def _when(run: dict) -> float:
    return run.get("ended_at") or run.get("started_at") or 0.0


def _detail(run: dict) -> dict:
    d = run.get("detail")
    return d if isinstance(d, dict) else {}


def _blind(run: dict) -> bool:
    """The run failed, or read no listing (all failed or refused)."""
    if run["outcome"] in FAILED:
        return True
    lst = _detail(run).get("listings")
    return bool(lst) and (lst.get("failed", 0) + lst.get("skipped", 0)) > 0 \
        and lst.get("ok", 0) + lst.get("not_modified", 0) == 0


def _error(run: dict) -> str:
    text = " ".join(str(run.get("errors") or "").split())[:200]
    if not text:
        lst = _detail(run).get("listings") or {}
        if lst.get("failed") or lst.get("skipped"):
            text = f"no listing could be read ({lst.get('failed', 0)} failed, {lst.get('skipped', 0)} refused)"
    return text


def _share(runs: list[dict], part) -> float | None:
    num = den = 0
    for r in runs:
        n, d = part(r)
        num, den = num + n, den + d
    return num / den if den else None


def _too_little(r: dict) -> tuple[int, int]:
    return (r.get("skips") or {}).get("too_little_text", 0), r.get("pages") or 0


def _robots(r: dict) -> tuple[int, int]:
    return (r.get("skips") or {}).get("robots", 0), r.get("pages") or 0


def _off_domain(r: dict) -> tuple[int, int]:
    links = _detail(r).get("links") or {}
    return links.get("off_domain", 0), links.get("listed", 0) + links.get("off_domain", 0)


def assess(runs: list[dict[str, Any]], now: float | None = None, rules: Rules = Rules()) -> Assessment:
    """The health of one outlet from its runs (oldest first; dicts as
    :meth:`~rasd.scheduler.history.RunHistory.runs` gives them, ``detail`` decoded); ``now``:
    POSIX seconds.  ``never run`` when no run finished."""
    now = time.time() if now is None else now
    done = [r for r in runs if r["outcome"] not in ("running", "missed", "interrupted")]
    if not done:
        return Assessment("never run", "no run recorded yet")
    found: dict[str, list[str]] = {}

    def flag(state: str, reason: str) -> None:
        found.setdefault(state, []).append(reason)

    # consecutive blind runs
    streak = 0
    for r in reversed(done):
        if not _blind(r):
            break
        streak += 1
    if streak:
        last = done[-1]
        why = f"{streak} consecutive failed run{'s' if streak != 1 else ''}"
        err = _error(last)
        why += f": {err}" if err else ""
        if streak >= rules.dark_runs:
            flag("dark", why)
        elif streak >= rules.failing_runs:
            flag("failing", why)
        else:
            flag("degraded", why)

    # listings that only 304
    recent = done[-rules.only_not_modified_runs:]
    if len(recent) >= rules.only_not_modified_runs and all(_detail(r).get("conditional") for r in recent):
        c = [_detail(r)["conditional"] for r in recent]
        if sum(x.get("fetch/304", 0) for x in c) and not sum(x.get("fetch/200", 0) + x.get("fetch/failed", 0)
                                                            for x in c):
            flag("dark", f"listings answered only 304 in the last {len(recent)} runs, even unconditional polls")

    # staleness: no new link for longer than the outlet's usual gap
    news = [_when(r) for r in done if (r.get("new") or 0) > 0]
    gaps = [b - a for a, b in zip(news, news[1:]) if b > a][-50:]
    if news and len(gaps) >= rules.min_gaps:
        usual = statistics.median(gaps)
        quiet = now - news[-1]
        since = sum(1 for r in done if _when(r) > news[-1])
        if quiet > rules.stale_factor * usual and since >= 2:
            flag("stale", f"no new article for {_span(quiet)} ({since} runs); its usual gap is {_span(usual)}")

    # daily volume against its own recent days
    if done and now - _when(done[0]) >= (rules.volume_days + 1) * DAY:
        today = sum(r.get("archived") or 0 for r in done if _when(r) > now - DAY)
        days = [sum(r.get("archived") or 0 for r in done if now - (k + 1) * DAY < _when(r) <= now - k * DAY)
                for k in range(1, rules.volume_days + 1)]
        usual = statistics.median(days)
        if usual >= rules.volume_min and today < rules.volume_drop * usual:
            flag("degraded", f"{today} articles in the last 24 h, against a median of {usual:g} a day "
                             f"over the {rules.volume_days} days before")

    # extraction yield and refusals, recent runs with pages against the runs before
    with_pages = [r for r in done if (r.get("pages") or 0) > 0 or _detail(r).get("links")]
    window, before = with_pages[-rules.window_runs:], with_pages[:-rules.window_runs][-20:]
    for part, floor, what in ((_too_little, rules.yield_floor, "of fetched pages had too little text to extract"),
                              (_robots, rules.jump, "of pages disallowed by robots.txt"),
                              (_off_domain, rules.jump, "of listed links off the outlet's domains")):
        share = _share(window, part)
        base = _share(before, part) or 0.0
        if share is not None and share >= floor and share - base >= rules.jump:
            flag("degraded", f"{share:.0%} {what} in the last {len(window)} runs (was {base:.0%})")

    for state in reversed(STATES):
        if state in found:
            return Assessment(state, "; ".join(found[state]))
    return Assessment("ok")


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY:.1f} days"
