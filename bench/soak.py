"""Soak benchmark: does the scheduler daemon's memory stay flat over many scheduled runs?

Starts ``rasd schedule`` (``python -m rasd.cli.schedule schedule``) on the replay corpus
(``tests/fixtures/corpus``) with short intervals in a temporary data directory, reads the
daemon's resident memory (``VmRSS`` in ``/proc/<pid>/status``, kB) once the first run has
finished and again after ``--runs`` finished runs (counted in ``runs.sqlite``), stops the
daemon with SIGTERM and prints both values and their ratio (target ≤ 1.2).  Crawls run in
child processes (see ``scheduler/runner.py``), so only the daemon's own bookkeeping —
APScheduler, the job store, the run history — can grow here.

    .venv/bin/python bench/soak.py [--runs 100] [--outlets jawharafm_net,youm7,cnn_arabic]
        [--interval 1]

Linux only (``/proc``).  Exit code 1 when the ratio is above the target.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.2


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in kB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def finished_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs WHERE outcome != 'running'").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


def wait_runs(proc: subprocess.Popen, db: Path, n: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {proc.returncode}")
        done = finished_runs(db)
        if done >= n:
            return done
        time.sleep(0.2)
    raise RuntimeError(f"fewer than {n} runs after {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--outlets", default="jawharafm_net,youm7,cnn_arabic")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval, seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rasd-soak-") as tmp:
        data = Path(tmp) / "data"
        cmd = [sys.executable, "-m", "rasd.cli.schedule", "schedule", "--replay",
               str(ROOT / "tests" / "fixtures" / "corpus"), "--data-dir", str(data),
               "--outlets", args.outlets, "--interval-seconds", str(args.interval),
               "--no-adapt", "--log-level", "WARNING"]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=open(Path(tmp) / "daemon.log", "w"))
        try:
            wait_runs(proc, data / "runs.sqlite", 1, 120)
            first = rss_kb(proc.pid)
            done = wait_runs(proc, data / "runs.sqlite", args.runs, 60 + 3 * args.runs)
            last = rss_kb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        with sqlite3.connect(data / "runs.sqlite") as conn:
            outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM runs GROUP BY outcome"))
    ratio = last / first
    print(f"runs={done} in {time.monotonic() - started:.0f} s  outcomes={outcomes}")
    print(f"daemon RSS after 1 run: {first} kB; after {done} runs: {last} kB; "
          f"ratio {ratio:.3f} (target ≤ {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
