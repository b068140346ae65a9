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


def _quiet(b, current, seconds):
    """Poll a silent outlet for ``seconds``: the intervals set, one per poll."""
    out, t = [], 0.0
    while t < seconds:
        current = next_interval(current, b, ok=True, new=0, elapsed=current).interval
        t += current
        out.append(current)
    return out


def test_a_quiet_outlet_slows_down_gradually():
    b = bounds(Schedule(interval_minutes=15))  # 900 s … 7200 s, half-life 3600 s
    step = next_interval(900, b, ok=True, new=0, elapsed=900)
    # weight 1 - 2^(-1/4) = 0.1591; rate (0.8409 + 0.1591 × 0.5) / 900 s = 0.9204/900 s → 977.8 s
    assert step.interval == pytest.approx(977.785, abs=0.001)
    assert step.reason.startswith("0 new in 900 s")
    assert 1900 < _quiet(b, 900, 9600)[-1] < 2000   # 33 min after 2.7 quiet hours
    night = _quiet(b, 900, 11 * 3600)
    assert night[-1] == 7200 and sorted(night) == night  # never down without news, up to the cap
    assert "lowered to the maximum" in next_interval(7200, b, ok=True, new=0, elapsed=7200).reason


def test_the_interval_comes_back_down_at_the_first_poll_with_news():
    b = bounds(Schedule(interval_minutes=15))
    one = next_interval(7200, b, ok=True, new=1, elapsed=7200)  # one item after a night at the cap
    assert one.interval == pytest.approx(5236.364, abs=0.001)  # 0.5/7200 + 0.5 × 1.5/7200 → 87 min
    burst = next_interval(1500, b, ok=True, new=25, elapsed=1500)  # one a minute for 25 minutes
    assert burst.interval == 900 and "raised to the minimum 900 s" in burst.reason
    # the outlet: base 10 s, one new item per poll keeps the base; quiet polls raise the
    # interval, and news brings it down again
    b10 = bounds(Schedule(interval_minutes=10), interval_seconds=10)
    assert next_interval(10, b10, ok=True, new=1, elapsed=10).interval == 10
    quiet = _quiet(b10, 10, 120)
    assert quiet[-1] > 17
    assert next_interval(quiet[-1], b10, ok=True, new=1, elapsed=quiet[-1]).interval < quiet[-1]
    assert next_interval(quiet[-1], b10, ok=True, new=6, elapsed=quiet[-1]).interval == 10


def test_a_steady_stream_settles_near_half_its_gap():
    b = bounds(Schedule(interval_minutes=1, max_interval_minutes=600))  # 60 s … 36,000 s
    current, gap, t, last_item, polls = 60.0, 1200.0, 0.0, 0.0, []
    for _ in range(2000):  # one item every 20 minutes, exactly
        t += current
        k = int(t // gap) - int(last_item // gap)
        last_item = t
        current = next_interval(current, b, ok=True, new=k, elapsed=current).interval
        polls.append(current)
    assert 500 <= sum(polls[-200:]) / 200 <= 700


def test_first_run_failures_and_recovery():
    b = bounds(Schedule(interval_minutes=10, min_interval_minutes=5, max_interval_minutes=80))
    first = next_interval(600, b, ok=True, new=40, elapsed=None)  # a backlog, not a rate
    assert first.interval == 600 and first.reason.startswith("first run")
    assert [next_interval(600, b, ok=False, consecutive_failures=n).interval for n in (1, 2, 3, 4)] == \
        [1200, 2400, 4800, 4800]
    assert "backoff 600 s × 2^2" in next_interval(600, b, ok=False, consecutive_failures=2).reason
    back = next_interval(4800, b, ok=True, new=0, elapsed=4800, after_failures=True)
    # restarted from 1/600 s: weight 1 - 2^(-2) = 0.75 → 0.25/600 + 0.75 × 0.5/4800 → 2560 s
    assert back.interval == pytest.approx(1 / (0.25 / 600 + 0.75 * 0.5 / 4800), abs=0.001)
    assert "restarted from base" in back.reason
    assert next_interval(400, b, ok=True, new=10, elapsed=400).interval == 300  # clamped at the minimum
