"""Tests for pipelines/dedup.py: URL identity, content hashes, the seen store and the stage."""

from __future__ import annotations

import gzip
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
import scrapy
from lxml import etree, html
from scrapy import signals
from scrapy.utils.test import get_crawler

from tests.pipelines._corpus import simorgh_text
from rasd.pipelines.base import Skip
from rasd.pipelines.seenstore import (MIN_CONTENT_CHARS, SeenStore, SeenStoreError, content_hash)
from rasd.pipelines.dedup import (DedupPipeline, dedup)
from rasd.core.urls import canonicalize_url, choose_canonical, document_id
from rasd.core.article import Article

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CASE13 = FIXTURES / "cases" / "case-13-scrapy-gzip-sitemap-arabic-urls"
LANG = FIXTURES / "language"


def seed_story() -> str:
    """The seed story's body as the clean stage leaves it (title line and credit removed)."""
    lines = (FIXTURES / "corpus" / "seed" / "seed-article.txt").read_text(encoding="utf-8").splitlines()[1:]
    return "\n".join(lines).replace("(EURONEWS)[ads3]", "").strip()


def bbc_text(name: str) -> str:
    return simorgh_text(LANG / name, ("text",))


# --- canonicalize_url ---------------------------------------------------------------------------

def test_case13_sitemap_urls_collapse_to_the_two_expected():
    xml = gzip.decompress((CASE13 / "sitemap.xml.gz").read_bytes())
    locs = etree.fromstring(xml).xpath("//*[local-name()='loc']/text()")
    assert len(locs) == 3 and len(set(locs)) == 3
    expected = re.findall(r"^https://\S+$", (CASE13 / "expected.txt").read_text(encoding="utf-8"), re.M)
    assert expected == ["https://news.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/101",
                        "https://news.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/102"]
    assert sorted({canonicalize_url(u) for u in locs}) == expected


def test_raw_arabic_and_lower_case_percent_encoding_are_one_url():
    # elbaladtv.net's canonical is percent-encoded in lower case (corpus MANIFEST)
    encoded = ("https://elbaladtv.net/%d8%aa%d8%b1%d9%83%d9%89-%d8%a2%d9%84-%d8%a7%d9%84%d8%b4%d9%8a%d8%ae"
               "-%d8%a8%d8%b9%d8%af-%d8%a5%d8%b5%d8%a7%d8%a8%d8%a9-%d9%8a%d8%b3%d8%b1%d8%a7-%d8%a8%d9%83"
               "%d9%88%d8%b1%d9%88%d9%86%d8%a7-%d9%8a%d8%a7/")
    raw = "https://elbaladtv.net/تركى-آل-الشيخ-بعد-إصابة-يسرا-بكورونا-يا/"
    assert canonicalize_url(encoded) == canonicalize_url(raw)
    assert canonicalize_url(raw).startswith("https://elbaladtv.net/%D8%AA%D8%B1%D9%83%D9%89-")


