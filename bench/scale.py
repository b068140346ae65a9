"""Benchmark: Rasd's fleet mode (``rasd schedule --queue`` + ``rasd worker`` on Redis) against
itself with 1, 2 and 3 workers, and the cost of a poll against today's child process per run.

Everything runs as a user runs it: the real CLI processes, a real ``redis-server`` started for
the benchmark on a free loopback port, the replay server (``rasd.replay.server``) serving one
generated recording (``rasd.replay.recording``: 12 outlets × 50 realistic Arabic article pages,
RSS feed, gzipped news sitemap behind a sitemap index, with ETags and 304s), and, when a search
node answers at ``--engine`` (default ``http://127.0.0.1:9200``), indexing and alerts in the
scheduler's followers.

1. **Throughput**: for 3, 2 and 1 workers (that order, so a warm page cache favours the
   smaller fleets if anything), a fresh data directory and key prefix, the scheduler and the
   workers started together; the time from the scheduler's start until all 12 outlet polls
   are recorded, and articles archived per second.  Ratios against 1 worker.  Redis commands
   per archived article: the workers' round trips (``rasd.core.shared.round_trips``, a pipeline
   or a Lua script call is one; from their logs) ÷ articles, and the server's
   ``total_commands_processed`` over the run ÷ articles for the whole fleet (scheduler and
   workers, heartbeats and queue waits included), with the most frequent commands.
2. **Cost of a poll of an unchanged listing**: each mode polls the 12 outlets every
   ``--interval`` seconds after a first full crawl; after the first round that finds nothing
   new, CPU seconds of the whole process tree (the scheduler, and the worker with its
   extraction pool — or the scheduler and every child it ran and waited for, with theirs) are
   read from ``/proc`` at the start and the end of a ``--window``-second window and divided by
   the polls finished ``ok`` in it.  Idle costs (heartbeats, the scheduler's loop) are inside.
3. **Extrapolation**: outlets one 2-core machine follows on a 10-minute interval at that cost
   (2 CPU-s per second ÷ cost per poll × 600 s), and whether 2,000 fit.

Targets (issue 12): a poll of an unchanged listing on a worker costs ≤ 1/20 of a child-process
run; 2,000 outlets on a 10-minute interval fit one 2-core machine.

    .venv/bin/python bench/scale.py [--window 60] [--interval 15] [--engine URL | --no-engine]

Takes about 4 + 2 × (window + 1) minutes at most; about 6 minutes by default.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from paired import loadavg  # noqa: E402
from rasd.replay.recording import make_recording  # noqa: E402
from tests.scale.harness import Fleet  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
OUTLETS, PAGES = 12, 50


def start_redis(home: Path) -> tuple[subprocess.Popen, str]:
    """A throw-away ``redis-server`` on a free loopback port: ``(process, url)``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench/scale.py: redis-server not found (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(home),
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("bench/scale.py: redis-server did not start")


def commands_processed(client) -> int:
    return int(client.info("stats")["total_commands_processed"])


def command_calls(client) -> dict[str, int]:
    """``{command: calls}`` from ``INFO commandstats``."""
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in client.info("commandstats").items()}


