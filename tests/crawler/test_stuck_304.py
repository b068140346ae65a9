"""Case 23 as live crawls: a feed server that freezes its validators cannot hide an article.

The loopback server sends the same ``ETag``/``Last-Modified`` on every 200 whatever the body,
and 304 to any request that carries a validator (FreshRSS #1020's CMS).  ``rasd crawl`` runs in
child processes over one data directory, as the scheduler's runs do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from tests.loopback import (ROOT, Answer, LoopbackServer, archived_urls, crawl_env, outlet,
                            real_pages, rss, write_seeds)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Frozen:
    """Fixed validators on every answer; 304 to any conditional request; ``feed`` settable."""

    def __init__(self, feed: Answer, validator: str):
        self.feed, self.validator = feed, validator
        self.asked: list[tuple[bool, int]] = []  # (conditional, status)
        self._lock = threading.Lock()

    def __call__(self, h) -> None:
        conditional = bool(h.headers.get("If-None-Match") or h.headers.get("If-Modified-Since"))
        headers = {"ETag": f'"{self.validator}"', "Last-Modified": self.validator}
        with self._lock:
            self.asked.append((conditional, 304 if conditional else 200))
            feed = self.feed
        if conditional:
            return h.send(Answer(304, b"", None, headers))
        h.send(Answer(200, feed.body, feed.content_type, headers))


def _crawl(tmp, env) -> dict:
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--data-dir", str(tmp / "data"),
                           "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)["stuck"]


def _setup(tmp_path, server, validator):
    b = server.base_url
    pages = real_pages()
    feed = Frozen(rss([f"{b}/a/1"]), validator)
    server.site.put("/rss.xml", feed)
    server.site.put("/a/1", Answer(body=pages[0]))
    server.site.put("/a/2", Answer(body=pages[1]))
    seeds = write_seeds(tmp_path / "seeds", {"stuck": outlet("stuck", b, ["/rss.xml"])})
    return feed, seeds


def test_case_23_future_validators_are_not_trusted(tmp_path):
    with LoopbackServer() as server:
        feed, seeds = _setup(tmp_path, server, "Sat, 16 Nov 2041 19:11:00 GMT")
        env = crawl_env(RASD_SEEDS_DIR=str(seeds))
        assert _crawl(tmp_path, env)["outcomes"] == {"archived": 1}
        feed.feed = rss([f"{server.base_url}/a/2", f"{server.base_url}/a/1"])  # B published
        second = _crawl(tmp_path, env)
        assert second["outcomes"] == {"archived": 1}
        assert second["conditional"]["fetch/forced"] == 1
        third = _crawl(tmp_path, env)
        assert third["outcomes"] == {}
    assert feed.asked == [(False, 200)] * 3  # never a conditional request to a feed dated 2041
    assert sorted(archived_urls(tmp_path / "data")) == [f"{server.base_url}/a/1", f"{server.base_url}/a/2"]


def test_a_frozen_server_is_polled_unconditionally_after_n_304s_and_marked(tmp_path):
    with LoopbackServer() as server:
        feed, seeds = _setup(tmp_path, server, "Mon, 30 Nov 2026 07:00:00 GMT")
        env = crawl_env(RASD_SEEDS_DIR=str(seeds), RASD_CRAWL__CONDITIONAL_MAX_NOT_MODIFIED="2")
        first = _crawl(tmp_path, env)
        assert first["outcomes"] == {"archived": 1}
        feed.feed = rss([f"{server.base_url}/a/2", f"{server.base_url}/a/1"])  # B published
        polls = [_crawl(tmp_path, env) for _ in range(3)]
        # two 304s hide B; the third poll is forced unconditional and archives it
        assert [p["outcomes"] for p in polls] == [{}, {}, {"archived": 1}]
        assert [p["conditional"].get("fetch/304", 0) for p in polls] == [1, 1, 0]
        forced = polls[2]["conditional"]
        assert forced["fetch/forced"] == 1 and forced["validators_ignored"] == 1
        assert forced["hidden_entries"] == 1 and forced["bytes_spent"] == len(feed.feed.body)
        assert polls[0]["conditional"]["bytes_saved"] == len(rss([f"{server.base_url}/a/1"]).body)
        after = _crawl(tmp_path, env)  # marked: unconditional from now on
        assert after["conditional"]["unconditional/distrusted"] == 1
    assert [c for c, _ in feed.asked] == [False, True, True, False, False]
    assert f"{server.base_url}/a/2" in archived_urls(tmp_path / "data")

    from rasd.crawler.feedstate import FeedState

    (rec, _), = FeedState(tmp_path / "data" / "feedstate.sqlite").records()
    assert rec.liar and rec.distrust == 'same ETag "Mon, 30 Nov 2026 07:00:00 GMT" on a changed body'


class Honest:
    """A server that honours validators: a new ETag for each body; 304 only while it matches."""

    def __init__(self, feed: Answer):
        self.feed, self.version = feed, 1
        self.asked: list[tuple[bool, int]] = []
        self._lock = threading.Lock()

    def publish(self, feed: Answer) -> None:
        with self._lock:
            self.feed, self.version = feed, self.version + 1

    def __call__(self, h) -> None:
        with self._lock:
            etag, feed = f'"v{self.version}"', self.feed
            fresh = h.headers.get("If-None-Match") == etag
            self.asked.append((bool(h.headers.get("If-None-Match")), 304 if fresh else 200))
        if fresh:
            return h.send(Answer(304, b"", None, {"ETag": etag}))
        h.send(Answer(200, feed.body, feed.content_type, {"ETag": etag}))


def test_an_honest_server_publishing_after_a_304_is_not_marked(tmp_path):
    """304 while nothing changed, then a 200 with a new ETag listing a new undated entry: the
    server honoured the validators; the listing stays trusted and conditional (a break-it trial
    saw every such listing marked "does not honour validators", polled unconditionally for good)."""
    with LoopbackServer() as server:
        b = server.base_url
        pages = real_pages()
        feed = Honest(rss([f"{b}/a/1"]))
        server.site.put("/rss.xml", feed)
        server.site.put("/a/1", Answer(body=pages[0]))
        server.site.put("/a/2", Answer(body=pages[1]))
        seeds = write_seeds(tmp_path / "seeds", {"stuck": outlet("stuck", b, ["/rss.xml"])})
        env = crawl_env(RASD_SEEDS_DIR=str(seeds))
        assert _crawl(tmp_path, env)["outcomes"] == {"archived": 1}
        assert _crawl(tmp_path, env)["conditional"].get("fetch/304") == 1
        feed.publish(rss([f"{b}/a/2", f"{b}/a/1"]))
        third = _crawl(tmp_path, env)
        assert third["outcomes"] == {"archived": 1}
        assert "hidden_entries" not in third["conditional"] and "validators_ignored" not in third["conditional"]
        fourth = _crawl(tmp_path, env)
        assert fourth["conditional"].get("fetch/304") == 1
    assert feed.asked == [(False, 200), (True, 304), (True, 200), (True, 304)]

    from rasd.crawler.feedstate import FeedState

    (rec, _), = FeedState(tmp_path / "data" / "feedstate.sqlite").records()
    assert not rec.liar and rec.distrust is None