@pytest.mark.parametrize("url, expected", [
    # tracking parameters go, real ones stay, sorted
    ("https://news.example/a?utm_source=tw&utm_medium=social&id=5", "https://news.example/a?id=5"),
    ("https://news.example/a?fbclid=IwAR0x&gclid=abc&ocid=msn&p=2", "https://news.example/a?p=2"),
    ("https://www.bbc.com/arabic/articles/c69dvq19k63o?at_medium=RSS&at_campaign=KARANGA",
     "https://bbc.com/arabic/articles/c69dvq19k63o"),
    ("https://news.example/a?b=2&a=1&pk_campaign=x", "https://news.example/a?a=1&b=2"),
    # AMP markers
    ("https://news.example/2024/story/amp", "https://news.example/2024/story"),
    ("https://news.example/2024/story/amp/", "https://news.example/2024/story"),
    ("https://news.example/amp/2024/story", "https://news.example/2024/story"),
    ("https://news.example/2024/story.amp", "https://news.example/2024/story"),
    ("https://news.example/2024/story.amp.html", "https://news.example/2024/story.html"),
    ("https://news.example/2024/story?amp=1", "https://news.example/2024/story"),
    ("https://news.example/2024/story?outputType=amp", "https://news.example/2024/story"),
    ("https://news.example/champions/ramp-up", "https://news.example/champions/ramp-up"),
    # hosts: case, www./m./amp. prefixes, scheme, ports, fragments, trailing slash
    ("HTTP://WWW.News.Example/A/", "https://news.example/A"),
    ("https://m.akhbarelyom.com/news/newdetails/3126898/1/x/amp", "https://akhbarelyom.com/news/newdetails/3126898/1/x"),
    ("https://amp.news.example/x", "https://news.example/x"),
    ("https://www2.news.example/x", "https://news.example/x"),
    ("https://news.example:443/x#comments", "https://news.example/x"),
    ("http://news.example:80/x", "https://news.example/x"),
    ("https://news.example:8443/x", "https://news.example:8443/x"),
    ("https://www.co/x", "https://www.co/x"),           # "co" alone is not a site
    ("https://news.example", "https://news.example/"),
    ("  https://news.example/x  ", "https://news.example/x"),
])
def test_canonicalize_url(url, expected):
    assert canonicalize_url(url) == expected


@pytest.mark.parametrize("bad", ["", "/relative/path", "ftp://news.example/x", "mailto:a@b.example",
                                 "https:///nohost"])
def test_canonicalize_url_rejects_non_http_urls(bad):
    with pytest.raises(ValueError):
        canonicalize_url(bad)


def test_document_id_is_stable_and_distinct():
    canonical = "https://news.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/101"
    # archived ids must never change: this value is pinned
    assert document_id(canonical) == "ff4835e89ac1e28f695e2653595199ae"
    assert document_id(canonical.replace("101", "102")) != document_id(canonical)


# --- the page's canonical: trusted only on the same registered domain --------------------------

def _meta_url(page: str) -> tuple[str | None, str | None]:
    host, _, rest = page.partition("_htmldate_")
    doc = html.fromstring((FIXTURES / "corpus" / "pages" / host / f"htmldate_{rest}").read_text(encoding="utf-8"))
    link = doc.xpath("string(//link[@rel='canonical']/@href)") or None
    og = doc.xpath("string(//meta[@property='og:url']/@content)") or None
    return link, og


def test_raw_ip_canonical_is_not_trusted():
    fetched = ("https://www.almadenahnews.com/article/825076-%D8%A3%D9%85%D9%8A%D8%B1%D9%83%D8%A7-50-"
               "%D8%A7%D9%84%D9%81%D8%A7-%D8%AD%D8%B5%D9%8A%D9%84%D8%A9-%D8%A7%D9%84%D9%88%D9%81%D9%8A"
               "%D8%A7%D8%AA-%D8%A8%D8%B3%D8%A8%D8%A8-%D9%81%D9%8A%D8%B1%D9%88%D8%B3-%D9%83%D9%88%D8%B1"
               "%D9%88%D9%86%D8%A7")
    link, og = _meta_url("almadenahnews.com_htmldate_1588107198.html")
    assert og.startswith("https://52.16.95.170/")
    assert choose_canonical(fetched, og) == canonicalize_url(fetched)
    # the <link rel=canonical> of the same page is on the site (raw Arabic) and is used
    assert link.startswith("https://www.almadenahnews.com/")
    assert choose_canonical(fetched, link) == canonicalize_url(fetched)


def test_relative_canonical_is_resolved_against_the_page():
    fetched = "http://www.aryanews.com/News/120200622120908039/ورود-50-هزار-میلیارد-تومان-نقدینگی-به-بورس-در-3-ماه"
    _, og = _meta_url("aryanews.com_htmldate_1641304459.html")
    assert og.startswith("/News/120200622120908039/")
    assert choose_canonical(fetched, og) == canonicalize_url("https://aryanews.com" + og)


