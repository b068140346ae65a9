"""rasd/alerts/health.py: health alerts configured like keyword alerts, one notice per change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from rasd.alerts.health import list_health_alerts, notify_change, parse_health_alert, save_health_alert
from rasd.alerts.model import AlertError, load_alerts_file
from rasd.alerts.outbox import AlertStore
from rasd.core.paths import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[2]


def test_a_change_is_sent_once_through_webhook_and_atom(tmp_path, webhook):
    store = AlertStore(tmp_path / "alerts.sqlite")
    atom = tmp_path / "health.atom"
    save_health_alert(store, parse_health_alert({"name": "desk", "deliveries": {
        "webhook": {"url": webhook.url}, "atom": {"path": str(atom)}}}))
    save_health_alert(store, parse_health_alert({"name": "only-dark", "states": ["dark"],
                                                 "filters": {"outlets": ["youm7"]},
                                                 "deliveries": {"webhook": {"url": webhook.url}}}))
    counts = notify_change(store, "youm7", "ok", "failing", "2 consecutive failed runs: exit=1", since=1_800_000_000.0)
    assert counts == {"queued": 2, "delivered": 2, "failed": 0}
    again = notify_change(store, "youm7", "ok", "failing", "2 consecutive failed runs: exit=1", since=1_800_000_000.0)
    assert again["queued"] == 0  # the same change: its notification id is queued already
    [msg] = webhook.received
    assert msg["kind"] == "health" and msg["alert"] == "desk"
    assert msg["health"] == {"outlet": "youm7", "state": "failing", "previous": "ok",
                             "reason": "2 consecutive failed runs: exit=1", "since": "2027-01-15T08:00:00Z"}
    entry = ET.parse(atom).getroot().find("{http://www.w3.org/2005/Atom}entry")
    assert entry.findtext("{http://www.w3.org/2005/Atom}title") == "[Rasd] desk: outlet youm7 is failing"
    assert "is now failing (was ok)" in entry.findtext("{http://www.w3.org/2005/Atom}summary")
    notify_change(store, "youm7", "failing", "dark", "6 consecutive failed runs", since=1_800_000_100.0)
    assert [m["alert"] for m in webhook.received] == ["desk", "desk", "only-dark"]
    store.close()


def test_a_health_alert_needs_a_delivery_and_known_states():
    with pytest.raises(AlertError, match="needs a delivery"):
        parse_health_alert({"name": "x"})
    with pytest.raises(AlertError, match="states.0"):
        parse_health_alert({"name": "x", "states": ["sleepy"], "deliveries": {"atom": {"path": "/tmp/x"}}})


def test_kind_health_in_yaml_and_the_cli(tmp_path, webhook):
    alerts = load_alerts_file(CONFIG_DIR / "alerts.example.yaml")
    [health] = [a for a in alerts if getattr(a, "kind", None) == "health"]
    assert health.name == "desk-health" and health.states == ["stale", "failing", "dark"]
    env = dict(os.environ, RASD_DATA_DIR=str(tmp_path))
    yaml_file = tmp_path / "h.yaml"
    yaml_file.write_text(f"alerts:\n  - kind: health\n    name: ops\n    deliveries:\n"
                         f"      webhook: {{url: '{webhook.url}'}}\n", encoding="utf-8")
    run = lambda *a: subprocess.run([sys.executable, "-m", "rasd.cli.main", "alerts", *a], capture_output=True,  # noqa: E731
                                    text=True, timeout=60, cwd=ROOT, env=env)
    proc = run("import", str(yaml_file))
    assert proc.returncode == 0 and "1 alerts added" in proc.stdout, proc.stderr
    proc = run("add-health", "desk", "--outlet", "youm7", "--state", "failing", "--webhook", webhook.url)
    assert proc.returncode == 0, proc.stderr
    proc = run("add-health", "desk", "--webhook", webhook.url)
    assert proc.returncode == 2 and "exists" in proc.stderr
    proc = run("add-health", "nothing")
    assert proc.returncode == 2 and "needs a delivery" in proc.stderr
    store = AlertStore(tmp_path / "alerts.sqlite")
    assert [a.name for a in list_health_alerts(store)] == ["desk", "ops"]
    store.close()
    assert run("remove-health", "ops").returncode == 0
    assert "desk" in run("list-health").stdout


def test_a_change_by_email(tmp_path, smtp):
    port, inbox = smtp
    store = AlertStore(tmp_path / "alerts.sqlite")
    save_health_alert(store, parse_health_alert({"name": "mail", "deliveries": {
        "email": {"to": ["desk@example.org"], "smtp_host": "127.0.0.1", "smtp_port": port}}}))
    assert notify_change(store, "dw_arabic", None, "stale", "no new article for 5.0 h (5 runs); its usual gap is 40 min",
                         since=1_800_000_000.0)["delivered"] == 1
    store.close()
    [(to, mail)] = inbox.messages
    assert to == ["desk@example.org"] and mail["Subject"] == "[Rasd] mail: outlet dw_arabic is stale"
    assert mail["Message-ID"].startswith("<rasd-")
    text = mail.get_body(("plain",)).get_content()
    assert "outlet dw_arabic is now stale since 2027-01-15T08:00:00Z: no new article for 5.0 h" in text
