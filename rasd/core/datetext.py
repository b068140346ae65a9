"""Date text: parse the first complete date in one string (:func:`parse_date_text`).

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

import contextvars
import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from rasd.core.yamlio import safe_load
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rasd.core.arabic import normalize
from rasd.core.errors import ConfigError
from rasd.core.paths import CONFIG_DIR

TIMEZONES_FILE = CONFIG_DIR / "timezones.yaml"


def fold(text: str) -> str:
    """Fold a date string for matching: the project's Arabic folding (:func:`rasd.core.arabic.normalize`:
    ASCII digits, one alef, ي for ى/ی, ه for ة, no harakat/tatweel/bidi marks), Arabic comma →
    ``,``, lower case."""
    return normalize(text).replace("،", ",").lower()


# --------------------------------------------------------------------------------------------
# Month tables (written naturally, folded at import).

_GREGORIAN_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("يناير", "كانون الثاني", "كانون ثاني", "كانون 2", "جانفي", "january", "jan", "janvier"),
    2: ("فبراير", "شباط", "فيفري", "فبرير", "february", "feb", "février", "fevrier"),
    3: ("مارس", "آذار", "march", "mar", "mars"),
    4: ("أبريل", "ابريل", "إبريل", "نيسان", "أفريل", "april", "apr", "avril"),
    5: ("مايو", "أيار", "ماي", "may", "mai"),
    6: ("يونيو", "يونيه", "حزيران", "جوان", "june", "jun", "juin"),
    7: ("يوليو", "يوليه", "تموز", "جويلية", "جويليه", "يوليوز", "july", "jul", "juillet"),
    8: ("أغسطس", "اغسطس", "آب", "أوت", "غشت", "august", "aug", "août", "aout"),
    9: ("سبتمبر", "أيلول", "شتنبر", "september", "sept", "sep", "septembre"),
    10: ("أكتوبر", "تشرين الأول", "تشرين اول", "تشرين 1", "october", "oct", "octobre"),
    11: ("نوفمبر", "تشرين الثاني", "تشرين ثاني", "تشرين 2", "نونبر", "november", "nov", "novembre"),
    12: ("ديسمبر", "كانون الأول", "كانون اول", "كانون 1", "دجنبر", "december", "dec", "décembre", "decembre"),
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
#: RFC 822 zone names, as hours east of UTC; the Arab world's zone names and abbreviations are
#: data (``config/timezones.yaml``, :func:`zone_names`).
_RFC_ZONES = {"z": 0, "gmt": 0, "utc": 0, "ut": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5,
              "mst": -7, "mdt": -6, "pst": -8, "pdt": -7}


class ZoneEntry(BaseModel):
    """One zone of ``config/timezones.yaml``: an IANA ``zone``, its place ``names`` (read after
    بتوقيت/توقيت) and ``abbreviations``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    zone: str
    names: list[str] = []
    abbreviations: list[str] = []

    @field_validator("zone")
    @classmethod
    def _known(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {zone!r}") from exc
        return zone


class ZoneTable(BaseModel):
    """``config/timezones.yaml``: ``schema_version: 1`` and the zones."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    zones: list[ZoneEntry] = []


def load_zone_names(path: Path = TIMEZONES_FILE) -> dict[str, tzinfo]:
    """Folded zone name as written after a time (``بتوقيت مكه المكرمه``, ``توقيت مكه المكرمه``,
    ``ast``) → its zone (a ``ZoneInfo``: daylight saving time follows the date).

    Raises:
        ConfigError: unreadable or invalid file (the file and the field), or a name given to
            two zones.
    """
    try:
        data = ZoneTable.model_validate(safe_load(Path(path).read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(map(str, err['loc'])) or '(top level)'}: {err['msg']}") from None
    out: dict[str, tzinfo] = {}
    for i, entry in enumerate(data.zones):
        tz = ZoneInfo(entry.zone)
        keys = [f"{p} {fold(n)}" for n in entry.names for p in ("بتوقيت", "توقيت")]
        keys += [fold(a) for a in entry.abbreviations]
        for key in keys:
            if key in out and out[key] != tz:
                raise ConfigError(f"{path}: zones.{i}: {key!r} already names another zone")
            out[key] = tz
    return out


@cache
def zone_names() -> dict[str, tzinfo]:
    """:func:`load_zone_names` of the default file, read once per process."""
    return load_zone_names()


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
# year first: 1445/09/01 هـ
_HIJRI_NUM_YMD = re.compile(r"(?<!\d)(?P<y>1[34]\d\d)[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)\s*(?:هـ|ه(?!\w))")
# year first with the month name: 1445 هـ رمضان 20, 1445/رمضان/20
_HIJRI_YMD = re.compile(rf"(?<!\d)(?P<y>1[34]\d\d)\s*(?:ه(?!\w))?[\s/-]*(?P<m>{_H})[\s/-]*(?P<d>[0-3]?\d)(?!\d)")

_ZONE = "|".join(re.escape(z) for z in sorted({*map(fold, _RFC_ZONES), *zone_names()}, key=len, reverse=True))
#: an era mark after a year: م (ميلادي, AD) or هـ (هجري, AH; folded ه), before the time
_ERA = re.compile(r"\s*(?:م|ه)(?!\w)\.?")
_TIME = re.compile(
    r"[\s,|@t–-]*(?:(?:at|الساعه|على الساعه|في)\s*)?"
    r"(?P<H>[0-2]?\d):(?P<M>[0-5]\d)(?::(?P<S>[0-5]\d)(?:[.,]\d+)?)?"
    r"(?:\s*(?P<ampm>a\.?m\.?|p\.?m\.?|صباحا|مساءا|مساء|ب\.?ظ|ق\.?ظ|ص|م)(?!\w))?"
    rf"\s*\(?\s*(?:(?P<zname>{_ZONE})(?!\w))?"
    r"\s*(?P<off>[+-]\d{1,2}(?::?\d{2})?)?"
)
# A time written before the date: "10:30 ص - 12 مارس 2023"
_TIME_BEFORE = re.compile(r"(?P<H>[0-2]?\d):(?P<M>[0-5]\d)(?::(?P<S>[0-5]\d))?\s*(?P<ampm>صباحا|مساء|ص|م|am|pm)?[\s,|-]*$")

_MIN_YEAR, _MAX_YEAR = 1900, 2200


def _offset(zname: str | None, off: str | None) -> tzinfo | None:
    """The zone of a zone name (RFC 822 or ``config/timezones.yaml``) and/or a
    ``+0300``/``+03:00``/``+3`` offset (added to an RFC zone: ``GMT+3``); ``None``: no zone."""
    named = zone_names().get(zname) if zname else None
    hours = _RFC_ZONES.get(zname) if zname else None
    if off:
        sign = -1 if off[0] == "-" else 1
        digits = off[1:].replace(":", "")
        h, m = (int(digits[:-2] or 0), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
        if h > 14 or m > 59:
            return None
        return timezone(sign * timedelta(hours=h, minutes=m) + timedelta(hours=hours or 0))
    if named is not None:
        return named
    return timezone(timedelta(hours=hours)) if hours is not None else None


#: the zone of a time written without one (:func:`parse_date_text`'s ``zone``; UTC by default)
_LOCAL_ZONE: contextvars.ContextVar[tzinfo] = contextvars.ContextVar("rasd_local_zone", default=timezone.utc)


def _build(y: int, m: int, d: int, t: re.Match | None) -> datetime | None:
    """An aware UTC datetime, or ``None`` for an impossible date.  Without a time: midnight;
    without a zone: the wall time is read in the local zone (:data:`_LOCAL_ZONE`: the outlet's
    ``timezone``, else UTC — the page gives nothing better)."""
    if not (_MIN_YEAR <= y <= _MAX_YEAR):
        return None
    hh = mm = ss = 0
    tz = _LOCAL_ZONE.get()
    if t is not None:
        hh, mm, ss = int(t["H"]), int(t["M"]), int(t["S"] or 0)
        ampm = (t["ampm"] or "").replace(".", "")
        if ampm in ("pm", "م", "مساء", "مساءا", "بظ") and hh < 12:
            hh += 12
        elif ampm in ("am", "ص", "صباحا", "قظ") and hh == 12:
            hh = 0
        zone = _offset(t.groupdict().get("zname"), t.groupdict().get("off"))
        tz = zone or tz
    try:
        return datetime(y, m, d, hh, mm, ss, tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        return None


def _time_near(s: str, start: int, end: int) -> re.Match | None:
    era = _ERA.match(s, end)
    if era is not None:
        end = era.end()  # "12 مارس 2024م 10:30": the era mark is not the end of the date
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
        (_HIJRI_NUM_YMD, None, _hijri_to_gregorian),
        (_HIJRI_YMD, _H_NAMES, _hijri_to_gregorian),
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
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=_LOCAL_ZONE.get()).astimezone(timezone.utc)


_HAS_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


def _jan1_evidence(folded: str, year: int) -> bool:
    """True when folded text ``folded`` itself writes 1 January ``year`` as a complete date."""
    return any((d.year, d.month, d.day) == (year, 1, 1) for _, d in _gregorian_candidates(folded))


def parse_date_text(text: str, *, fallback: bool = True, zone: tzinfo | None = None) -> datetime | None:
    """Parse the first complete date in one string from a feed, a sitemap or a page.

    Args:
        text: e.g. ``"الأحد, 12 مارس 2023 10:30:00 +0300"``, ``"Sun, 12 Mar 2023 07:30:00 GMT"``,
            ``"2023-03-12T10:30:00+03:00"``, ``"نشر في ١٢ مارس ٢٠٢٣"``, ``"12 آذار 2023"``,
            ``"الثلاثاء 20 رمضان 1444 هـ الموافق 11 أبريل 2023"``, ``"20 رمضان 1444 هـ"``.
        fallback: try dateparser (slow, ~ms per call) when the own tables find nothing and the
            string is short and contains a year.
        zone: the zone of a time written without one (an outlet's ``timezone`` in its seed);
            default UTC.  A date without a time is midnight in it.

    Returns:
        A timezone-aware UTC datetime, or ``None`` when the string holds no complete date
        (day, month and year): a bare year or month is never turned into 1 January.

    Rules: the earliest complete Gregorian date wins (so "نشر في X آخر تحديث Y" gives X); a Hijri
    date (day first or year first: ``20 رمضان 1444 هـ``, ``1444/09/20 هـ``, ``1444 هـ رمضان 20``)
    is used only when no Gregorian date is present (case 07: the Gregorian date after
    "الموافق" wins) and is converted with ``hijridate`` (Umm al-Qura, 1343–1500 AH); Solar Hijri
    (Iranian) month names are converted arithmetically (1300–1500 SH).  Numeric
    dates are read day first (``12/03/2023`` = 12 March) unless that is impossible.  Numbered
    Levantine months (``كانون 2`` = January, ``تشرين 1`` = October) are month names.  An era mark
    after the year (``2024م``, ``1445هـ``) does not end the date: the time after it is kept.  A
    time takes ``ص``/``صباحا`` (AM) and ``م``/``مساء`` (PM) and a zone: a numeric offset, an
    RFC 822 name, or a name or abbreviation of ``config/timezones.yaml`` (``بتوقيت مكة
    المكرمة``, ``(بتوقيت الإمارات)``, ``AST`` = UTC+3; case 25), read with its daylight saving
    time.  A time without any is read in ``zone`` (UTC when none is given: nothing in the string
    says otherwise).
    """
    if not text:
        return None
    if zone is not None:
        token = _LOCAL_ZONE.set(zone)
        try:
            return parse_date_text(text, fallback=fallback)
        finally:
            _LOCAL_ZONE.reset(token)
    s = fold(text.strip())
    best = min(_gregorian_candidates(s), default=None, key=lambda c: c[0])
    if best is None:
        best = min(_calendar_candidates(s), default=None, key=lambda c: c[0])
    if best is not None:
        return best[1]
    if fallback and len(s) <= 80 and _HAS_YEAR.search(s):
        return _dateparser(text)
    return None