def test_canonical_on_another_site_or_broken_is_ignored():
    fetched = "https://akhbar.example/2024/01/28/story"
    assert choose_canonical(fetched, "https://arabic.euronews.com/2024/01/27/x") == canonicalize_url(fetched)
    assert choose_canonical(fetched, "javascript:void(0)") == canonicalize_url(fetched)
    assert choose_canonical(fetched, None) == canonicalize_url(fetched)
    # a sub-domain of the same site is the same site
    assert choose_canonical("https://www.bbc.com/arabic/x", "https://bbc.co.uk/arabic/x") == "https://bbc.com/arabic/x"
    assert choose_canonical("https://arabic.cnn.com/a?ref=1", "https://edition.cnn.com/a") == "https://edition.cnn.com/a"


# --- content_hash --------------------------------------------------------------------------------

def test_trivially_different_copies_hash_equal():
    original = seed_story()
    assert "مسئولين" in original
    copy = (original.replace("مسئولين", "مسؤولين")       # other hamza seat
            .replace("العراق", "العـراق")                 # tatweel
            .replace("الولايات المتحدة", "الولاياتُ المتحدةُ")  # tashkeel
            .replace("2500", "٢٥٠٠")                      # Arabic-Indic digits
            .replace("، ", " ,  ")                        # punctuation and spacing
            .replace("\n", "\n\n"))
    assert copy != original
    assert content_hash(copy) == content_hash(original)
    assert content_hash(original.replace("2500", "2600")) != content_hash(original)


def test_hash_shape():
    h = content_hash("نص")
    assert re.fullmatch(r"[0-9a-f]{32}", h)


# --- SeenStore -------------------------------------------------------------------------------------

def _article(url: str, outlet: str, text: str, **kw) -> Article:
    return Article(url=url, outlet=outlet, text=text, **kw)


