"""scheduler/adaptive.py: interval bounds and the per-run rule (values worked out by hand)."""

import pytest

from rasd.core.seeds import Schedule
from rasd.scheduler.adaptive import bounds, next_interval


def test_bounds_default_to_interval_and_eight_times():
    b = bounds(Schedule(interval_minutes=30))
    assert (b.base, b.min_seconds, b.max_seconds) == (1800, 1800, 14400)


def test_bounds_scale_minutes_to_test_seconds():
    b = bounds(Schedule(interval_minutes=10, min_interval_minutes=5, max_interval_minutes=40),
               interval_seconds=2)
    assert (b.base, b.min_seconds, b.max_seconds) == (2, 1, 8)
    assert bounds(Schedule(interval_minutes=10), interval_seconds=2, max_seconds=2).max_seconds == 2


def test_cron_schedules_are_not_adapted():
    with pytest.raises(ValueError):
        bounds(Schedule(cron="*/5 * * * *"))


def test_rule_moves_by_share_of_new_items_and_backs_off_on_failure():
    b = bounds(Schedule(interval_minutes=10, min_interval_minutes=5, max_interval_minutes=80))
    assert next_interval(1200, b, ok=True, listed=10, new=8) == 600   # mostly new: poll sooner
    assert next_interval(1200, b, ok=True, listed=10, new=2) == 1200  # some new: keep
    assert next_interval(1200, b, ok=True, listed=10, new=0) == 1800  # nothing new: later
    assert next_interval(1200, b, ok=True, listed=0, new=0) == 1800   # 304: later
    assert next_interval(400, b, ok=True, listed=4, new=4) == 300     # clamped at the minimum
    assert next_interval(4000, b, ok=True) == 4800                    # clamped at the maximum
    assert [next_interval(600, b, ok=False, consecutive_failures=n) for n in (1, 2, 3, 4)] == \
        [1200, 2400, 4800, 4800]
