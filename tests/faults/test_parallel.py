"""Parallel runs on one data directory: the scheduler's ``--max-parallel 4`` and two
``rasd crawl`` processes at once.  Real processes, the real replay server; counted with
:func:`tests.faults.conftest.census` (every page archived once, no URL known without its
archive line) and by story: every planted syndicated story's pages share one ``story_id``
although different processes crawled them."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from rasd.core.archive import read_archive
from rasd.core.urls import canonicalize_url
from tests.faults.conftest import census

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow]


def _stories_hold(data_dir, info) -> None:
    by_url = {canonicalize_url(r["url"]): r for r in read_archive(data_dir / "archive")}
    for key, urls in info.stories.items():
        ids = {by_url[canonicalize_url(u)]["story_id"] for u in urls}
        assert len(ids) == 1, (key, ids)


def _finished_runs(data_dir) -> list[tuple[str, str, int]]:
    path = data_dir / "runs.sqlite"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT outlet, outcome, archived FROM runs WHERE outcome != 'running'").fetchall()
    except sqlite3.OperationalError:  # the file exists, its table not yet (the scheduler is starting)
        return []


def _stop_scheduler(proc: subprocess.Popen) -> None:
    """SIGTERM the scheduler (its own session) and wait; SIGKILL its group after 60 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_scheduler_max_parallel_4_archives_every_article_in_the_first_round(recording, tmp_path, capsys):
    data = tmp_path / "data"
    env = dict(os.environ)
    env.pop("RASD_FAILPOINT", None)
    cmd = [sys.executable, "-m", "rasd.cli.main", "schedule", "--replay", str(recording.directory),
           "--data-dir", str(data), "--max-parallel", "4", "--interval-seconds", "3600",
           "--timeout-seconds", "300", "--no-adapt", "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    t0 = time.monotonic()
    try:
        while len(_finished_runs(data)) < len(recording.outlets):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() - t0 < 240, _finished_runs(data)
            time.sleep(0.5)
        round_seconds = time.monotonic() - t0
    finally:
        _stop_scheduler(proc)
    runs = _finished_runs(data)
    assert sorted(r[0] for r in runs) == sorted(recording.outlets.keys() | {o for o, _, _ in runs})
    assert all(outcome == "ok" for _, outcome, _ in runs), runs
    result = census(data, recording, None, "", None)
    with capsys.disabled():
        print(f"\nscheduler --max-parallel 4: {len(runs)} runs in the first round ({round_seconds:.1f} s), "
              f"archived {result.archived}/{result.expected}, lost {result.archive_lost}, "
              f"doubled {result.archive_doubled}, known without archive line {result.seen_not_archived}")
    assert sum(archived for _, _, archived in runs) == result.expected
    assert (result.archived, result.archive_lost, result.archive_doubled, result.seen_not_archived) == \
        (result.expected, 0, 0, 0)
    _stories_hold(data, recording)


def _wait_locked(path, proc, timeout: float = 60) -> None:
    """Wait until ``proc`` holds a ``flock`` on ``path`` (read from ``/proc/locks``, without
    touching the lock: a probe could make the crawl's own attempt fail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the crawl ended before it was seen holding its lock"
        if path.exists():
            inode = os.stat(path).st_ino
            for line in open("/proc/locks"):
                parts = line.split()
                if "FLOCK" in parts and str(proc.pid) in parts and any(
                        p.endswith(f":{inode}") for p in parts):
                    return
        time.sleep(0.05)
    raise AssertionError(f"{path} was never locked by {proc.pid}")


def _crawl(recording, data, outlets=()) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("RASD_FAILPOINT", None)
    return subprocess.Popen([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(recording.directory),
                             "--data-dir", str(data), "--json", *outlets], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_crawls_on_one_data_dir_join_safely_or_are_refused(recording, tmp_path):
    data = tmp_path / "data"
    slugs = sorted(recording.outlets)
    # other outlets at the same moment: both run, sharing the data directory's state safely
    first, second = _crawl(recording, data, slugs[::2]), _crawl(recording, data, slugs[1::2])
    for proc in (first, second):
        out, errs = proc.communicate(timeout=300)
        assert proc.returncode == 0, errs[-2000:]
    result = census(data, recording, None, "", None)
    assert (result.archived, result.archive_lost, result.archive_doubled, result.seen_not_archived) == \
        (result.expected, 0, 0, 0)
    _stories_hold(data, recording)
    # the same outlet twice at once: the second is refused with one line, the first is unharmed
    slow = _crawl(recording, tmp_path / "again", slugs[:2])
    _wait_locked(tmp_path / "again" / "locks" / f"{slugs[1]}.lock", slow)
    refused = _crawl(recording, tmp_path / "again", slugs[1:3])
    out, errs = refused.communicate(timeout=120)
    slow.communicate(timeout=300)
    assert refused.returncode == 2 and slow.returncode == 0
    assert len(errs.strip().splitlines()) == 1 and "being crawled by another process" in errs
    assert slugs[1] in errs and "Traceback" not in errs


def _children(data) -> list[int]:
    """Pids of live scheduler children (``rasd.scheduler.child``) working on ``data``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"rasd.scheduler.child" in argv and str(data).encode() in argv and state != "Z":
            pids.append(int(entry))
    return pids


def _running(data) -> int:
    try:
        with sqlite3.connect(data / "runs.sqlite") as db:
            return db.execute("SELECT count(*) FROM runs WHERE outcome = 'running'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("late", [0.0, 1.0, 2.5])
def test_children_of_a_killed_scheduler_end_and_free_their_outlets(recording, tmp_path, late):
    """``kill -9`` of ``rasd schedule`` while its runs are in flight.  Each child gets SIGTERM
    from the kernel (``PR_SET_PDEATHSIG``) and stops, but its stdout and stderr are pipes nobody
    reads any more: writing its summary raised ``BrokenPipeError``, and so did the stop
    watchdog's message, which skipped the watchdog's exit.  Children hung for minutes holding
    their outlets' locks, and the restarted scheduler's runs of those outlets waited on the
    locks and ended ``interrupted``: 80 of 480 articles not archived.  Now every child is gone
    within seconds, every lock is free, and the restarted scheduler archives every article."""
    import fcntl

    from rasd.replay.server import ReplayServer, load_recording

    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "RASD_FAILPOINT"}
    env["RASD_CRAWL__REPLAY_DOWNLOAD_DELAY"] = "0.4"  # runs long enough to be cut
    site, _, _ = load_recording(recording.directory)
    with ReplayServer(site) as server:  # outlives the scheduler, as a real site does
        cmd = [sys.executable, "-m", "rasd.cli.main", "schedule", "--replay", str(recording.directory),
               "--replay-url", server.base_url, "--data-dir", str(data), "--max-parallel", "4",
               "--interval-seconds", "5", "--no-adapt", "--log-level", "WARNING"]  # cut runs come round again soon
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while _running(data) < 2 or len(_children(data)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "no runs in flight"
            time.sleep(0.1)
        time.sleep(late)
        proc.kill()
        proc.wait(10)
        t0 = time.monotonic()
        while _children(data) and time.monotonic() - t0 < 30:
            time.sleep(0.25)
        hung = _children(data)
        for pid in hung:  # do not leave them behind whatever happens
            os.kill(pid, signal.SIGKILL)
        assert hung == [], f"children still alive {time.monotonic() - t0:.0f} s after their scheduler died"
        for lock in (data / "locks").glob("*.lock"):  # every outlet free again, within the same 30 s
            if lock.name == "scheduler.lock":
                continue
            fd = os.open(lock, os.O_RDWR)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:  # a dead run's child (or what it started) holds it
                        inode = os.fstat(fd).st_ino
                        holders = [ln.split()[4] for ln in open("/proc/locks")
                                   if "FLOCK" in ln and ln.split()[5].endswith(f":{inode}")]
                        assert time.monotonic() - t0 < 30, (lock.name, holders, [
                            open(f"/proc/{h}/cmdline", "rb").read().replace(b"\0", b" ")[:200]
                            for h in holders if os.path.exists(f"/proc/{h}")])
                        time.sleep(0.25)
            finally:
                os.close(fd)
        # the restarted scheduler archives everything; nothing lost, nothing twice
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            expected = {canonicalize_url(p.url) for p in recording.pages}
            while not expected <= {canonicalize_url(r["url"]) for r in read_archive(data / "archive")}:
                assert proc.poll() is None and time.monotonic() < deadline, _finished_runs(data)
                time.sleep(0.5)
        finally:
            _stop_scheduler(proc)
    result = census(data, recording, None, "", None)
    assert (result.archived, result.archive_lost, result.archive_doubled, result.seen_not_archived) == \
        (result.expected, 0, 0, 0)
