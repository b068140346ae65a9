"""A crawl that meets bad pages and bad feeds: every page ends in one counted outcome, no crash.

A real replay server on 127.0.0.1 serves one outlet, ``news.example``, whose feeds list good
articles (real recorded pages), an empty page, a binary file, a 20 MB page, a page with broken
UTF-8, a 404, a 429 that succeeds on retry, a robots.txt-disallowed page and an off-domain link;
two more feeds are malformed and an XML entity bomb.  The crawl runs in a child process
(``python -m rasd.scheduler.child``), as the scheduler runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rasd.core.archive import read_archive
from rasd.replay.server import ReplayServer, ReplaySite, Resource

pytestmark = pytest.mark.integration

FIX = Path(__file__).resolve().parents[1] / "fixtures"
ROOT = "https://news.example"
HTML = "text/html; charset=utf-8"

GOOD_1 = (FIX / "corpus/pages/jawharafm.net/antcorpus_JA-economy-1-20170302.html").read_bytes()
GOOD_2 = (FIX / "corpus/pages/jawharafm.net/antcorpus_JA-sport-1-20170302.html").read_bytes()
# a third real page with some of its UTF-8 sequences broken, as old CMS pages have
BROKEN_UTF8 = (FIX / "corpus/pages/jawharafm.net/antcorpus_JA-localNews-1-20170302.html").read_bytes().replace(
    "الطقس".encode(), b"\xff\xfe\xfd")

PAGES = {
    "/good": Resource(GOOD_1, HTML),
    "/retry-later": [Resource(b"slow down", "text/plain", status=429, headers={"Retry-After": "1"}),
                     Resource(GOOD_2, HTML)],
    "/empty": Resource(b"", HTML),
    "/binary": Resource(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "image/png"),
    "/huge": Resource(b"<html><body>" + b"a" * (20 * 1024 * 1024) + b"</body></html>", HTML),
    "/broken-charset": Resource(BROKEN_UTF8, HTML),
    "/missing": Resource(b"not here", "text/plain", status=404),
    "/private/secret": Resource(GOOD_1, HTML),
}
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>&lol3;</title><item><link>https://news.example/good</link></item></channel></rss>"""


def _index(children: list[str]) -> bytes:
    locs = "".join(f"<sitemap><loc>{c}</loc></sitemap>" for c in children)
    return ('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{locs}</sitemapindex>").encode()


def _rss(links: list[str]) -> bytes:
    items = "".join(f"<item><title>خبر</title><link>{u}</link></item>" for u in links)
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-inputs")
    site = ReplaySite()
    for path, res in PAGES.items():
        site.put(ROOT + path, res)
    site.put(ROOT + "/robots.txt", Resource(b"User-agent: *\nDisallow: /private/\n", "text/plain"))
    site.put(ROOT + "/rss.xml", Resource(_rss([ROOT + p for p in PAGES] + ["https://elsewhere.example/x"]),
                                         "application/rss+xml"))
    site.put(ROOT + "/malformed.xml", Resource(b"<rss><channel><item><link>https://news.exa", "text/xml"))
    site.put(ROOT + "/bomb.xml", Resource(BOMB, "application/rss+xml"))
    # a sitemap index listing itself and a second one that lists the first: no loop
    site.put(ROOT + "/loop.xml", Resource(_index([ROOT + "/loop.xml", ROOT + "/loop2.xml"]), "application/xml"))
    site.put(ROOT + "/loop2.xml", Resource(_index([ROOT + "/loop.xml"]), "application/xml"))
    outlets = {"news_example": {
        "slug": "news_example", "name": "News Example", "country": "ZZ", "homepage": ROOT + "/",
        "domains": ["news.example"], "feeds": [ROOT + "/rss.xml", ROOT + "/malformed.xml", ROOT + "/bomb.xml"],
        "sitemaps": [ROOT + "/loop.xml"],
        "politeness": {"download_delay": 0, "concurrency": 4}}}
    outlets_file = tmp / "outlets.json"
    outlets_file.write_text(json.dumps(outlets), encoding="utf-8")
    with ReplayServer(site) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "rasd.scheduler.child", "news_example", "--data-dir", str(tmp / "data"),
             "--outlets-file", str(outlets_file), "--replay-url", server.base_url],
            capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), tmp / "data", site


def test_each_bad_page_has_its_outcome(crawl):
    summary, _, _ = crawl
    outcomes = summary["outcomes"]
    assert outcomes["skipped/empty_body"] == 1
    assert outcomes["skipped/not_html"] == 1
    assert outcomes["skipped/too_large"] == 1
    assert outcomes["failed/http_404"] == 1
    assert outcomes["skipped/robots"] == 1
    # the two good pages (one after a 429 + Retry-After) and the broken-UTF-8 page, whose text
    # survives (invalid bytes become U+FFFD)
    assert outcomes["archived"] == 3
    assert sum(outcomes.values()) == len(PAGES) == summary["pages"]


def test_bad_feeds_are_counted_not_fatal(crawl):
    summary, _, site = crawl
    assert summary["listings_ok"] == 3 and summary["listings_failed"] == 1  # rss + 2 sitemap indexes
    assert summary["listing_failures"] == {"invalid_feed": 1}  # the malformed feed
    assert summary["listings_skipped"] == 1 and summary["listing_refusals"] == {"xml_entities": 1}  # the bomb
    assert site.hits(ROOT + "/loop.xml") == 1 and site.hits(ROOT + "/loop2.xml") == 1
    assert summary["links"]["off_domain"] == 1
    assert summary["links"]["listed"] == len(PAGES)


def test_retry_after_was_honoured_and_archive_is_right(crawl):
    _, data, site = crawl
    assert site.hits(ROOT + "/retry-later") == 2
    records = {r["url"].rsplit("/", 1)[1]: r for r in read_archive(data / "archive")}
    assert set(records) == {"good", "retry-later", "broken-charset"}
    assert records["good"]["title"] == "نحو التفويت في بنك الزيتونة"
    # the broken bytes are in the headline (الطقس): replacement characters, kept in the title (the
    # headline's repeat at the top of the body is removed by the clean stage)
    broken = records["broken-charset"]
    assert "\ufffd" in broken["title"] and broken["language"] == "ar" and len(broken["text"]) > 200
