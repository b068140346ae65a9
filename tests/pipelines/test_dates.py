"""Tests for pipelines/dates.py: date strings from feeds, sitemaps and pages (parse_date_text),
and the choice of an article's published_at (resolve_published_at, DatesPipeline)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
import trafilatura
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from rasd.pipelines.dates import DatesPipeline, htmldate_candidate, resolve_published_at
from rasd.core.datetext import parse_date_text
from rasd.core.errors import ConfigError
from tests.pipelines._corpus import CASES, FETCHED_AT, article_for, case_html, run_stages


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_case14_feed_pubdates_arabic_and_english():
    """case 14: both pubDate strings of feed.xml are 2023-03-12 07:30 UTC."""
    xml = (CASES / "case-14-feedparser-arabic-pubdate" / "feed.xml").read_text(encoding="utf-8")
    pubdates = re.findall(r"<pubDate>(.*?)</pubDate>", xml)
    assert len(pubdates) == 2 and "مارس" in pubdates[0]
    for raw in pubdates:
        assert parse_date_text(raw) == utc(2023, 3, 12, 7, 30), raw


@pytest.mark.parametrize(
    "text, expected",
    [
        # RFC 822, English and Arabic names, zone names and offsets
        ("Sun, 12 Mar 2023 07:30:00 GMT", utc(2023, 3, 12, 7, 30)),
        ("الأحد، 12 مارس 2023 07:30:00 GMT", utc(2023, 3, 12, 7, 30)),
        ("Tue, 13 Feb 2018 10:22:00 +0000", utc(2018, 2, 13, 10, 22)),
        ("Sun, 18 Feb 2018 21:35:43 +0400", utc(2018, 2, 18, 17, 35, 43)),
        ("Sun, 16 Mar 2014 10:00:00 -0400", utc(2014, 3, 16, 14, 0)),
        ("March 12, 2023 5:00 PM EST", utc(2023, 3, 12, 22, 0)),
        ("12 مارس 2023 10:30 GMT+3", utc(2023, 3, 12, 7, 30)),
        # ISO 8601
        ("2023-03-12T10:30:00+03:00", utc(2023, 3, 12, 7, 30)),
        ("2023-03-12T07:30:00Z", utc(2023, 3, 12, 7, 30)),
        ("2023-03-12T07:30:00.250Z", utc(2023, 3, 12, 7, 30)),
        ("2017-02-25T13:41:00+01:00", utc(2017, 2, 25, 12, 41)),
        ("2023-03-12", utc(2023, 3, 12)),
        # page prefixes (case 05) and Arabic-Indic / Persian digits
        ("نشر في 12 مارس 2023", utc(2023, 3, 12)),
        ("نشر بتاريخ ١٢ مارس ٢٠٢٣", utc(2023, 3, 12)),
        ("نُشر في: ۱۲ مارس ۲۰۲۳", utc(2023, 3, 12)),
        ("آخر تحديث: 12 آذار 2023 - 10:30 ص", utc(2023, 3, 12, 10, 30)),
        ("نشر في 12 مارس 2023 | آخر تحديث 14 مارس 2023", utc(2023, 3, 12)),
        ("Published on 12 March 2023", utc(2023, 3, 12)),
        # Levantine and Maghreb month names
        ("12 كانون الثاني 2023", utc(2023, 1, 12)),
        ("3 كانون الأول 2023", utc(2023, 12, 3)),
        ("9 تشرين الثاني 2022", utc(2022, 11, 9)),
        ("12 آذار/مارس 2023", utc(2023, 3, 12)),
        ("12 جانفي 2023", utc(2023, 1, 12)),
        ("5 أوت 2021", utc(2021, 8, 5)),
        ("1 جويلية 2020", utc(2020, 7, 1)),
        ("السبت 4 فيفري 2017", utc(2017, 2, 4)),
        ("20 أفريل 2019", utc(2019, 4, 20)),
        # numeric, day first
        ("12/03/2023", utc(2023, 3, 12)),
        ("26/05/2014", utc(2014, 5, 26)),
        ("03/25/2023", utc(2023, 3, 25)),  # month first only when day-first is impossible
        ("2023/3/12 10:30 م", utc(2023, 3, 12, 22, 30)),
        # Hijri (case 07)
        ("الثلاثاء 20 رمضان 1444 هـ الموافق 11 أبريل 2023", utc(2023, 4, 11)),
        ("الثلاثاء 20 رمضان 1444 هـ", utc(2023, 4, 11)),
        ("20/09/1444 هـ", utc(2023, 4, 11)),
        ("1 رمضان 1444", utc(2023, 3, 23)),
    ],
)
def test_parse_date_text(text, expected):
    got = parse_date_text(text)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "text",
    ["", "2023", "مارس 2023", "March 2023", "12 مارس", "نشر في", "garbage", "31/02/2023", "20 رمضان 1200 هـ"],
)
def test_parse_date_text_incomplete_is_none(text):
    """No day, no year or an impossible date: None, never 1 January."""
    assert parse_date_text(text) is None


# ---------------------------------------------------------------------------- choosing published_at


CASE05 = "case-05-htmldate-arabic-prefix-script-date"
CASE07 = "case-07-htmldate-hijri-with-gregorian"


def case05_variants() -> dict[str, str]:
    """The four variants of case 05's run.py."""
    html = case_html(CASE05)
    noscript = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    return {
        "A script + Arabic prefix": html,
        "B no script + Arabic prefix": noscript,
        "C script, no prefix": html.replace("نشر في ", ""),
        "D English prefix": noscript.replace("نشر في 12 مارس 2023", "Published on 12 March 2023"),
    }


