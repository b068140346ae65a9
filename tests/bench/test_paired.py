"""bench/paired.py: rounds interleave both sides in rotated order; ratios are per round."""

import pytest

from bench.paired import rotation, run_rounds


def test_each_round_runs_every_side_in_rotated_order_and_pairs_its_own_values():
    calls: list[str] = []
    values = {"a": iter([1.0, 2.0, 4.0, 1.0]), "b": iter([2.0, 2.0, 2.0, 8.0])}

    def side(name):
        def run():
            calls.append(name)
            return next(values[name])
        return run

    rounds = run_rounds({"a": side("a"), "b": side("b")}, lambda t: t["b"] / t["a"], 3, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up A B, then B A, A B, B A
    assert rounds.values == {"a": [2.0, 4.0, 1.0], "b": [2.0, 2.0, 8.0]}
    assert rounds.ratios == [1.0, 0.5, 8.0]  # each round's own pair, not best-of-each
    assert (rounds.median, rounds.low, rounds.high) == (1.0, 0.5, 8.0)
    assert rounds.ok(1.0) and not rounds.ok(1.5, higher_is_better=True)
    line = rounds.line("x", 2)
    assert line.startswith("RESULT x: ratio 1.00 median (min 0.50 – max 8.00 over 3 paired rounds), "
                           "target <= 2: OK; load ")


def test_rotation_and_bad_arguments():
    assert [rotation(["a", "b", "c"], r) for r in range(4)] == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    with pytest.raises(ValueError):
        run_rounds({"a": lambda: 1.0}, lambda t: 1.0, 3)
    with pytest.raises(ValueError):
        run_rounds({"a": lambda: 1.0, "b": lambda: 1.0}, lambda t: 1.0, 0)
