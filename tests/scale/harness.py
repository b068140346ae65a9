"""A fleet on one machine for the tests: the replay server in the test process (so every
request's arrival time is measured where the outlets would see it), ``rasd schedule --queue``
and N ``rasd worker`` processes as real children, each in its own process group, and a census
of the archive shards, the Redis seen store, the index and the webhook receiver.
"""

from __future__ import annotations

import os
import signal
import re
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from rasd.core.urls import canonicalize_url
from rasd.replay.server import ReplayServer, load_recording
from tests.faults.conftest import Census, census
from tests.search.conftest import ENGINE_URL


class Fleet:
    """One fleet: ``start_scheduler()``, ``start_worker(name)``, ``wait_runs(n)``, ``stop()``.

    ``env`` is added to every child's environment (``RASD_*`` settings); the fleet's Redis key
    prefix and the engine's index prefix are the test's own.
    """

    def __init__(self, recording_dir: Path, data_dir: Path, redis_url: str, redis_prefix: str,
                 index_prefix: str | None = None, env: dict | None = None):
        self.recording_dir, self.data, self.redis_url = Path(recording_dir), Path(data_dir), redis_url
        self.site, self.pages, _ = load_recording(self.recording_dir)
        self.server = ReplayServer(self.site).start()
        self.env = dict(os.environ, RASD_FLEET__PREFIX=redis_prefix, RASD_FLEET__HEARTBEAT_SECONDS="3",
                        RASD_LOG_LEVEL="INFO", **(env or {}))
        self.env.pop("RASD_FAILPOINT", None)
        if index_prefix:
            self.env.update(RASD_ENGINE__URL=ENGINE_URL, RASD_ENGINE__INDEX_PREFIX=index_prefix,
                            RASD_INDEX_ENABLED="1", RASD_ALERTS_ENABLED="1")
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.logs = self.data.parent / f"{self.data.name}-logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        out = open(self.logs / f"{name}.err", "w")
        return subprocess.Popen([sys.executable, "-m", "rasd.cli.main", *args], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=out, start_new_session=True)

    def start_scheduler(self, *extra: str) -> None:
        self.scheduler = self._spawn("scheduler", [
            "schedule", "--replay", str(self.recording_dir), "--replay-url", self.server.base_url,
            "--queue", self.redis_url, "--data-dir", str(self.data), "--interval-seconds", "3600",
            "--timeout-seconds", "600", "--no-adapt", "--no-digests", "--log-level", "INFO", *extra])

    def start_worker(self, name: str, max_polls: int = 4) -> subprocess.Popen:
        self.workers[name] = self._spawn(f"worker-{name}", [
            "worker", "--redis", self.redis_url, "--data-dir", str(self.data), "--worker-id", name,
            "--replay-url", self.server.base_url, "--max-polls", str(max_polls)])
        return self.workers[name]

    def kill(self, name: str) -> None:
        """``kill -9`` worker ``name`` and what it started (its extraction pool)."""
        proc = self.workers[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def runs(self) -> list[tuple[str, str, int]]:
        """``(outlet, outcome, archived)`` of every finished run in the history."""
        path = self.data / "runs.sqlite"
        if not path.exists():
            return []
        try:
            with sqlite3.connect(path) as db:
                return db.execute("SELECT outlet, outcome, archived FROM runs "
                                  "WHERE outcome != 'running'").fetchall()
        except sqlite3.OperationalError:
            return []

    def shard_lines(self) -> dict[str, int]:
        """Record lines per worker shard (a torn last line not counted)."""
        out = {}
        for shard in sorted((self.data / "archive" / "shards").glob("*")):
            out[shard.name] = sum(f.read_bytes().count(b"\n") for f in shard.glob("*.jsonl"))
        return out

    def alive(self) -> None:
        """Raise if the scheduler or a worker not killed on purpose has exited."""
        for name, proc in [("scheduler", self.scheduler), *self.workers.items()]:
            if proc is not None and proc.poll() not in (None, -9):
                log = self.logs / (f"{name}.err" if name == "scheduler" else f"worker-{name}.err")
                raise AssertionError(f"{name} exited {proc.returncode}: {log.read_text()[-3000:]}")

    def wait_runs(self, outcomes: int, timeout: float, ok: int | None = None) -> list:
        """Wait until the history holds ``outcomes`` finished runs (``ok``: of them outcome ok)."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs()
            done = len(runs) if ok is None else sum(o == "ok" for _, o, _ in runs)
            if done >= (outcomes if ok is None else ok):
                return runs
            self.alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"{done} runs after {timeout} s: {runs}")
            time.sleep(0.3)

    def stop(self) -> None:
        """SIGTERM everyone; ``kill -9`` what is still running after 60 s; stop the server."""
        procs = [p for p in [self.scheduler, *self.workers.values()] if p is not None]
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 60
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.server.stop()

    # ---- what the outlets saw ----------------------------------------------------------------
    def lock_waits(self) -> dict[str, float]:
        """``{worker: seconds}`` its ledger waited for the fleet's writer lock."""
        return self.log_totals("lock_wait_total")

    def log_totals(self, key: str) -> dict[str, float]:
        """``{worker: value}`` of a running total its log prints after each poll (the last
        ``key=value`` in ``<data-dir>/logs/worker-<name>.log``)."""
        out = {}
        for log_file in sorted((self.data / "logs").glob("worker-*.log")):
            totals = re.findall(rf"{key}=([0-9.]+)", log_file.read_text(errors="replace"))
            out[log_file.stem.removeprefix("worker-")] = float(totals[-1]) if totals else 0.0
        return out

    def arrivals_by_host(self) -> dict[str, list[float]]:
        """Arrival times (monotonic seconds) of every request, by the outlet's host."""
        out: dict[str, list[float]] = defaultdict(list)
        for at, key in list(self.site.arrivals):
            out[key.split("/", 1)[0].removeprefix("www.")].append(at)
        return {h: sorted(v) for h, v in out.items()}


def busiest_window(times: list[float], seconds: float) -> int:
    """The most requests that arrived within any half-open window of ``seconds``."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - seconds:
            j += 1
        best = max(best, i - j + 1)
    return best


def fleet_census(fleet: Fleet, info, engine, index_prefix, receiver, redis_client, redis_prefix) -> Census:
    """:func:`tests.faults.conftest.census` over every shard, plus the Redis seen store:
    articles it knows whose archive line is missing (``seen_not_archived``)."""
    out = census(fleet.data, info, engine, index_prefix, receiver)
    from rasd.core.archive import follow

    archived = {ln.data["id"] for ln in follow(fleet.data / "archive", {}, tail=True)
                if ln.data is not None and ln.kind == "record"}
    known = {k.decode().rsplit(":", 1)[1] for k in redis_client.scan_iter(f"{redis_prefix}art:*", count=1000)}
    out.seen_not_archived = len(known - archived)
    return out


def stories_of(data_dir: Path, info) -> dict[str, set[str]]:
    """Planted story key → the ``story_id`` values its pages were archived with."""
    from rasd.core.archive import read_archive

    by_url = {canonicalize_url(r["url"]): r for r in read_archive(data_dir / "archive")}
    return {key: {by_url[canonicalize_url(u)]["story_id"] for u in urls if canonicalize_url(u) in by_url}
            for key, urls in info.stories.items()}
