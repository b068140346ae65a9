"""Soak benchmark: do the scheduler's memory and the cost of its runs stay flat over many runs?

Starts ``rasd schedule`` (``python -m rasd.cli.schedule schedule``) on the replay corpus
(``tests/fixtures/corpus``) with short intervals in a temporary data directory and lets it
run ``--runs`` crawls (default 100, counted in ``runs.sqlite``).  The work is in the children:
every run is a ``python -m rasd.scheduler.child`` process that starts Python and Scrapy, its
extraction workers, reads the listings (304s after the first run) and exits — the cost a
scheduled outlet pays per poll.  Measured:

* the daemon: resident memory (``VmRSS`` in ``/proc/<pid>/status``, kB) read each time a run
  finishes, and its own CPU (``utime + stime`` in ``/proc/<pid>/stat``);
* the children: each run's CPU seconds (user + system of the child and its reaped extraction
  workers) and peak resident memory (kB) as the child reports them (``getrusage``; the run
  history stores them as ``runs.cpu_seconds`` and ``runs.max_rss_kb``).  The child's report
  leaves out the interpreter's teardown after it, so the complete figure is printed beside it:
  the daemon's ``cutime + cstime`` (``/proc/<pid>/stat``: the CPU of every child it reaped, with
  their reaped descendants) over each window, divided by its runs.

The two sides of each ratio are the first ``--window`` runs (default 10, after the very first,
which creates the stores) and the last ``--window`` runs.  They cannot be interleaved — the
question is whether the end of a daemon's life costs more than its start — so they are paired
run by run instead (the k-th early run with the k-th late run, as ``bench/paired.py`` reports
rounds): each ratio is the median of ``window`` pairwise ratios, with their min–max, and the load
average before and after.  Targets: daemon RSS late / early ≤ 1.2; child CPU per run and child
peak RSS late / early ≤ 1.2 (no cost growing with the archive or the run history).

    .venv/bin/python bench/soak.py [--runs 100] [--window 10] [--outlets jawharafm_net,youm7,cnn_arabic]
        [--interval 1]

Linux only (``/proc``).  Exit code 1 when a ratio misses its target.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from paired import Rounds, loadavg  # noqa: E402

TARGET = 1.2
TICK = os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in kB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """``(own, reaped children)`` user + system CPU seconds of ``pid`` (``/proc/<pid>/stat``
    fields 14–15 and 16–17)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return ((int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK)


def per_run(cumulative: list[float], start: int, count: int) -> float:
    """Mean per run of a cumulative series (its value after each finished run) over ``count``
    runs from index ``start`` (a read can see several runs end at once: only window totals are
    exact)."""
    return (cumulative[start + count - 1] - cumulative[start - 1]) / count


def finished(db: Path) -> list[tuple]:
    """``(id, outcome, cpu_seconds, max_rss_kb)`` of the finished runs, in order."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute("SELECT id, outcome, cpu_seconds, max_rss_kb FROM runs "
                                "WHERE outcome != 'running' ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return []


def pairs(early: list[float], late: list[float], load_before, load_after) -> Rounds:
    """The k-th early value paired with the k-th late one."""
    n = min(len(early), len(late))
    return Rounds({"early": early[:n], "late": late[-n:]},
                  [b / a for a, b in zip(early[:n], late[-n:])], load_before, load_after)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--outlets", default="jawharafm_net,youm7,cnn_arabic")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, seconds")
    args = parser.parse_args()
    if args.runs < 2 * args.window + 1:
        parser.error("--runs must be at least 2 × --window + 1")
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="rasd-soak-") as tmp:
        data = Path(tmp) / "data"
        db = data / "runs.sqlite"
        cmd = [sys.executable, "-m", "rasd.cli.schedule", "schedule", "--replay",
               str(ROOT / "tests" / "fixtures" / "corpus"), "--data-dir", str(data),
               "--outlets", args.outlets, "--interval-seconds", str(args.interval),
               "--no-adapt", "--log-level", "WARNING"]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=open(Path(tmp) / "daemon.log", "w"))
        daemon_rss: list[int] = []  # after the k-th finished run
        daemon_cpu: list[float] = []
        children_cpu: list[float] = []
        try:
            deadline = time.monotonic() + 120 + 10 * args.runs
            while len(daemon_rss) < args.runs:
                if proc.poll() is not None:
                    raise RuntimeError(f"the daemon exited with {proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"fewer than {args.runs} runs after {deadline - started:.0f} s")
                done = len(finished(db))
                while len(daemon_rss) < min(done, args.runs):
                    daemon_rss.append(rss_kb(proc.pid))
                    own, kids = cpu_seconds(proc.pid)
                    daemon_cpu.append(own)
                    children_cpu.append(kids)
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        runs = finished(db)[:args.runs]
    elapsed = time.monotonic() - started
    load_after = loadavg()
    outcomes: dict[str, int] = {}
    for r in runs:
        outcomes[r[1]] = outcomes.get(r[1], 0) + 1
    w = args.window
    early, late = slice(1, 1 + w), slice(len(runs) - w, len(runs))
    child_cpu = [r[2] for r in runs]
    child_rss = [r[3] for r in runs]
    if None in child_cpu or None in child_rss:
        raise RuntimeError("runs without cpu_seconds/max_rss_kb: an older child?")
    per_run_daemon_cpu = [b - a for a, b in zip(daemon_cpu, daemon_cpu[1:])]
    results = {
        "daemon RSS": pairs(daemon_rss[early], daemon_rss[late], load_before, load_after),
        "child CPU per run": pairs(child_cpu[early], child_cpu[late], load_before, load_after),
        "child peak RSS": pairs(child_rss[early], child_rss[late], load_before, load_after),
    }
    print(f"runs={len(runs)} in {elapsed:.0f} s  outcomes={outcomes}")
    print(f"daemon RSS: {daemon_rss[0]} kB after run 1, median {statistics.median(daemon_rss[early]):.0f} kB "
          f"over runs 2–{1 + w}, {statistics.median(daemon_rss[late]):.0f} kB over the last {w}; "
          f"daemon's own CPU {daemon_cpu[-1]:.1f} s in all ({statistics.median(per_run_daemon_cpu) * 1000:.0f} ms "
          "per run, median)")
    print(f"children: CPU {statistics.median(child_cpu[early]):.2f} s per run early, "
          f"{statistics.median(child_cpu[late]):.2f} s late as they report it (medians); all of it, "
          f"from the daemon's cutime+cstime: {per_run(children_cpu, 1, w):.2f} / "
          f"{per_run(children_cpu, len(runs) - w, w):.2f} s per run, {children_cpu[-1]:.0f} CPU-s "
          f"for all {len(runs)} runs; peak RSS "
          f"{statistics.median(child_rss[early]) / 1024:.0f} MiB early, "
          f"{statistics.median(child_rss[late]) / 1024:.0f} MiB late")
    ok = True
    for name, rounds in results.items():
        print(rounds.line(f"soak ({name}, last {w} runs / runs 2–{1 + w})", TARGET))
        ok = ok and rounds.ok(TARGET)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
