"""Benchmark: trafilatura's quadratic pages, bare and through Rasd's extraction budget.

For each size, a generated page of short paragraphs (``tests/pipelines/_pathological.py``; the
shape whose cost grows quadratically in trafilatura's jusText fallback) is extracted

* bare: :func:`rasd.pipelines.extract.extract_article` without a budget, in a child process killed
  after ``--cap`` seconds (the times the crawl used to spend on the reactor thread);
* budgeted: :class:`rasd.pipelines.extract.ExtractPipeline` with the default settings (element
  budget, timeout, worker pool), timed from ``process_item`` to its outcome.

    .venv/bin/python bench/extract_budget.py [--sizes 0.25,0.5,1,2] [--cap 420]

Takes up to ``sizes × cap`` seconds on one core: 0.25/0.5/1 MiB took 21/82/375 s bare on the
development machine, 2 MiB more than 420 s.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasd.pipelines.base import Skip  # noqa: E402
from rasd.pipelines.extract import ExtractPipeline, count_elements  # noqa: E402
from rasd.core.article import Article  # noqa: E402
from tests.pipelines._pathological import short_blocks  # noqa: E402

BARE = """
import sys, time
sys.path.insert(0, {root!r})
from rasd.pipelines.extract import extract_article
from rasd.core.article import Article
from tests.pipelines._pathological import short_blocks
html = short_blocks({size})
start = time.perf_counter()
extract_article(Article(url="https://heavy.example/x", outlet="heavy", html=html))
print(time.perf_counter() - start)
"""


def bare(size: int, cap: float) -> str:
    try:
        out = subprocess.run([sys.executable, "-c", BARE.format(root=str(ROOT), size=size)],
                             capture_output=True, text=True, timeout=cap, check=True).stdout
    except subprocess.TimeoutExpired:
        return f"> {cap:g} s"
    return f"{float(out):.2f} s"


async def budgeted(stage: ExtractPipeline, size: int) -> str:
    item = Article(url="https://heavy.example/x", outlet="heavy", html=short_blocks(size))
    start = time.perf_counter()
    try:
        await stage.process_item(item)
        outcome = "extracted"
    except Skip as skip:
        outcome = str(skip).split(": https://heavy.example/x: ")[-1]
    return f"{time.perf_counter() - start:.2f} s ({outcome})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.25,0.5,1,2", help="MiB, comma-separated")
    parser.add_argument("--cap", type=float, default=420.0, help="seconds for one bare extraction")
    args = parser.parse_args()
    stage = ExtractPipeline()
    await stage.pool.run(time.time, timeout=30)  # start the workers before timing
    import trafilatura

    for mib in (float(s) for s in args.sizes.split(",")):
        size = int(mib * 1024 * 1024)
        elements = count_elements(trafilatura.load_html(short_blocks(size)))
        print(f"{mib:5.2f} MiB, {elements:7d} elements: budgeted {await budgeted(stage, size)}, "
              f"bare {bare(size, args.cap)}", flush=True)
    await stage.close_spider()


if __name__ == "__main__":
    asyncio.run(main())