@pytest.mark.parametrize("variant", sorted(case05_variants()))
def test_case05_all_variants_through_the_page_path(variant):
    a = run_stages(article_for(case05_variants()[variant]))
    assert a.published_at == utc(2023, 3, 12)  # not 2019-05-01 (script), not 2023-01-01 (year guess)
    assert a.published_at_source == "page_text"


@pytest.mark.parametrize(
    "line",
    ["الثلاثاء 20 رمضان 1444 هـ الموافق 11 أبريل 2023", "الثلاثاء 20 رمضان 1444 هـ"],
)
def test_case07_hijri_variants_through_the_page_path(line):
    html = case_html(CASE07)
    assert "الثلاثاء 20 رمضان 1444 هـ الموافق 11 أبريل 2023" in html
    a = run_stages(article_for(html.replace("الثلاثاء 20 رمضان 1444 هـ الموافق 11 أبريل 2023", line)))
    assert a.published_at == utc(2023, 4, 11)
    assert a.published_at_source == "page_text"


def test_year_only_page_gives_none_with_reason():
    """Case 05 B with the day removed: htmldate would say 2023-01-01; Rasd says it has no date."""
    html = case05_variants()["B no script + Arabic prefix"].replace("نشر في 12 مارس 2023", "نشر في مارس 2023")
    a = run_stages(article_for(html))
    assert (a.published_at, a.published_at_reason) == (None, "only_year_found")


def test_no_date_at_all():
    a = run_stages(article_for("<html><body><h1>عنوان</h1><p>نص قصير بلا تاريخ.</p></body></html>"))
    assert (a.published_at, a.published_at_source, a.published_at_reason) == (None, None, "no_date_found")


def test_preference_order():
    cands = [("page_text", "نشر في 10 مارس 2023"), ("meta", "2023-03-11T08:00:00Z"), ("jsonld", "2023-03-12T09:00:00+03:00")]
    a = resolve_published_at(article_for("", date_candidates=cands))
    assert (a.published_at, a.published_at_source) == (utc(2023, 3, 12, 6), "jsonld")
    a = resolve_published_at(article_for("", feed_published_at=utc(2023, 3, 9, 5), date_candidates=cands))
    assert (a.published_at, a.published_at_source) == (utc(2023, 3, 9, 5), "feed")
    a = resolve_published_at(article_for("", feed_url="https://x.example/sitemap-news.xml",
                                         feed_published_at=utc(2023, 3, 9, 5)), cands)
    assert a.published_at_source == "sitemap"


def test_unparseable_higher_source_falls_through():
    cands = [("meta", "۱۳۹۹/۰۲/۲۱ - ۱۸:۵۹"), ("page_text", "تاریخ انتشار: ۲۱ ارديبهشت ۱۳۹۹ - ۱۸:۵۹")]
    a = resolve_published_at(article_for("", date_candidates=cands))
    assert (a.published_at, a.published_at_source) == (utc(2020, 5, 10, 18, 59), "page_text")


