"""Hostile and legacy servers are stopped at the door, each with its counted reason.

One live ``rasd crawl`` (a child process, Scrapy's real HTTP handler) of two outlets on
``127.0.0.1``, each its own loopback server, with a third server on another port of the same
host that neither outlet owns:

* outlet ``legacy``: robots.txt in windows-1256 without a charset (rules with Arabic paths,
  raw and percent-encoded), a feed whose links point at another port, a meta refresh to
  another port, dates no listing can have (``10000-01-01``, an offset of ``+9999``), UTF-16
  and UTF-32 pages, a UTF-7 feed that writes its entity bomb in UTF-7 shifts, an Atom feed
  whose ``xml:base`` is another port, and a sitemap index whose child is on another port;
* outlet ``iso``: robots.txt in ISO-8859-6 with the charset in its ``Content-Type``.

Nothing on the other port is ever requested; every refusal is a counted outcome.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from rasd.core.archive import read_archive
from tests.loopback import (ROOT, Answer, LoopbackServer, crawl_env, outlet, real_pages, write_seeds)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _utf7_bomb_feed(levels: int = 17) -> bytes:
    """613-byte-class feed of the report: ``encoding="utf-7"`` and a DTD written in UTF-7
    shifts (``<!ENTITY`` is ``+ADwAIQ-ENTITY``); decoded and expanded, the title would be
    8 × 2^17 characters."""
    def shifted(c: str) -> str:
        return "+" + base64.b64encode(c.encode("utf-16-be")).decode().rstrip("=") + "-"

    dtd = '<!DOCTYPE rss [<!ENTITY a "xxxxxxxx">' + "".join(
        f'<!ENTITY a{i} "&a{"" if i == 0 else i - 1};&a{"" if i == 0 else i - 1};">' for i in range(levels)) + "]>"
    body = "".join(shifted(c) if c in '<!"' else c for c in dtd) + (
        f'<rss version="2.0"><channel><title>t</title><item><title>&a{levels - 1};</title>'
        "<link>/a/ok</link></item></channel></rss>")
    return b'<?xml version="1.0" encoding="utf-7"?>' + body.encode()


def _rss(items: list[tuple[str, str | None]]) -> Answer:
    out = "".join(f"<item><title>خبر</title><link>{u}</link>" + (f"<pubDate>{d}</pubDate>" if d else "")
                  + "</item>" for u, d in items)
    return Answer(200, ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
                        f"{out}</channel></rss>").encode(), "application/rss+xml")


def _recode(page: bytes, codec: str) -> bytes:
    text = page.decode("utf-8").replace("charset=utf-8", f"charset={codec}")
    return text.encode(codec)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    pages = real_pages()
    with LoopbackServer() as main, LoopbackServer() as iso, LoopbackServer() as other:
        b, site = main.base_url, main.site
        o = other.base_url
        robots = "User-agent: *\nDisallow: /أخبار/\nDisallow: /%D8%B3%D9%8A%D8%A7%D8%B3%D8%A9/\n"
        site.put("/robots.txt", Answer(200, robots.encode("cp1256"), "text/plain"))
        site.put("/a/ok", Answer(body=pages[0]))
        site.put("/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/1", Answer(body=pages[1]))  # /أخبار/1
        site.put("/%D8%B3%D9%8A%D8%A7%D8%B3%D8%A9/2", Answer(body=pages[2]))  # /سياسة/2
        site.put("/a/dated", Answer(body=pages[3]))
        site.put("/a/offset", Answer(body=pages[4]))
        site.put("/a/utf16", Answer(body=b"\xff\xfe" + _recode(pages[5], "utf-16-le"), content_type="text/html; charset=utf-16"))
        site.put("/a/utf32", Answer(body=_recode(pages[6], "utf-32"), content_type=None))  # BOM, no header
        site.put("/m/port", Answer(body=f'<html><head><meta http-equiv="refresh" content="0; url={o}/a/x">'
                                        "</head><body>moved</body></html>".encode()))
        site.put("/rss.xml", _rss([
            (f"{b}/a/ok", None),
            (f"{b}/أخبار/1", None),  # disallowed by a rule written raw (in windows-1256)
            (f"{b}/سياسة/2", None),  # disallowed by a rule written percent-encoded
            (f"{o}/a/x", None),  # another port of the outlet's host
            (f"{b}/m/port", None),
            (f"{b}/a/dated", "10000-01-01T00:00:00Z"),  # feedparser: 2010-12-01
            (f"{b}/a/offset", "Tue, 12 Mar 2024 07:30:05 +9999"),
            (f"{b}/a/utf16", None), (f"{b}/a/utf32", None)]))
        site.put("/utf7.xml", Answer(200, _utf7_bomb_feed(), "application/rss+xml"))
        site.put("/atom.xml", Answer(200, (
            f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="{o}/">'
            '<title>t</title><id>urn:x</id><updated>2024-03-12T07:30:05Z</updated><entry><title>x</title>'
            '<id>urn:y</id><updated>2024-03-12T07:30:05Z</updated><link href="a/base"/></entry></feed>').encode(),
            "application/atom+xml"))
        site.put("/sitemap.xml", Answer(200, (
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{o}/sitemap2.xml</loc></sitemap></sitemapindex>").encode(), "application/xml"))
        iso.site.put("/robots.txt", Answer(200, "User-agent: *\nDisallow: /رياضة/\n".encode("iso8859-6"),
                                           "text/plain; charset=ISO-8859-6"))
        iso.site.put("/%D8%B1%D9%8A%D8%A7%D8%B6%D8%A9/1", Answer(body=pages[1]))  # /رياضة/1
        iso.site.put("/a/fine", Answer(body=pages[2]))
        iso.site.put("/rss.xml", _rss([(f"{iso.base_url}/%D8%B1%D9%8A%D8%A7%D8%B6%D8%A9/1", None),
                                       (f"{iso.base_url}/a/fine", None)]))
        seeds = write_seeds(tmp / "seeds", {
            "legacy": outlet("legacy", b, ["/rss.xml", "/utf7.xml", "/atom.xml"], sitemaps=[b + "/sitemap.xml"]),
            "iso": outlet("iso", iso.base_url, ["/rss.xml"])})
        proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "crawl", "--data-dir", str(tmp / "data"),
                               "--json"], capture_output=True, text=True, timeout=240, cwd=ROOT,
                              env=crawl_env(RASD_SEEDS_DIR=str(seeds)))
        hits_other = dict(other.site.requests)
        hits_main = dict(site.requests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {r["url"].rsplit("/", 2)[-2] + "/" + r["url"].rsplit("/", 1)[-1]: r
               for r in read_archive(tmp / "data" / "archive")}
    return json.loads(proc.stdout), records, hits_other, hits_main


def test_utf7_feed_is_refused_unparsed(crawl):
    summary, _, _, _ = crawl
    legacy = summary["legacy"]
    assert legacy["listing_refusals"] == {"unsafe_encoding": 1}
    assert legacy["listings_skipped"] == 1


def test_robots_in_legacy_arabic_encodings_is_obeyed(crawl):
    summary, records, _, hits = crawl
    assert summary["legacy"]["outcomes"]["skipped/robots"] == 2  # raw and percent-encoded rules
    assert summary["iso"]["outcomes"] == {"skipped/robots": 1, "archived": 1}
    assert "/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/1" not in hits and "/%D8%B3%D9%8A%D8%A7%D8%B3%D8%A9/2" not in hits


def test_nothing_on_another_port_is_fetched(crawl):
    summary, _, other_hits, _ = crawl
    assert other_hits == {}  # the feed link, the meta refresh, xml:base and the sitemap child
    legacy = summary["legacy"]
    assert legacy["links"]["off_domain"] == 3  # rss link, Atom entry under xml:base, sitemap child
    assert legacy["outcomes"]["skipped/offsite_redirect"] == 1  # the meta refresh


def test_bogus_listing_dates_are_refused_and_the_page_date_wins(crawl):
    summary, records, _, _ = crawl
    assert summary["legacy"]["dates_refused"] == 2
    # the pages' own dates (their recordings are named after them), not 2010-12-01 / 2024-03-08
    assert records["a/dated"]["published_at"].startswith("2014-05-26")  # internationalNews-1-20140526
    assert records["a/offset"]["published_at"].startswith("2017-03-02")  # localNews-1-20170302


def test_utf16_and_utf32_pages_are_decoded_and_archived(crawl):
    summary, records, _, _ = crawl
    assert "skipped/not_html" not in summary["legacy"]["outcomes"]
    for key in ("a/utf16", "a/utf32"):
        record = records[key]
        assert len(record["text"]) > 200 and record["language"] == "ar" and "\x00" not in record["text"]
    assert summary["legacy"]["outcomes"]["archived"] == 5  # ok, dated, offset, utf16, utf32