def test_store_persists_across_close_and_reopen(tmp_path):
    path = tmp_path / "state" / "seen.sqlite"
    store = SeenStore(path)
    first = _article("https://www.akhbar.example/a/1?utm_source=rss", "akhbar", seed_story())
    assert dedup(first, store).outcome == "new"
    store.mark_url(canonicalize_url("https://akhbar.example/stub"), "akhbar", "skipped/too_little_text")
    store.close()
    store.close()  # idempotent

    with SeenStore(path) as again:
        assert again.seen_url("https://akhbar.example/a/1")
        assert again.is_known_url("http://akhbar.example/a/1/#top")
        assert again.is_known_url("https://m.akhbar.example/stub")       # skipped URLs stay known
        assert not again.is_known_url("https://akhbar.example/a/2")
        assert not again.is_known_url("not a url")
        assert again.find_url("https://akhbar.example/stub") is None      # …but lead to no article
        match = again.find_content(content_hash(seed_story()))
        assert (match.id, match.outlet, match.url) == (first.id, "akhbar", "https://akhbar.example/a/1")
        assert again.counts() == {"articles": 1, "urls": 2}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_refuses_other_schema_versions_and_non_databases(tmp_path):
    path = tmp_path / "seen.sqlite"
    SeenStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SeenStoreError, match="schema version 99"):
        SeenStore(path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(SeenStoreError, match="cannot open"):
        SeenStore(junk)


def test_add_needs_dedup_first():
    with SeenStore(":memory:") as store, pytest.raises(ValueError, match="run dedup"):
        store.add(_article("https://akhbar.example/1", "akhbar", "x"))


# --- dedup -------------------------------------------------------------------------------------------

def test_same_text_under_two_urls_of_one_outlet_is_a_duplicate():
    store = SeenStore(":memory:")
    first = _article("https://akhbar.example/2024/01/28/story", "akhbar", seed_story())
    second = _article("https://akhbar.example/news/98765", "akhbar", seed_story() + "\n")
    assert dedup(first, store).outcome == "new"
    decision = dedup(second, store)
    assert (decision.outcome, decision.matched_by) == ("duplicate", "content")
    assert decision.duplicate_of == first.id == document_id("https://akhbar.example/2024/01/28/story")
    assert second.duplicate_of == first.id
    assert store.is_known_url("https://akhbar.example/news/98765")  # not fetched again next run
    assert store.counts()["articles"] == 1


def test_same_text_at_another_outlet_is_syndicated_and_linked_to_the_first():
    store = SeenStore(":memory:")
    original = _article("https://arabic.euronews.com/2024/01/27/iraq-us-talks-end-coalition-mission",
                        "euronews_arabic", seed_story())
    copy = _article("https://akhbar.example/2024/01/28/%d9%85%d8%b3%d8%a4%d9%88%d9%84%d9%88%d9%86/",
                    "akhbar", seed_story().replace("مسئولين", "مسؤولين"))
    third = _article("https://other.example/x", "other", seed_story())
    assert dedup(original, store).outcome == "new"
    decision = dedup(copy, store)
    assert decision.outcome == "syndicated"
    assert copy.duplicate_of == decision.duplicate_of == original.id
    assert copy.id == document_id(canonicalize_url(copy.url)) != original.id
    assert dedup(third, store).duplicate_of == original.id  # always the first, not the copy
    # the aggregator republishing its copy under a second URL: a duplicate of its own copy
    again = _article("https://akhbar.example/amp/2024/01/28/story-2", "akhbar", seed_story())
    decision = dedup(again, store)
    assert (decision.outcome, decision.duplicate_of) == ("duplicate", copy.id)
    assert store.counts()["articles"] == 3


def test_original_fetched_after_its_copy_becomes_the_original():
    # the replay crawl meets the aggregator's copy (published 28 Jan) before Euronews (27 Jan)
    store = SeenStore(":memory:")
    copy = _article("https://akhbar.example/2024/01/28/story", "akhbar", seed_story(),
                    published_at=datetime(2024, 1, 28, 6, 12, 44, tzinfo=timezone.utc))
    original = _article("https://arabic.euronews.com/2024/01/27/iraq-us-talks-end-coalition-mission",
                        "euronews_arabic", seed_story(),
                        published_at=datetime(2024, 1, 27, 13, 5, tzinfo=timezone.utc))
    assert dedup(copy, store).outcome == "new"
    decision = dedup(original, store)
    assert (decision.outcome, decision.duplicate_of, decision.relinked) == ("new", None, (copy.id,))
    assert original.duplicate_of is None
    # later copies point at the real original, not at the first one fetched
    late = _article("https://other.example/x", "other", seed_story())
    assert (dedup(late, store).outcome, late.duplicate_of) == ("syndicated", original.id)
    assert store.find_content(content_hash(seed_story())).id == original.id


def test_copy_without_a_date_is_never_promoted_to_original():
    store = SeenStore(":memory:")
    first = _article("https://a.example/1", "a", seed_story(),
                     published_at=datetime(2024, 1, 28, tzinfo=timezone.utc))
    undated = _article("https://b.example/1", "b", seed_story())
    dedup(first, store)
    assert (dedup(undated, store).outcome, undated.duplicate_of) == ("syndicated", first.id)


def test_same_canonical_url_is_a_duplicate_even_with_new_text():
    store = SeenStore(":memory:")
    first = _article("https://news.example/ar/أخبار/101", "news", seed_story())
    assert dedup(first, store).outcome == "new"
    updated = _article("https://news.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/101?utm_source=x",
                       "news", "نص محدث " * 30)
    decision = dedup(updated, store)
    assert (decision.outcome, decision.matched_by, decision.duplicate_of) == ("duplicate", "url", first.id)


def test_page_canonical_and_fetched_url_both_lead_to_the_article():
    store = SeenStore(":memory:")
    article = _article("https://www.yjc.ir/fa/news/7349926/long-slug", "yjc", seed_story(),
                       canonical_url="http://www.yjc.ir/fa/news/7349926")
    dedup(article, store)
    assert article.canonical_url == "https://yjc.ir/fa/news/7349926"
    assert article.id == document_id("https://yjc.ir/fa/news/7349926")
    assert store.is_known_url("https://www.yjc.ir/fa/news/7349926/long-slug")   # as a sitemap lists it
    assert store.is_known_url("https://www.yjc.ir/fa/news/7349926")


def test_short_texts_are_not_matched_by_content():
    store = SeenStore(":memory:")
    boilerplate = "شاهد الفيديو"
    assert len(boilerplate) < MIN_CONTENT_CHARS
    assert dedup(_article("https://tv.example/v/1", "tv", boilerplate), store).outcome == "new"
    assert dedup(_article("https://tv.example/v/2", "tv", boilerplate), store).outcome == "new"


def test_near_duplicates_are_left_to_a_later_stage():
    # BBC Arabic live and test copies of one story: one paragraph cut short, so not an exact copy
    store = SeenStore(":memory:")
    live = _article("https://www.bbc.com/arabic/articles/c8j91j2ljppo", "bbc_arabic",
                    bbc_text("bbc_arabic_simorgh_articles_c8j91j2ljppo.json"))
    test = _article("https://www.bbc.com/arabic/articles/clr0em3yzkmo", "bbc_arabic",
                    bbc_text("bbc_arabic_simorgh_articles_clr0em3yzkmo.json"))
    assert dedup(live, store).outcome == "new"
    assert dedup(test, store).outcome == "new"


# --- the Scrapy stage --------------------------------------------------------------------------------

class Chain:
    """The crawl's commit chain as Scrapy runs it: dedup → stories → archive, one crawler."""

    def __init__(self, tmp_path):
        from rasd.pipelines.archive import ArchivePipeline
        from rasd.pipelines.stories import StoryPipeline

        self.crawler = get_crawler(settings_dict={"RASD_DATA_DIR": str(tmp_path / "data")})
        self.dedup = DedupPipeline.from_crawler(self.crawler)
        self.stages = [self.dedup, StoryPipeline.from_crawler(self.crawler),
                       ArchivePipeline.from_crawler(self.crawler)]
        self.dedup.open_spider(scrapy.Spider(name="t"))

    def run(self, item, until: int | None = None):
        for stage in self.stages[:until]:
            item = stage.process_item(item)
        return item

    def close(self):
        for stage in reversed(self.stages):
            stage.close_spider()


def _chain(tmp_path) -> Chain:
    return Chain(tmp_path)


def test_pipeline_drops_duplicates_with_counted_outcome(tmp_path):
    chain = _chain(tmp_path)
    crawler, pipeline = chain.crawler, chain.dedup
    assert pipeline.store.path == str(tmp_path / "data" / "seen.sqlite")
    first = _article("https://akhbar.example/1", "akhbar", seed_story())
    assert chain.run(first) is first
    with pytest.raises(Skip) as raised:
        chain.run(_article("https://akhbar.example/2", "akhbar", seed_story()))
    assert raised.value.outcome == "duplicate"
    kept = chain.run(_article("https://other.example/9", "other", seed_story()))
    assert kept.duplicate_of == first.id
    stats = {k: v for k, v in crawler.stats.get_stats().items() if not k.startswith("rasd/stories/")}
    assert stats == {
        "rasd/outcome/akhbar/duplicate": 1,
        "rasd/dedup/duplicate_content": 1,
        "rasd/dedup/syndicated": 1,
        "rasd/outcome/akhbar/archived": 1,
        "rasd/outcome/other/archived": 1,
        "rasd/archived_syndicated/other": 1,
    }
    chain.close()
    # a second run never refetches: the next crawl's pipeline (and spider) know the URLs
    again = _chain(tmp_path)
    assert again.dedup.is_known_url("https://www.akhbar.example/1")
    assert again.dedup.is_known_url("https://akhbar.example/2")
    again.close()


def test_pipeline_remembers_skipped_and_retries_what_was_not_archived(tmp_path):
    chain = _chain(tmp_path)
    crawler, pipeline = chain.crawler, chain.dedup
    spider = scrapy.Spider(name="t")

    def dropped(item, outcome):
        crawler.signals.send_catch_log(signals.item_dropped, item=item, response=None,
                                       exception=Skip(outcome), spider=spider)

    # dropped by an earlier stage as skipped: remembered, never fetched again
    dropped(_article("https://akhbar.example/stub", "akhbar", "قصير"), "skipped/too_little_text")
    # dropped by an earlier stage as failed: not remembered, retried next run
    dropped(_article("https://akhbar.example/broken", "akhbar", ""), "failed/extract_error")
    # passed dedup, then the archive failed: never recorded (only archived articles are)
    archived_later = _article("https://akhbar.example/3", "akhbar", seed_story())
    chain.run(archived_later, until=2)
    assert not pipeline.is_known_url("https://akhbar.example/3")
    assert pipeline.ledger.lock.held  # dedup → archive hold the data directory's lock …
    dropped(archived_later, "failed/archive_write")
    assert not pipeline.ledger.lock.held  # … released when the item is dropped
    # passed dedup, then an unexpected exception in a later stage: not recorded either
    crashed = _article("https://akhbar.example/4", "akhbar", seed_story() + " إضافة")
    chain.run(crashed, until=2)
    crawler.signals.send_catch_log(signals.item_error, item=crashed, response=None, spider=spider,
                                   failure=None)
    assert not pipeline.ledger.lock.held
    chain.close()

    next_run = _chain(tmp_path)
    assert next_run.dedup.is_known_url("https://akhbar.example/stub")
    assert not next_run.dedup.is_known_url("https://akhbar.example/broken")
    assert not next_run.dedup.is_known_url("https://akhbar.example/3")
    assert not next_run.dedup.is_known_url("https://akhbar.example/4")
    # and the retried article is new again, archived once, then known
    assert next_run.run(_article("https://akhbar.example/3", "akhbar", seed_story())).id
    assert next_run.dedup.is_known_url("https://akhbar.example/3")
    next_run.close()


def test_archived_line_not_applied_is_applied_by_the_next_writer(tmp_path):
    """A process killed between the archive write and the seen-store commit leaves a line the
    store has not applied: the next process applies it before deciding (no loss, no refetch)."""
    from rasd.core.archive import ArchiveWriter
    from rasd.pipelines.ledger import Ledger

    chain = _chain(tmp_path)
    first = chain.run(_article("https://akhbar.example/10", "akhbar", seed_story()))
    chain.close()
    # what a killed writer leaves: the line is durable, the stores never heard of it
    orphan = _article("https://akhbar.example/11", "akhbar", seed_story() + " خبر آخر مختلف " * 20)
    from rasd.pipelines.dedup import decide

    with SeenStore(":memory:") as scratch:
        decide(orphan, scratch)
    ledger = Ledger(tmp_path / "data")
    ledger.lock.acquire()
    ledger.lock.declare([f"{orphan.fetched_at:%Y-%m-%d}.jsonl"])
    ArchiveWriter(tmp_path / "data" / "archive").write(orphan)
    ledger.lock.close()  # dies without applying

    again = _chain(tmp_path)
    assert again.dedup.is_known_url("https://akhbar.example/11")
    assert again.dedup.is_known_url("https://akhbar.example/10")
    assert again.dedup.store.find_url(canonicalize_url("https://akhbar.example/11")).id == orphan.id
    assert first.id != orphan.id
    again.close()


def test_pipeline_fails_an_item_with_an_unusable_url(tmp_path):
    chain = _chain(tmp_path)
    with pytest.raises(Skip) as raised:
        chain.run(_article("about:blank", "akhbar", seed_story()))
    assert raised.value.outcome == "failed/bad_url"
    assert chain.crawler.stats.get_value("rasd/outcome/akhbar/failed/bad_url") == 1
    assert not chain.dedup.ledger.lock.held
    chain.close()
