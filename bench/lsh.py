"""Benchmark: story-index lookup time at N signatures divided by at 10,000 (target ≤ 2).

The path a crawl runs for every article (``rasd.pipelines.stories.decide_story``):
:meth:`rasd.pipelines.storyindex.StoryIndex.best_match` on the SQLite story store — the ``b``
band keys of the signature (BLAKE2b), one index probe per band in ``bands``, the candidates'
rows and signatures read from ``sigs``, and the similarity of each.  Two stores are built
before any timing: ``--small`` signatures (default 10,000) and ``--large`` (default 300,000;
``--large 1000000`` for the issue's size), with the stories stage's parameters (threshold 0.5,
128 permutations → datasketch's banding for them), every row inside the 7-day window.  Then
paired, interleaved rounds (``bench/paired.py``): each round opens each store afresh (what a
crawl does once: the schema/parameter check and the prune of rows older than the window),
runs every probe through ``best_match`` and closes it, the two stores back to back in an
order rotated from round to round; the round's ratio is large / small of the mean time per
lookup in that round.  The result is the median of ``--rounds`` (default 7) ratios with their
min–max and the load average; the time to open each store is printed beside it (a crawl opens
it once per run; nothing proportional to N is loaded).

Signatures are synthetic (a million real MinHashes from text would take most of an hour, and
the index only sees hash values): uint32 arrays of 128 values drawn by numpy (seeded), stored
exactly as :meth:`StoryIndex.add` stores them (the same ``_insert`` rows: signature blob and
band keys), in large transactions.  Probes (``--queries``, default 2,000): half near-duplicates
of signatures among the first ``--small`` of both stores (each value replaced with
probability 0.1: estimated Jaccard ≈ 0.9, found at both sizes, so both return the same
matches), half fresh random signatures (no candidates).

Cost of building (not timed): 200–275 µs per signature on the 2-core development machine (25
band keys, then the rows in two B-trees that outgrow the page cache) and about 1.25 KB of disk
each in ``$TMPDIR``: 300,000 take about a minute and 370 MB, 1,000,000 about 4.5 minutes and
1.25 GB.

    .venv/bin/python bench/lsh.py [--small 10000] [--large 300000] [--queries 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from paired import run_rounds  # noqa: E402
from rasd.core.article import isoformat_utc  # noqa: E402
from rasd.pipelines.storyindex import Signature, StoryIndex, StoryParams  # noqa: E402

TARGET = 2.0
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)  # the stores' clock (injected, as tests do)
BATCH = 20_000


def random_signatures(rng: np.random.Generator, n: int, num_perm: int) -> np.ndarray:
    """``(n, num_perm)`` uint32 hash values, uniform over [0, 2^32)."""
    return rng.integers(0, 1 << 32, size=(n, num_perm), dtype=np.uint32)


def build(path: Path, base: np.ndarray, total: int, rng: np.random.Generator, params: StoryParams) -> float:
    """A story store at ``path`` holding ``base`` then random signatures up to ``total``, rows
    spread over the last 6 days; returns the seconds it took."""
    t0 = time.perf_counter()
    index = StoryIndex(path, params, now=lambda: NOW)
    span = 6 * 86400
    done = 0
    while done < total:
        n = min(BATCH, total - done)
        rows = base[done:done + n] if done < len(base) else random_signatures(rng, n, params.num_perm)
        if len(rows) < n:  # the tail of base, then random ones
            rows = np.vstack([rows, random_signatures(rng, n - len(rows), params.num_perm)])
        with index._transaction():  # the rows StoryIndex.add writes, many per transaction
            for i, values in enumerate(rows, done):
                at = isoformat_utc(NOW - timedelta(seconds=span * (total - i) / total))
                index._insert(f"bench-{i:08d}", f"outlet-{i % 16}", at, at, f"story-{i:08d}",
                              np.ascontiguousarray(values, dtype=np.uint32).tobytes())
        done += n
    index.close()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=300_000)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seed", type=int, default=20240127)
    args = ap.parse_args(argv)
    params = StoryParams()
    rng = np.random.default_rng(args.seed)
    base = random_signatures(rng, args.small, params.num_perm)
    half = args.queries // 2
    picked = base[rng.integers(0, args.small, size=half)].copy()
    mask = rng.random(picked.shape) < 0.1
    picked[mask] = rng.integers(0, 1 << 32, size=int(mask.sum()), dtype=np.uint32)
    probe_values = np.vstack([picked, random_signatures(rng, args.queries - half, params.num_perm)])
    probes = [Signature(v, params.seed) for v in probe_values]

    with tempfile.TemporaryDirectory(prefix="rasd-bench-lsh-") as tmp:
        stores = {"small": Path(tmp) / "small.sqlite", "large": Path(tmp) / "large.sqlite"}
        for name, total in (("small", args.small), ("large", args.large)):
            took = build(stores[name], base, total, rng, params)
            size = stores[name].stat().st_size + sum(
                p.stat().st_size for p in Path(tmp).glob(f"{name}.sqlite-*"))
            print(f"{name}: {total:,} signatures built in {took:.0f} s ({size / 1e6:.0f} MB)", flush=True)
        with StoryIndex(stores["small"], params, now=lambda: NOW) as index:
            print(f"banding b={index.b} r={index.r}; {args.queries} probes "
                  f"({half} near-duplicates, {args.queries - half} random)", flush=True)
        opens: dict[str, list[float]] = {"small": [], "large": []}
        found: dict[str, int] = {}

        def side(name: str):
            def run() -> float:
                t0 = time.perf_counter()
                index = StoryIndex(stores[name], params, now=lambda: NOW)
                t1 = time.perf_counter()
                hits = sum(index.best_match(p) is not None for p in probes)
                t2 = time.perf_counter()
                index.close()
                opens[name].append(t1 - t0)
                found[name] = hits
                return (t2 - t1) / len(probes)
            return run

        def progress(r, got, ratio):
            print(f"  round {r + 1}: {got['small'] * 1e6:7.1f} µs vs {got['large'] * 1e6:7.1f} µs per "
                  f"lookup, ratio {ratio:.2f}", flush=True)

        rounds = run_rounds({"small": side("small"), "large": side("large")},
                            lambda t: t["large"] / t["small"], args.rounds, warmup=1, on_round=progress)
    assert found["small"] == found["large"] >= half * 0.95, found  # the same matches at both sizes
    for name, total in (("small", args.small), ("large", args.large)):
        o = sorted(opens[name])
        print(f"{total:>9,} signatures: best_match {rounds.side_median(name) * 1e6:7.1f} µs/lookup "
              f"(median), open {o[len(o) // 2] * 1000:.1f} ms (median), {found[name]} of "
              f"{args.queries} probes matched")
    print(rounds.line(f"lsh (StoryIndex.best_match at {args.large:,} / {args.small:,})", TARGET))
    return rounds.median


if __name__ == "__main__":
    main()
