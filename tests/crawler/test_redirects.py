"""Where an article's redirect leads, or which ``skipped/<reason>`` it ends in (crawler/redirects.py)."""

from __future__ import annotations

import pytest

from rasd.core.seeds import Outlet
from rasd.crawler.redirects import REDIRECT_OUTCOMES, next_hop, resolve_location

HERE = "https://news.example/ar/1"
OUTLET = Outlet(slug="news", name="news", country="ZZ", homepage="https://news.example/",
                domains=["news.example"], feeds=["https://news.example/rss.xml"])
_owns = OUTLET.owns


def _hop(location, chain=(), max_redirects=20, max_url_chars=2083):
    return next_hop(HERE, location, list(chain), _owns, max_redirects, max_url_chars)


@pytest.mark.parametrize("location, url", [
    (b"/ar/2", "https://news.example/ar/2"),
    (b"2", "https://news.example/ar/2"),
    (b"//m.news.example/ar/1", "https://m.news.example/ar/1"),  # scheme-relative
    (b"http://news.example/ar/1", "http://news.example/ar/1"),  # another scheme is another request
    (b"https://news.example:443/ar/2", "https://news.example:443/ar/2"),  # the default port, written
    (b" /ar/3#top ", "https://news.example/ar/3"),  # spaces and fragment dropped
    ("/أخبار/1".encode(), "https://news.example/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/1"),  # raw UTF-8
])
def test_followed(location, url):
    hop = _hop(location)
    assert (hop.url, hop.outcome) == (url, None)


@pytest.mark.parametrize("location, chain, outcome", [
    (None, (), "skipped/bad_redirect"),  # no Location header
    (b"", (), "skipped/bad_redirect"),
    (b"   ", (), "skipped/bad_redirect"),
    (b"javascript:alert(1)", (), "skipped/bad_redirect"),
    (b"mailto:desk@news.example", (), "skipped/bad_redirect"),
    (b"http://[::1", (), "skipped/bad_redirect"),  # unparsable
    (b"http:///no-host", (), "skipped/bad_redirect"),
    (b"https://news.example:99999/x", (), "skipped/bad_redirect"),  # port out of range
    (b"/x?q=" + b"a" * 2100, (), "skipped/url_too_long"),
    (b"https://elsewhere.example/ar/1", (), "skipped/offsite_redirect"),
    (b"https://news.example.evil.example/", (), "skipped/offsite_redirect"),
    (b"https://news.example:8443/ar/1", (), "skipped/offsite_redirect"),  # another port: another server
    (b"http://news.example:8080/ar/1", (), "skipped/offsite_redirect"),
    (b"ftp://news.example/ar/1", (), "skipped/bad_redirect"),
    (b"/ar/1", (), "skipped/redirect_loop"),  # to itself
    (b"/ar/1#again", (), "skipped/redirect_loop"),
    (b"/ar/0", ("https://news.example/ar/0",), "skipped/redirect_loop"),  # back into its chain
    (b"/ar/9", [f"https://news.example/hop/{i}" for i in range(20)], "skipped/too_many_redirects"),
])
def test_not_followed(location, chain, outcome):
    hop = _hop(location, chain)
    assert hop.url is None and hop.outcome == outcome and hop.detail
    assert outcome in REDIRECT_OUTCOMES


def test_hop_limit_is_inclusive():
    chain = [f"https://news.example/hop/{i}" for i in range(2)]
    assert _hop(b"/ar/9", chain, max_redirects=3).url == "https://news.example/ar/9"
    assert _hop(b"/ar/9", chain, max_redirects=2).outcome == "skipped/too_many_redirects"


def test_resolve_location_of_a_meta_refresh_url():
    assert resolve_location(HERE, "../story?id=5") == "https://news.example/story?id=5"
    assert resolve_location(HERE, "ftp://news.example/x") is None
