"""Clean stops (fault C): SIGTERM ends a crawl within seconds whatever it waits for.

Real processes and real signals: ``rasd crawl`` and ``python -m rasd.scheduler.child`` crawl a live
outlet on ``127.0.0.1`` whose feed lists two quick pages, one that answers ``503`` with a
``Retry-After`` the crawl waits for, and one served by a slow-drip server (a byte every 0.2 s
for a minute).  The signal comes while both are in progress.  The scheduler gives a child 20 s
between SIGTERM and SIGKILL; a stop must take a fraction of that.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rasd.crawler.stopping import EXIT_INTERRUPTED
from rasd.core.archive import ArchiveReadStats, read_archive
from rasd.pipelines.seenstore import (SeenStore)
from rasd.core.urls import canonicalize_url
from rasd.core.seeds import Outlet
from rasd.scheduler.history import RunHistory
from rasd.scheduler.runner import CHILD_INTERRUPTED, Daemon, ScheduleConfig
from tests.loopback import (ROOT, Answer, LoopbackServer, LoopbackSite, UnavailableFor, archived_urls,
                            crawl_env, drip, outlet, real_pages, rss, write_seeds)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STOP_LIMIT = 5.0  # seconds from SIGTERM to exit (the scheduler's grace is 20 s)
#: the crawl waits for a Retry-After this long (it would, if not stopped)
ENV = {"RASD_CRAWL__RETRY_AFTER_MAX_SECONDS": "300"}


def _site(base: str, site: LoopbackSite) -> None:
    pages = real_pages()
    site.put("/a/1", Answer(body=pages[0]))
    site.put("/a/2", Answer(body=pages[1]))
    site.put("/wait", UnavailableFor(100, Answer(body=pages[2])))
    site.put("/drip", drip(every=0.2, max_seconds=60))
    site.put("/rss.xml", rss([base + p for p in ("/a/1", "/a/2", "/wait", "/drip")]))


def _busy(site: LoopbackSite, data: Path) -> bool:
    """Both quick pages archived, the Retry-After being waited out, the drip under way."""
    return (len(archived_urls(data)) == 2 and len(site.hits("/wait")) == 1
            and len(site.hits("/drip")) == 1)


def _signal_when_busy(proc: subprocess.Popen, site: LoopbackSite, data: Path, *signums) -> float:
    deadline = time.monotonic() + 60
    while not _busy(site, data):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the crawl never got busy"
        time.sleep(0.1)
    time.sleep(0.5)  # well into the wait and the drip
    t0 = time.monotonic()
    for signum in signums:
        proc.send_signal(signum)
    return t0


def test_sigterm_stops_rasd_crawl_within_seconds_keeping_the_archive(tmp_path):
    data = tmp_path / "data"
    with LoopbackServer() as server:
        _site(server.base_url, server.site)
        seeds = write_seeds(tmp_path / "seeds", {"stopme": outlet("stopme", server.base_url, ["/rss.xml"])})
        proc = subprocess.Popen([sys.executable, "-m", "rasd.cli.main", "crawl", "--data-dir", str(data)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env=crawl_env(RASD_SEEDS_DIR=str(seeds), **ENV))
        t0 = _signal_when_busy(proc, server.site, data, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - t0
        print(f"rasd crawl stopped {stopped_in:.2f} s after SIGTERM")
        base = server.base_url
    assert proc.returncode == EXIT_INTERRUPTED == 130, err
    assert stopped_in < STOP_LIMIT
    lines = err.strip().splitlines()  # the wait it was in, told as it began, then the stop
    assert lines[0] == f"rasd: retrying {server.base_url}/wait in 100 s (HTTP 503; retry 1 of 3, the server's Retry-After)"
    assert len(lines) == 2 and lines[1].startswith("rasd: crawl interrupted by SIGTERM: 2 pages archived"), err
    assert "Crawl summary" not in out  # no normal summary
    # every page archived before the signal is there, in whole lines (the archive was closed)
    stats = ArchiveReadStats()
    assert sorted(r["url"] for r in read_archive(data / "archive", stats)) == [base + "/a/1", base + "/a/2"]
    assert stats.invalid == 0
    log = (data / "logs" / "crawl.log").read_text(encoding="utf-8")
    assert "crawl_interrupted signal=SIGTERM" in log and "Spider closed (shutdown)" in log
    assert "'rasd/outcome/stopme/failed/interrupted': 2" in log
    with SeenStore(data / "seen.sqlite") as seen:  # cut short, so not seen: the next run fetches them
        assert not seen.seen_url(canonicalize_url(base + "/wait"))
        assert not seen.seen_url(canonicalize_url(base + "/drip"))


def test_sigterm_to_a_scheduled_child_reports_interrupted_and_the_next_run_fetches_the_rest(tmp_path):
    data = tmp_path / "data"
    outlets_file = tmp_path / "outlets.json"
    cmd = [sys.executable, "-m", "rasd.scheduler.child", "stopme", "--data-dir", str(data),
           "--outlets-file", str(outlets_file)]
    with LoopbackServer() as server:
        base, site = server.base_url, server.site
        _site(base, site)
        outlets_file.write_text(json.dumps({"stopme": outlet("stopme", base, ["/rss.xml"])}), encoding="utf-8")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env=crawl_env(**ENV))
        t0 = _signal_when_busy(proc, site, data, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - t0
        print(f"scheduler child stopped {stopped_in:.2f} s after SIGTERM")
        assert proc.returncode == CHILD_INTERRUPTED == EXIT_INTERRUPTED, err
        assert stopped_in < STOP_LIMIT
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["interrupted"] is True and summary["finish_reason"] == "shutdown"
        assert summary["outcomes"] == {"archived": 2, "failed/interrupted": 2}
        assert summary["pages"] == summary["links"]["listed"] == 4

        # the pages cut short are fetched by the next run (now answered at once)
        pages = real_pages()
        site.put("/wait", Answer(body=pages[2]))
        site.put("/drip", Answer(body=pages[3]))
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=crawl_env(**ENV))
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["outcomes"] == {"archived": 2} and summary["links"]["known"] == 2
    assert summary["interrupted"] is False
    assert len(archived_urls(data)) == 4


def test_a_second_signal_stops_at_once(tmp_path):
    data = tmp_path / "data"
    with LoopbackServer() as server:
        _site(server.base_url, server.site)
        outlets_file = tmp_path / "outlets.json"
        outlets_file.write_text(json.dumps({"stopme": outlet("stopme", server.base_url, ["/rss.xml"])}),
                                encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "rasd.scheduler.child", "stopme", "--data-dir", str(data),
                                 "--outlets-file", str(outlets_file)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env=crawl_env(**ENV))
        # two signals before the first could be acted on (Python runs SIGINT's handler first)
        t0 = _signal_when_busy(proc, server.site, data, signal.SIGTERM, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - t0
    assert proc.returncode == EXIT_INTERRUPTED
    assert "rasd: second stop signal" in err and "stopping at once" in err and out == ""  # no summary
    assert stopped_in < 2
    assert len(archived_urls(data)) == 2  # whole lines written before the signals stay


def test_a_run_past_its_time_limit_stops_cleanly_and_defers_what_would_outlast_it(tmp_path, monkeypatch):
    timeout = 8.0
    with LoopbackServer() as server:
        base, site = server.base_url, server.site
        site.put("/a/1", Answer(body=real_pages()[0]))
        site.put("/wait", Answer(503, b"busy\n", "text/plain", {"Retry-After": "30"}))
        site.put("/drip", drip(every=0.2, max_seconds=60))
        site.put("/rss.xml", rss([base + p for p in ("/a/1", "/wait", "/drip")]))
        daemon = Daemon(ScheduleConfig(data_dir=tmp_path, outlets={
            "late": Outlet.model_validate(outlet("late", base, ["/rss.xml"]))},
            timeout_seconds=timeout))
        monkeypatch.setenv("RASD_CRAWL__AUTOTHROTTLE", "false")  # the child inherits it
        t0 = time.monotonic()
        outcome = daemon.run_once("late")
        took = time.monotonic() - t0
        print(f"run with a {timeout:g} s limit ended after {took:.2f} s")
    assert outcome == "timeout"
    assert took < timeout + STOP_LIMIT  # SIGTERM at the limit, stopped within seconds, no SIGKILL
    [run] = RunHistory(tmp_path / "runs.sqlite").runs("late")
    assert run["outcome"] == "timeout" and run["archived"] == 1 and run["pages"] == 3
    assert f"exit={EXIT_INTERRUPTED}" in run["errors"]
    with SeenStore(tmp_path / "seen.sqlite") as seen:  # 30 s would outlast the run: deferred
        assert [u for _, u, _, _ in seen.deferred_urls("late")] == [base + "/wait"]


@pytest.mark.parametrize("after", [0.4, 0.8, 1.2, 1.8])
def test_ctrl_c_at_a_terminal_stops_the_crawl_without_tracebacks(tmp_path, after):
    """A terminal's Ctrl-C signals the whole process group, the extraction fork server and its
    workers too: they printed ``KeyboardInterrupt`` tracebacks (the fork server still importing
    its preload modules), and a stop in that window could wait for the 10 s watchdog.  The
    crawl is signalled as a terminal does it, at four moments of its start."""
    import os

    from rasd.replay.recording import make_recording

    rec = make_recording(tmp_path / "rec", outlets=3, pages_per_outlet=15, syndicated_stories=1, seed=4)
    proc = subprocess.Popen([sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(rec.directory),
                             "--data-dir", str(tmp_path / "data")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
    time.sleep(after)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    took = time.monotonic() - t0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "leaked semaphore" not in err, err
    assert proc.returncode in (0, EXIT_INTERRUPTED), (proc.returncode, err)  # 0: it had ended already
    assert took < 8, f"stopped {took:.1f} s after Ctrl-C: {err}"
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("rasd: retrying ")]
    assert len(lines) <= 1, err
