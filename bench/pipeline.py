"""Benchmark: Rasd's whole per-page pipeline against a bare ``trafilatura.extract``.

Both run in this one process over the same recorded pages (the replay fixture: 20 real Arabic
and Persian article pages), interleaved round by round so machine noise hits both alike.  The
pipeline is extract → clean → dates → language → dedup (an in-memory seen store), exactly
the stage functions the Scrapy pipeline classes call.

Prints per-page times and the ratio pipeline / trafilatura (target ≤ 1.15).

    .venv/bin/python bench/pipeline.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import trafilatura

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasd.pipelines.clean import clean_article, load_cleaning_rules  # noqa: E402
from rasd.pipelines.dates import resolve_published_at  # noqa: E402
from rasd.pipelines.seenstore import (SeenStore)
from rasd.pipelines.dedup import (dedup)  # noqa: E402
from rasd.pipelines.extract import extract_article  # noqa: E402
from rasd.pipelines.language import detect_language  # noqa: E402
from rasd.core.article import Article  # noqa: E402
from rasd.replay.server import read_manifest  # noqa: E402


def load_pages() -> list[tuple[str, str, str]]:
    pages, _ = read_manifest(ROOT / "tests" / "fixtures" / "corpus")
    return [(p.url, p.outlet, p.file.read_bytes().decode("utf-8", "replace")) for p in pages]


def run_trafilatura(pages) -> float:
    start = time.perf_counter()
    for _, _, html in pages:
        trafilatura.extract(html)
    return time.perf_counter() - start


def run_pipeline(pages, rules) -> float:
    store = SeenStore(":memory:")
    start = time.perf_counter()
    for url, outlet, html in pages:
        article = extract_article(Article(url=url, outlet=outlet, html=html))
        article = clean_article(article, rules)
        article = resolve_published_at(article)
        guess = detect_language(f"{article.title or ''}\n{article.text}", article.declared_language)
        article.language = guess.code
        dedup(article, store)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pages = load_pages()
    rules = load_cleaning_rules()
    run_trafilatura(pages), run_pipeline(pages, rules)  # warm caches, imports, regexes
    base, ours = [], []
    for _ in range(args.rounds):
        base.append(run_trafilatura(pages))
        ours.append(run_pipeline(pages, rules))
    n = len(pages)
    b, o = statistics.median(base) / n * 1000, statistics.median(ours) / n * 1000
    print(f"pages: {n}, rounds: {args.rounds} (medians)")
    print(f"trafilatura.extract: {b:8.2f} ms/page")
    print(f"rasd pipeline:       {o:8.2f} ms/page  (extract+clean+dates+language+dedup)")
    print(f"ratio pipeline/trafilatura: {o / b:.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
