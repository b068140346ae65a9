"""Outlet health end to end: the real scheduler, child crawls, the replay server, a loopback
webhook and the Prometheus endpoint.

Three generated outlets publish a page before each of their runs; then one goes silent, one's
listings start failing (HTTP 500) and one's new pages lose their text.  The daemon must end
with them ``stale``, ``failing`` and ``degraded`` in ``rasd status``, exactly one health
notification each at the webhook, and the metrics endpoint saying the same.  Then the
scheduler is killed: its heartbeat stops and ``rasd status`` says so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from rasd.core.seeds import load_outlets
from rasd.core.settings import load_settings
from rasd.replay.server import ReplayServer, Resource, load_recording, replay_outlets
from rasd.scheduler.health import Rules
from rasd.scheduler.history import RunHistory
from rasd.scheduler.runner import Daemon, ScheduleConfig
from tests.alerts.conftest import WebhookServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EMPTY = "<html><head><title>عنوان</title></head><body><p>قصير</p></body></html>".encode()


def _wait_for(cond, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _done(history: RunHistory, slug: str) -> list[dict]:
    return [r for r in history.runs(slug) if r["outcome"] not in ("running", "missed")]


def _scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _notifier(data: Path):
    from rasd.alerts.health import notify_change
    from rasd.alerts.outbox import AlertStore

    def notify(slug, before, found, since):
        store = AlertStore(data / "alerts.sqlite")
        try:
            notify_change(store, slug, before.get("state"), found.state, found.reason, since)
        finally:
            store.close()

    return notify


def test_silent_failing_and_yieldless_outlets_are_seen_told_and_measured(tmp_path):
    from rasd.alerts.health import parse_health_alert, save_health_alert
    from rasd.alerts.outbox import AlertStore
    from rasd.replay.recording import make_recording, publish
    from rasd.scheduler.metrics import serve

    info = make_recording(tmp_path / "rec", outlets=3, pages_per_outlet=3, syndicated_stories=0)
    site, pages, _ = load_recording(tmp_path / "rec")
    outlets = replay_outlets(pages, load_outlets(load_settings().seeds_dir))
    silent, failing, yieldless = sorted(outlets)
    data = tmp_path / "data"
    data.mkdir()
    hook = WebhookServer()
    store = AlertStore(data / "alerts.sqlite")
    save_health_alert(store, parse_health_alert({"name": "desk", "deliveries": {"webhook": {"url": hook.url}}}))
    store.close()
    rules = Rules(failing_runs=1, dark_runs=100, only_not_modified_runs=100)
    metrics, _ = serve(data, 0, rules=rules)
    phase = {"broken": False}
    stop = threading.Event()

    def publisher(daemon: Daemon) -> None:
        """Before each run of an outlet (after its previous one ended) a new page appears."""
        seen = {s: 0 for s in outlets}
        while not stop.is_set():
            for slug in outlets:
                n = len(_done(daemon.history, slug))
                if n == seen[slug]:
                    continue
                seen[slug] = n
                if phase["broken"] and slug == silent:
                    continue
                [page] = publish(info, slug, 1, site=site, write=False)
                if phase["broken"] and slug == yieldless:
                    site.put(page.url, Resource(EMPTY, "text/html; charset=utf-8"))
                if phase["broken"] and slug == failing:
                    root = info.outlets[slug].root
                    for path in ("/rss.xml", "/sitemap_index.xml", "/sitemap-news.xml.gz"):
                        site.put(root + path, Resource(b"down\n", "text/plain", status=500))
            time.sleep(0.05)

    try:
        with ReplayServer(site) as server:
            d = Daemon(ScheduleConfig(data_dir=data, outlets=outlets, replay_url=server.base_url,
                                      interval_seconds=2, adapt=False, health_rules=rules,
                                      on_health=_notifier(data), digests=None))
            d.start()
            pub = threading.Thread(target=publisher, args=(d,), daemon=True)
            pub.start()
            try:
                _wait_for(lambda: all(len([r for r in _done(d.history, s) if r["new"]]) >= 5 for s in outlets),
                          180, "five runs with news each")
                assert {s: d.history.health()[s]["state"] for s in outlets} == dict.fromkeys(outlets, "ok")
                phase["broken"] = True
                want = {silent: "stale", failing: "failing", yieldless: "degraded"}
                _wait_for(lambda: {s: (d.history.health().get(s) or {}).get("state") for s in outlets} == want,
                          180, f"states {want}")
            finally:
                stop.set()
                d.stop()
        pub.join(5)
        # rasd status: the same states with their reasons
        proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(data), "--json"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env=dict(os.environ, RASD_HEALTH__FAILING_RUNS="1", RASD_HEALTH__DARK_RUNS="100"))
        assert proc.returncode == 0, proc.stderr
        status = json.loads(proc.stdout)
        assert status["scheduler"]["running"] is False and status["scheduler"]["why"] == "stopped"
        got = {s: status["outlets"][s]["state"] for s in outlets}
        assert got == want, {s: status["outlets"][s]["reason"] for s in outlets}
        assert "no new article for" in status["outlets"][silent]["reason"]
        assert "consecutive failed run" in status["outlets"][failing]["reason"]
        assert "too little text" in status["outlets"][yieldless]["reason"]
        # one notification per change, at the webhook
        changes = sorted((m["health"]["outlet"], m["health"]["previous"], m["health"]["state"]) for m in hook.received)
        assert changes == sorted((s, "ok", st) for s, st in want.items())
        assert len({m["id"] for m in hook.received}) == 3
        # the metrics endpoint says the same
        m = _scrape(metrics.server_port)
        for slug, state in want.items():
            assert m[f'rasd_outlet_health{{outlet="{slug}",state="{state}"}}'] == 1.0
            assert m[f'rasd_outlet_health{{outlet="{slug}",state="ok"}}'] == 0.0
        history = RunHistory(data / "runs.sqlite")
        for slug in outlets:
            runs = history.runs(slug)
            archived = sum((r.get("detail") or {}).get("outcomes", {}).get("archived", 0) for r in runs)
            assert m[f'rasd_outcomes_total{{outcome="archived",outlet="{slug}"}}'] == archived > 0
            ok = [r for r in runs if r["outcome"] == "ok"]
            assert m[f'rasd_last_success_timestamp_seconds{{outlet="{slug}"}}'] == pytest.approx(ok[-1]["ended_at"])
            assert m[f'rasd_run_duration_seconds_count{{outlet="{slug}"}}'] == len([r for r in runs if r["ended_at"]])
        too_little = sum((r.get("detail") or {}).get("outcomes", {}).get("skipped/too_little_text", 0)
                         for r in history.runs(yieldless))
        assert m[f'rasd_outcomes_total{{outcome="skipped/too_little_text",outlet="{yieldless}"}}'] == too_little >= 2
        assert m[f'rasd_listing_fetches_total{{outlet="{failing}",result="failed"}}'] >= 1
        assert m[f'rasd_listing_fetches_total{{outlet="{silent}",result="200"}}'] >= 5
        assert m['rasd_alert_outbox{state="delivered"}'] == 3 and m['rasd_alert_outbox{state="pending"}'] == 0
        assert m["rasd_scheduler_up"] == 0.0
    finally:
        metrics.shutdown()
        hook.stop()


def test_a_killed_scheduler_stops_beating_and_status_says_so(tmp_path):
    """``rasd schedule`` as a process, SIGKILLed: the heartbeat stops, ``rasd status`` says
    "scheduler not running since …" and marks the outlet whose next run has passed; no Scrapy
    telnet or remote-control job file with a token is left behind."""
    data = tmp_path / "data"
    rec = ROOT / "tests" / "fixtures" / "corpus"
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "rasd.cli.main", "schedule", "--replay", str(rec),
                             "--data-dir", str(data), "--outlets", "youm7", "--interval-seconds", "2",
                             "--heartbeat-seconds", "0.5", "--no-digests", "--log-format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            start_new_session=True)
    try:
        _wait_for(lambda: (data / "runs.sqlite").exists() and len(_done(RunHistory(data / "runs.sqlite"), "youm7")) >= 1,
                  90, "a finished run")
        st = json.loads(subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(data),
                                        "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT).stdout)
        assert st["scheduler"]["running"] is True and st["outlets"]["youm7"]["overdue"] is False
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        _, errs = proc.communicate(timeout=30)
    lines = [json.loads(ln) for ln in errs.splitlines() if ln.startswith("{")]
    assert any(ln.get("message", "").startswith("scheduler_started") for ln in lines), errs[-2000:]
    assert all("log.level" in ln and "@timestamp" in ln for ln in lines)  # ECS JSON lines
    # down at once, not after the beats it takes the file to go stale: its pid is gone
    st = json.loads(subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(data),
                                    "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT).stdout)
    assert st["scheduler"]["running"] is False
    assert st["scheduler"]["why"] == f"its process {proc.pid} is gone (killed or crashed)"
    time.sleep(3.5)  # past the 2 s interval
    out = subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env=dict(os.environ, COLUMNS="200"))
    assert out.returncode == 0, out.stderr
    assert "scheduler not running since" in out.stdout and "is gone (killed or crashed)" in out.stdout
    assert "OVERDUE" in out.stdout
    st = json.loads(subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(data),
                                    "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT).stdout)
    assert st["scheduler"]["running"] is False and st["outlets"]["youm7"]["overdue"] is True
    leftovers = [p for p in data.rglob("*") if p.is_file() and any(w in p.name.lower() for w in ("telnet", "remote", "token"))]
    assert leftovers == []
    # a heartbeat file that is not one: its state is unknown, not "no scheduler has run here"
    (data / "scheduler" / "heartbeat.json").write_text("{not json")
    st = json.loads(subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(data),
                                    "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT).stdout)
    assert st["scheduler"]["running"] is False and "is unreadable (not a heartbeat)" in st["scheduler"]["why"]
    (data / "scheduler" / "heartbeat.json").write_text('{"beat_at": "soon", "pid": 1}')
    out = subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env=dict(os.environ, COLUMNS="200"))
    assert "scheduler not running (" in out.stdout and "is unreadable" in out.stdout and "1970" not in out.stdout
