"""Benchmark: story-index lookup time at N signatures divided by at 10,000 (target ≤ 2 at 1,000,000).

One ``datasketch.MinHashLSH`` with the stories stage's parameters (``rasd.pipelines.stories``:
threshold 0.5, 128 permutations → 25 bands of 5 rows, scheme ``affine32``) is filled in one
run: first ``--small`` signatures (default 10,000), timed lookups, then more up to ``--large``
(default 300,000; ``--large 1000000`` for the issue's size), the same lookups timed again.
The ratio large / small is printed.

Signatures are synthetic: building a million real MinHashes from text would take most of an
hour, and the LSH only sees hash values.  Each is a uint32 array of 128 values drawn uniformly
from [0, 2^32) by numpy (seeded), wrapped in ``LeanMinHash(hashvalues=...)`` and inserted in an
insertion session.  Lookups (``MinHashLSH.query``) use ``--queries`` (default 2,000) probes,
half near-duplicates of signatures among the first ``--small`` (each value replaced with
probability 0.1, so estimated Jaccard ≈ 0.9, found at both sizes) and half fresh random
signatures (no candidates).  Timing: per-probe mean of the best of ``--rounds`` (default 5)
passes over all probes (other load only ever adds time), in microseconds.

Cost: ``MinHashLSH.insert`` takes about 250 µs per signature here (25 band keys, byteswap and
Python set updates inside datasketch) and about 10 KB of memory, so 1,000,000 signatures take
about 4–5 minutes and 10 GB on a 2-core machine: too much for the 3-minute budget on a shared
host, hence the default of 300,000 (about 80 s, 3 GB).  Lookups touch 25 dict entries whatever
the size, so the ratio does not depend on N beyond cache effects (0.99 at 110,000).

    .venv/bin/python bench/lsh.py [--small 10000] [--large 1000000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from datasketch import LeanMinHash, MinHashLSH  # noqa: E402

from rasd.pipelines.storyindex import (SCHEME, StoryParams)  # noqa: E402

CHUNK = 50_000


def random_signatures(rng: np.random.Generator, n: int, num_perm: int) -> np.ndarray:
    """``(n, num_perm)`` uint32 hash values, uniform over [0, 2^32)."""
    return rng.integers(0, 1 << 32, size=(n, num_perm), dtype=np.uint32)


def insert(lsh: MinHashLSH, rows: np.ndarray, start: int, seed: int) -> None:
    """Insert ``rows`` under keys ``start``, ``start + 1``, …"""
    with lsh.insertion_session() as session:
        for i, values in enumerate(rows, start):
            session.insert(i, LeanMinHash(seed=seed, hashvalues=values, scheme=SCHEME),
                           check_duplication=False)


def time_lookups(lsh: MinHashLSH, probes: list[LeanMinHash], rounds: int) -> tuple[float, int]:
    """(best per-probe mean in µs, total candidates returned in one pass)."""
    best = float("inf")
    found = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        found = sum(len(lsh.query(p)) for p in probes)
        best = min(best, time.perf_counter() - t0)
    return best / len(probes) * 1e6, found


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=300_000)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20240127)
    args = ap.parse_args(argv)
    params = StoryParams()
    rng = np.random.default_rng(args.seed)
    lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm)
    print(f"MinHashLSH threshold={params.threshold} num_perm={params.num_perm} "
          f"bands={lsh.b} rows={lsh.r}")

    started = time.perf_counter()
    base = random_signatures(rng, args.small, params.num_perm)
    insert(lsh, base, 0, params.seed)

    half = args.queries // 2
    picked = base[rng.integers(0, args.small, size=half)].copy()
    mask = rng.random(picked.shape) < 0.1
    picked[mask] = rng.integers(0, 1 << 32, size=int(mask.sum()), dtype=np.uint32)
    probe_values = np.vstack([picked, random_signatures(rng, args.queries - half, params.num_perm)])
    probes = [LeanMinHash(seed=params.seed, hashvalues=v, scheme=SCHEME) for v in probe_values]

    small_us, small_found = time_lookups(lsh, probes, args.rounds)
    print(f"{args.small:>9,} signatures: {small_us:7.1f} µs/lookup ({small_found} candidates)")

    t0 = time.perf_counter()
    for start in range(args.small, args.large, CHUNK):
        n = min(CHUNK, args.large - start)
        insert(lsh, random_signatures(rng, n, params.num_perm), start, params.seed)
    insert_s = time.perf_counter() - t0
    large_us, large_found = time_lookups(lsh, probes, args.rounds)
    print(f"{args.large:>9,} signatures: {large_us:7.1f} µs/lookup ({large_found} candidates); "
          f"inserting {args.large - args.small:,} took {insert_s:.0f} s")
    ratio = large_us / small_us
    print(f"ratio {args.large:,} / {args.small:,} = {ratio:.2f} (target ≤ 2); "
          f"total {time.perf_counter() - started:.0f} s")
    return ratio


if __name__ == "__main__":
    main()
