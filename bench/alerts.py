"""Benchmark: per-document alert matching time with 10,000 alerts divided by with 10 (target ≤ 3).

Both sizes in one run against the real node (``RASD_ENGINE__URL``, default 127.0.0.1:9200):
two throw-away percolator indices ``rasd-bench-<hex>-small-alerts`` (``--small``, default 10
alerts) and ``…-large-alerts`` (``--large``, default 10,000), built exactly as
``rasd alerts add`` builds them (:func:`rasd.pipelines.alerts.init_alerts_index`, the articles'
analysis) and filled with the bulk API; both refreshed and force-merged to one segment.

Alerts are generated (seeded) from the corpus vocabulary: the Arabic words of 4+ letters of every
text/HTML fixture under ``tests/fixtures`` (about 10,000 distinct words), as ``w1 AND w2``
(60 %), ``w1 AND (w2 OR w3)`` (25 %), a two-word ``"phrase"`` of those texts (10 %) and ``w1`` (5 %) — the shapes analysts write.  (Alerts drawn only from the 14
benchmark articles' own words make each article match ~700 of 10,000 alerts, and the run then
times returning hundreds of hits per document (ratio ~35), not matching.)  Documents: the same
articles, each percolated alone (one request per document, as the crawl stage does for a batch
of one) through :func:`rasd.pipelines.alerts.match_alerts` (no highlighting).  Time: paired,
interleaved rounds (``bench/paired.py``): each round makes one pass over all documents at 10
alerts and one at 10,000, back to back, order rotated, and its ratio is large / small of that
round's mean ms per document; the result is the median of ``--rounds`` (default 7) such ratios
with their min–max and the load average, after one untimed warm-up pass on each index.  The
percolator only verifies alerts whose extracted terms all occur in the document
(Elasticsearch/OpenSearch percolator candidate selection), which is why the cost grows far
slower than the number of alerts.

History of this benchmark (2-core dev host, OpenSearch 2.19; before paired rounds, the two
sizes timed one after the other, best of 5 each): 10 alerts 9.1–9.5 ms, 10,000 alerts
22.9–23.1 ms per document (82 matching alerts per article), ratio 2.4–2.5 idle, but 0.93 and
4.46 on a busy machine.  Steps: candidate pre-filter (``alert_keys``) 14–18 → 6.3 (9.4 vs
60 ms); filter context, ``size: 0`` with the matches read from a terms aggregation on
``alert.ref`` (no fetch phase, which re-ran every matched alert's query for its document
slot) and definitions from a client cache → 3.2–3.5; stored queries pre-analysed
(:func:`rasd.pipelines.alerts.stored_queries`: term/terms/span queries from the index's ``_analyze``
instead of a ``query_string`` parsed and analysed over 6 fields per candidate; 9,892 of the
10,000 generated alerts, the others hold a stop word) → 2.4–2.5 (30 → 23 ms).  ``fill`` builds
the stored queries as ``rasd alerts add`` does, batched (indexing 10,000 alerts: ~7.6 s).
What is left at 10,000 is the verification itself (~100 candidates per article, 6 fields each)
and the two percolate clauses' candidate queries.  Current figures: ``bench/README.md``.

    .venv/bin/python bench/alerts.py [--small 10] [--large 10000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paired import run_rounds  # noqa: E402
from rasd.alerts.match import (Alert,
    alert_document,
    alerts_index,
    init_alerts_index,
    match_alerts,
    stored_queries)
from rasd.search.engine import connect  # noqa: E402
from rasd.core.settings import load_settings  # noqa: E402

WORD = re.compile(r"[\u0621-\u064A]{4,}")
STOP = {"التي", "الذي", "الذين", "وقال", "التى", "بعد", "قبل", "هذا", "هذه", "ذلك", "التي", "إلى", "على"}


def corpus() -> list[dict]:
    """Article records (title = first line, text = the rest) of the fixture texts."""
    files = sorted((ROOT / "tests/fixtures/stories").glob("*.txt"))
    files.append(ROOT / "tests/fixtures/search/seed-article.txt")
    docs = []
    for i, path in enumerate(files):
        lines = path.read_text(encoding="utf-8").strip().splitlines()
        docs.append({"id": f"bench-{i}", "outlet": "bench", "language": "ar", "title": lines[0],
                     "text": "\n".join(lines[1:])})
    return docs


def vocabulary(docs: list[dict]) -> tuple[list[str], list[str]]:
    """``(words, phrases)``: the Arabic words (4+ letters) of every text/HTML/JSON fixture under
    ``tests/fixtures`` and of ``docs``, and their two-word sequences: what analysts could put in
    alerts, most of it absent from any one article."""
    texts = [f"{d['title']} {d['text']}" for d in docs]
    for path in sorted((ROOT / "tests/fixtures").rglob("*")):
        if path.suffix in (".txt", ".html", ".json", ".tsv") and path.is_file():
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    words, phrases = set(), set()
    for text in texts:
        found = WORD.findall(text)
        words.update(found)
        phrases.update(f"{a} {b}" for a, b in zip(found, found[1:]))
    return sorted(words - STOP), sorted(phrases)


def make_alerts(n: int, docs: list[dict], seed: int = 7) -> list[Alert]:
    rng = random.Random(seed)
    vocab, phrases = vocabulary(docs)
    alerts = []
    for i in range(n):
        shape = rng.random()
        a, b, c = rng.sample(vocab, 3)
        if shape < 0.6:
            query = f"{a} AND {b}"
        elif shape < 0.85:
            query = f"{a} AND ({b} OR {c})"
        elif shape < 0.95:
            query = f'"{rng.choice(phrases)}"'
        else:
            query = a
        alerts.append(Alert(name=f"bench-{i:06d}", query=query))
    return alerts


def fill(engine, prefix: str, alerts: list[Alert]) -> str:
    index = init_alerts_index(engine, prefix)
    queries = stored_queries(engine, index, alerts)
    docs = [(a.name, alert_document(a, queries[a.name])) for a in alerts]
    for start in range(0, len(docs), 1000):
        items = engine.bulk_create(index, docs[start:start + 1000])
        bad = [i for i in items if i.status not in (200, 201)]
        if bad:
            raise SystemExit(f"bulk refused {len(bad)} alerts, first: {bad[0]}")
    engine.refresh(index)
    engine.request("POST", f"/{index}/_forcemerge", params={"max_num_segments": "1"})
    engine.refresh(index)
    return index


def one_pass_ms(engine, prefix: str, docs: list[dict]) -> float:
    """Mean ms per document of one pass percolating each document alone."""
    t0 = time.perf_counter()
    for d in docs:
        match_alerts(engine, prefix, [d])
    return (time.perf_counter() - t0) / len(docs) * 1000


TARGET = 3.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", type=int, default=10)
    ap.add_argument("--large", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    settings = load_settings()
    engine = connect(settings.engine, settings.secret)
    base = f"rasd-bench-{uuid.uuid4().hex[:6]}"
    docs = corpus()
    small_p, large_p = f"{base}-small", f"{base}-large"
    try:
        t0 = time.perf_counter()
        fill(engine, small_p, make_alerts(args.small, docs))
        fill(engine, large_p, make_alerts(args.large, docs))
        hits = {p: sum(len(match_alerts(engine, p, [d])) for d in docs) for p in (small_p, large_p)}
        print(f"indexed {args.small} + {args.large} alerts in {time.perf_counter() - t0:.1f} s; "
              f"{len(docs)} documents, {args.rounds} paired rounds", flush=True)

        def progress(r, got, ratio):
            print(f"  round {r + 1}: {got['small']:6.2f} ms vs {got['large']:6.2f} ms per document, "
                  f"ratio {ratio:.2f}", flush=True)

        rounds = run_rounds({"small": lambda: one_pass_ms(engine, small_p, docs),
                             "large": lambda: one_pass_ms(engine, large_p, docs)},
                            lambda t: t["large"] / t["small"], args.rounds, warmup=1, on_round=progress)
    finally:
        for p in (small_p, large_p):
            engine.delete_index(alerts_index(p))
        engine.close()
    print(f"{args.small:>6} alerts: {rounds.side_median('small'):7.2f} ms per document (median; "
          f"{hits[small_p]} matches per pass)")
    print(f"{args.large:>6} alerts: {rounds.side_median('large'):7.2f} ms per document (median; "
          f"{hits[large_p]} matches per pass)")
    print(rounds.line(f"alerts (match time per document, {args.large} alerts / {args.small})", TARGET))


if __name__ == "__main__":
    main()