def tree_cpu(groups: set[int]) -> float:
    """CPU seconds (user + system, own + waited-for children) of every live process whose
    process group is in ``groups`` (each CLI process was started in its own session)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        if int(fields[2]) in groups:  # pgrp
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def engine_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def ok_runs(fleet: Fleet) -> int:
    return sum(outcome == "ok" for _, outcome, _ in fleet.runs())


def throughput(rec: Path, tmp: Path, redis_url: str, client, workers: int, index_prefix) -> dict:
    prefix = f"bench{workers}-{uuid.uuid4().hex[:6]}:"
    fleet = Fleet(rec, tmp / f"data-{workers}", redis_url, prefix, index_prefix)
    try:
        c0, calls0 = commands_processed(client), command_calls(client)
        for i in range(workers):
            fleet.start_worker(f"w{i + 1}")
        t0 = time.monotonic()
        fleet.start_scheduler()
        runs = fleet.wait_runs(OUTLETS, timeout=900)
        seconds = time.monotonic() - t0
        commands = commands_processed(client) - c0
        calls = command_calls(client)
    finally:
        fleet.stop()
    trips = sum(fleet.log_totals("redis_round_trips_total").values())
    archived = sum(a for _, _, a in runs)
    by_command = sorted(((n - calls0.get(k, 0)) / max(archived, 1), k) for k, n in calls.items())[::-1]
    return {"workers": workers, "seconds": seconds, "archived": archived,
            "per_second": archived / seconds, "commands_per_article": commands / max(archived, 1),
            "trips_per_article": trips / max(archived, 1),
            "shards": fleet.shard_lines(),
            "top": ", ".join(f"{k} {n:.1f}" for n, k in by_command[:6] if n >= 0.1)}


def unchanged_poll_cost(rec: Path, tmp: Path, redis_url: str, client, mode: str, interval: float,
                        window: float) -> dict:
    """CPU seconds per ok poll of an unchanged listing in ``mode`` ``worker`` or ``child``."""
    prefix = f"poll-{mode}-{uuid.uuid4().hex[:6]}:"
    fleet = Fleet(rec, tmp / f"poll-{mode}", redis_url, prefix, None)
    try:
        if mode == "worker":
            worker = fleet.start_worker("w1")
            fleet.start_scheduler("--interval-seconds", str(interval))
            groups = {fleet.scheduler.pid, worker.pid}
        else:
            fleet.scheduler = fleet._spawn("scheduler", [
                "schedule", "--replay", str(rec), "--replay-url", fleet.server.base_url,
                "--data-dir", str(fleet.data), "--interval-seconds", str(interval),
                "--timeout-seconds", "600", "--no-adapt", "--no-digests"])
            groups = {fleet.scheduler.pid}
        fleet.wait_runs(0, timeout=900, ok=OUTLETS)          # the first, full crawl
        fleet.wait_runs(0, timeout=900, ok=2 * OUTLETS)      # one round that found nothing new
        polls0, cpu0, c0, t0 = ok_runs(fleet), tree_cpu(groups), commands_processed(client), time.monotonic()
        wall0 = time.time()
        time.sleep(window)
        polls1, cpu1, c1, t1 = ok_runs(fleet), tree_cpu(groups), commands_processed(client), time.monotonic()
        archived_late = sum(a for _, o, a in fleet.runs()[2 * OUTLETS:])
        with sqlite3.connect(fleet.data / "runs.sqlite") as db:
            walls = sorted(e - s for s, e in db.execute(
                "SELECT started_at, ended_at FROM runs WHERE outcome = 'ok' AND started_at >= ?", (wall0,)))
    finally:
        fleet.stop()
    polls = polls1 - polls0
    return {"mode": mode, "polls": polls, "cpu_seconds": cpu1 - cpu0, "seconds": t1 - t0,
            "cpu_per_poll": (cpu1 - cpu0) / max(polls, 1), "archived_late": archived_late,
            "commands_per_poll": (c1 - c0) / max(polls, 1),
            "wall_median": walls[len(walls) // 2] if walls else float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=float, default=60.0, help="seconds of unchanged polls measured")
    ap.add_argument("--interval", type=float, default=15.0, help="poll interval of the cost runs")
    ap.add_argument("--engine", default="http://127.0.0.1:9200")
    ap.add_argument("--no-engine", action="store_true", help="no indexing and alerts")
    args = ap.parse_args()
    from rasd.core.shared import connect

    with tempfile.TemporaryDirectory(prefix="rasd-bench-scale-") as name:
        tmp = Path(name)
        rec = make_recording(tmp / "rec", outlets=OUTLETS, pages_per_outlet=PAGES,
                             syndicated_stories=12, seed=12).directory
        redis_proc, redis_url = start_redis(tmp)
        client = connect(redis_url)
        index_prefix = None
        if not args.no_engine and engine_up(args.engine):
            os.environ["RASD_ENGINE__URL"] = args.engine
            index_prefix = f"bench-scale-{uuid.uuid4().hex[:6]}"
        print(f"recording: {OUTLETS} outlets × {PAGES} pages; redis {redis_url}; indexing and "
              f"alerts {'on (' + args.engine + ')' if index_prefix else 'off'}; load {loadavg()}")
        try:
            rows = [throughput(rec, tmp, redis_url, client, n, index_prefix) for n in (3, 2, 1)]
            one = next(r for r in rows if r["workers"] == 1)
            print("\nthroughput (scheduler + N workers, all 12 polls of the first crawl):")
            for r in sorted(rows, key=lambda r: r["workers"]):
                print(f"  {r['workers']} worker(s): {r['archived']} archived in {r['seconds']:.1f} s = "
                      f"{r['per_second']:.1f} articles/s, ×{r['per_second'] / one['per_second']:.2f} "
                      f"of 1 worker; per article: Redis round trips {r['trips_per_article']:.1f} from "
                      f"the workers, commands {r['commands_per_article']:.1f} in all; "
                      f"shards {r['shards']}\n      most frequent per article: {r['top']}")
            costs = {mode: unchanged_poll_cost(rec, tmp, redis_url, client, mode, args.interval, args.window)
                     for mode in ("worker", "child")}
        finally:
            client.close()
            redis_proc.terminate()
            redis_proc.wait(timeout=20)
        w, c = costs["worker"], costs["child"]
        print(f"\npolls of unchanged listings every {args.interval:.0f} s, {args.window:.0f} s measured:")
        for r in (w, c):
            label = "long-lived worker" if r["mode"] == "worker" else "child process per run"
            print(f"  {label}: {r['polls']} polls, {r['cpu_seconds']:.2f} CPU-s = "
                  f"{r['cpu_per_poll'] * 1000:.0f} CPU-ms per poll; Redis commands per poll "
                  f"{r['commands_per_poll']:.1f}; median {r['wall_median']:.2f} s from queued or "
                  f"started to recorded; articles archived after the first crawl {r['archived_late']}")
        ratio = w["cpu_per_poll"] / c["cpu_per_poll"] if c["cpu_per_poll"] else float("nan")
        print(f"  worker ÷ child: {ratio:.3f} (target ≤ {1 / 20:.3f})")
        print("\n2,000 outlets on a 10-minute interval = 3.33 polls/s; a 2-core machine gives 2 CPU-s/s:")
        for r in (w, c):
            fits = 2 * 600 / r["cpu_per_poll"] if r["cpu_per_poll"] else float("inf")
            label = "worker" if r["mode"] == "worker" else "child"
            print(f"  {label}: {fits:,.0f} outlets fit by CPU ({'yes' if fits >= 2000 else 'NO'}: "
                  f"{2000 / 600 * r['cpu_per_poll']:.2f} CPU-s/s needed for 2,000); polls in flight "
                  f"at once for 2,000: {2000 / 600 * r['wall_median']:.1f}")
        print(f"  (a worker runs fleet.max_polls polls at once, 4 by default: "
              f"{2000 / 600 * w['wall_median'] / 4:.1f} workers' worth for 2,000 at the measured poll time)")
        print(f"load after: {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