@pytest.mark.parametrize(
    "text, reason",
    [("2031-01-31", "date_out_of_range"), ("1990-05-01", "date_out_of_range"), ("مارس 2023", "only_year_found")],
)
def test_rejected_candidates(text, reason):
    a = resolve_published_at(article_for("", date_candidates=[("meta", text)]))
    assert (a.published_at, a.published_at_reason) == (None, reason)


def test_future_tolerance_is_one_day():
    ok = resolve_published_at(article_for("", date_candidates=[("meta", "2025-01-01T20:00:00Z")]))
    assert ok.published_at == utc(2025, 1, 1, 20)  # FETCHED_AT is 2025-01-01 00:00 UTC
    late = resolve_published_at(article_for("", date_candidates=[("meta", "2025-01-02T01:00:00Z")]))
    assert late.published_at is None
    assert FETCHED_AT == utc(2025, 1, 1)


def test_future_feed_date_is_rejected_but_page_date_used():
    a = resolve_published_at(article_for("", feed_published_at=utc(2031, 1, 31),
                                         date_candidates=[("meta", "2024-01-27T14:05:00+01:00")]))
    assert (a.published_at, a.published_at_source) == (utc(2024, 1, 27, 13, 5), "meta")


@pytest.mark.parametrize(
    "head, url, expected",
    [
        ('<meta property="article:published_time" content="2023-01-01">', "https://x.example/a", ("htmldate", "2023-01-01")),
        ('<meta name="date" content="2023-01">', "https://x.example/a", ("htmldate", "2023")),  # htmldate invents a day
        ("", "https://x.example/2020/08/24/story", ("htmldate", "2020-08-24")),
        ("", "https://x.example/a", None),
    ],
)
def test_htmldate_results_need_day_evidence(head, url, expected):
    tree = trafilatura.load_html(f"<html><head>{head}</head><body><p>نص</p></body></html>")
    assert htmldate_candidate(tree, url, FETCHED_AT) == expected


def test_htmldate_ignores_sidebar_lists():
    """Like the Jawhara FM pages: the only dates are in a "most read" list of other articles."""
    items = "".join(f'<li><span class="dat_ev">2017/02/{d}</span> <a href="/x{d}">خبر {d}</a></li>' for d in (26, 27, 28))
    paras = "".join(f"<p>{p}</p>" for p in [
        "أعلنت وزارة الصحة اليوم عن إطلاق حملة وطنية جديدة للتطعيم تستهدف الأطفال في جميع المحافظات.",
        "وقال المتحدث باسم الوزارة إن الحملة ستشمل أكثر من مليون طفل وستنفذ بالتعاون مع المنظمات الدولية.",
        "وأضاف أن الفرق الطبية ستزور المدارس والمراكز الصحية في القرى النائية لضمان وصول اللقاح."])
    html = (f"<html><body><article><h1>عنوان الخبر</h1>{paras}</article>"
            f'<div id="articlePlusVu"><h3>الأكثر قراءة</h3><ul class="list_tabinfo">{items}</ul></div></body></html>')
    a = run_stages(article_for(html))
    assert a.published_at is None


def test_dates_pipeline_counts_sources_and_never_drops():
    stats = MemoryStatsCollector(get_crawler())
    stage = DatesPipeline(stats=stats)
    dated = article_for("", outlet="o", date_candidates=[("jsonld", "2024-01-27T14:05:00+01:00")])
    undated = article_for("", outlet="o")
    assert stage.process_item(dated, None) is dated and stage.process_item(undated, None) is undated
    assert stats.get_stats() == {"rasd/dates/source/jsonld": 1, "rasd/dates/source/none": 1,
                                 "rasd/dates/reason/no_date_found": 1}


# --- issue 11: zone names, era marks, AM/PM, numbered months, Hijri year first -------------

CASE25 = Path(__file__).resolve().parents[1] / "fixtures" / "cases" / "case-25-dates-arabic-named-timezone-mecca-time" / "dates.tsv"


@pytest.mark.parametrize("text, expected", [
    tuple(line.split("\t")) for line in CASE25.read_text(encoding="utf-8").splitlines() if line.strip()])
