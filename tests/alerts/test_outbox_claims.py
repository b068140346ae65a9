"""Several processes delivering one outbox at once — every outlet's scheduled run delivers —
send each notification once: a row is claimed before it is sent (found by a break-it trial:
11 of 50 webhook POSTs repeated a notification id, one story three times, with no crash)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rasd.alerts.match import parse_alert
from rasd.alerts.outbox import AlertStore, deliver_pending, handle_matches

DELIVER = """
import sys
from rasd.alerts.outbox import AlertStore, deliver_pending
store = AlertStore(sys.argv[1])
report = deliver_pending(store, force=True)
print(report.delivered, report.busy, report.failed)
"""


class _SlowReceiver(BaseHTTPRequestHandler):
    """Records each POST's Idempotency-Key; answers after 50 ms, so deliveries overlap."""

    got: list[str] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.got.append(self.headers["Idempotency-Key"])
        time.sleep(0.05)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """The URL of a :class:`_SlowReceiver` on loopback (its ``got`` emptied), stopped after."""
    _SlowReceiver.got = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SlowReceiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()
    httpd.server_close()


def _store_with_rows(tmp_path, url: str, n: int) -> AlertStore:
    alert = parse_alert({"name": "gaza", "query": "غزة", "deliveries": {"webhook": {"url": url}}})
    store = AlertStore(tmp_path / "alerts.sqlite")
    docs = [{"id": f"a{i}", "story_id": f"s{i}", "title": f"غزة {i}", "url": f"https://x.example/{i}",
             "outlet": "x"} for i in range(n)]
    handle_matches(store, [(alert, d) for d in docs])
    return store


def test_four_processes_delivering_at_once_send_each_notification_once(tmp_path, receiver):
    store = _store_with_rows(tmp_path, receiver, 40)
    assert store.pending_count() == 40
    procs = [subprocess.Popen([sys.executable, "-c", DELIVER, str(tmp_path / "alerts.sqlite")],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    per_key = Counter(_SlowReceiver.got)
    assert len(per_key) == 40 and max(per_key.values()) == 1, per_key.most_common(3)
    delivered = [int(o[0]) for o in outs]
    assert sum(delivered) == 40 and all(o[2] == "0" for o in outs)
    assert sum(int(o[1]) for o in outs) > 0  # the processes did meet: some rows were found claimed
    assert store.outbox_counts() == {"delivered": 40, "pending": 0}


def test_a_claim_left_by_a_dead_sender_lapses_and_the_row_is_sent(tmp_path, receiver):
    store = _store_with_rows(tmp_path, receiver, 1)
    [row] = store.outbox()
    # another host's sender that stopped mid-send: its claim holds until the lease lapses
    assert store.claim(row["seq"], "elsewhere.invalid:4242:1", lease_seconds=0.5)
    first = deliver_pending(store, force=True)
    assert (first.delivered, first.busy, first.pending) == (0, 1, 1)
    time.sleep(0.6)
    second = deliver_pending(store, force=True)
    assert (second.delivered, second.busy, second.pending) == (1, 0, 0)
    assert _SlowReceiver.got == [row["notification_id"]]


def test_a_claim_of_a_killed_process_on_this_host_is_taken_over_at_once(tmp_path, receiver):
    """A run killed (-9) while sending leaves its claim; the next run on the host sees that
    process is gone and sends the row at once, not after the five-minute lease."""
    import os
    import signal
    import socket

    store = _store_with_rows(tmp_path, receiver, 1)
    [row] = store.outbox()
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert store.claim(row["seq"], f"{socket.gethostname()}:{victim.pid}:1")
    assert deliver_pending(store, force=True).busy == 1  # alive: its claim holds
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    report = deliver_pending(store, force=True)
    assert (report.delivered, report.busy, report.pending) == (1, 0, 0)
    assert len(_SlowReceiver.got) == 1
