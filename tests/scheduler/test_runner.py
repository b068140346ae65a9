"""scheduler/runner.py with a real APScheduler, real child crawls and the real replay server.

Cases 17 and 18 (``../shared/cases``) run against the scheduler the daemon builds; the rest runs
``rasd schedule`` as a subprocess on second-scale intervals against a replay server owned by
the test, so the test can publish a new article and count what the crawler fetched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler

from rasd.core.archive import read_archive
from rasd.core.urls import canonicalize_url
from rasd.replay.server import (ReplayServer,
    Resource,
    host_root,
    load_recording,
    publish_listings,
    replay_outlets)
from rasd.core.seeds import load_outlets
from rasd.core.settings import load_settings
from rasd.scheduler.history import RunHistory
from rasd.scheduler.runner import Daemon, ScheduleConfig, SchedulerError, check_job_options, next_runs

pytestmark = pytest.mark.integration

REPLAY = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
OUTLETS = ("jawharafm_net", "youm7")
INTERVAL = 3.0
_marks: list[str] = []


def _mark() -> None:
    _marks.append("ran")


@pytest.fixture(scope="module")
def recording():
    site, pages, _ = load_recording(REPLAY)
    outlets = replay_outlets(pages, load_outlets(load_settings().seeds_dir))
    return site, pages, outlets


def _daemon(tmp_path, outlets, **kw) -> Daemon:
    return Daemon(ScheduleConfig(data_dir=tmp_path, outlets=outlets, **kw))


def test_parallel_crawls_are_capped(tmp_path, recording):
    _, _, outlets = recording
    assert len(outlets) > 3
    capped = _daemon(tmp_path, outlets, max_parallel=2).build_scheduler()
    assert capped._lookup_executor("default")._pool._max_workers == 2
    one = _daemon(tmp_path, {"youm7": outlets["youm7"]}).build_scheduler()
    assert one._lookup_executor("default")._pool._max_workers == 1


def test_case_18_effective_job_options(tmp_path, recording):
    _, _, outlets = recording
    sched = _daemon(tmp_path, {"youm7": outlets["youm7"]}).build_scheduler()
    job = sched.add_job(_mark, "interval", minutes=15, id="x")
    sched.start(paused=True)
    try:
        assert (job.misfire_grace_time, job.max_instances, job.coalesce) == (300, 1, True)
        check_job_options([job])
    finally:
        sched.shutdown()
    wrong = BackgroundScheduler(misfire_grace_time=300)  # the mistake of case 18
    job = wrong.add_job(_mark, "interval", minutes=15)
    wrong.start(paused=True)
    try:
        with pytest.raises(SchedulerError, match="misfire_grace_time"):
            check_job_options([job])
    finally:
        wrong.shutdown()


def test_case_17_a_run_five_seconds_late_still_runs(tmp_path, recording):
    _, _, outlets = recording
    sched = _daemon(tmp_path, {"youm7": outlets["youm7"]}).build_scheduler()
    events: list[str] = []
    sched.add_listener(lambda e: events.append("missed" if e.code == EVENT_JOB_MISSED else "executed"),
                       EVENT_JOB_MISSED | EVENT_JOB_EXECUTED)
    sched.add_job(_mark, "date", run_date=datetime.now(timezone.utc) - timedelta(seconds=5), id="late")
    sched.start()
    time.sleep(1.5)
    sched.shutdown()
    assert events == ["executed"]


def test_a_missed_run_is_recorded(tmp_path, recording):
    _, _, outlets = recording
    d = _daemon(tmp_path, {"youm7": outlets["youm7"]}, misfire_grace_seconds=1)
    sched = d.build_scheduler()
    sched.add_listener(d._on_missed, EVENT_JOB_MISSED)
    late = datetime.now(timezone.utc) - timedelta(seconds=5)
    sched.add_job(_mark, "date", run_date=late, id="crawl:youm7")
    sched.start()
    time.sleep(1.0)
    sched.shutdown()
    [run] = d.history.runs("youm7")
    assert run["outcome"] == "missed" and run["scheduled_at"] == pytest.approx(late.timestamp())


def test_restart_keeps_stored_jobs_and_their_next_run(tmp_path, recording):
    _, _, outlets = recording
    cron = outlets["youm7"].model_copy(update={"schedule": outlets["youm7"].schedule.model_copy(
        update={"interval_minutes": None, "cron": "0 3 * * *"})})
    chosen = {"youm7": cron, "jawharafm_net": outlets["jawharafm_net"]}
    nowhere = "http://127.0.0.1:9"  # nothing may reach a live site even if a run started
    d = _daemon(tmp_path, chosen, replay_url=nowhere).start(paused=True)
    first = {j.id: j.next_run_time for j in d.scheduler.get_jobs()}
    assert first["crawl:youm7"].hour == 3 and first["crawl:youm7"].minute == 0
    d.stop()
    time.sleep(0.1)
    d2 = _daemon(tmp_path, chosen, replay_url=nowhere).start(paused=True)
    try:
        assert {j.id: j.next_run_time for j in d2.scheduler.get_jobs()} == first
    finally:
        d2.stop()
    assert next_runs(tmp_path) == {k.removeprefix("crawl:"): v.timestamp() for k, v in first.items()}
    assert d2.history.runs() == []


def test_each_run_records_its_interval_with_reason_and_cost(tmp_path, recording):
    site, _, outlets = recording
    with ReplayServer(site) as server:
        d = _daemon(tmp_path, {"youm7": outlets["youm7"]}, replay_url=server.base_url,
                    interval_seconds=10).start(paused=True)
        try:
            assert d.run_once("youm7") == "ok"  # the first run: its one page is a backlog
            assert d.run_once("youm7") == "ok"  # 304s: the remembered link is known
        finally:
            d.stop()
    first, second = d.history.runs("youm7")
    assert (first["listed"], first["new"], first["archived"]) == (1, 1, 1)
    assert first["interval_after"] == 10 and first["interval_reason"].startswith("first run")
    assert (second["not_modified"], second["listed"], second["new"], second["pages"]) == (3, 1, 0, 0)
    # a quiet poll seconds after the first: the estimate (0.5 item in those seconds) is above
    # 1/10 s, so the interval stays at its 10-s minimum
    assert second["interval_after"] == 10 and second["interval_reason"].startswith("0 new in ")
    assert "raised to the minimum 10 s" in second["interval_reason"]
    for run in (first, second):  # the child's own CPU (with its workers) and peak memory
        assert 0.3 < run["cpu_seconds"] < 120 and 30_000 < run["max_rss_kb"] < 2_000_000
    assert d.history.outlet_state("youm7") == (10, 0)


def test_quiet_polls_lengthen_the_interval_and_news_brings_it_back(tmp_path):
    """The real scheduler and children on a generated outlet: silence raises the interval poll
    by poll, a burst of news brings it back to the minimum at the next poll, and every change is
    in the run history with its reason."""
    from rasd.replay.recording import make_recording, publish

    info = make_recording(tmp_path / "rec", outlets=1, pages_per_outlet=4, syndicated_stories=0)
    site, pages, _ = load_recording(tmp_path / "rec")
    outlets = replay_outlets(pages, load_outlets(load_settings().seeds_dir))
    [slug] = outlets
    data = tmp_path / "data"
    with ReplayServer(site) as server:
        d = _daemon(data, outlets, replay_url=server.base_url, interval_seconds=2,
                    max_interval_seconds=16)  # 2 … 16 s, half-life 8 s
        d.start()
        try:
            _wait_for(lambda: len(_finished(d.history, slug)) >= 6, 120, "six quiet runs")
            quiet = _finished(d.history, slug)
            published = publish(info, slug, 5, site=site, write=False)
            urls = {canonicalize_url(p.url) for p in published}
            _wait_for(lambda: urls <= set(_archived_urls(data)), 60, "the five new pages archived")
            _wait_for(lambda: any(r["new"] == 5 for r in _finished(d.history, slug)), 10, "its run")
        finally:
            d.stop()
    runs = _finished(d.history, slug)
    assert all(r["outcome"] == "ok" for r in runs), runs
    intervals = [r["interval_after"] for r in quiet[1:]]
    assert intervals == sorted(intervals) and intervals[-1] > 2.4, intervals  # rising while quiet
    assert all(r["interval_reason"].startswith("0 new in ") for r in quiet[1:])
    news = next(r for r in runs if r["new"] == 5)
    before = runs[runs.index(news) - 1]["interval_after"]
    # back to (about) the minimum at once: exactly 2 s unless a loaded machine made the poll
    # itself slow, so that 5 new in its longer gap averages to a little more
    assert 2 <= news["interval_after"] < min(before, 3), (news, before)
    assert news["interval_reason"].startswith("5 new in ")
    assert news["interval_after"] > 2 or "raised to the minimum 2 s" in news["interval_reason"]
    job_interval = d.history.outlet_state(slug)[0]
    assert job_interval is not None and job_interval <= before


def test_timeout_and_crash_are_recorded(tmp_path, recording):
    site, _, outlets = recording
    with ReplayServer(site) as server:
        d = _daemon(tmp_path / "a", {"youm7": outlets["youm7"]}, replay_url=server.base_url,
                    timeout_seconds=0.2, stop_grace_seconds=2)
        assert d.run_once("youm7") == "timeout"
        broken = tmp_path / "b"
        broken.mkdir()
        (broken / "logs").write_text("not a directory")  # the child cannot open its log
        d2 = _daemon(broken, {"youm7": outlets["youm7"]}, replay_url=server.base_url)
        assert d2.run_once("youm7") == "failed"
    assert RunHistory(tmp_path / "a" / "runs.sqlite").runs()[0]["outcome"] == "timeout"
    run = RunHistory(broken / "runs.sqlite").runs()[0]
    assert run["outcome"] == "failed" and "exit=1" in run["errors"] and "Error" in run["errors"]
    assert RunHistory(broken / "runs.sqlite").status()["youm7"]["health"] == "failing 1"


# ---- the daemon as users run it ------------------------------------------------------------
def _start(data_dir: Path, replay_url: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rasd.cli.schedule", "schedule", "--replay", str(REPLAY),
           "--replay-url", replay_url, "--data-dir", str(data_dir), "--outlets", ",".join(OUTLETS),
           "--interval-seconds", str(INTERVAL), "--no-adapt", "--log-level", "WARNING"]
    log = open(data_dir.parent / f"{data_dir.name}-daemon.log", "a")
    return subprocess.Popen(cmd, stdout=log, stderr=log, env=dict(os.environ))


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _finished(history: RunHistory, outlet: str) -> list[dict]:
    return [r for r in history.runs(outlet) if r["outcome"] != "running"]


def _archived_urls(data_dir: Path) -> list[str]:
    archive = data_dir / "archive"
    return [canonicalize_url(r["url"]) for r in read_archive(archive)] if archive.exists() else []


def test_daemon_polls_in_parallel_uses_304_archives_new_items_and_survives_sigkill(tmp_path, recording):
    site, pages, _ = recording
    data = tmp_path / "data"
    data.mkdir()
    history = RunHistory(data / "runs.sqlite")
    jawhara = [p.url for p in pages if "jawharafm" in p.url]
    with ReplayServer(site) as server:
        proc = _start(data, server.base_url)
        try:
            # 1. both outlets run, twice each, never overlapping themselves
            _wait_for(lambda: all(len(_finished(history, o)) >= 2 for o in OUTLETS), 60, "two runs each")
            runs = {o: _finished(history, o) for o in OUTLETS}
            for o, rs in runs.items():
                assert all(r["outcome"] == "ok" for r in rs), rs
                spans = sorted((r["started_at"], r["ended_at"]) for r in rs)
                assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), f"{o} overlapped itself"
            a, b = runs[OUTLETS[0]][0], runs[OUTLETS[1]][0]
            assert a["started_at"] < b["ended_at"] and b["started_at"] < a["ended_at"], "not parallel"
            # 2. the second poll of an unchanged outlet is 304s only: no article refetched
            first, second = runs["jawharafm_net"][:2]
            assert first["archived"] == 7 and first["not_modified"] == 0
            # (its links come from the remembered listing and are all known)
            assert (second["not_modified"], second["listed"], second["new"], second["pages"]) == (3, 7, 0, 0)
            assert all(site.hits(u) == 1 for u in jawhara)
            # 2b. a second daemon on this data directory is refused in one line, and changes nothing
            #     (it used to mark the first one's runs in flight interrupted and poll every outlet again)
            second = subprocess.run(
                [sys.executable, "-m", "rasd.cli.main", "schedule", "--replay", str(REPLAY), "--replay-url",
                 server.base_url, "--data-dir", str(data), "--outlets", ",".join(OUTLETS),
                 "--interval-seconds", str(INTERVAL)], capture_output=True, text=True, timeout=60)
            assert second.returncode == 2, second.stderr
            assert second.stderr.strip().splitlines()[-1] == (
                f"rasd: {data.resolve()}: another rasd schedule is running on this data directory "
                f"(pid {proc.pid}); stop it first, or give this one another --data-dir")
            assert "rasd schedule:" not in second.stderr  # nothing announced
            assert not [r for r in history.runs() if r["outcome"] == "interrupted"]
            # 3. a new item published while the scheduler runs is archived within one interval
            new_url = "http://www.jawharafm.net/ar/article/خبر-جديد-للاختبار/99/99999"
            page = next(p for p in pages if "jawharafm" in p.url)
            html = page.file.read_text(encoding="utf-8").replace(page.url, new_url)
            body_start = html.index("<body")
            html = html[:body_start] + html[body_start:].replace("تونس", "تونس الخضراء")
            site.put(new_url, Resource(html.encode(), "text/html; charset=utf-8"))
            published = time.time()
            publish_listings(site, host_root(new_url), jawhara + [new_url])
            _wait_for(lambda: canonicalize_url(new_url) in _archived_urls(data), INTERVAL + 30, "new item")
            _wait_for(lambda: [r for r in _finished(history, "jawharafm_net") if r["archived"] == 1],
                      10, "the new item's run recorded")
            # within one interval: the run that archived it is the first to start after publication
            # (or the one in flight then, if it read the new listing); timing-independent of load
            later = sorted((r for r in _finished(history, "jawharafm_net") if r["ended_at"] >= published),
                           key=lambda r: r["started_at"])
            archiving = next(r for r in later if r["archived"] == 1)
            assert archiving in later[:2], later
            assert archiving["started_at"] - published <= INTERVAL + 1.0
            # 4. SIGKILL the daemon in the middle of a run, restart it: the cut run is recorded
            #    ``interrupted`` and the others resume from the stored next run times
            _wait_for(lambda: any(r["outcome"] == "running" for r in history.runs("jawharafm_net")),
                      INTERVAL + 10, "a run in flight")
            stored = next_runs(data)
            before = {o: len(history.runs(o)) for o in OUTLETS}
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            time.sleep(1.0)
            proc = _start(data, server.base_url)
            _wait_for(lambda: all(len(_finished(history, o)) >= before[o] + 2 for o in OUTLETS), 60,
                      "runs after restart")
            for o in OUTLETS:
                after = history.runs(o)[before[o]:]
                resumed = [r for r in after if r["outcome"] != "interrupted"]
                # the first run after the restart is the one the job store had due, not a new one
                assert resumed[0]["scheduled_at"] == pytest.approx(stored[o], abs=0.01)
                assert not [r for r in after if r["outcome"] == "missed"]
            assert history.runs("jawharafm_net")[before["jawharafm_net"] - 1]["outcome"] == "interrupted"
            status = json.loads(subprocess.run(
                [sys.executable, "-m", "rasd.cli.schedule", "status", "--data-dir", str(data), "--json"],
                capture_output=True, text=True, check=True, timeout=60).stdout)["outlets"]
            assert set(status) == set(OUTLETS)
            assert status["jawharafm_net"]["archived_24h"] == 8
            assert status["youm7"]["health"] == "ok" and status["youm7"]["interval_seconds"] == INTERVAL
            assert status["youm7"]["next_run"] > time.time() - INTERVAL
            # 5. graceful stop: SIGTERM ends the daemon with nothing left running
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(40) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    urls = _archived_urls(data)
    assert len(urls) == len(set(urls)) == 7 + 1 + 1  # jawhara's 7, youm7's 1, the new one
    outcomes = [r["outcome"] for r in history.runs()]
    assert "running" not in outcomes and "failed" not in outcomes and "missed" not in outcomes
