"""Benchmark: Rasd's whole per-page pipeline against a bare ``trafilatura.extract`` (target ≤ 1.15).

Both run in this one process over the same recorded pages (the replay fixture: 20 real Arabic
and Persian article pages) in paired, interleaved rounds (``bench/paired.py``: each round times
both sides back to back, order rotated; the ratio is the median of the per-round ratios).  The
pipeline side is every stage a crawl runs on a page, through the functions the Scrapy pipeline
classes call: extract → clean → dates → language → enrich (topics and entities, the local
matcher a crawl without the engine uses) → dedup and stories under the data directory's lock
(:class:`rasd.pipelines.ledger.Ledger`: seen-URL store, MinHash signature and the SQLite story
index lookup) → archive (the JSON line written and fdatasync-ed, then applied to both stores).
Each round starts from an empty data directory in ``$TMPDIR``, so every page is new each round.

Not included: the extraction worker processes (the crawl sends a page to one and waits; here
extraction runs inline, so the pickling of the page and the result, a few hundred µs, is left
out), the download, and the index/alert followers (separate benchmarks).

    .venv/bin/python bench/pipeline.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trafilatura

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paired import run_rounds  # noqa: E402
from rasd.core.article import Article  # noqa: E402
from rasd.pipelines.clean import clean_article, load_cleaning_rules  # noqa: E402
from rasd.pipelines.dates import resolve_published_at  # noqa: E402
from rasd.pipelines.dedup import decide  # noqa: E402
from rasd.core.taxonomy import load_gazetteer, load_taxonomy  # noqa: E402
from rasd.pipelines.enrich import match_entities, tag_topics  # noqa: E402
from rasd.pipelines.extract import extract_article  # noqa: E402
from rasd.pipelines.language import detect_language  # noqa: E402
from rasd.pipelines.ledger import Ledger  # noqa: E402
from rasd.pipelines.stories import decide_story  # noqa: E402
from rasd.replay.server import read_manifest  # noqa: E402

TARGET = 1.15


def load_pages() -> list[tuple[str, str, str]]:
    pages, _ = read_manifest(ROOT / "tests" / "fixtures" / "corpus")
    return [(p.url, p.outlet, p.file.read_bytes().decode("utf-8", "replace")) for p in pages]


def run_trafilatura(pages) -> float:
    start = time.perf_counter()
    for _, _, html in pages:
        trafilatura.extract(html, with_metadata=True)
    return time.perf_counter() - start


def run_pipeline(pages, rules, taxonomy, gazetteer, stages: dict[str, float] | None = None) -> float:
    """Seconds for every page through every stage, from an empty data directory; ``stages``
    (if given) accumulates the seconds of each stage."""
    stages = {} if stages is None else stages
    clock = time.perf_counter

    def timed(name, t0):
        now = clock()
        stages[name] = stages.get(name, 0.0) + now - t0
        return now

    with tempfile.TemporaryDirectory(prefix="rasd-bench-pipeline-") as tmp:
        ledger = Ledger(tmp)
        ledger.begin()  # open (and create) the stores before the clock starts, as open_spider does
        ledger.abort()
        start = clock()
        for url, outlet, html in pages:
            t = clock()
            article = extract_article(Article(url=url, outlet=outlet, html=html))
            t = timed("extract", t)
            article = clean_article(article, rules)
            t = timed("clean", t)
            article = resolve_published_at(article)
            t = timed("dates", t)
            guess = detect_language(f"{article.title or ''}\n{article.text}", article.declared_language)
            article.language = guess.code
            t = timed("language", t)
            article.topics = tag_topics(article, taxonomy)
            t = timed("topics", t)
            entities = match_entities(f"{article.title or ''}\n{article.text or ''}", gazetteer)
            for kind, names in entities.items():
                setattr(article, f"entities_{kind}", names)
            t = timed("entities", t)
            ledger.begin()
            if decide(article, ledger.seen).outcome == "duplicate":
                ledger.abort()
                timed("dedup", t)
                continue
            t = timed("dedup", t)
            decide_story(article, ledger.stories)
            t = timed("stories", t)
            ledger.commit(article)
            timed("archive", t)
        elapsed = clock() - start
        ledger.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pages = load_pages()
    rules, taxonomy, gazetteer = load_cleaning_rules(), load_taxonomy(), load_gazetteer()
    n = len(pages)

    def progress(r, got, ratio):
        print(f"  round {r + 1}: trafilatura {got['trafilatura'] / n * 1000:7.2f} ms/page, "
              f"rasd {got['rasd'] / n * 1000:7.2f} ms/page, ratio {ratio:.3f}", flush=True)

    stages: dict[str, float] = {}
    rounds = run_rounds({"trafilatura": lambda: run_trafilatura(pages),
                         "rasd": lambda: run_pipeline(pages, rules, taxonomy, gazetteer, stages)},
                        lambda t: t["rasd"] / t["trafilatura"], args.rounds, warmup=1, on_round=progress)
    print(f"pages: {n}, {args.rounds} paired rounds; medians: trafilatura.extract "
          f"{rounds.side_median('trafilatura') / n * 1000:.2f} ms/page, rasd pipeline "
          f"{rounds.side_median('rasd') / n * 1000:.2f} ms/page "
          "(extract+clean+dates+language+enrich+dedup+stories+archive)")
    total = sum(stages.values())
    print("rasd stages (all rounds, warm-up included): " + ", ".join(
        f"{k} {v / total:.0%}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1])))
    print(rounds.line("pipeline (rasd pipeline / trafilatura.extract per page)", TARGET))


if __name__ == "__main__":
    main()
