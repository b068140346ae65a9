"""Tests for pipelines/extract.py: cases 01, 02, 04, metadata rules, fallbacks and the wrapper."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
import trafilatura
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from rasd.pipelines.base import Skip, outcome_key
from rasd.crawler.settings import scrapy_settings
from rasd.pipelines.extract import (EXTRACT_TIMEOUT_SECONDS,
    MAX_PAGE_ELEMENTS,
    ExtractError,
    ExtractPipeline,
    TooComplex,
    count_elements,
    extract_article)
from rasd.core.errors import ConfigError
from rasd.core.seeds import ExtractionHints
from rasd.core.settings import load_settings
from tests.pipelines._corpus import FIXTURES, article_for, case_html

PARAS = [
    "أعلنت وزارة الصحة اليوم عن إطلاق حملة وطنية جديدة للتطعيم تستهدف الأطفال في جميع المحافظات خلال الأسابيع المقبلة.",
    "وقال المتحدث باسم الوزارة إن الحملة ستشمل أكثر من مليون طفل وستنفذ بالتعاون مع المنظمات الدولية والجمعيات الأهلية.",
    "وأضاف أن الفرق الطبية ستزور المدارس والمراكز الصحية في القرى النائية لضمان وصول اللقاح إلى جميع الفئات المستهدفة.",
]


def page(head: str = "", body: str = "", lang: str = "ar", h1: str = "") -> str:
    paras = "".join(f"<p>{p}</p>" for p in PARAS)
    return (f'<html lang="{lang}"><head><meta charset="utf-8">{head}</head><body><div class="post">{h1}{body}'
            f"<article>{paras}</article></div></body></html>")


# ---------------------------------------------------------------------------- cases


def test_case01_reader_comments_are_not_article_text():
    a = extract_article(article_for(case_html("case-01-trafilatura-comments-default")))
    assert "أعلنت وزارة الصحة اليوم" in a.text
    assert "ودعت الوزارة أولياء الأمور" in a.text
    assert "تعليق" not in a.text
    assert a.extractor == "trafilatura"


def test_case01_title_is_the_h1_not_the_title_with_site_name():
    a = extract_article(article_for(case_html("case-01-trafilatura-comments-default")))
    assert a.title == "حملة تطعيم وطنية جديدة"  # <title> is "حملة تطعيم وطنية - جريدة المثال"
    assert a.site_name == "جريدة المثال"
    assert not a.text.startswith(a.title)  # the headline is not repeated as the first paragraph


@pytest.mark.parametrize("closing", ["</h3>", "</h2>"])
def test_case02_title_never_from_language_menu(closing):
    html = case_html("case-02-trafilatura-title-malformed-heading").replace("بلغات أخرى</h3>", f"بلغات أخرى{closing}")
    a = extract_article(article_for(html))
    assert a.title == "حملة تطعيم وطنية جديدة"
    assert "بلغات أخرى" not in a.title and "Une campagne" not in a.title


def test_case04_arabic_byline_prefix_stripped():
    a = extract_article(article_for(case_html("case-04-trafilatura-author-byline-prefix")))
    assert a.author == "سارة أحمد"


@pytest.mark.parametrize(
    "byline, expected",
    [
        ("بقلم: سارة أحمد", "سارة أحمد"),
        ("كتب - محمد علي", "محمد علي"),
        ("كتبت: منى حسن", "منى حسن"),
        ("بواسطة خالد يوسف", "خالد يوسف"),
        ("إعداد: ليلى سمير", "ليلى سمير"),
        ("By Sara Ahmed", "Sara Ahmed"),
        ("مراسلنا: عمر فاروق", "عمر فاروق"),  # outlet hint
        ("بقلم المحرر", None),  # staff label, not a name
        ("https://www.facebook.com/someone", None),
        ("نشر في 12 مارس 2023", None),
    ],
)
def test_byline_variants(byline, expected):
    hints = ExtractionHints(author_prefixes=["مراسلنا"])
    html = page(h1="<h1>حملة التطعيم</h1>", body=f'<div class="author">{byline}</div>')
    assert extract_article(article_for(html), hints).author == expected


def test_jsonld_person_author_wins_and_organisation_is_not_an_author():
    ld = {"@type": "NewsArticle", "headline": "عنوان", "author": [{"@type": "Organization", "name": "وكالة"},
                                                                {"@type": "Person", "name": "بقلم: هدى كمال"}]}
    html = page(head=f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>')
    assert extract_article(article_for(html)).author == "هدى كمال"


# ---------------------------------------------------------------------------- titles and metadata


@pytest.mark.parametrize(
    "head, h1, expected",
    [
        ('<meta property="og:title" content="خبر مهم جدا - أخبار المثال"><meta property="og:site_name" content="أخبار المثال">',
         "", "خبر مهم جدا"),
        ("<title>خبر مهم جدا | BBC News عربي</title>", "", "خبر مهم جدا"),  # hints.title_suffixes
        ("<title>المدينة نيوز - خبر مهم جدا اليوم</title>", "<h1>خبر مهم جدا اليوم</h1>", "خبر مهم جدا اليوم"),
        ('<meta property="og:title" content="خبر مهم جدا اليوم">', '<h1>خبر "مهم" جدا اليوم</h1>', 'خبر "مهم" جدا اليوم'),
        ("<title>خبر - مهم - جدا - news.example.com</title>", "", "خبر - مهم - جدا"),
    ],
)
def test_title_site_affixes(head, h1, expected):
    hints = ExtractionHints(title_suffixes=[" | BBC News عربي"])
    assert extract_article(article_for(page(head=head, h1=h1)), hints).title == expected


def test_metadata_fields_absolute_and_declared_language():
    head = ('<meta property="og:image" content="/img/a.jpg"><link rel="canonical" href="/story/1?x=1">'
            '<meta property="og:description" content="وصف الخبر"><meta property="og:locale" content="ar_AR">')
    a = extract_article(article_for(page(head=head, lang=""), url="https://news.example/section/page.html"))
    assert a.image == "https://news.example/img/a.jpg"
    assert a.canonical_url == "https://news.example/story/1?x=1"
    assert a.description == "وصف الخبر"
    assert a.declared_language == "ar"


def test_declared_language_set_by_spider_is_kept():
    a = extract_article(article_for(page(lang="en"), declared_language="fa"))
    assert a.declared_language == "fa"


def test_canonical_defaults_to_page_url():
    a = extract_article(article_for(page(), url="https://news.example/a/7"))
    assert a.canonical_url == "https://news.example/a/7"


# ---------------------------------------------------------------------------- fallbacks


def test_jsonld_article_body_fallback():
    """Less than ``min_chars`` from trafilatura (forced here with a high threshold): a longer
    JSON-LD articleBody is taken, and the extractor says so."""
    body = " ".join(["هذا نص كامل من بيانات الصفحة المنظمة عن الخبر."] * 12)
    ld = json.dumps({"@type": "NewsArticle", "articleBody": body}, ensure_ascii=False)
    a = extract_article(article_for(page(head=f'<script type="application/ld+json">{ld}</script>')), min_chars=5000)
    assert (a.extractor, a.text) == ("jsonld", body)


def test_baseline_fallback_when_trafilatura_finds_little():
    """No JSON-LD, and the whole story sits in a block trafilatura prunes (here a CMS class
    "comments"): trafilatura keeps only the headline, its baseline finds the paragraphs."""
    html = "<html><body><h1>عنوان</h1><div class='comments'>" + "".join(f"<p>{p}</p>" for p in PARAS) + "</div></body></html>"
    a = extract_article(article_for(html))
    assert a.extractor == "baseline"
    assert all(p in a.text for p in PARAS)


def test_enough_text_stays_trafilatura():
    a = extract_article(article_for(page()), min_chars=100)
    assert a.extractor == "trafilatura"
    assert a.text.split("\n") == PARAS


def test_unparseable_html_raises_extract_error():
    with pytest.raises(ExtractError):
        extract_article(article_for("   "))


# ---------------------------------------------------------------------------- the Scrapy wrapper
# Inline (workers=0) here; the same outcomes through real worker processes are in test_workers.py.


def stats():
    return MemoryStatsCollector(get_crawler())


def run(stage, item, spider=None):
    """``stage.process_item`` (a coroutine) to completion."""
    return asyncio.run(stage.process_item(item, spider if spider is not None else SimpleNamespace()))


@pytest.mark.parametrize(
    "html, outcome",
    [
        ("", "skipped/empty_body"),
        (" \n\t ", "skipped/empty_body"),
        ("<html><body><p>قصير</p></body></html>", "skipped/too_little_text"),
        ("\x00\x01\x02\xff\xfe PNG \x89\x1a" * 50, "failed/extract_error"),  # binary: not HTML at all
        ("<html><body><div><p>unclosed <b>tags <i>" + "&#0;" * 20, "skipped/too_little_text"),
        ("<html><body>" + "<p>سطر</p>" * 60 + "</body></html>", "skipped/too_complex"),  # over max_elements=50
    ],
)
def test_wrapper_counts_bad_pages(html, outcome):
    s = stats()
    stage = ExtractPipeline(stats=s, workers=0, max_elements=50)
    item = article_for(html, outlet="akhbar")
    with pytest.raises(Skip) as info:
        run(stage, item)
    assert info.value.outcome == outcome
    assert s.get_stats() == {outcome_key("akhbar", outcome): 1}


def test_wrapper_counts_extract_errors():
    s = stats()
    item = article_for(page(), outlet="akhbar")
    item.html = 12345  # a spider bug: must be counted, not crash the crawl
    with pytest.raises(Skip) as info:
        run(ExtractPipeline(stats=s, workers=0), item)
    assert info.value.outcome == "failed/extract_error"
    assert s.get_value(outcome_key("akhbar", "failed/extract_error")) == 1


def test_wrapper_passes_good_pages_and_uses_outlet_hints():
    outlet = SimpleNamespace(extraction=ExtractionHints(title_suffixes=[" - جريدة المثال"]))
    spider = SimpleNamespace(outlets={"mithal": outlet})
    item = article_for(page(head="<title>حملة التطعيم الكبرى - جريدة المثال</title>"), outlet="mithal")
    s = stats()
    assert run(ExtractPipeline(stats=s, min_chars=100, workers=0), item, spider) is item
    assert item.title == "حملة التطعيم الكبرى"
    assert s.get_stats() == {}


def test_wrapper_options_from_settings():
    crawler = get_crawler(settings_dict={"RASD_MIN_TEXT_CHARS": 1000, "RASD_MAX_PAGE_ELEMENTS": 0,
                                         "RASD_EXTRACT_TIMEOUT_SECONDS": 7.5, "RASD_EXTRACT_WORKERS": 0})
    stage = ExtractPipeline.from_crawler(crawler)
    assert (stage.min_chars, stage.max_elements, stage.timeout, stage.pool) == (1000, None, 7.5, None)
    default = ExtractPipeline.from_crawler(get_crawler())
    assert (default.max_elements, default.timeout) == (MAX_PAGE_ELEMENTS, EXTRACT_TIMEOUT_SECONDS)
    assert default.pool is not None and not default.pool.started  # starts with the first page


def test_scrapy_settings_carry_the_extraction_budget(monkeypatch):
    monkeypatch.setenv("RASD_CRAWL__EXTRACT_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("RASD_CRAWL__EXTRACT_WORKERS", "0")
    out = scrapy_settings(load_settings())
    assert out["RASD_EXTRACT_TIMEOUT_SECONDS"] == 3 and out["RASD_EXTRACT_WORKERS"] == 0
    assert out["RASD_MAX_PAGE_ELEMENTS"] == MAX_PAGE_ELEMENTS and out["RASD_EXTRACT_MEMORY_MB"] == 1024
    monkeypatch.setenv("RASD_CRAWL__EXTRACT_MEMORY_MB", "100")
    with pytest.raises(ConfigError, match="extract_memory_mb"):
        load_settings()


# ---------------------------------------------------------------------------- element budget


def test_element_budget_is_checked_before_trafilatura():
    html = "<html><body><div>" + "<p>نص قصير</p>" * 500 + "</div></body></html>"
    assert count_elements(trafilatura.load_html(html)) == 503  # html, body, div + 500 p
    with pytest.raises(TooComplex, match="503 elements, over the budget of 502"):
        extract_article(article_for(html), max_elements=502)
    assert extract_article(article_for(html), max_elements=503).text  # at the budget: extracted


def test_corpus_pages_are_far_below_the_element_budget():
    """Every recorded page (real Arabic/Persian news pages) has under a tenth of the budget."""
    counts = {p.name: count_elements(trafilatura.load_html(p.read_bytes()))
              for p in (FIXTURES / "corpus").rglob("*.htm*")}
    assert len(counts) >= 20
    assert max(counts.values()) < MAX_PAGE_ELEMENTS / 10, sorted(counts.items(), key=lambda kv: -kv[1])[:3]
