"""Harness of the fault tests: real crawl processes killed with SIGKILL, then counted.

* ``recording`` — a generated recording (:mod:`rasd.replay.recording`: 8 outlets × 5 pages, 3 planted
  syndicated stories) served by the real replay server of ``rasd crawl --replay``;
* :class:`Receiver` — a webhook receiver on 127.0.0.1 that keeps every POST with its
  ``Idempotency-Key``;
* :func:`crawl` / :func:`start_crawl` — ``python -m rasd.cli.main crawl --replay … --index`` as a
  child process, optionally with a fail point armed (``RASD_FAILPOINT``);
* :func:`census` — what the archive, the seen-URL store, the index and the receiver hold,
  as lost and doubled counts against the recording's ground truth.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rasd.core.archive import follow
from rasd.core.urls import canonicalize_url
from tests.search.conftest import ENGINE_URL, engine, make_prefix  # noqa: F401  (fixtures)

#: the alert every fault trial watches: a word the generated texts use often
ALERT_QUERY = "العراق OR سوريا OR لبنان OR مصر"


@pytest.fixture(scope="session")
def recording(tmp_path_factory):
    from rasd.replay.recording import make_recording

    return make_recording(tmp_path_factory.mktemp("faults-recording") / "rec", outlets=8,
                          pages_per_outlet=5, syndicated_stories=3, seed=1)


class Receiver:
    """``http.server`` on 127.0.0.1 in a thread: ``posts`` holds ``(Idempotency-Key, body)``
    of every POST, in arrival order."""

    def __init__(self):
        self.posts: list[tuple[str | None, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((self.headers.get("Idempotency-Key"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def crawl_env(prefix: str, failpoint: str | None = None) -> dict:
    env = dict(os.environ, RASD_ENGINE__URL=ENGINE_URL, RASD_ENGINE__INDEX_PREFIX=prefix,
               RASD_ALERTS_ENABLED="1", RASD_LOG_LEVEL="INFO")
    env.pop("RASD_FAILPOINT", None)
    if failpoint:
        env["RASD_FAILPOINT"] = failpoint
    return env


def crawl_cmd(recording_dir: Path, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(recording_dir),
            "--data-dir", str(data_dir), "--index", "--json"]


def crawl(recording_dir: Path, data_dir: Path, prefix: str, failpoint: str | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess:
    """One crawl in a child process (its own process group, killed whole on timeout)."""
    proc = start_crawl(recording_dir, data_dir, prefix, failpoint)
    try:
        out, errs = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, errs = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, errs)


def start_crawl(recording_dir: Path, data_dir: Path, prefix: str,
                failpoint: str | None = None) -> subprocess.Popen:
    return subprocess.Popen(crawl_cmd(recording_dir, data_dir), env=crawl_env(prefix, failpoint),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    """``kill -9`` the crawl and everything it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


@dataclass
class Census:
    """Lost and doubled records, per place (see :func:`census`)."""

    expected: int
    archived: int = 0
    archive_lost: int = 0
    archive_doubled: int = 0
    archive_invalid: int = 0
    seen_not_archived: int = 0  # URLs the seen store knows whose article is not archived
    indexed: int = 0
    index_lost: int = 0
    index_doubled: int = 0
    notifications: int = 0  # distinct notification ids received
    notifications_doubled: int = 0  # a story notified under two ids
    redelivered: int = 0  # extra POSTs of one id (at-least-once; receivers drop them)
    stories_notified: set = field(default_factory=set)

    def lost_doubled(self) -> dict[str, int]:
        return {"archive_lost": self.archive_lost, "archive_doubled": self.archive_doubled,
                "seen_not_archived": self.seen_not_archived, "index_lost": self.index_lost,
                "index_doubled": self.index_doubled, "notifications_doubled": self.notifications_doubled}


def census(data_dir: Path, info, engine, prefix: str, receiver: Receiver | None) -> Census:
    """Count the archive's lines by canonical URL against the recording's pages (lost: a page
    never archived; doubled: a second line for one article), the seen-URL store's articles
    that have no archive line, the index's documents (lost: an archived id missing; doubled:
    more documents than distinct ids), and the notifications (distinct ids; a ground-truth
    story notified under two ids is doubled; extra POSTs of one id are redeliveries)."""
    expected = {canonicalize_url(p.url) for p in info.pages}
    truth = {canonicalize_url(p.url): p.story for p in info.pages}
    out = Census(expected=len(expected))
    ids_by_url: dict[str, Counter] = {}
    lines = [ln for ln in follow(data_dir / "archive", {}, tail=True)]
    for ln in lines:
        if ln.data is None:
            out.archive_invalid += 1
            continue
        if ln.kind != "record":
            continue
        url = ln.data.get("canonical_url") or canonicalize_url(ln.data["url"])
        ids_by_url.setdefault(url, Counter())[ln.data["id"]] += 1
    out.archived = len(set(ids_by_url) & expected)
    out.archive_lost = len(expected - set(ids_by_url))
    out.archive_doubled = sum(sum(c.values()) - 1 for c in ids_by_url.values())
    archived_ids = {i for c in ids_by_url.values() for i in c}
    seen = data_dir / "seen.sqlite"
    if seen.exists():
        with sqlite3.connect(seen) as db:
            known = {r[0] for r in db.execute("SELECT id FROM articles")}
        out.seen_not_archived = len(known - archived_ids)
    if engine is not None:
        engine.refresh(prefix)
        present = engine.locate(prefix, sorted(archived_ids))
        out.indexed = len(present)
        out.index_lost = len(archived_ids - set(present))
        out.index_doubled = max(0, engine.count(prefix) - len(present))
    if receiver is not None:
        by_id: Counter = Counter()
        story_ids: dict[str, set] = {}
        for n, (key, body) in enumerate(receiver.posts):
            nid = key or body.get("id") or f"post-{n}"  # no id: every POST is its own notification
            by_id[nid] += 1
            for story in body.get("stories", []):
                key = truth.get(canonicalize_url(story["url"]), story["url"])
                story_ids.setdefault(key, set()).add(nid)
        out.notifications = len(by_id)
        out.redelivered = sum(n - 1 for n in by_id.values())
        out.notifications_doubled = sum(len(ids) - 1 for ids in story_ids.values())
        out.stories_notified = set(story_ids)
    return out
