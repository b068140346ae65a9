"""Tests for pipelines/dates.py: date strings from feeds, sitemaps and pages."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipelines.dates import parse_date_text

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "cases"


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
