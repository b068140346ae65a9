"""Benchmark: how soon a published item reaches the archive under the real scheduler, and at
what cost in listing requests, when an outlet's publishing rate changes.

Scale: **1 benchmark second = 1 real minute.**  The base interval is 15 s (the seeds' 15-minute
outlets), the adaptive bounds 15–120 s (15 minutes to the default 8 × = 2 hours).  The
scenario, after each side's first run has archived the outlet's 8 listed pages:

* quiet for ``--quiet`` seconds (default 90: one and a half quiet hours, nothing published);
* a burst of one item every ``--gap`` seconds for ``--burst`` seconds (defaults 1 and 90: one
  item a minute for an hour and a half, 90 items);
* quiet again for ``--tail`` seconds (default 150: two and a half hours).

Two loopback outlets of one generated recording (``rasd.replay.recording``: realistic Arabic
pages, RSS feed, gzipped news sitemap behind a sitemap index), served by one replay server
(``rasd.replay.server``) with ETags and 304s, publish the same items at the same moments
(:func:`rasd.replay.recording.publish`).  Each is polled by its own ``rasd schedule`` daemon
(the real CLI, APScheduler and child processes, each with its own data directory), both running
at the same time so machine load hits them alike: one with the adaptive interval
(``scheduler/adaptive.py``), one with ``--no-adapt`` (a fixed 15-s schedule).  A watcher reads
each archive every 0.1 s; an item's latency is the time from the moment its listing showed it
(``publish`` returned) to the moment its line was in the archive.  Listing requests (feed,
sitemap index, sitemap) are counted at the replay server from the end of the first runs to the
end of the scenario.

Prints, per side, the median and 95th percentile latency ÷ the base interval over the burst's
items, the number of runs and of listing requests, the adaptive side's interval after each run,
and the ratio of the adaptive side's listing requests to the fixed side's.  Targets (adaptive
side): median latency ≤ 1 × base, p95 ≤ 2 × base, listing requests < 1 × the fixed schedule's.
Both sides run in parallel rather than in interleaved rounds (``bench/paired.py``): the
scenario is one timeline; ``--rounds`` repeats it.

    .venv/bin/python bench/freshness.py [--rounds 1] [--quiet 90] [--burst 90] [--gap 1] [--tail 150]

Takes ``rounds × (quiet + burst + tail + about 20)`` seconds (6 minutes by default).
"""

from __future__ import annotations

import argparse
import math
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paired import loadavg  # noqa: E402
from rasd.core.archive import follow  # noqa: E402
from rasd.replay.recording import make_recording, publish  # noqa: E402
from rasd.replay.server import ReplayServer, load_recording, url_key  # noqa: E402

BASE, MAX = 15.0, 120.0
LISTINGS = ("/rss.xml", "/sitemap_index.xml", "/sitemap-news.xml.gz")


class ArchiveWatcher(threading.Thread):
    """Records when each URL first appears in an archive directory (POSIX seconds)."""

    def __init__(self, archive: Path, every: float = 0.1):
        super().__init__(daemon=True)
        self.archive, self.every = archive, every
        self.seen: dict[str, float] = {}
        self._checkpoints: dict[str, int] = {}
        self._halt = threading.Event()

    def scan(self) -> None:
        if not self.archive.is_dir():
            return
        now = time.time()
        for line in follow(self.archive, self._checkpoints):
            self._checkpoints[line.file] = line.end
            if line.kind == "record" and line.data and line.data.get("url"):
                self.seen.setdefault(url_key(line.data["url"]), now)

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self.scan()

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.scan()


