"""Fixtures for the alert tests: the real search node (the fixtures of ``tests/search``), a real
SMTP server and a real HTTP webhook receiver on loopback, and the seed story as the crawl makes
it (the corpus pages through extract → clean → dates → language → dedup → stories → topics).

The engine fixtures fail the tests clearly when the node is down (``RASD_SKIP_SEARCH=1`` skips
them), see ``tests/search/conftest.py``.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.search.conftest import engine, loaded, make_prefix, records  # noqa: F401  (fixtures)

SEED_ORIGINAL = ("seed/euronews-original.html", "euronews_arabic")
SEED_COPY = ("seed/aggregator-republished.html", "akhbar_example")


def seed_articles(tmp_path) -> list:
    """The Euronews seed article and the aggregator's copy, as crawled: real stage functions,
    one dedup store and one story store, so the copy joins the original's story."""
    from rasd.pipelines.seenstore import (SeenStore)
    from rasd.pipelines.dedup import (dedup)
    from rasd.core.taxonomy import load_taxonomy
    from rasd.pipelines.enrich import tag_topics
    from rasd.pipelines.language import detect_language
    from rasd.pipelines.storyindex import (StoryIndex)
    from rasd.pipelines.stories import (assign_story)
    from tests.pipelines._corpus import corpus_article

    seen = SeenStore(":memory:")
    stories = StoryIndex(tmp_path / "stories.sqlite",
                         now=lambda: datetime(2024, 1, 29, tzinfo=timezone.utc),
                         window=timedelta(days=7))
    taxonomy = load_taxonomy()
    out = []
    for rel, outlet in (SEED_ORIGINAL, SEED_COPY):
        art = corpus_article(rel, outlet=outlet)
        guess = detect_language(f"{art.title}\n{art.text}", art.declared_language)
        art.language, art.language_confidence = guess.code, guess.confidence
        dedup(art, seen)
        assign_story(art, stories)
        art.topics = tag_topics(art, taxonomy)
        out.append(art)
    stories.close()
    return out


@pytest.fixture
def seed_pair(tmp_path):
    """``[original, copy]`` :class:`~rasd.core.article.Article` objects of the seed story."""
    return seed_articles(tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebhookServer:
    """``http.server`` on 127.0.0.1 in a thread; ``received`` holds the decoded JSON bodies."""

    def __init__(self, port: int = 0, status: int = 200):
        self.received: list[dict] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append(json.loads(body.decode("utf-8")))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook():
    server = WebhookServer()
    yield server
    server.stop()


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on 127.0.0.1: ``(port, inbox)``; ``inbox.messages`` is a
    list of ``(recipients, email.message.EmailMessage)``."""
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()
