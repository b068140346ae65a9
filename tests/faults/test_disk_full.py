"""A full disk: a small tmpfs as the data directory (mounted for the test, unmounted after).

The crawl must stop with one clear error line and exit code 3, every page it started ends in a
counted outcome, no traceback or logging error reaches stderr, the archive holds whole lines
only; once space is back (the tmpfs remounted bigger) the next crawl archives every page
exactly once and nothing is known that is not archived.  Needs root (``mount``); skipped
otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager

import pytest

from rasd.core.durable import DiskFull, append_line
from tests.faults.conftest import census

pytestmark = [pytest.mark.integration, pytest.mark.faults]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@contextmanager
def tmpfs(path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _crawl(recording, data_dir):
    env = dict(os.environ)
    env.pop("RASD_FAILPOINT", None)
    return subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(recording.directory),
                           "--data-dir", str(data_dir), "--json"], env=env, capture_output=True,
                          text=True, timeout=300)


@needs_root
def test_line_that_does_not_fit_leaves_nothing(tmp_path):
    with tmpfs(tmp_path / "small", "64k") as mnt:
        path = mnt / "day.jsonl"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            append_line(fd, b'{"id":"a"}\n', path=path)
            with pytest.raises(DiskFull):
                append_line(fd, b'{"id":"b","text":"' + b"x" * 200_000 + b'"}\n', path=path)
            assert path.read_bytes() == b'{"id":"a"}\n'  # whole or absent
            os.ftruncate(fd, os.fstat(fd).st_size - 1)  # a torn last line, as a crash leaves it
            append_line(fd, b'{"id":"c"}\n', path=path)  # closed off first, never glued to it
            assert path.read_bytes() == b'{"id":"a"}\n{"id":"c"}\n'
        finally:
            os.close(fd)


@needs_root
@pytest.mark.slow
def test_full_disk_stops_with_one_error_and_nothing_is_lost_once_space_is_back(recording, tmp_path, capsys):
    with tmpfs(tmp_path / "disk", "400k") as mnt:
        data = mnt / "data"
        full = _crawl(recording, data)
        assert full.returncode == 3, (full.returncode, full.stderr[-2000:])
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rasd: disk full, crawl stopped"), full.stderr[-2000:]
        assert "Traceback" not in full.stderr and "Logging error" not in full.stderr
        summary = json.loads(full.stdout)
        outcomes = Counter(k for s in summary.values() for k, v in s["outcomes"].items() for _ in range(v))
        pages = sum(sum(s["outcomes"].values()) for s in summary.values())
        listed = sum(s["links"].get("listed", 0) for s in summary.values())
        assert pages == listed == recording_pages(recording)  # every page one counted outcome
        assert "failed/no_outcome" not in outcomes
        before = census(data, recording, None, "", None)
        assert before.archive_doubled == 0 and before.seen_not_archived == 0
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        again = _crawl(recording, data)
        assert again.returncode == 0, again.stderr[-2000:]
        after = census(data, recording, None, "", None)
    with capsys.disabled():
        print(f"\nfull disk (400 KiB tmpfs): exit {full.returncode}, {before.archived} archived before the "
              f"disk filled, outcomes {sorted(outcomes.items())}; after remount: archived "
              f"{after.archived}/{after.expected}, lost {after.archive_lost}, doubled {after.archive_doubled}, "
              f"known without archive line {after.seen_not_archived}, invalid lines {after.archive_invalid}")
    assert (after.archived, after.archive_lost, after.archive_doubled, after.seen_not_archived) == \
        (after.expected, 0, 0, 0)


def recording_pages(recording) -> int:
    return len(recording.pages)


@needs_root
@pytest.mark.search
@pytest.mark.parametrize("size", ["500k", "1200k"])
def test_full_disk_with_index_and_alerts_is_one_line_and_loses_nothing(recording, tmp_path, engine,
                                                                      make_prefix, receiver, size):
    """The same with the index and the alerts on: the alert thread's write to a full
    ``alerts.sqlite`` ended the thread with a traceback on stderr, and the summary blamed an
    unreachable engine for the lines left unindexed."""
    from tests.faults.conftest import crawl
    from tests.faults.test_kill import _prefix_with_alert

    prefix = _prefix_with_alert(engine, make_prefix, receiver)
    with tmpfs(tmp_path / "disk", size) as mnt:
        data = mnt / "data"
        full = crawl(recording.directory, data, prefix)
        assert full.returncode == 3, (full.returncode, full.stderr[-2000:])
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rasd: disk full, crawl stopped"), full.stderr[-3000:]
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        again = crawl(recording.directory, data, prefix)
        assert again.returncode == 0, again.stderr[-2000:]
        after = census(data, recording, engine, prefix, receiver)
    assert (after.archived, after.archive_lost, after.archive_doubled, after.seen_not_archived) == \
        (after.expected, 0, 0, 0)
    assert (after.index_lost, after.index_doubled, after.notifications_doubled) == (0, 0, 0)
    assert after.notifications > 0


@needs_root
def test_a_read_only_data_dir_can_be_inspected_and_a_crawl_is_refused_in_one_line(recording, tmp_path):
    """A backup on a read-only mount: `rasd status` failed "unable to open database file" (a
    WAL file needs its -shm); now it reads the copy as it is, and a crawl says what stops it."""
    with tmpfs(tmp_path / "ro", "64m") as mnt:
        data = mnt / "data"
        first = _crawl(recording, data)
        assert first.returncode == 0, first.stderr[-2000:]
        from scheduler.history import RunHistory

        history = RunHistory(data / "runs.sqlite")
        history.finish(history.start("akhbar_01_example"), "ok")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        status = subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(data), "--json"],
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        outlets = json.loads(status.stdout)["outlets"]
        assert outlets["akhbar_01_example"]["archived_24h"] == 5
        again = _crawl(recording, data)
        assert again.returncode == 2 and "Read-only file system" in again.stderr, again.stderr
        assert len(again.stderr.strip().splitlines()) == 1 and "Traceback" not in again.stderr