def test_case25_arabic_zone_names(text, expected):
    from rasd.core.datetext import parse_date_text

    assert parse_date_text(text).isoformat().replace("+00:00", "Z") == expected


@pytest.mark.parametrize("text, expected", [
    ("12 مارس 2024م 10:30", "2024-03-12T10:30:00+00:00"),           # era mark, time kept
    ("2024/03/12م 22:05 بتوقيت بيروت", "2024-03-12T20:05:00+00:00"),
    ("12 مارس 2024 10:30 AST", "2024-03-12T07:30:00+00:00"),        # Arabia Standard Time
    ("12 مارس 2024 10:30 توقيت السعودية", "2024-03-12T07:30:00+00:00"),
    ("1 يوليو 2024 10:00 بتوقيت القاهرة", "2024-07-01T07:00:00+00:00"),  # Egypt's summer time
    ("1 يناير 2024 10:00 بتوقيت القاهرة", "2024-01-01T08:00:00+00:00"),
    ("12 مارس 2024 08:15 م", "2024-03-12T20:15:00+00:00"),          # م = PM after a time
    ("12 مارس 2024 08:15 ص", "2024-03-12T08:15:00+00:00"),
    ("15 كانون 2 2024", "2024-01-15T00:00:00+00:00"),               # numbered Levantine months
    ("3 تشرين 1 2023 08:00", "2023-10-03T08:00:00+00:00"),
    ("20 تشرين 2 2023", "2023-11-20T00:00:00+00:00"),
    ("1445/09/10 هـ", "2024-03-20T00:00:00+00:00"),                 # Hijri, year first
    ("1445 هـ رمضان 10", "2024-03-20T00:00:00+00:00"),
    ("10 رمضان 1445 هـ", "2024-03-20T00:00:00+00:00"),
])
def test_issue11_date_forms(text, expected):
    from rasd.core.datetext import parse_date_text

    assert parse_date_text(text).isoformat() == expected


def test_zone_table_is_validated(tmp_path):
    from rasd.core.datetext import load_zone_names

    bad = tmp_path / "tz.yaml"
    bad.write_text("schema_version: 1\nzones:\n  - {zone: Mars/Olympus, names: [المريخ]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="zones.0.zone"):
        load_zone_names(bad)
    bad.write_text("schema_version: 1\nzones:\n  - {zone: UTC, nmes: [x]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nmes"):
        load_zone_names(bad)


def test_an_outlet_timezone_reads_local_times_written_without_an_offset():
    """A seed's ``timezone``: "10:30" on a Riyadh outlet's page is 07:30 UTC, in summer and in
    winter alike (no DST there), Cairo's follows its daylight saving time, and a time that
    says its own zone keeps it."""
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from rasd.core.seeds import Outlet

    riyadh, cairo = ZoneInfo("Asia/Riyadh"), ZoneInfo("Africa/Cairo")
    assert parse_date_text("12 مارس 2024 10:30", zone=riyadh) == datetime(2024, 3, 12, 7, 30, tzinfo=timezone.utc)
    assert parse_date_text("12 مارس 2024 10:30") == datetime(2024, 3, 12, 10, 30, tzinfo=timezone.utc)
    assert parse_date_text("2024-07-12 10:30", zone=cairo) == datetime(2024, 7, 12, 7, 30, tzinfo=timezone.utc)
    assert parse_date_text("2024-01-12 10:30", zone=cairo) == datetime(2024, 1, 12, 8, 30, tzinfo=timezone.utc)
    assert parse_date_text("2024-07-12T10:30:00+01:00", zone=riyadh) == datetime(2024, 7, 12, 9, 30, tzinfo=timezone.utc)
    outlet = Outlet(slug="o", name="O", country="SA", homepage="https://o.example/",
                    domains=["o.example"], feeds=["https://o.example/rss"], timezone="Asia/Riyadh")
    spider = SimpleNamespace(outlets={"o": outlet})
    item = article_for("", outlet="o", date_candidates=[("jsonld", "2024-03-12T10:30:00")])
    DatesPipeline().process_item(item, spider)
    assert item.published_at == datetime(2024, 3, 12, 7, 30, tzinfo=timezone.utc)
