"""Conditional GET in every crawl (``rasd crawl`` included) never hides an article.

Live crawls (``rasd crawl`` in child processes, the real Scrapy HTTP handler) of an outlet on
``127.0.0.1`` whose feed honours ``If-None-Match``.  The first run leaves one page failed (a
404) and one deferred (a ``Retry-After`` too long to wait); the feed then never changes, so the
next runs get 304s, and still the failed page is requested again and the deferred one when due:
a 304 stands for the remembered entries, each checked against the seen store again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from tests.loopback import (ROOT, Answer, LoopbackServer, archived_urls, crawl_env, outlet,
                            real_pages, rss, write_seeds)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _rasd_crawl(tmp, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--data-dir", str(tmp / "data"),
                           "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)["cond"]


class Conditional:
    """A feed with a fixed ``ETag``: 304 when the request names it; records what was asked."""

    def __init__(self, answer: Answer, etag: str = '"v1"'):
        self.answer, self.etag = answer, etag
        self.asked: list[tuple[str | None, int]] = []  # (If-None-Match sent, status answered)
        self._lock = threading.Lock()

    def __call__(self, h) -> None:
        sent = h.headers.get("If-None-Match")
        status = 304 if sent == self.etag else 200
        with self._lock:
            self.asked.append((sent, status))
        if status == 304:
            return h.send(Answer(304, b"", None, {"ETag": self.etag}))
        h.send(Answer(200, self.answer.body, self.answer.content_type, {"ETag": self.etag}))


class Sequence:
    """Answers in turn, the last one from then on."""

    def __init__(self, *answers: Answer):
        self.answers = list(answers)
        self._lock = threading.Lock()

    def __call__(self, h) -> None:
        with self._lock:
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        h.send(answer)


def test_a_304_still_refetches_failed_pages_and_deferred_ones_when_due(tmp_path):
    pages = real_pages()
    defer = 3.0
    env = crawl_env(RASD_CRAWL__RETRY_DEFER_MAX_SECONDS=str(defer))
    with LoopbackServer() as server:
        b, site = server.base_url, server.site
        feed = Conditional(rss([f"{b}/a/1", f"{b}/a/2", f"{b}/a/3"]))
        site.put("/feed.xml", feed)
        site.put("/a/1", Answer(body=pages[0]))
        site.put("/a/2", Sequence(Answer(404, b"not yet\n", "text/plain"), Answer(body=pages[1])))
        site.put("/a/3", Sequence(Answer(503, b"busy\n", "text/plain", {"Retry-After": "99999999"}),
                                  Answer(body=pages[2])))
        env["RASD_SEEDS_DIR"] = str(write_seeds(tmp_path / "seeds", {"cond": outlet("cond", b, ["/feed.xml"])}))

        first = _rasd_crawl(tmp_path, env)
        assert first["outcomes"] == {"archived": 1, "failed/http_404": 1, "deferred/retry_after": 1}
        assert (first["listings_ok"], first["listings_not_modified"]) == (1, 0)
        time.sleep(defer + 0.5)  # the deferred page is due

        second = _rasd_crawl(tmp_path, env)
        assert (second["listings_ok"], second["listings_not_modified"]) == (0, 1)  # a 304 …
        # … whose three links were checked again (the deferred one, requested from the seen
        # store's deferred table at the start, counts as listed twice)
        assert second["links"] == {"listed": 2, "known": 1, "listed_twice": 1}
        assert second["outcomes"] == {"archived": 2}  # the 404 and the deferred page, now there

        third = _rasd_crawl(tmp_path, env)
        assert third["links"] == {"listed": 3, "known": 3} and third["outcomes"] == {}

    assert feed.asked == [(None, 200), ('"v1"', 304), ('"v1"', 304)]
    assert [len(site.hits(f"/a/{i}")) for i in (1, 2, 3)] == [1, 2, 2]  # no page fetched twice once archived
    urls = archived_urls(tmp_path / "data")
    assert sorted(urls) == [f"{b}/a/1", f"{b}/a/2", f"{b}/a/3"]