def runs(data: Path) -> list[dict]:
    db = data / "runs.sqlite"
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(
                "SELECT * FROM runs WHERE outcome != 'running' ORDER BY id")]
    except sqlite3.OperationalError:
        return []


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q ≤ 100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def one_round(args, tmp: Path) -> dict:
    info = make_recording(tmp / "rec", outlets=2, pages_per_outlet=8, syndicated_stories=0)
    site, _, _ = load_recording(tmp / "rec")
    slugs = list(info.outlets)
    sides = {"adaptive": slugs[0], "fixed": slugs[1]}
    hosts = {side: info.outlets[slug].root.split("://", 1)[1] for side, slug in sides.items()}
    procs, watchers = {}, {}
    with ReplayServer(site) as server:
        for side, slug in sides.items():
            data = tmp / side
            cmd = [sys.executable, "-m", "rasd.cli.schedule", "schedule", "--replay", str(tmp / "rec"),
                   "--replay-url", server.base_url, "--data-dir", str(data), "--outlets", slug,
                   "--interval-seconds", str(BASE), "--max-interval-seconds", str(MAX),
                   "--log-level", "WARNING"] + (["--no-adapt"] if side == "fixed" else [])
            procs[side] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                           stderr=open(tmp / f"{side}-daemon.log", "w"))
            watchers[side] = ArchiveWatcher(data / "archive")
            watchers[side].start()
        try:
            deadline = time.monotonic() + 180
            while not all(runs(tmp / side) for side in sides):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs.values()):
                    raise RuntimeError(f"the first runs did not finish; see {tmp}/*-daemon.log")
                time.sleep(0.2)
            t0 = time.time()
            first_request = len(site.requests)
            appeared: dict[str, dict[str, float]] = {side: {} for side in sides}
            items = int(args.burst / args.gap)
            for i in range(items):
                wait = t0 + args.quiet + i * args.gap - time.time()
                if wait > 0:
                    time.sleep(wait)
                order = list(sides.items()) if i % 2 == 0 else list(reversed(sides.items()))
                for side, slug in order:  # the two outlets take turns going first
                    [page] = publish(info, slug, 1, site=site, write=False)
                    appeared[side][url_key(page.url)] = time.time()
            end = t0 + args.quiet + args.burst + args.tail
            time.sleep(max(0.0, end - time.time()))
            with site._lock:
                requests = list(site.requests[first_request:])
            # let a run in flight at the end finish its archive writes before reading them
            settle = time.time() + 30
            while time.time() < settle and not all(
                    set(appeared[s]) <= set(watchers[s].seen) for s in sides):
                time.sleep(0.2)
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
            for w in watchers.values():
                w.stop()
    out = {"t0": t0}
    for side in sides:
        lat = [watchers[side].seen[u] - t for u, t in appeared[side].items() if u in watchers[side].seen]
        missing = len(appeared[side]) - len(lat)
        listing = sum(1 for _, key in requests if key.startswith(hosts[side])
                      and key[len(hosts[side]):] in LISTINGS)
        history = [r for r in runs(tmp / side) if r["started_at"] >= t0 - 1]
        out[side] = {"latencies": lat, "missing": missing, "listing_requests": listing,
                     "runs": len([r for r in history if r["started_at"] <= end]),
                     "intervals": [(round(r["started_at"] - t0), r["interval_after"], r["new"])
                                   for r in history if r["started_at"] <= end]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--quiet", type=float, default=90.0)
    ap.add_argument("--burst", type=float, default=90.0)
    ap.add_argument("--gap", type=float, default=1.0)
    ap.add_argument("--tail", type=float, default=150.0)
    args = ap.parse_args()
    load_before = loadavg()
    print(f"scale 1 s = 1 min: base {BASE:g} s (15 min), bounds {BASE:g}–{MAX:g} s (15 min – 2 h); "
          f"quiet {args.quiet:g} s, burst of one item every {args.gap:g} s for {args.burst:g} s, "
          f"quiet {args.tail:g} s; load {' '.join(f'{x:.2f}' for x in load_before)}", flush=True)
    rows = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="rasd-bench-freshness-") as tmp:
            res = one_round(args, Path(tmp))
        for side in ("adaptive", "fixed"):
            s = res[side]
            lat = s["latencies"]
            med, p95 = statistics.median(lat) / BASE, percentile(lat, 95) / BASE
            print(f"  round {r + 1} {side:8s}: {len(lat)} items archived ({s['missing']} missing), latency "
                  f"median {statistics.median(lat):5.1f} s = {med:.2f} × base, p95 {percentile(lat, 95):5.1f} s "
                  f"= {p95:.2f} × base, max {max(lat):5.1f} s; {s['runs']} runs, "
                  f"{s['listing_requests']} listing requests", flush=True)
        print("  adaptive intervals (t s: interval s, new): " + ", ".join(
            f"{t}: {iv:g} ({n})" for t, iv, n in res["adaptive"]["intervals"]), flush=True)
        rows.append(res)
    load_after = loadavg()
    ok = True
    for r, res in enumerate(rows):
        a, f = res["adaptive"], res["fixed"]
        med = statistics.median(a["latencies"]) / BASE
        p95 = percentile(a["latencies"], 95) / BASE
        req = a["listing_requests"] / f["listing_requests"]
        good = a["missing"] == 0 and med <= 1 and p95 <= 2 and req < 1
        ok = ok and good
        print(f"RESULT freshness round {r + 1}: latency median {med:.2f} × base (target <= 1), p95 "
              f"{p95:.2f} × base (target <= 2), listing requests {req:.2f} × the fixed schedule's "
              f"(target < 1; fixed side: median {statistics.median(f['latencies']) / BASE:.2f}, p95 "
              f"{percentile(f['latencies'], 95) / BASE:.2f}): {'OK' if good else 'MISSED'}; load "
              f"{' '.join(f'{x:.2f}' for x in load_before)} → {' '.join(f'{x:.2f}' for x in load_after)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
