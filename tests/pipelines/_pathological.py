"""Generated pages that make trafilatura's run time grow quadratically (never committed: made
in the tests, megabytes in milliseconds).

Why they are slow (trafilatura 2.3, profiled with cProfile): trafilatura compares its own
extraction with two fallbacks, and both have a loop over *neighbouring blocks*:

* jusText's ``revise_paragraph_classification`` looks, for every "short" paragraph, for the
  nearest non-short paragraph before and after it (``_get_neighbour``), one step at a time, so
  a run of k short paragraphs costs k² steps.  It runs when trafilatura's own text is short or
  "unclean" — a page that is mostly short blocks in boilerplate (here ``<div class="menu">``).
* readability's ``sanitize`` looks, for every empty block next to images, for the nearest
  non-empty sibling on each side and computes ``text_content()`` of every sibling it passes.

Both scale with the number of block elements, never with bytes alone: a 9.5 MiB page of one
paragraph, or of a real article repeated (67,000 elements), extracts in 1.6 s / 4 s.
"""

from __future__ import annotations

_HEAD = '<html lang="ar"><head><meta charset="utf-8"><title>صفحة</title></head><body>'
_TAIL = "</body></html>"


def _fill(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit.encode()))


def short_blocks(size: int) -> str:
    """About ``size`` bytes of short ``<p>`` lines inside a menu-classed ``<div>`` (jusText's
    quadratic neighbour search): ~17,500 elements per 0.25 MiB, 0.25 MiB → 21 s, 0.5 MiB → 82 s,
    1 MiB → 375 s in trafilatura."""
    return _HEAD + '<div class="menu">' + _fill("<p>قصير</p>", size) + "</div>" + _TAIL


def image_blocks(size: int) -> str:
    """About ``size`` bytes of ``<div><img></div>`` siblings in an ``<article>`` (readability's
    quadratic sibling scan): ~18,000 elements per 0.25 MiB → 51 s in trafilatura."""
    return _HEAD + "<article>" + _fill('<div><img src="/i.jpg"></div>', size) + "</article>" + _TAIL
