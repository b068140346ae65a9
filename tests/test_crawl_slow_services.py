"""A frozen search engine or a slow alert receiver does not slow the crawl.

No item pipeline does network I/O on the crawl's reactor: topics are tagged by the local matcher
(:mod:`rasd.pipelines.enrich`), and the index and the alerts follow the archive in background
threads (:mod:`rasd.pipelines.index`, :mod:`rasd.pipelines.alerts`).  Three replay crawls of one
generated recording (100 pages, 4 outlets, syndicated stories), each into a fresh data
directory, with indexing and alerts on, in child processes as ``rasd crawl`` runs:

* normal: the engine behind a loopback TCP proxy, a webhook receiver that answers at once;
* frozen engine: the proxy forwards nothing for 30 s from the crawl's start (the shared node
  itself is never stopped; :meth:`tests.search.shims.TcpProxy.freeze`);
* slow webhook: the receiver sleeps 20 s before answering each delivery.

The crawl's duration is the time from the process's start to the archive's last write (every
page has its outcome then); the process itself also waits, at close, for the index and the
alerts to drain (at most ``RASD_INDEX_DRAIN_SECONDS``/``RASD_ALERTS_DRAIN_SECONDS``, 60 s).
Asserted: the crawl takes about as long whatever the services do (within the larger of 8 s and
half the normal time: shared 2-core hosts are noisy), every archived article ends up indexed,
and the alert's notifications are delivered.  ``RASD_CRAWL_PYTHON`` runs the crawls with another
installation's interpreter (to measure an older Rasd the same way).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.search.conftest import ENGINE_URL, engine, make_prefix  # noqa: F401  (fixtures)
from tests.search.shims import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.search, pytest.mark.slow]

FREEZE_SECONDS = 30.0
SLOW_ANSWER_SECONDS = 20.0


class Receiver:
    """A webhook receiver on 127.0.0.1 that sleeps ``delay`` seconds before answering; records
    each body when it arrives."""

    def __init__(self, delay: float = 0.0):
        self.received: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append(json.loads(body.decode("utf-8")))
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple[Path, str]:
    """``(recording dir, alert query)``: the query is three words of a syndicated story's title."""
    from rasd.replay.recording import make_recording

    rec = tmp_path_factory.mktemp("slow-services") / "rec"
    make_recording(rec, outlets=4, pages_per_outlet=25, syndicated_stories=3)
    expected = json.loads((rec / "expected.json").read_text(encoding="utf-8"))
    pages = dict(expected["pages"]) if isinstance(expected["pages"], list) else expected["pages"]
    original = next(iter(expected["stories"].values()))[0]
    words = re.findall(r"[\u0621-\u064A]{4,}", pages[original]["title"])[:3]
    return rec, " AND ".join(words)


def crawl(rec: Path, data: Path, engine_url: str, prefix: str) -> dict:
    """One ``rasd crawl --replay`` with indexing and alerts on; its durations and counts."""
    env = dict(os.environ, RASD_ENGINE__URL=engine_url, RASD_ENGINE__INDEX_PREFIX=prefix,
               RASD_ALERTS_ENABLED="1", RASD_INDEX_ENABLED="1", RASD_LOG_LEVEL="INFO")
    python = os.environ.get("RASD_CRAWL_PYTHON") or sys.executable
    t0 = time.time()
    proc = subprocess.run([python, "-m", "rasd.cli.main", "crawl", "--replay", str(rec), "--data-dir",
                           str(data), "--json"], capture_output=True, text=True, timeout=600, env=env,
                          cwd=data.parent)  # not the checkout: RASD_CRAWL_PYTHON's own rasd
    total = time.time() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    archive = sorted((data / "archive").glob("*.jsonl"))
    last_write = max(p.stat().st_mtime for p in archive)
    archived = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in archive)
    return {"crawl_seconds": last_write - t0, "process_seconds": total, "archived": archived,
            "pages": sum(sum(s["outcomes"].values()) for s in summary.values())}


def _indexed(engine, prefix: str) -> int:
    engine.refresh(prefix)
    return engine.count(prefix)


def test_a_frozen_engine_and_a_slow_webhook_do_not_slow_the_crawl(engine, make_prefix, recording, tmp_path):
    from rasd.alerts.match import add_alert, parse_alert

    rec, query = recording
    proxy = TcpProxy(ENGINE_URL)
    times = {}
    try:
        for case in ("normal", "frozen engine", "slow webhook"):
            prefix = make_prefix(init=True)
            receiver = Receiver(SLOW_ANSWER_SECONDS if case == "slow webhook" else 0.0)
            add_alert(engine, prefix, parse_alert({
                "name": "story", "query": query,
                "deliveries": {"webhook": {"url": receiver.url, "timeout_seconds": SLOW_ANSWER_SECONDS + 20}}}))
            try:
                if case == "frozen engine":
                    proxy.freeze(FREEZE_SECONDS)
                result = crawl(rec, tmp_path / case.replace(" ", "-"), proxy.url, prefix)
                still_frozen = proxy.frozen
                while proxy.frozen:
                    time.sleep(0.5)
                if _indexed(engine, prefix) < result["archived"]:  # the drain gave up: index it now
                    env = dict(os.environ, RASD_ENGINE__URL=ENGINE_URL, RASD_ENGINE__INDEX_PREFIX=prefix)
                    subprocess.run([sys.executable, "-m", "rasd.cli.main", "index", "--data-dir",
                                    str(tmp_path / case.replace(" ", "-"))], check=True, env=env,
                                   capture_output=True, timeout=300)
                result["indexed"] = _indexed(engine, prefix)
                result["deliveries"] = len(receiver.received)
                result["engine_frozen_when_the_crawl_ended"] = still_frozen
            finally:
                receiver.stop()
            times[case] = result
    finally:
        proxy.close()
    for case, r in times.items():
        print(f"\n{case}: crawl {r['crawl_seconds']:.1f} s (process {r['process_seconds']:.1f} s), "
              f"{r['archived']} archived, {r['indexed']} indexed, {r['deliveries']} webhook deliveries")
    normal = times["normal"]
    assert normal["archived"] >= 90 and normal["deliveries"] >= 1
    noise = max(8.0, normal["crawl_seconds"] / 2)
    for case in ("frozen engine", "slow webhook"):
        r = times[case]
        assert r["archived"] == r["indexed"] == normal["archived"] == r["pages"], (case, r)
        assert r["crawl_seconds"] < normal["crawl_seconds"] + noise, (case, r, normal)
        assert r["deliveries"] == normal["deliveries"], (case, r, normal)  # one per story, all made
    assert times["frozen engine"]["crawl_seconds"] < FREEZE_SECONDS  # the pages did not wait for it
