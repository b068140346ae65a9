"""Benchmark: Rasd's indexing path against a raw ``helpers.streaming_bulk`` (opensearch-py).

Both index the same N documents (default 5000) into the same node, each into its own fresh
index built from Rasd's template (same analyzers, same mapping), in paired, interleaved rounds
(``bench/paired.py``: each round runs both paths back to back, order rotated, and the round's
ratio comes from that round alone):

* raw:  ``opensearchpy.helpers.streaming_bulk`` with ``op_type: create``, 500 per request;
* rasd: the crawl's path — the records are archive lines (written before the clock starts, as
  the archive stage writes them in a crawl), and the timed part is the
  :class:`rasd.search.indexing.IndexFollower` bringing the index up to the archive: read the lines
  after its checkpoint, encode, ``_bulk`` 500 per request, commit the checkpoint.
  ``--direct`` also times :func:`index_articles` on the records in memory (a third side).

Documents are synthesised from the real Arabic texts of the shared corpus (``find_corpus``:
``../shared/corpus`` beside the checkout or a worktree) and the seed story in
``tests/fixtures/search``: 3–8 random paragraphs each, seeded RNG, so every run indexes the
same bytes.  Timings exclude index creation and the final refresh; each run's count
is checked.  Prints documents/second per path per round and the throughput ratio rasd / raw
(target ≥ 0.8): the median of the per-round ratios, with their min–max and the load average.

    .venv/bin/python bench/index.py [--docs 5000] [--rounds 5] [--direct] [--url http://127.0.0.1:9200]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opensearchpy import OpenSearch, helpers  # noqa: E402
from paired import run_rounds  # noqa: E402

from rasd.core.archive import ArchiveWriter  # noqa: E402
from rasd.search.indexing import IndexFollower, index_articles  # noqa: E402
from rasd.core.article import Article  # noqa: E402
from rasd.search.engine import connect  # noqa: E402
from rasd.search.articles import init_index  # noqa: E402
from rasd.core.settings import EngineSettings  # noqa: E402
from rasd.replay.recording import find_corpus  # noqa: E402

CORPUS = find_corpus()  # ../shared/corpus from the checkout or a worktree ($RASD_CORPUS_DIR wins)
OUTLETS = ["bbc_arabic", "aljazeera", "euronews_arabic", "france24_arabic", "dw_arabic",
           "sky_news_arabia", "alarabiya", "cnn_arabic"]


def paragraphs() -> list[str]:
    files = sorted(CORPUS.glob("pages/**/*.txt")) + [ROOT / "tests/fixtures/search/seed-article.txt"]
    out = []
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if len(line) >= 40 and sum("\u0600" <= c <= "\u06ff" for c in line) > len(line) / 2:
                out.append(line)
    if len(out) < 20:
        raise SystemExit(f"only {len(out)} Arabic paragraphs found under {CORPUS}")
    return out


def synthesise(n: int, seed: int = 7) -> list[dict]:
    """``n`` archive records (Article.to_record()) built from corpus paragraphs."""
    rng, paras = random.Random(seed), paragraphs()
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    records = []
    for i in range(n):
        body = rng.sample(paras, rng.randint(3, 8))
        url = f"https://bench.example/{OUTLETS[i % len(OUTLETS)]}/{i}"
        art = Article(url=url, outlet=OUTLETS[i % len(OUTLETS)], title=body[0][:120], text="\n".join(body),
                      description=body[-1][:200], language="ar", canonical_url=url, extractor="trafilatura",
                      published_at=base + timedelta(minutes=rng.randint(0, 525600)),
                      source_credit=rng.choice([None, "رويترز", "أ ف ب", "الأناضول"]), topics=["bench"])
        art.id = hashlib.sha1(url.encode()).hexdigest()[:20]
        records.append(art.to_record())
    return records


def run_raw(client: OpenSearch, index: str, records: list[dict]) -> float:
    actions = ({"_op_type": "create", "_index": index, "_id": r["id"], "_source": r} for r in records)
    start = time.perf_counter()
    for ok, info in helpers.streaming_bulk(client, actions, chunk_size=500, raise_on_error=True):
        pass
    return time.perf_counter() - start


def run_rasd(engine, index: str, records: list[dict], data_dir: Path) -> float:
    writer = ArchiveWriter(data_dir / "archive")
    for r in records:
        writer.append("2024-01-28.jsonl", r)
    writer.close()
    follower = IndexFollower(data_dir, lambda: engine, index, batch_size=500, init=False)
    start = time.perf_counter()
    report = follower.run()
    elapsed = time.perf_counter() - start
    assert report.indexed == len(records) and follower.lag()[0] == 0, report.as_dict()
    follower._engine = None  # the engine is the benchmark's, not the follower's to close
    follower.close()
    return elapsed


def run_direct(engine, index: str, records: list[dict]) -> float:
    start = time.perf_counter()
    report = index_articles(engine, records, index=index, chunk_size=500)
    elapsed = time.perf_counter() - start
    assert report.indexed == len(records), report.as_dict()
    return elapsed


TARGET = 0.8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--url", default="http://127.0.0.1:9200")
    ap.add_argument("--direct", action="store_true", help="also time index_articles on the records in memory")
    args = ap.parse_args()

    records = synthesise(args.docs)
    mb = sum(len(str(r)) for r in records) / 1e6
    engine = connect(EngineSettings(url=args.url, timeout_seconds=120), lambda name: None)
    client = OpenSearch(hosts=[args.url], timeout=120)
    tag = f"rasd-bench-{uuid.uuid4().hex[:6]}"
    paths = ["raw", "rasd"] + (["direct"] if args.direct else [])
    print(f"{args.docs} documents (~{mb:.1f} MB of JSON) into {engine.info.kind} {engine.info.version} "
          f"at {args.url}, {args.rounds} paired rounds")
    counter = iter(range(10 ** 6))

    def side(path: str):
        def run() -> float:
            prefix = f"{tag}-{path}-{next(counter)}"
            init_index(engine, prefix)
            cpu0 = time.process_time()
            with tempfile.TemporaryDirectory() as tmp:
                if path == "raw":
                    t = run_raw(client, prefix, records)
                elif path == "rasd":
                    t = run_rasd(engine, prefix, records, Path(tmp))
                else:
                    t = run_direct(engine, prefix, records)
            cpu = time.process_time() - cpu0
            engine.refresh(prefix)
            count = engine.count(prefix)
            assert count == args.docs, (path, count)
            print(f"    {path:6s} {t:6.2f} s  {args.docs / t:7.0f} docs/s  client CPU {cpu:5.2f} s  "
                  f"(count {count})", flush=True)
            engine.request("DELETE", f"/{prefix}-*")
            engine.request("DELETE", f"/_index_template/{prefix}")
            return t
        return run

    def progress(r, got, ratio):
        print(f"  round {r + 1}: rasd/raw throughput {ratio:.3f}", flush=True)

    try:
        rounds = run_rounds({p: side(p) for p in paths}, lambda t: t["raw"] / t["rasd"], args.rounds,
                            on_round=progress)
    finally:
        engine.request("DELETE", f"/{tag}-*", params={"expand_wildcards": "all"})
    for p in paths:
        med = rounds.side_median(p)
        print(f"{p:6s} median {med:6.2f} s = {args.docs / med:7.0f} docs/s")
    if args.direct:
        direct = sorted(r / d for r, d in zip(rounds.values["raw"], rounds.values["direct"]))
        print(f"direct/raw throughput per round: median {direct[len(direct) // 2]:.2f} "
              f"(min {direct[0]:.2f} – max {direct[-1]:.2f})")
    print(rounds.line("index (rasd IndexFollower / raw streaming_bulk throughput)", TARGET,
                      higher_is_better=True))


if __name__ == "__main__":
    main()
