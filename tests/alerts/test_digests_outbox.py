"""Digests on time, a stuck delivery that does not hide what was sent, removed and paused
alerts' deliveries, and the Apprise channel — real search node, real SMTP (aiosmtpd) and HTTP
receivers on loopback, the real ``rasd alerts`` commands and the real scheduler daemon."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from rasd.alerts.match import add_alert, match_alerts, parse_alert, remove_alert
from rasd.alerts.outbox import AlertStore, deliver_pending, digest_slot, handle_matches
from rasd.alerts.render import ATOM_NS
from rasd.cli.alerts import register
from tests.alerts.conftest import WebhookServer, free_port, smtp, webhook  # noqa: F401

UTC = timezone.utc


def _alert(**kw):
    return parse_alert({"name": "d", "query": "x", **kw})


def test_digest_slot_is_the_alerts_hour_in_its_time_zone():
    daily = _alert(frequency="daily", digest_hour=7, timezone="Asia/Baghdad")  # UTC+3, no DST
    now = datetime(2024, 3, 10, 5, 0, tzinfo=UTC)  # 08:00 in Baghdad
    assert digest_slot(daily, now) == datetime(2024, 3, 10, 4, 0, tzinfo=UTC)
    assert digest_slot(daily, datetime(2024, 3, 10, 3, 59, tzinfo=UTC)) == datetime(2024, 3, 9, 4, 0, tzinfo=UTC)
    weekly = _alert(frequency="weekly", digest_hour=9, digest_weekday="friday", timezone="Asia/Riyadh")
    # Sunday 10 March 2024 → the Friday before, 09:00 Riyadh = 06:00 UTC
    assert digest_slot(weekly, now) == datetime(2024, 3, 8, 6, 0, tzinfo=UTC)
    # across Europe's spring change (31 March 2024) the hour stays 08:00 local
    paris = _alert(frequency="daily", digest_hour=8, timezone="Europe/Paris")
    assert digest_slot(paris, datetime(2024, 3, 30, 12, 0, tzinfo=UTC)) == datetime(2024, 3, 30, 7, 0, tzinfo=UTC)
    assert digest_slot(paris, datetime(2024, 3, 31, 12, 0, tzinfo=UTC)) == datetime(2024, 3, 31, 6, 0, tzinfo=UTC)
    assert digest_slot(_alert(), now) is None  # immediate
    with pytest.raises(Exception, match="not a time zone"):
        _alert(frequency="daily", timezone="Mars/Olympus")





@pytest.fixture
def cli(engine, make_prefix, monkeypatch, tmp_path):
    prefix = make_prefix()
    data = tmp_path / "data"
    monkeypatch.setenv("RASD_ENGINE__INDEX_PREFIX", prefix)
    monkeypatch.setenv("RASD_DATA_DIR", str(data))
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    return prefix, data, lambda *args: runner.invoke(app, ["alerts", *args])


def _matches(engine, prefix, seed_pair):
    return [m for art in seed_pair for m in match_alerts(engine, prefix, [art.to_record()], highlight=True)]


@pytest.mark.search
@pytest.mark.integration
def test_send_digests_reports_what_it_sent_while_another_alerts_email_is_stuck(
        engine, cli, seed_pair, smtp, webhook, tmp_path):
    prefix, data, run = cli
    port, inbox = smtp
    dead = free_port()  # nothing listens: the other alert's e-mail is stuck
    add_alert(engine, prefix, parse_alert({"name": "stuck-mail", "query": "مسئولون AND التحالف", "deliveries": {
        "email": {"to": ["a@example.org"], "smtp_host": "127.0.0.1", "smtp_port": dead}}}))
    add_alert(engine, prefix, parse_alert({
        "name": "iraq-daily", "query": "مسئولون AND التحالف", "frequency": "daily", "deliveries": {
            "webhook": {"url": webhook.url}, "atom": {"path": str(tmp_path / "d.atom")},
            "email": {"to": ["b@example.org"], "smtp_host": "127.0.0.1", "smtp_port": port}}}))
    store = AlertStore(data / "alerts.sqlite")
    handle_matches(store, _matches(engine, prefix, seed_pair))
    first = deliver_pending(store)
    assert (first.delivered, first.failed) == (0, 1) and "stuck-mail email" in first.errors[0]
    store.close()

    result = run("send-digests", "--force")
    out = " ".join(result.output.split())
    assert result.exit_code == 0, result.output  # nothing attempted now failed
    assert "iraq-daily: digest with 1 stories queued" in out
    for channel in ("webhook", "email", "atom"):
        assert f"delivered: iraq-daily {channel} #" in out
    assert "deliveries: 3 sent now, 0 failed now, 0 held, 0 dropped" in out
    assert f"waiting: stuck-mail email #1 (last error: email via 127.0.0.1:{dead}:" in out
    assert "outbox: 3 delivered, 1 pending, 0 dropped" in out
    [digest] = webhook.received
    assert digest["kind"] == "daily" and digest["stories"][0]["also_reported_by"] == 1
    assert [rcpt for rcpt, _ in inbox.messages] == [["b@example.org"]]
    assert len(ET.parse(tmp_path / "d.atom").getroot().findall(f"{{{ATOM_NS}}}entry")) == 1
    # forced now, the stuck one is attempted and fails: named, with its reason, exit 1
    result = run("deliver")
    assert result.exit_code == 1
    assert f"FAILED: stuck-mail email #1" in result.output and f"127.0.0.1:{dead}" in result.output


@pytest.mark.search
@pytest.mark.integration
def test_a_removed_alerts_failed_delivery_is_dropped_and_a_paused_ones_held(engine, cli, seed_pair):
    prefix, data, run = cli
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    for name in ("gone", "resting"):
        add_alert(engine, prefix, parse_alert({"name": name, "query": "مسئولون AND التحالف",
                                               "deliveries": {"webhook": {"url": hook}}}))
    store = AlertStore(data / "alerts.sqlite")
    handle_matches(store, _matches(engine, prefix, seed_pair))
    assert deliver_pending(store).failed == 2  # receiver down
    store.close()
    remove_alert(engine, prefix, "gone")
    assert run("pause", "resting").exit_code == 0
    server = WebhookServer(port=port)
    try:
        result = run("deliver")
        out = " ".join(result.output.split())
        assert result.exit_code == 0, result.output
        assert "dropped (alert removed): gone webhook #1" in out and "held (alert paused): resting webhook #2" in out
        assert server.received == []
        rows = json.loads(run("outbox", "--json").output)
        assert {r["alert"]: (r["state"], r["drop_reason"]) for r in rows} == {
            "gone": ("dropped", "alert removed"), "resting": ("pending", None)}
        assert run("deliver").exit_code == 0 and server.received == []  # never retried, still held
        assert run("resume", "resting").exit_code == 0
        result = run("deliver")
        assert "delivered: resting webhook #2" in result.output
        assert [m["alert"] for m in server.received] == ["resting"]
        assert "outbox: 1 delivered, 0 pending, 1 dropped" in " ".join(run("deliver").output.split())
    finally:
        server.stop()


@pytest.mark.search
@pytest.mark.integration
def test_outbox_drop_and_retry_one_row(engine, cli, seed_pair):
    prefix, data, run = cli
    port = free_port()
    add_alert(engine, prefix, parse_alert({"name": "one", "query": "مسئولون AND التحالف", "deliveries": {
        "webhook": {"url": f"http://127.0.0.1:{port}/hook"}, "atom": {"path": str(data / "one.atom")}}}))
    store = AlertStore(data / "alerts.sqlite")
    handle_matches(store, _matches(engine, prefix, seed_pair))
    store.close()
    result = run("outbox", "retry", "2")  # the atom row only
    assert result.exit_code == 0 and "delivered: one atom #2" in result.output
    assert "waiting: one webhook #1 (not attempted yet)" in " ".join(result.output.split())
    assert run("outbox", "drop", "1").exit_code == 0
    assert run("outbox", "drop", "1").exit_code == 2  # no longer pending
    assert [r["state"] for r in json.loads(run("outbox", "--json").output)] == ["delivered", "dropped"]


@pytest.mark.search
@pytest.mark.integration
def test_scheduler_sends_a_daily_digest_at_its_hour(engine, make_prefix, seed_pair, webhook, tmp_path):
    from rasd.alerts.digests import DigestSender
    from rasd.scheduler.runner import Daemon, ScheduleConfig

    prefix = make_prefix()
    zone = "Asia/Baghdad"
    hour = datetime.now(ZoneInfo(zone)).hour  # due now: this hour, local time
    alert = parse_alert({"name": "daily-now", "query": "مسئولون AND التحالف", "frequency": "daily",
                         "digest_hour": hour, "timezone": zone, "deliveries": {"webhook": {"url": webhook.url}}})
    later = parse_alert({"name": "daily-later", "query": "مسئولون AND التحالف", "frequency": "daily",
                         "digest_hour": (hour + 2) % 24, "timezone": zone,
                         "deliveries": {"webhook": {"url": webhook.url}}})
    for a in (alert, later):
        add_alert(engine, prefix, a)
    data = tmp_path / "data"
    store = AlertStore(data / "alerts.sqlite")
    # daily-later sent its digest an hour ago: its next slot is in the future
    store.mark_digested("daily-later", [], datetime.now(UTC) - timedelta(hours=1))
    handle_matches(store, _matches(engine, prefix, seed_pair))
    store.close()
    sender = DigestSender(data, lambda: engine, prefix)
    daemon = Daemon(ScheduleConfig(data_dir=data, outlets={}, digests=sender.tick, digest_check_seconds=1))
    daemon.start()
    try:
        deadline = time.monotonic() + 20
        while not webhook.received and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.5)  # two more ticks: nothing sent twice
    finally:
        daemon.stop()
    assert [(m["alert"], m["kind"]) for m in webhook.received] == [("daily-now", "daily")]
    assert webhook.received[0]["stories"][0]["outlets"] == ["akhbar_example", "euronews_arabic"]


def test_apprise_json_target_gets_the_notification_id(tmp_path):
    from rasd.alerts.channels import CHANNELS, DeliveryError

    got = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append((dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    alert = parse_alert({"name": "ap", "query": "x", "deliveries": {"apprise": {
        "urls": [f"json://127.0.0.1:{httpd.server_address[1]}/notify"]}}})
    store = AlertStore(tmp_path / "alerts.sqlite")
    doc = {"id": "a1", "story_id": "s1", "title": "مسؤولون عراقيون", "url": "https://x.example/1", "outlet": "x"}
    try:
        handle_matches(store, [(alert, doc)])
        report = deliver_pending(store)
        assert (report.delivered, report.failed) == (1, 0), report.errors
        [(headers, body)] = got
        nid = store.outbox()[0]["notification_id"]
        assert headers["Idempotency-Key"] == nid and headers["X-Rasd-Notification-Id"] == nid
        assert body["id"] == nid and "مسؤولون عراقيون" in body["title"] and "https://x.example/1" in body["message"]
    finally:
        httpd.shutdown()
        httpd.server_close()
    with pytest.raises(DeliveryError, match=r"apprise json://127\.0\.0\.1/…"):
        CHANNELS["apprise"]({"urls": [f"json://127.0.0.1:{free_port()}/x?token=secret"]},
                            {"id": "n", "alert": "ap", "query": "x", "kind": "immediate",
                             "created_at": "2024-01-01T00:00:00Z", "stories": []})
