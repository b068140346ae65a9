"""crawler/dupefilter.py: one URL identity as Scrapy's request fingerprint, and the dupefilter
backed by the seen-URL store; then a real crawl of a loopback site whose listings spell one
page several ways."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scrapy import Request

from rasd.core.urls import canonicalize_url, document_id
from rasd.crawler.dupefilter import SeenUrlDupeFilter, UrlFingerprinter
from rasd.pipelines.seenstore import SeenStore
from tests.loopback import ROOT, Answer, LoopbackServer, crawl_env, outlet, real_pages, rss, write_seeds

PAGE = "https://news.example/ar/أخبار/101"


@pytest.mark.parametrize("url", [
    "http://www.news.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/101/",
    "https://m.news.example/ar/أخبار/101?utm_source=rss&at_medium=x#top",
    "https://news.example/ar/أخبار/101/amp",
    "https://amp.news.example:443/ar/أخبار/101.amp",
])
def test_spellings_of_one_page_have_one_fingerprint(url):
    fp = UrlFingerprinter()
    assert fp.fingerprint(Request(url)) == fp.fingerprint(Request(PAGE))
    assert fp.fingerprint(Request(PAGE)) == bytes.fromhex(document_id(canonicalize_url(PAGE)))


def test_other_pages_methods_and_schemes_differ():
    fp = UrlFingerprinter()
    base = fp.fingerprint(Request(PAGE))
    assert fp.fingerprint(Request(PAGE + "2")) != base
    assert fp.fingerprint(Request(PAGE + "?page=2")) != base  # a real parameter stays
    assert fp.fingerprint(Request(PAGE, method="POST", body=b"a=1")) != base
    assert fp.fingerprint(Request(PAGE, method="POST", body=b"a=1")) != \
        fp.fingerprint(Request(PAGE, method="POST", body=b"a=2"))
    data = fp.fingerprint(Request("data:text/plain,hello"))  # Scrapy's own fingerprint
    assert len(data) == 20 and data != fp.fingerprint(Request("data:text/plain,bye"))


def test_dupefilter_follows_the_crawl_and_the_seen_store():
    store = SeenStore(":memory:")
    now = 1_000_000.0
    store.mark_url(canonicalize_url("https://news.example/old"), "news", "skipped/not_html")
    store.defer_url(canonicalize_url("https://news.example/later"), "https://news.example/later",
                    "news", now + 60, "retry_after")
    store.defer_url(canonicalize_url("https://news.example/due"), "https://news.example/due",
                    "news", now - 60, "retry_after")
    df = SeenUrlDupeFilter(lambda: store, UrlFingerprinter(), now=lambda: now)

    assert df.request_seen(Request("http://www.news.example/old/"))  # known from an earlier run
    assert df.seen_before(Request("https://news.example/old")) == "known"
    assert df.seen_before(Request("https://news.example/later")) == "deferred"
    assert df.request_seen(Request("https://news.example/later"))
    assert not df.request_seen(Request("https://news.example/due"))  # due: fetched
    assert df.request_seen(Request("https://news.example/due?utm_source=x"))  # once per crawl

    # a listed link is remembered, and still passes the scheduler once
    assert not df.link_seen(Request("https://news.example/new"))
    assert df.link_seen(Request("http://news.example/new/"))  # listed twice
    assert df.seen_before(Request("https://news.example/new")) is None
    assert not df.request_seen(Request("https://news.example/new"))
    assert df.request_seen(Request("https://news.example/new"))
    assert df.link_seen(Request("https://news.example/due"))  # requested: a listing shows it twice


def _crawl(tmp_path, seeds) -> dict:
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--data-dir", str(tmp_path / "data"),
                           "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=crawl_env(RASD_SEEDS_DIR=str(seeds)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)["spell"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_page_spelled_several_ways_is_fetched_once_and_counted_by_reason(tmp_path):
    pages = real_pages()
    with LoopbackServer() as server:
        b, site = server.base_url, server.site
        for i in (1, 2):  # whichever listing is read first decides the spelling fetched
            for path in (f"/n/{i}", f"/n/{i}/", f"/n/{i}?utm_source=rss"):
                site.put(path, Answer(body=pages[i]))
        # one listing spells page 1 twice (a duplicate within it), the other twice more
        site.put("/a.xml", rss([f"{b}/n/1", f"{b}/n/1?utm_source=rss", f"{b}/n/2"]))
        site.put("/b.xml", rss([f"{b}/n/1/", f"{b}/n/2#comments"]))
        seeds = write_seeds(tmp_path / "seeds", {"spell": outlet("spell", b, ["/a.xml", "/b.xml"])})
        first = _crawl(tmp_path, seeds)
        hits = {p: len(site.hits(p)) for p in site.requests if p.startswith("/n/")}
        assert sum(hits.values()) == 2, hits  # each page fetched once
        assert first["outcomes"] == {"archived": 2}
        assert first["links"] == {"listed": 2, "duplicate": 1, "listed_twice": 2}

        site.put("/a.xml", rss([f"{b}/n/1?at_medium=feed", f"{b}/n/2/"]))
        site.put("/b.xml", rss([f"{b}/n/3"]))
        site.put("/n/3", Answer(body=pages[3]))
        second = _crawl(tmp_path, seeds)
    assert second["links"] == {"listed": 3, "known": 2}
    assert second["outcomes"] == {"archived": 1}
    assert sum(len(site.hits(p)) for p in site.requests if p.startswith("/n/")) == 3
