"""Publication dates: parse one date string (:func:`parse_date_text`) and choose an article's
``published_at`` among its candidates (:func:`resolve_published_at`).

Arabic outlets write dates in many ways: RFC 822 with Arabic weekday and month names in RSS
(case 14), "نشر في 12 مارس 2023" on the page (case 05), the Levantine month names (كانون الثاني …
كانون الأول), the Maghreb ones (جانفي، فيفري، أفريل …), Arabic-Indic or Persian digits, and a Hijri
date followed by "الموافق" and its Gregorian equivalent (case 07); Persian pages use Solar Hijri
month names (فروردین … اسفند).  htmldate and dateparser miss
most of these and, worse, turn a bare year into 1 January.  So Rasd reads dates with its own
small tables and regular expressions, searching a string for the *first complete* date
(day, month and year) rather than matching the whole string, which makes prefixes such as
"نشر في"/"آخر تحديث"/"Published on" and weekday names harmless.  dateparser is only a slow
fallback for short strings the tables do not know, with ``REQUIRE_PARTS`` so it cannot invent a
day.

Ideas from: RFC 822/5322 date syntax (``email.utils``), htmldate's "original date" heuristics,
and dateparser's ``REQUIRE_PARTS`` setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from htmldate import find_date
from lxml import etree

from pipelines.base import StagePipeline
from rasd.arabic import normalize
from rasd.article import Article



def fold(text: str) -> str:
    """Fold a date string for matching: the project's Arabic folding (:func:`rasd.arabic.normalize`:
    ASCII digits, one alef, ي for ى/ی, ه for ة, no harakat/tatweel/bidi marks), Arabic comma →
    ``,``, lower case."""
    return normalize(text).replace("،", ",").lower()


# --------------------------------------------------------------------------------------------
# Month tables (written naturally, folded at import).

_GREGORIAN_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("يناير", "كانون الثاني", "كانون ثاني", "جانفي", "january", "jan", "janvier"),
    2: ("فبراير", "شباط", "فيفري", "فبرير", "february", "feb", "février", "fevrier"),
    3: ("مارس", "آذار", "march", "mar", "mars"),
    4: ("أبريل", "ابريل", "إبريل", "نيسان", "أفريل", "april", "apr", "avril"),
    5: ("مايو", "أيار", "ماي", "may", "mai"),
    6: ("يونيو", "يونيه", "حزيران", "جوان", "june", "jun", "juin"),
    7: ("يوليو", "يوليه", "تموز", "جويلية", "جويليه", "يوليوز", "july", "jul", "juillet"),
    8: ("أغسطس", "اغسطس", "آب", "أوت", "غشت", "august", "aug", "août", "aout"),
    9: ("سبتمبر", "أيلول", "شتنبر", "september", "sept", "sep", "septembre"),
    10: ("أكتوبر", "تشرين الأول", "تشرين اول", "october", "oct", "octobre"),
    11: ("نوفمبر", "تشرين الثاني", "تشرين ثاني", "نونبر", "november", "nov", "novembre"),
    12: ("ديسمبر", "كانون الأول", "كانون اول", "دجنبر", "december", "dec", "décembre", "decembre"),
}
_HIJRI_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("محرم",), 2: ("صفر",), 3: ("ربيع الأول", "ربيع أول"),
    4: ("ربيع الثاني", "ربيع الآخر", "ربيع ثاني"), 5: ("جمادى الأولى", "جمادى الأول"),
    6: ("جمادى الآخرة", "جمادى الثانية", "جمادى الآخر"), 7: ("رجب",), 8: ("شعبان",),
    9: ("رمضان",), 10: ("شوال",), 11: ("ذو القعدة", "ذي القعدة"), 12: ("ذو الحجة", "ذي الحجة"),
}
_JALALI_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("فروردین",), 2: ("اردیبهشت",), 3: ("خرداد",), 4: ("تیر",), 5: ("مرداد", "امرداد"),
    6: ("شهریور",), 7: ("مهر",), 8: ("آبان",), 9: ("آذر",), 10: ("دی",), 11: ("بهمن",), 12: ("اسفند",),
}
#: RFC 822 zone names (and the common Arabic "بتوقيت غرينتش"), as hours east of UTC.
_ZONES = {"z": 0, "gmt": 0, "utc": 0, "ut": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5,
          "mst": -7, "mdt": -6, "pst": -8, "pdt": -7, "بتوقيت غرينتش": 0, "بتوقيت جرينتش": 0}


def _lookup(table: dict[int, tuple[str, ...]]) -> tuple[dict[str, int], str]:
    names = {fold(n): m for m, ns in table.items() for n in ns}
    alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return names, rf"(?<!\w)(?:{alternation})(?!\w)"


_G_NAMES, _G = _lookup(_GREGORIAN_MONTHS)
_H_NAMES, _H = _lookup(_HIJRI_MONTHS)
_J_NAMES, _J = _lookup(_JALALI_MONTHS)

_DAY = r"(?<!\d)(?P<d>[0-3]?\d)(?:st|nd|rd|th|er)?"
_YEAR = r"(?P<y>\d{4})(?!\d)"
# 12 مارس 2023 · 12-Mar-2023 · 12 آذار/مارس 2023 · 12 من مارس، 2023
_DMY = re.compile(rf"{_DAY}[\s./-]*(?:من\s+)?(?P<m>{_G})\.?(?:\s*[/(]\s*{_G}\s*\)?)?[\s.,/-]*{_YEAR}")
# March 12, 2023
_MDY = re.compile(rf"(?P<m>{_G})\.?\s+{_DAY}\s*,?\s*{_YEAR}")
# 2023-03-12 · 2023/3/12 · 12/03/2023 · 12.03.2023
_NUM = re.compile(r"(?<![\d.:/-])(?P<a>\d{1,4})\s?(?P<sep>[-/.])\s?(?P<b>\d{1,2})\s?(?P=sep)\s?(?P<c>\d{1,4})(?![\d/-])")
_HIJRI = re.compile(rf"{_DAY}\s*(?P<m>{_H})[\s,]*(?P<y>1[34]\d\d)(?!\d)")
_JALALI = re.compile(rf"{_DAY}\s*(?P<m>{_J})[\s,]*(?P<y>1[34]\d\d)(?!\d)")
_HIJRI_NUM = re.compile(r"(?<!\d)(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>1[34]\d\d)\s*(?:هـ|ه(?!\w))")

_ZONE = "|".join(re.escape(fold(z)) for z in sorted(_ZONES, key=len, reverse=True))
_TIME = re.compile(
    r"[\s,|@t–-]*(?:(?:at|الساعه|على الساعه|في)\s*)?"
    r"(?P<H>[0-2]?\d):(?P<M>[0-5]\d)(?::(?P<S>[0-5]\d)(?:[.,]\d+)?)?"
    r"(?:\s*(?P<ampm>a\.?m\.?|p\.?m\.?|صباحا|مساءا|مساء|ب\.?ظ|ق\.?ظ|ص|م)(?!\w))?"
    rf"\s*(?:(?P<zname>{_ZONE})(?!\w))?"
    r"\s*(?P<off>[+-]\d{1,2}(?::?\d{2})?)?"
)
# A time written before the date: "10:30 ص - 12 مارس 2023"
_TIME_BEFORE = re.compile(r"(?P<H>[0-2]?\d):(?P<M>[0-5]\d)(?::(?P<S>[0-5]\d))?\s*(?P<ampm>صباحا|مساء|ص|م|am|pm)?[\s,|-]*$")

_MIN_YEAR, _MAX_YEAR = 1900, 2200


def _offset(zname: str | None, off: str | None) -> timezone | None:
    """UTC offset from a zone name and/or a ``+0300``/``+03:00``/``+3`` offset (``None``: no zone)."""
    hours = _ZONES.get(zname) if zname else None
    if off:
        sign = -1 if off[0] == "-" else 1
        digits = off[1:].replace(":", "")
        h, m = (int(digits[:-2] or 0), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
        if h > 14 or m > 59:
            return None
        return timezone(sign * timedelta(hours=h, minutes=m) + timedelta(hours=hours or 0))
    return timezone(timedelta(hours=hours)) if hours is not None else None


def _build(y: int, m: int, d: int, t: re.Match | None) -> datetime | None:
    """An aware UTC datetime, or ``None`` for an impossible date.  Without a time: midnight;
    without a zone: the wall time is taken as UTC (the page gives nothing better)."""
    if not (_MIN_YEAR <= y <= _MAX_YEAR):
        return None
    hh = mm = ss = 0
    tz = timezone.utc
    if t is not None:
        hh, mm, ss = int(t["H"]), int(t["M"]), int(t["S"] or 0)
        ampm = (t["ampm"] or "").replace(".", "")
        if ampm in ("pm", "م", "مساء", "مساءا", "بظ") and hh < 12:
            hh += 12
        elif ampm in ("am", "ص", "صباحا", "قظ") and hh == 12:
            hh = 0
        zone = _offset(t.groupdict().get("zname"), t.groupdict().get("off"))
        tz = zone or timezone.utc
    try:
        return datetime(y, m, d, hh, mm, ss, tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        return None


def _time_near(s: str, start: int, end: int) -> re.Match | None:
    t = _TIME.match(s, end)
    if t is not None:
        return t
    return _TIME_BEFORE.search(s[max(0, start - 20):start])


def _gregorian_candidates(s: str):
    """(position, datetime) for every complete Gregorian date in folded text ``s``."""
    for rx in (_DMY, _MDY):
        for mt in rx.finditer(s):
            dt = _build(int(mt["y"]), _G_NAMES[mt["m"].rstrip(".")], int(mt["d"]), _time_near(s, mt.start(), mt.end()))
            if dt is not None:
                yield mt.start(), dt
    for mt in _NUM.finditer(s):
        a, b, c = mt["a"], int(mt["b"]), mt["c"]
        if len(a) == 4 and len(c) <= 2:
            y, m, d = int(a), b, int(c)
        elif len(c) == 4 and len(a) <= 2:
            # Arabic (and most non-US) outlets write day first; month first only when forced.
            y, d, m = int(c), int(a), b
            if m > 12 and d <= 12:
                d, m = m, d
        else:
            continue
        dt = _build(y, m, d, _time_near(s, mt.start(), mt.end()))
        if dt is not None:
            yield mt.start(), dt


def _hijri_to_gregorian(y: int, m: int, d: int) -> tuple[int, int, int] | None:
    """Umm al-Qura Hijri → Gregorian (year, month, day) via ``hijridate`` (1343–1500 AH)."""
    try:
        from hijridate import Hijri

        g = Hijri(y, m, d).to_gregorian()
    except (ValueError, OverflowError, ImportError):
        return None
    return g.year, g.month, g.day


def _jalali_leap(y: int) -> bool:
    # arithmetic 33-year cycle; matches the official Iranian calendar for 1300–1500 SH
    return y % 33 in (1, 5, 9, 13, 17, 22, 26, 30)


def _jalali_to_gregorian(y: int, m: int, d: int) -> tuple[int, int, int] | None:
    """Solar Hijri (Iran) → Gregorian (year, month, day), counted from 1 Farvardin 1399 = 2020-03-20."""
    if not (1300 <= y <= 1500 and 1 <= d <= (31 if m <= 6 else 30)) or (m == 12 and d == 30 and not _jalali_leap(y)):
        return None
    days = sum(366 if _jalali_leap(k) else 365 for k in range(1399, y))
    days -= sum(366 if _jalali_leap(k) else 365 for k in range(y, 1399))
    days += (m - 1) * 31 if m <= 7 else 186 + (m - 7) * 30
    g = datetime(2020, 3, 20) + timedelta(days=days + d - 1)
    return g.year, g.month, g.day


def _calendar_candidates(s: str):
    """(position, datetime) for complete Hijri and Solar Hijri dates in folded text ``s``."""
    for rx, names, convert in (
        (_HIJRI, _H_NAMES, _hijri_to_gregorian),
        (_JALALI, _J_NAMES, _jalali_to_gregorian),
        (_HIJRI_NUM, None, _hijri_to_gregorian),
    ):
        for mt in rx.finditer(s):
            ymd = convert(int(mt["y"]), names[mt["m"]] if names else int(mt["m"]), int(mt["d"]))
            dt = _build(*ymd, _time_near(s, mt.start(), mt.end())) if ymd else None
            if dt is not None:
                yield mt.start(), dt


_DATEPARSER_SETTINGS = {  # a complete date or nothing; no relative dates ("منذ ساعتين")
    "REQUIRE_PARTS": ["day", "month", "year"], "RETURN_AS_TIMEZONE_AWARE": True, "TIMEZONE": "UTC",
    "TO_TIMEZONE": "UTC", "PARSERS": ["timestamp", "custom-formats", "absolute-time"]}


def _dateparser(text: str) -> datetime | None:
    import dateparser  # slow to import and to run: only for strings the tables do not know

    try:
        dt = dateparser.parse(text, settings=_DATEPARSER_SETTINGS)
    except (ValueError, OverflowError, TypeError):
        return None
    if dt is None or not (_MIN_YEAR <= dt.year <= _MAX_YEAR):
        return None
    if (dt.month, dt.day) == (1, 1) and not _jan1_evidence(fold(text), dt.year):
        return None  # dateparser filled a missing day/month in
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


_HAS_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


def _jan1_evidence(folded: str, year: int) -> bool:
    """True when folded text ``folded`` itself writes 1 January ``year`` as a complete date."""
    return any((d.year, d.month, d.day) == (year, 1, 1) for _, d in _gregorian_candidates(folded))


def parse_date_text(text: str, *, fallback: bool = True) -> datetime | None:
    """Parse the first complete date in one string from a feed, a sitemap or a page.

    Args:
        text: e.g. ``"الأحد, 12 مارس 2023 10:30:00 +0300"``, ``"Sun, 12 Mar 2023 07:30:00 GMT"``,
            ``"2023-03-12T10:30:00+03:00"``, ``"نشر في ١٢ مارس ٢٠٢٣"``, ``"12 آذار 2023"``,
            ``"الثلاثاء 20 رمضان 1444 هـ الموافق 11 أبريل 2023"``, ``"20 رمضان 1444 هـ"``.
        fallback: try dateparser (slow, ~ms per call) when the own tables find nothing and the
            string is short and contains a year.

    Returns:
        A timezone-aware UTC datetime, or ``None`` when the string holds no complete date
        (day, month and year): a bare year or month is never turned into 1 January.

    Rules: the earliest complete Gregorian date wins (so "نشر في X آخر تحديث Y" gives X); a Hijri
    date is used only when no Gregorian date is present (case 07: the Gregorian date after
    "الموافق" wins) and is converted with ``hijridate`` (Umm al-Qura, 1343–1500 AH); Solar Hijri
    (Iranian) month names are converted arithmetically (1300–1500 SH).  Numeric
    dates are read day first (``12/03/2023`` = 12 March) unless that is impossible.  A time
    without an offset or zone name is taken as UTC, because nothing in the string says otherwise;
    callers that know the outlet's zone may correct it.
    """
    if not text:
        return None
    s = fold(text.strip())
    best = min(_gregorian_candidates(s), default=None, key=lambda c: c[0])
    if best is None:
        best = min(_calendar_candidates(s), default=None, key=lambda c: c[0])
    if best is not None:
        return best[1]
    if fallback and len(s) <= 80 and _HAS_YEAR.search(s):
        return _dateparser(text)
    return None


# --------------------------------------------------------------------------------------------
# Choosing an article's publication date

#: Candidate sources, most trusted first.  ``feed``/``sitemap`` come from the listing entry
#: (``Article.feed_published_at``); the others from the page (``Article.date_candidates``).
SOURCES = ("feed", "sitemap", "jsonld", "meta", "page_text", "htmldate")
_RANK = {s: i for i, s in enumerate(SOURCES)}
MIN_PUBLISHED = datetime(1995, 1, 1, tzinfo=timezone.utc)
#: Tolerance for clocks and zones: a date up to this far after ``fetched_at`` is accepted.
FUTURE_TOLERANCE = timedelta(days=1)


def is_plausible(value: datetime, fetched_at: datetime) -> bool:
    """A publication date is kept only between 1995-01-01 and ``fetched_at`` + 1 day."""
    return MIN_PUBLISHED <= value <= fetched_at + FUTURE_TOLERANCE


def _feed_source(article: Article) -> str:
    return "sitemap" if article.feed_url and "sitemap" in article.feed_url.lower() else "feed"


def resolve_published_at(article: Article, candidates: Iterable[tuple[str, str]] | None = None) -> Article:
    """Set ``published_at``/``published_at_source``/``published_at_reason`` on ``article``.

    Args:
        article: an :class:`rasd.article.Article`; its ``feed_published_at`` (the feed's or
            sitemap's date) wins over anything on the page.
        candidates: ``(source, raw_text)`` pairs with ``source`` in :data:`SOURCES`; default
            ``article.date_candidates`` (collected by ``pipelines.extract`` from the one parse
            of the page).  Tried in :data:`SOURCES` order, then in the given order.

    Returns:
        The same article.  ``published_at`` is an aware UTC datetime between 1995 and
        ``fetched_at`` + 1 day, or ``None`` with ``published_at_reason`` one of
        ``no_date_found``, ``only_year_found`` (a year but no complete date, e.g. htmldate's
        1 January guess was rejected) or ``date_out_of_range`` (only future/pre-1995 dates).
    """
    fetched_at = article.fetched_at
    found: list[tuple[int, str, datetime | None, str]] = []
    if article.feed_published_at is not None:
        feed = article.feed_published_at
        feed = feed if feed.tzinfo else feed.replace(tzinfo=timezone.utc)
        found.append((0, _feed_source(article), feed.astimezone(timezone.utc), ""))
    pairs = article.date_candidates if candidates is None else candidates
    for i, (source, text) in enumerate(pairs):
        found.append((_RANK.get(source, len(SOURCES)) * 1000 + i, source, None, text))
    saw_year = saw_out_of_range = False
    for _, source, value, text in sorted(found, key=lambda c: c[0]):
        if value is None:
            value = parse_date_text(text, fallback=source != "htmldate")
        if value is None:
            saw_year = saw_year or bool(_HAS_YEAR.search(fold(text)))
        elif not is_plausible(value, fetched_at):
            saw_out_of_range = True
        else:
            article.published_at, article.published_at_source, article.published_at_reason = value, source, None
            return article
    article.published_at = article.published_at_source = None
    article.published_at_reason = (
        "only_year_found" if saw_year else "date_out_of_range" if saw_out_of_range else "no_date_found"
    )
    return article


def has_plausible_date(candidates: Iterable[tuple[str, str]], fetched_at: datetime) -> bool:
    """True when one of the ``(source, text)`` candidates parses to a plausible date (used by
    ``pipelines.extract`` to decide whether the costly htmldate search is needed)."""
    for _, text in candidates:
        value = parse_date_text(text, fallback=False)
        if value is not None and is_plausible(value, fetched_at):
            return True
    return False


#: Removed before htmldate looks at a page: scripts, lists, navigation and sidebar-like blocks
#: (plain contains() on lower-case class/id: EXSLT regex in XPath calls Python per element).
_BOILERPLATE = etree.XPath(
    "//script|//style|//noscript|//ul|//ol|//aside|//nav|//footer|//header|//*[" + " or ".join(
        f"contains(@class,'{w}') or contains(@id,'{w}')"
        for w in ("sidebar", "widget", "related", "popular", "most", "tab", "menu", "comment", "ticker", "top")
    ) + "]"
)


_MARKUP_VALUES = etree.XPath("//meta[@content]|//time[@datetime]|//abbr[@title]|//*[@itemprop][@content]")


def htmldate_candidate(tree, url: str | None, fetched_at: datetime) -> tuple[str, str] | None:
    """Last resort: htmldate on the parsed page stripped of scripts, lists and boilerplate.

    The stripping happens *in place*: call this last, when nothing else needs ``tree``.
    htmldate's extensive text search takes dates from "most read" lists, podcast titles and
    script literals (case 05; the Jawhara FM pages), so it runs in markup-only mode
    (``extensive_search=False``, ``original_date=True``, the URL as a source).  Its result is
    kept only when the page or URL writes that day in full: htmldate turns "2023" into
    2023-01-01 (cases 05 B, 07) and "2023-01" into a day of its choosing.  Otherwise only the
    year is returned, which :func:`resolve_published_at` reports as ``only_year_found``.

    Returns ``("htmldate", "YYYY-MM-DD")``, ``("htmldate", "YYYY")`` or ``None``.
    """
    for el in _BOILERPLATE(tree):
        if el.getparent() is not None:
            el.drop_tree()
    try:
        found = find_date(tree, url=url, original_date=True, extensive_search=False,
                          min_date=MIN_PUBLISHED.date().isoformat(),
                          max_date=(fetched_at + FUTURE_TOLERANCE).date().isoformat())
    except Exception:  # htmldate raises assorted errors on odd pages; a date is optional
        return None
    if not found:
        return None
    day = datetime.fromisoformat(found).date()
    marked = " ".join(v for el in _MARKUP_VALUES(tree) for v in el.values())
    evidence = f"{url or ''} {marked} {tree.text_content()}"
    written = {day.strftime(f) for f in ("%Y%m%d", "%Y/%m/%d", "%Y-%m-%d")} | {f"{day.year}/{day.month}/{day.day}"}
    if any(w in evidence for w in written) or any(d.date() == day for _, d in _gregorian_candidates(fold(evidence))):
        return ("htmldate", found)
    return ("htmldate", found[:4])


class DatesPipeline(StagePipeline):
    """Scrapy wrapper of :func:`resolve_published_at`.

    Never drops: an undated article is archived with ``published_at_reason``.  Counts
    ``rasd/dates/source/<source>`` (``none`` when undated) and ``rasd/dates/reason/<reason>``;
    these are stage counters, not outcomes.
    """

    def process_item(self, item, spider=None):
        resolve_published_at(item)
        self.count(f"rasd/dates/source/{item.published_at_source or 'none'}")
        if item.published_at is None:
            self.count(f"rasd/dates/reason/{item.published_at_reason}")
        return item
