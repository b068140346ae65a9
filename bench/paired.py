"""Paired, interleaved rounds: the one way every Rasd benchmark times the two sides of its ratio.

A benchmark's target is a ratio of two measurements of the same work (Rasd's path against a
bare library, 10,000 alerts against 10, N signatures against 10,000 …).  On a shared machine
load from other processes comes and goes; timing all of side A and then all of side B lets a
burst of load land on one side only (``bench/alerts.py`` printed 0.93 and 4.46 that way).  So:

* every round runs each side once, back to back, in an order rotated from round to round
  (A B, B A, A B, … — for more sides, each round starts one further along);
* the round's ratio is computed from that round's measurements only, so load that lasts about
  a round hits both of its sides;
* the benchmark reports the median of the per-round ratios and their min–max (the spread says
  how noisy the machine was), never the best round of each side taken separately;
* :func:`loadavg` is printed before and after, so a run on a busy machine says so.

``run_rounds(sides, ratio, rounds)`` returns a :class:`Rounds`; :meth:`Rounds.line` is the
result line every benchmark prints::

    RESULT lsh: ratio 1.04 median (min 0.97 – max 1.12 over 7 paired rounds), target <= 2: OK; load 1.10 1.05 0.98 → 1.22 1.09 1.00

Measurements are whatever the sides return (seconds, or seconds per item); ``ratio`` maps one
round's ``{side: value}`` to a float.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field


def loadavg() -> tuple[float, float, float]:
    """The 1-, 5- and 15-minute load averages (``os.getloadavg``)."""
    return os.getloadavg()


def _fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


@dataclass
class Rounds:
    """Per-side measurements and per-round ratios of one benchmark run."""

    values: dict[str, list[float]]
    ratios: list[float]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orders: list[list[str]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def low(self) -> float:
        return min(self.ratios)

    @property
    def high(self) -> float:
        return max(self.ratios)

    def side_median(self, side: str) -> float:
        return statistics.median(self.values[side])

    def ok(self, target: float, higher_is_better: bool = False) -> bool:
        return self.median >= target if higher_is_better else self.median <= target

    def line(self, name: str, target: float, higher_is_better: bool = False, unit: str = "") -> str:
        """``RESULT <name>: ratio … median (min … – max … over n paired rounds), target …: OK|MISSED; load …``"""
        sign = ">=" if higher_is_better else "<="
        verdict = "OK" if self.ok(target, higher_is_better) else "MISSED"
        return (f"RESULT {name}: ratio {self.median:.2f}{unit} median (min {self.low:.2f} – max "
                f"{self.high:.2f} over {len(self.ratios)} paired rounds), target {sign} {target:g}: "
                f"{verdict}; load {_fmt_load(self.load_before)} → {_fmt_load(self.load_after)}")


def rotation(sides: list[str], round_no: int) -> list[str]:
    """The order of ``sides`` in round ``round_no`` (0-based): rotated by one each round."""
    k = round_no % len(sides)
    return sides[k:] + sides[:k]


def run_rounds(sides: dict[str, Callable[[], float]], ratio: Callable[[dict[str, float]], float],
               rounds: int, *, warmup: int = 0,
               on_round: Callable[[int, dict[str, float], float], None] | None = None) -> Rounds:
    """Run ``rounds`` paired rounds (after ``warmup`` untimed ones) and return them.

    Args:
        sides: name → a callable doing that side's work once and returning its measurement.
        ratio: one round's ``{side: measurement}`` → the round's ratio.
        rounds: number of timed rounds (at least 1).
        warmup: rounds run first and discarded (imports, caches, JIT-less warm-up of the node).
        on_round: called after each timed round with ``(round_no, values, ratio)`` (for a
            progress line).

    Raises:
        ValueError: ``rounds`` < 1 or fewer than two sides.
    """
    if rounds < 1 or len(sides) < 2:
        raise ValueError("paired rounds need at least one round and two sides")
    names = list(sides)
    for w in range(warmup):
        for name in rotation(names, w):
            sides[name]()
    result = Rounds({n: [] for n in names}, [], loadavg())
    for r in range(rounds):
        order = rotation(names, warmup + r)  # the rotation goes on from the warm-up rounds
        got: dict[str, float] = {}
        for name in order:
            got[name] = sides[name]()
        for name in names:
            result.values[name].append(got[name])
        value = ratio(got)
        result.ratios.append(value)
        result.orders.append(order)
        if on_round is not None:
            on_round(r, got, value)
    result.load_after = loadavg()
    return result
