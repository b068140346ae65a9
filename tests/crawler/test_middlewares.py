"""Charset repair (case 11), Retry-After parsing (case 29) and when a retry wait defers its page."""

from datetime import datetime, timezone
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from rasd.crawler.middlewares import (BackoffRetryMiddleware,
    CharsetMiddleware,
    RetryDeferred,
    choose_encoding,
    retry_after_seconds)

FIX = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = "وزارة الصحة تعلن حملة تطعيم جديدة"



def _case11():
    for line in (FIX / "cases/case-11/headers.txt").read_text().splitlines():
        name, header = line.split("\t")
        key, value = header.split(": ", 1)
        yield name, value


@pytest.mark.parametrize("name,content_type", list(_case11()))
def test_case11_body_evidence_beats_a_lying_header(name, content_type):
    body = (FIX / "cases/case-11" / name).read_bytes()
    plain = HtmlResponse(url="https://news.example/a/1", body=body, headers={"Content-Type": content_type})
    assert plain.css("p::text").get() != EXPECTED  # Scrapy alone trusts the header
    stats = MemoryStatsCollector(get_crawler())
    fixed = CharsetMiddleware(stats).process_response(None, plain)
    assert fixed.css("p::text").get() == EXPECTED
    assert stats.get_value("rasd/charset/meta_over_header") == 1
    assert fixed.body == body  # raw bytes kept


@pytest.mark.parametrize("name,encoding", [
    ("chardet_chromium_windows-1256_no_charset.html", "cp1256"),
    ("chardet_chromium_iso-8859-6_no_charset.html", "iso8859-6"),
])
def test_undeclared_arabic_legacy_encodings_are_sniffed(name, encoding):
    body = (FIX / "encoding" / name).read_bytes()
    assert choose_encoding(body, "text/html") == (encoding, "sniffed")
    response = CharsetMiddleware().process_response(
        None, HtmlResponse(url="http://x.example/", body=body, headers={"Content-Type": "text/html"}))
    assert "بلدة بيت لاهيا شمال قطاع غزة" in response.text


def test_header_that_fails_but_body_is_utf8():
    body = "<html><body><p>خبر عاجل من العاصمة اليوم</p></body></html>".encode("utf-8")
    assert choose_encoding(body, "text/html; charset=iso-8859-6") == ("utf-8", "header_invalid")
    assert choose_encoding(body, "text/html; charset=utf-8") == (None, "header")


def test_utf8_header_over_undeclared_windows1256_body_is_sniffed():
    body = (FIX / "encoding/chardet_chromium_windows-1256_no_charset.html").read_bytes()
    encoding, reason = choose_encoding(body, "text/html; charset=utf-8")
    assert (encoding, reason) == ("cp1256", "header_invalid")


def test_invalid_utf8_declared_utf8_keeps_lenient_decoding():
    body = ('<meta charset="utf-8"><p>' + 'خبر من العاصمة ' * 20 + '</p>').encode() + b"\xff\xfe bad"
    assert choose_encoding(body, "text/html; charset=utf-8") == (None, "header")
    response = CharsetMiddleware().process_response(
        None, HtmlResponse(url="http://x.example/", body=body, headers={"Content-Type": "text/html; charset=utf-8"}))
    assert "خبر" in response.text and "\ufffd" in response.text


def test_retry_after_forms():
    now = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert retry_after_seconds(b"120") == 120.0
    assert retry_after_seconds("Mon, 01 Jan 2024 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Mon, 01 Jan 2024 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize("value, expected", [
    # delta-seconds (RFC 9110 §10.2.3), with the spaces and fractions servers send
    (b"120", 120.0), (" 7 ", 7.0), ("1.5", 1.5), ("0", 0.0), ("99999999", 99999999.0),
    # the three HTTP-date forms of RFC 9110 §5.6.7
    ("Mon, 01 Jan 2024 12:00:30 GMT", 30.0),  # IMF-fixdate
    ("Monday, 01-Jan-24 12:00:30 GMT", 30.0),  # obsolete RFC 850
    ("Mon Jan  1 12:00:30 2024", 30.0),  # asctime
    # ISO 8601 as seen in the field (case 29), and its usual variants
    ("2024-01-01T12:00:30.000+00:00", 30.0), ("2024-01-01T12:00:30Z", 30.0),
    ("2024-01-01T14:00:30+02:00", 30.0), ("2024-01-01 12:00:30", 30.0),
    ("2024-01-01T12:00:30.250000+00:00", 30.25),
    # the past is "now"
    ("Mon, 01 Jan 2024 11:00:00 GMT", 0.0), ("2023-12-31T23:59:59Z", 0.0),
    # not readable: the caller falls back to its own backoff
    ("soon", None), ("-5", None), ("", None), (None, None), ("Mon, 01 Jan 2024 25:00:00 GMT", None),
    ("2024-13-01T00:00:00Z", None), ("12 seconds", None), ("1e9", None),
])
def test_retry_after_every_form(value, expected):
    now = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert retry_after_seconds(value, now) == expected


def _middleware(**settings) -> BackoffRetryMiddleware:
    return BackoffRetryMiddleware(Settings({"RETRY_TIMES": 3, **settings}))


def test_a_wait_longer_than_the_longest_in_run_wait_defers_the_page():
    mw = _middleware(RASD_RETRY_AFTER_MAX=120, RASD_RETRY_DEFER_MAX=3600)
    assert mw.deferral(120, "retry_after", now=1000.0) is None
    deferred = mw.deferral(99999999, "retry_after", now=1000.0)
    assert isinstance(deferred, RetryDeferred)
    assert (deferred.reason, deferred.wait, deferred.not_before) == ("retry_after", 99999999, 1000.0 + 3600)
    assert mw.deferral(300, "retry_after", now=1000.0).not_before == 1300.0
    # backoff is Rasd's own choice, capped at the longest wait rather than deferred
    assert mw.deferral(500, "backoff", now=1000.0) is None


def test_a_wait_past_the_runs_deadline_defers_the_page():
    mw = _middleware(RASD_RETRY_AFTER_MAX=120, RASD_DEADLINE=1100.0, RASD_DEADLINE_MARGIN=10)
    assert mw.deferral(89, "retry_after", now=1000.0) is None  # 1000 + 89 + 10 <= 1100
    assert mw.deferral(91, "retry_after", now=1000.0).reason == "retry_after"
    assert mw.deferral(95, "backoff", now=1000.0).reason == "backoff"
