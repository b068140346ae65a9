"""pipelines/alerts_delivery.py and alerts_render.py: one notification per story, digests with the
story's outlet count, an outbox that loses nothing when a webhook is down, valid Atom feeds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest

from rasd.alerts.match import add_alert, match_alerts, parse_alert
from rasd.alerts.outbox import AlertStore, deliver_pending, handle_matches, send_digests
from rasd.alerts.render import ATOM_NS, render_html, render_text
from tests.alerts.conftest import WebhookServer, free_port

pytestmark = [pytest.mark.search, pytest.mark.integration]
T0 = datetime(2024, 1, 28, 7, 0, tzinfo=timezone.utc)


def _match(engine, prefix, seed_pair):
    return [m for art in seed_pair
            for m in match_alerts(engine, prefix, [art.to_record()], highlight=True)]


def test_digest_lists_the_story_once_with_its_outlet_count(engine, make_prefix, seed_pair, webhook, tmp_path):
    prefix = make_prefix()
    alert = parse_alert({"name": "iraq-daily", "query": "مسئولون AND التحالف", "frequency": "daily",
                         "digest_hour": 7,  # T0 is 07:00 UTC: due at once, then next day
                         "deliveries": {"webhook": {"url": webhook.url, "format": "slack"},
                                        "atom": {"path": str(tmp_path / "feed.atom"), "keep": 3}}})
    add_alert(engine, prefix, alert)
    store = AlertStore(tmp_path / "alerts.sqlite")
    counts = handle_matches(store, _match(engine, prefix, seed_pair), now=T0)
    assert counts == {"digest_queued": 1, "story_copy": 1}
    assert store.pending_count() == 0  # digests wait for send-digests
    assert send_digests(store, [alert], now=T0) == {"iraq-daily": 1}
    [slack] = webhook.received
    assert "also reported by 1 other outlet" in slack["text"] and seed_pair[0].url in slack["text"]
    assert slack["text"].count(seed_pair[0].url) == 1
    # not due again within the day; nothing new afterwards
    assert send_digests(store, [alert], now=T0 + timedelta(hours=2)) == {}
    assert send_digests(store, [alert], now=T0 + timedelta(days=1)) == {"iraq-daily": 0}
    assert len(webhook.received) == 1
    feed = ET.parse(tmp_path / "feed.atom").getroot()
    assert feed.tag == f"{{{ATOM_NS}}}feed" and feed.find(f"{{{ATOM_NS}}}id") is not None
    [entry] = feed.findall(f"{{{ATOM_NS}}}entry")
    assert entry.find(f"{{{ATOM_NS}}}title").text == seed_pair[0].title
    assert "also reported by 1 other outlet" in entry.find(f"{{{ATOM_NS}}}summary").text
    assert store.outbox_counts() == {"delivered": 2, "pending": 0}


def test_webhook_down_stays_in_outbox_then_delivered_on_retry(engine, make_prefix, seed_pair, tmp_path):
    prefix = make_prefix()
    port = free_port()  # nothing listens there yet
    alert = parse_alert({"name": "iraq", "query": "مسئولون AND التحالف",
                         "deliveries": {"webhook": {"url": f"http://127.0.0.1:{port}/hook"}}})
    add_alert(engine, prefix, alert)
    store = AlertStore(tmp_path / "alerts.sqlite")
    handle_matches(store, _match(engine, prefix, seed_pair), now=T0)
    first = deliver_pending(store, now=T0)
    assert (first.delivered, first.failed, first.pending) == (0, 1, 1)
    assert "webhook" in first.errors[0]
    # backoff: not due 10 s later, due after 30 s; still failing → next delay doubles
    assert deliver_pending(store, now=T0 + timedelta(seconds=10)).failed == 0
    assert deliver_pending(store, now=T0 + timedelta(seconds=31)).failed == 1
    assert deliver_pending(store, now=T0 + timedelta(seconds=80)).failed == 0
    server = WebhookServer(port=port)
    try:
        store.close()
        store = AlertStore(tmp_path / "alerts.sqlite")  # survives a restart
        report = deliver_pending(store, now=T0 + timedelta(seconds=95))
        assert (report.delivered, report.pending) == (1, 0)
        [hook] = server.received
        assert hook["stories"][0]["url"] == seed_pair[0].url
        assert store.outbox_counts() == {"delivered": 1, "pending": 0}
        assert deliver_pending(store, force=True).delivered == 0  # delivered once, not again
    finally:
        server.stop()


def test_a_timed_out_delivery_is_retried_with_the_same_notification_id(tmp_path):
    """A webhook slower than its client timeout: the attempt fails (the receiver may still have
    taken it), the retry carries the same ``Idempotency-Key`` and body ``id``, so the receiver
    can drop the repeat; the row is delivered once the receiver answers in time."""
    import json
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got, delay = [], [1.5]

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append((self.headers.get("Idempotency-Key"), body["id"]))
            time.sleep(delay[0])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        alert = parse_alert({"name": "slow", "query": "x", "deliveries": {"webhook": {
            "url": f"http://127.0.0.1:{httpd.server_address[1]}/hook", "timeout_seconds": 0.3}}})
        store = AlertStore(tmp_path / "alerts.sqlite")
        doc = {"id": "a1", "story_id": "s1", "title": "t", "url": "https://x.example/1", "outlet": "x"}
        assert handle_matches(store, [(alert, doc)], now=T0)["notified"] == 1
        first = deliver_pending(store, now=T0)
        assert (first.delivered, first.failed) == (0, 1) and "timed out" in first.errors[0]
        delay[0] = 0
        second = deliver_pending(store, force=True)
        assert (second.delivered, second.pending) == (1, 0)
        assert len(got) == 2 and got[0] == got[1] and got[0][0] == got[0][1]  # one id, sent twice
        assert got[0][0].startswith("rasd-")
        # the same match handled again (a follower re-reading its batch) queues nothing new
        assert handle_matches(store, [(alert, doc)], now=T0)["already_seen"] == 1
        assert store.outbox_counts() == {"delivered": 1, "pending": 0}
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_error_is_a_failure_not_a_delivery(tmp_path, webhook):
    webhook.status = 500
    store = AlertStore(tmp_path / "a.sqlite")
    store.enqueue("x", "webhook", {"url": webhook.url, "format": "json"},
                  {"alert": "x", "query": "q", "kind": "immediate", "created_at": "2024-01-01T00:00:00Z",
                   "stories": []}, T0)
    report = deliver_pending(store, now=T0)
    assert report.failed == 1 and "HTTP 500" in report.errors[0] and store.pending_count() == 1
    webhook.status = 200
    assert deliver_pending(store, force=True).delivered == 1


def test_renderings_are_rtl_escaped_and_highlighted():
    story = {"story_id": "s", "title": "<b>مسؤولون</b>", "url": "https://x.example/a?b=1&c=2",
             "outlet": "o", "published_at": None, "outlets": ["o", "p", "q"], "outlet_count": 3,
             "also_reported_by": 2, "highlight": {"title": "<b>\ue000مسؤولون\ue001</b>", "snippet": ""}}
    msg = {"alert": "a", "query": "مسئولون", "kind": "weekly", "created_at": "2024-01-01T00:00:00Z",
           "stories": [story]}
    html = render_html(msg)
    assert '<html dir="rtl" lang="ar">' in html and "&lt;b&gt;<mark>مسؤولون</mark>&lt;/b&gt;" in html
    assert "b=1&amp;c=2" in html and "also reported by 2 other outlets" in html
    text = render_text(msg)
    assert "\ue000" not in text and "weekly digest" in text and "also reported by 2 other outlets" in text
