"""scheduler/health.py: each change rule on histories made for it, and the stored state."""

from __future__ import annotations

import pytest

from rasd.scheduler.health import Rules, assess
from rasd.scheduler.history import RunCounts, RunHistory

T0 = 1_800_000_000.0
HOUR = 3600.0


def run(t: float, outcome: str = "ok", *, new: int = 1, archived: int | None = None, pages: int | None = None,
        skips: dict | None = None, listings: dict | None = None, links: dict | None = None,
        conditional: dict | None = None, errors: str | None = None) -> dict:
    archived = new if archived is None else archived
    pages = archived + sum((skips or {}).values()) if pages is None else pages
    return {"outcome": outcome, "started_at": t - 10, "ended_at": t, "new": new, "archived": archived,
            "pages": pages, "skips": skips or {}, "errors": errors,
            "detail": {"listings": listings or {"ok": 1, "failed": 0, "skipped": 0, "not_modified": 0},
                       "links": links or {"listed": new}, "conditional": conditional or {"fetch/200": 1},
                       "outcomes": {}}}


def hourly(n: int, start: float = T0, **kw) -> list[dict]:
    return [run(start + i * HOUR, **kw) for i in range(n)]


def test_a_regular_outlet_is_ok_and_an_empty_history_never_ran():
    runs = hourly(10)
    assert assess(runs, now=runs[-1]["ended_at"] + 60).state == "ok"
    assert assess([], now=T0).state == "never run"


def test_failed_runs_degrade_then_fail_then_go_dark():
    good = hourly(5)
    t = good[-1]["ended_at"]
    bad = [run(t + (i + 1) * HOUR, "failed", new=0, errors="exit=1 listing answered HTTP 503") for i in range(6)]
    assert assess(good + bad[:1], now=t + HOUR + 1).state == "degraded"
    a = assess(good + bad[:2], now=t + 2 * HOUR + 1)
    assert (a.state, a.reason) == ("failing", "2 consecutive failed runs: exit=1 listing answered HTTP 503")
    assert assess(good + bad, now=t + 6 * HOUR + 1).state == "dark"


def test_runs_reading_no_listing_count_as_failed():
    runs = hourly(5) + hourly(2, start=T0 + 5 * HOUR, new=0,
                              listings={"ok": 0, "failed": 2, "skipped": 1, "not_modified": 0})
    a = assess(runs, now=T0 + 7 * HOUR)
    assert a.state == "failing" and "no listing could be read (2 failed, 1 refused)" in a.reason


def test_stale_is_judged_against_the_outlets_own_gap():
    # news every hour, then 4 quiet hourly runs: 4 h without news > 3 × 1 h
    runs = hourly(8) + hourly(4, start=T0 + 8 * HOUR, new=0)
    a = assess(runs, now=T0 + 11 * HOUR + 1)
    assert a.state == "stale" and "its usual gap is 60 min" in a.reason
    # the same quiet spell for an outlet with news every 6 h is not stale
    slow = [run(T0 + i * 6 * HOUR) for i in range(5)] + [run(T0 + 24 * HOUR + k * HOUR, new=0) for k in (1, 2, 3, 4)]
    assert assess(slow, now=T0 + 28 * HOUR + 1).state == "ok"
    # too little history to know the usual gap: not judged
    assert assess(hourly(2) + hourly(5, start=T0 + 2 * HOUR, new=0), now=T0 + 7 * HOUR).state == "ok"


def test_a_drop_in_daily_volume_against_its_own_days():
    DAY = 24 * HOUR
    busy = [run(T0 + d * DAY + h * HOUR, new=2) for d in range(8) for h in range(0, 24, 2)]  # 24 a day
    end = T0 + 8 * DAY
    quiet = [run(end + h * HOUR, new=1, archived=1) for h in range(0, 24, 3)]  # 8 in the last day
    a = assess(busy + quiet, now=end + 23.9 * HOUR, rules=Rules(stale_factor=100))
    assert a.state == "degraded" and a.reason.startswith("8 articles in the last 24 h, against a median of 24")
    same = [run(end + h * HOUR, new=2) for h in range(0, 24, 2)]
    assert assess(busy + same, now=end + 23.9 * HOUR).state == "ok"


def test_extraction_yield_falling():
    runs = hourly(6, new=4, skips={"too_little_text": 0}) + \
        hourly(3, start=T0 + 6 * HOUR, new=4, archived=1, skips={"too_little_text": 3})
    a = assess(runs, now=T0 + 9 * HOUR)
    assert a.state == "degraded"
    assert a.reason == "75% of fetched pages had too little text to extract in the last 3 runs (was 0%)"
    # an outlet that always had a low yield is not "falling"
    always = hourly(9, new=4, archived=1, skips={"too_little_text": 3})
    assert assess(always, now=T0 + 9 * HOUR).state == "ok"


def test_robots_and_off_domain_shares_that_jump():
    runs = hourly(5, new=4) + hourly(3, start=T0 + 5 * HOUR, new=4, archived=2, skips={"robots": 2})
    assert "disallowed by robots.txt" in assess(runs, now=T0 + 8 * HOUR).reason
    off = hourly(5, new=4, links={"listed": 4}) + \
        hourly(3, start=T0 + 5 * HOUR, new=1, links={"listed": 1, "off_domain": 3})
    a = assess(off, now=T0 + 8 * HOUR, rules=Rules(stale_factor=100))
    assert a.state == "degraded" and "75% of listed links off the outlet's domains" in a.reason


def test_listings_that_only_304_are_dark():
    only = hourly(3) + hourly(5, start=T0 + 3 * HOUR, new=0, conditional={"fetch/304": 2},
                              listings={"ok": 0, "failed": 0, "skipped": 0, "not_modified": 2})
    a = assess(only, now=T0 + 8 * HOUR)
    assert a.state == "dark" and "only 304" in a.reason
    forced = only[:-1] + [run(T0 + 8 * HOUR, new=0, conditional={"fetch/200": 1, "fetch/forced": 1})]
    assert assess(forced, now=T0 + 8 * HOUR + 1).state != "dark"


def test_set_health_reports_only_changes(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite")
    assert h.set_health("a", "ok", "", now=1.0) == {}
    assert h.set_health("a", "ok", "", now=2.0) is None
    assert h.set_health("a", "failing", "2 consecutive failed runs", now=3.0) == {"state": "ok", "reason": "", "since": 1.0}
    assert h.set_health("a", "failing", "3 consecutive failed runs", now=4.0) is None
    assert h.health()["a"] == {"state": "failing", "reason": "3 consecutive failed runs", "since": 3.0}


def test_status_shows_the_assessed_state(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite")
    for _ in range(2):
        h.finish(h.start("x"), "failed", RunCounts(), errors="exit=1 boom")
    st = h.status()["x"]
    assert (st["state"], st["reason"]) == ("failing", "2 consecutive failed runs: exit=1 boom")
    assert st["health"] == "ok"  # the old field: consecutive failures as the adaptive state counts them


@pytest.mark.parametrize("field", ["failing_runs", "dark_runs", "stale_factor"])
def test_rules_are_the_settings(field):
    from rasd.core.settings import HealthSettings
    from rasd.scheduler.health import rules_from

    assert getattr(rules_from(HealthSettings()), field) == getattr(Rules(), field)
