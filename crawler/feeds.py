"""Read RSS/Atom feeds and XML sitemaps into article links: pure functions, no Scrapy, no network.

Three steps, each a plain function over bytes or entries:

* :func:`parse_feed` — RSS 0.9x/1.0/2.0 and Atom through feedparser → :class:`FeedParse`;
* :func:`parse_sitemap` — ``<urlset>`` (plain and Google News) and ``<sitemapindex>``, plain,
  gzipped or plain-text → :class:`SitemapParse`;
* :func:`filter_entries` — keeps the entries an outlet owns, once each.

Neither parser raises for a bad document: a body they refuse or cannot read gives a result whose
``error`` is a :class:`FeedError` (with a short ``reason`` code for the stats), and problems they
can live with are listed in ``warnings``.  So one listing ends in exactly one outcome: ok (with
``entries``) or failed (with ``error.reason``).

Safety.  Feeds and sitemaps come from the open web and are parsed by XML parsers, so:

* a body is decoded by Rasd, not by the parsers (:func:`rasd.crawler.encodings.xml_to_utf8`:
  byte-order mark, XML declaration, ``Content-Type`` charset, evidence of the bytes), and the
  parsers get UTF-8 whose declaration says so.  A body whose BOM, declaration or charset names
  an encoding the safe parser does not handle (UTF-7, EBCDIC, ISO-2022-…) is refused
  (``unsafe_encoding``): in UTF-7 ``<!ENTITY`` can be written ``+ADwAIQ-ENTITY``, which the
  entity check below cannot see and feedparser would decode and expand;
* any ``<!ENTITY`` declaration is refused before a parser that could expand it sees the bytes
  (checked with ``defusedxml``, which stops at the declaration, so a "billion laughs" bomb costs
  nothing; external entities are refused the same way).  A DOCTYPE without entities, such as
  RSS 0.91's Netscape DTD, is fine.  Internal entity declarations are rare enough in real feeds
  that refusing them all is simpler than judging them;
* bodies, and gzip bodies after decompression, are capped (:data:`MAX_FEED_BYTES`,
  :data:`MAX_SITEMAP_BYTES`, the sitemap protocol's own 50 MB limit), which defeats gzip bombs;
* sitemaps are read by lxml with ``resolve_entities=False``, ``no_network=True``, ``load_dtd=False``
  and ``huge_tree=False``;
* feedparser is handed a file object, never the URL or raw bytes: given bytes that look like a path
  it would read that file from disk, and given a URL it would fetch it.

Dates become timezone-aware UTC.  When feedparser cannot read a feed's date (Arabic weekday and
month names, case 14) the raw string goes to :func:`rasd.pipelines.dates.parse_date_text`.
A date is only evidence when it is sane (:func:`sane_date`): one before
:data:`EARLIEST_DATE` or more than :data:`FUTURE_SLACK` ahead, one whose text has a
five-digit year (feedparser reads ``10000-01-01T00:00:00Z`` as 2010-12-01) or an offset
beyond ±14:00 (``+9999``) is dropped, with a ``date_out_of_range`` warning, never repaired:
the page's own date is used instead.

Sources: RSS 2.0 (cyber.harvard.edu/rss/rss.html), RFC 4287 (Atom), sitemaps.org protocol 0.9,
Google's News sitemap schema (``http://www.google.com/schemas/sitemap-news/0.9``), the
defusedxml README (entity attacks), and cases 13 (gzip sitemap served as
``application/x-gzip``; raw and percent-encoded Arabic URLs) and 14 (Arabic ``pubDate``;
``CharacterEncodingOverride`` bozo on a good feed).
"""

from __future__ import annotations

import calendar
import gzip
import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree
import feedparser
from defusedxml import DefusedXmlException
from lxml import etree
from rasd.core.datetext import parse_date_text
from rasd.core.urls import canonicalize_url
from rasd.core.errors import RasdError
from rasd.crawler.encodings import SAFE_CODECS, UnsafeEncoding, utf_codec, xml_to_utf8

if TYPE_CHECKING:
    from rasd.core.seeds import Outlet

#: Largest feed body accepted, in bytes (after gzip decompression).  Real feeds are < 5 MB.
MAX_FEED_BYTES = 20 * 1024 * 1024
#: Largest sitemap accepted, in bytes after decompression: the sitemaps.org limit (50 MB).
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
#: URLs per sitemap allowed by sitemaps.org; more is kept but warned about.
SITEMAP_MAX_URLS = 50_000

Source = Literal["rss", "atom", "sitemap", "news_sitemap"]

_GZIP_MAGIC = b"\x1f\x8b"
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_NEWS_NS = "http://www.google.com/schemas/sitemap-news/"
_HTML = re.compile(r"(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)


class FeedError(RasdError):
    """A feed or sitemap was refused or could not be read.

    ``reason`` is a short code for counters and logs:

    * ``too_large`` — body or decompressed body over the cap;
    * ``bad_gzip`` — gzip magic bytes but no readable gzip data;
    * ``empty`` — nothing but whitespace;
    * ``not_xml`` — binary or text that is not XML (nor a plain-text sitemap);
    * ``unsafe_encoding`` — the body is in, or declares, an encoding the safe parser does
      not handle (UTF-7, EBCDIC, …: :mod:`rasd.crawler.encodings`);
    * ``xml_entities`` — an ``<!ENTITY`` declaration (entity bomb, external entity);
    * ``malformed`` — XML so broken that nothing could be read from it;
    * ``not_a_feed`` / ``not_a_sitemap`` — well-formed XML of another kind (an HTML page, …).
    """

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(f"{reason}: {message}")

    @property
    def refused(self) -> bool:
        """A hostile document refused at the door (:data:`REFUSALS`), not a broken one."""
        return self.reason in REFUSALS


#: Reasons of listings refused as hostile (the spider counts them ``skipped/<reason>``).
REFUSALS = frozenset({"unsafe_encoding", "xml_entities"})


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One link found in a feed or sitemap.

    Attributes:
        url: absolute URL as listed (relative links resolved against the document's URL; not
            canonicalised — :func:`filter_entries` compares canonical forms).
        title: the entry's title with whitespace collapsed (RSS/Atom ``title``,
            ``news:title``), or ``None``.
        published_at: publication time, timezone-aware UTC, or ``None`` when absent or
            unreadable.  RSS ``pubDate``/Atom ``published``; for RSS 1.0 ``dc:date`` and Atom
            entries without ``published``, the ``updated`` date stands in.  Sitemaps:
            ``news:publication_date`` only (``lastmod`` is a modification time).
        published_raw: the date string as written in the document, or ``None``.
        source: ``"rss"``, ``"atom"``, ``"sitemap"`` or ``"news_sitemap"``.
        updated_at: ``updated``/``lastmod``, timezone-aware UTC, or ``None``.
        is_sitemap: ``True`` for a child sitemap listed by a sitemap index (to be read with
            :func:`parse_sitemap`, not an article).
    """

    url: str
    title: str | None = None
    published_at: datetime | None = None
    published_raw: str | None = None
    source: Source = "rss"
    updated_at: datetime | None = None
    is_sitemap: bool = False


@dataclass(frozen=True, slots=True)
class FeedParse:
    """What :func:`parse_feed` read.

    Attributes:
        entries: the feed's items in document order (entries without any link are dropped
            with a warning).
        warnings: ``"code: detail"`` strings for problems that did not stop parsing
            (``encoding``, ``malformed``, ``no_link``, ``date`` …).
        error: why the feed was refused or unreadable; ``entries`` is then empty.
        kind: ``"rss"`` or ``"atom"`` (``None`` when refused).
        title: the channel/feed title, or ``None``.
    """

    entries: tuple[FeedEntry, ...] = ()
    warnings: tuple[str, ...] = ()
    error: FeedError | None = None
    kind: Literal["rss", "atom"] | None = None
    title: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> "FeedParse":
        """Return ``self``, or raise :attr:`error`."""
        if self.error is not None:
            raise self.error
        return self


@dataclass(frozen=True, slots=True)
class SitemapParse:
    """What :func:`parse_sitemap` read.

    Attributes:
        entries: page URLs of a ``<urlset>`` (or of a feed or text file used as a sitemap).
        sitemaps: child sitemap URLs of a ``<sitemapindex>``, as strings.
        sitemap_entries: the same children as entries (``is_sitemap=True``, ``updated_at`` from
            ``lastmod``), for callers that skip unchanged children.
        is_sitemap_index: the document was a ``<sitemapindex>``.
        warnings: ``"code: detail"`` strings for problems that did not stop parsing.
        error: why the sitemap was refused or unreadable; the tuples are then empty.
    """

    entries: tuple[FeedEntry, ...] = ()
    sitemaps: tuple[str, ...] = ()
    sitemap_entries: tuple[FeedEntry, ...] = ()
    is_sitemap_index: bool = False
    warnings: tuple[str, ...] = ()
    error: FeedError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> "SitemapParse":
        """Return ``self``, or raise :attr:`error`."""
        if self.error is not None:
            raise self.error
        return self


# --------------------------------------------------------------------------------------------
# Bytes → safe XML bytes


def _gunzip(body: bytes, max_bytes: int, warnings: list[str]) -> bytes:
    """Decompress a gzip body (one or more members), at most ``max_bytes`` of output.

    A truncated stream keeps what was decompressed, with a warning.

    Raises:
        FeedError: ``too_large`` past the cap, ``bad_gzip`` when nothing could be decompressed.
    """
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            while chunk := stream.read(min(1 << 20, max_bytes + 1 - len(out))):
                out += chunk
                if len(out) > max_bytes:
                    raise FeedError("too_large", f"gzip body inflates past {max_bytes} bytes")
    except (EOFError, OSError, zlib.error) as exc:
        if not out:
            raise FeedError("bad_gzip", f"unreadable gzip data ({exc})") from None
        warnings.append(f"truncated_gzip: kept the first {len(out)} decompressed bytes ({exc})")
    return bytes(out)


def _codec_for(body: bytes) -> str:
    """The codec a body's byte-order mark (or a NUL next to its first ``<``) implies; UTF-8
    otherwise, which also finds the ASCII markup of single-byte charsets such as windows-1256."""
    if body[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    if body[:2] == b"<\x00":
        return "utf-16-le"
    if body[:2] == b"\x00<":
        return "utf-16-be"
    return "utf-8-sig"


def _sniff_text(body: bytes) -> str:
    """The first 4 KB of the body as text, enough to see what kind of document it is."""
    return body[:4096].decode(_codec_for(body), "replace")


def _prepare(body: bytes, max_bytes: int, warnings: list[str]) -> tuple[bytes, str]:
    """Common first step of both parsers: cap, gunzip, and a look at the first characters.

    Returns the (decompressed) body and its first characters, whitespace stripped.

    Raises:
        FeedError: ``too_large``, ``bad_gzip``, ``unsafe_encoding`` (a byte-order mark or
            pattern of an encoding outside the safe ones) or ``empty``.
    """
    if len(body) > max_bytes:
        raise FeedError("too_large", f"body of {len(body)} bytes is over {max_bytes}")
    if body[:2] == _GZIP_MAGIC:  # whatever the Content-Type or file name says (case 13)
        body = _gunzip(body, max_bytes, warnings)
    sniffed = utf_codec(body)
    if sniffed is not None and sniffed[0] not in SAFE_CODECS:  # UTF-7's BOM, EBCDIC's "<?xm"
        raise FeedError("unsafe_encoding", str(UnsafeEncoding(sniffed[0], "bom" if sniffed[1] else "sniffed")))
    head = _sniff_text(body).lstrip()
    if not head:
        raise FeedError("empty", "the body is empty")
    return body, head


_DECLARED_ENCODING = re.compile(r"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _trim_partial_utf8(body: bytes, head: str, warnings: list[str]) -> bytes:
    """Drop a UTF-8 sequence cut in half at the very end of a truncated body.

    Otherwise feedparser, failing to decode the whole body as UTF-8, falls back to a
    single-byte charset and turns every Arabic title into mojibake.  Only for documents that
    declare UTF-8 or nothing; a body invalid anywhere else is left as it is.
    """
    declared = _DECLARED_ENCODING.match(head)
    if declared and declared.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        return body
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end == len(body) and exc.reason == "unexpected end of data":
            warnings.append(f"truncated: dropped {len(body) - exc.start} bytes of a cut UTF-8 character")
            return body[: exc.start]
    return body


_ROOT_END = re.compile(rb"</(?:[\w.-]+:)?(?:rss|feed|RDF|urlset|sitemapindex)\s*>\s*$")


def _unclosed_tail(body: bytes, element: bytes, read: int) -> bool:
    """True when a body was cut off inside its last ``element``: the document does not end with
    its root's closing tag, and fewer ``</element>`` tags than ``read`` items appear in it.
    A parser in recovery mode returns such a last item with a cut title or URL."""
    if _ROOT_END.search(body[-256:]):
        return False
    closed = len(re.findall(rb"</(?:[\w.-]+:)?" + element + rb"\s*>", body))
    return closed < read


def _looks_binary(head: str) -> bool:
    """NULs or many C0 control characters, which XML 1.0 forbids.  (Invalid UTF-8 alone proves
    nothing: a windows-1256 feed is full of it.)"""
    controls = sum(1 for c in head if c < " " and c not in "\t\n\r")
    return "\x00" in head or controls > 2 + len(head) // 100


def _refuse_entities(body: bytes, warnings: list[str]) -> None:
    """Refuse any entity declaration before an expanding parser sees the document.

    defusedxml raises on the declaration itself, so the check costs one parse of a well-formed
    document and nothing is ever expanded.  For a document expat cannot parse (the check may
    then stop before the DTD), the raw text is scanned for ``<!ENTITY`` instead.

    Raises:
        FeedError: ``xml_entities``.
    """
    try:
        defusedxml.ElementTree.fromstring(
            body, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise FeedError(
            "xml_entities",
            f"refused: the document declares XML entities ({type(exc).__name__}); "
            "entity expansion and external entities are not allowed",
        ) from None
    except (ParseError, ValueError, LookupError) as exc:
        if _ENTITY_DECL.search(body.decode(_codec_for(body), "replace")):
            raise FeedError(
                "xml_entities", "refused: the (malformed) document declares XML entities"
            ) from None
        warnings.append(f"malformed: not well-formed XML ({exc})")


def _decoded(body: bytes, content_type: str | None, warnings: list[str]) -> bytes:
    """The body as UTF-8 (:func:`rasd.crawler.encodings.xml_to_utf8`).

    Raises:
        FeedError: ``unsafe_encoding``.
    """
    try:
        utf8, codec = xml_to_utf8(body, content_type)
    except UnsafeEncoding as exc:
        raise FeedError("unsafe_encoding", str(exc)) from None
    if codec != "utf-8":
        warnings.append(f"encoding: read as {codec}")
    return utf8


# --------------------------------------------------------------------------------------------
# Dates


#: Dates before this are not news-listing dates (RSS is from 1999; the web from 1991).
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=timezone.utc)
#: How far ahead of now a listing date may be (time zones, clocks a little fast).
FUTURE_SLACK = timedelta(days=1)
_LONG_NUMBER = re.compile(r"(?<![.,\d])\d{5,}")  # a 5-digit "year" (a fraction of a second excepted)
_OFFSET = re.compile(r"(?:^|[\sT\d])([+-])(\d{2}):?(\d{2})\s*$")


def sane_date(value: datetime | None, raw: str | None, now: datetime | None = None) -> str | None:
    """Why a listing date is not evidence, or ``None`` when it is.

    ``value`` is the date as read (aware UTC), ``raw`` the text it was read from.  Refused:
    before :data:`EARLIEST_DATE`, more than :data:`FUTURE_SLACK` after ``now`` (default: the
    clock), a text with a number of five or more digits (a year such as ``10000``, which
    feedparser reads as 2010-12-01), or a numeric offset beyond ±14:00 or with minutes ≥ 60
    (``+9999``).  Such a date is dropped, never repaired: nothing can say what was meant.
    """
    if value is None:
        return None
    if raw:
        if _LONG_NUMBER.search(raw):
            return f"a number of five or more digits in {raw!r}"
        m = _OFFSET.search(raw.strip())
        if m and (int(m.group(2)) > 14 or int(m.group(3)) > 59):
            return f"offset {m.group(1)}{m.group(2)}{m.group(3)} beyond ±14:00 in {raw!r}"
    if value < EARLIEST_DATE:
        return f"{value.date().isoformat()} is before {EARLIEST_DATE.year}"
    if value > (now or datetime.now(timezone.utc)) + FUTURE_SLACK:
        return f"{value.isoformat()} is more than a day ahead"
    return None


def _checked(value: datetime | None, raw: str | None, what: str, warnings: list[str]) -> datetime | None:
    """``value``, or ``None`` with a ``date_out_of_range`` warning (:func:`sane_date`)."""
    why = sane_date(value, raw)
    if why is None:
        return value
    warnings.append(f"date_out_of_range: {what} dropped: {why}")
    return None


def _to_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # no offset written: UTC, as feedparser and parse_date_text do
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 pushed out of range by the offset
        return None


def _from_struct(parsed) -> datetime | None:
    """feedparser's ``*_parsed`` (a ``time.struct_time`` in UTC) → aware UTC datetime."""
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def _date_from_feed(entry, key: str, warnings: list[str]) -> tuple[datetime | None, str | None]:
    # dict.get, not entry.get: feedparser's dict answers "updated" with "published" (deprecated)
    raw = _clean(dict.get(entry, key))
    if raw is None:
        return None, None
    value = _from_struct(dict.get(entry, f"{key}_parsed"))
    if value is None:
        value = _to_utc(parse_date_text(raw))
        if value is None:
            warnings.append(f"date: unreadable {key} {raw!r}")
    return _checked(value, raw, key, warnings), raw


def _w3c_date(raw: str | None) -> datetime | None:
    """A sitemap date (W3C Datetime, an ISO 8601 profile) → aware UTC; other forms through
    :func:`parse_date_text`.  A date without a time is midnight UTC (the protocol's own
    precision, not a guess: the day is known)."""
    if not raw:
        return None
    try:
        return _to_utc(datetime.fromisoformat(raw))
    except ValueError:
        return _to_utc(parse_date_text(raw))


# --------------------------------------------------------------------------------------------
# Feeds


def _is_malformed(warnings: list[str]) -> bool:
    return any(w.startswith("malformed:") for w in warnings)


def _clean(text) -> str | None:
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    return text or None


def _entry_url(entry, base: str) -> str | None:
    link = _clean(entry.get("link"))
    if link is None:
        guid = _clean(entry.get("id"))
        if guid and guid.lower().startswith(("http://", "https://")):
            link = guid
    if link is None:
        return None
    return urljoin(base, link.replace(" ", "%20"))


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> FeedParse:
    """Read the entries of an RSS or Atom feed.

    Args:
        body: the response body as received (gzip is detected by its magic bytes and inflated).
        url: the feed's URL, the base for relative links (never fetched).
        content_type: the response's ``Content-Type``, if any; feedparser uses its charset.

    Returns:
        :class:`FeedParse`.  Never raises for bad input: a refused or unreadable body gives
        ``error`` (a :class:`FeedError`).  A malformed feed from which feedparser still reads
        entries keeps them, with a ``malformed`` warning; feedparser's ``bozo`` for a
        ``CharacterEncodingOverride`` or ``NonXMLContentType`` is only a warning (case 14).
    """
    warnings: list[str] = []
    try:
        body, head = _prepare(body, MAX_FEED_BYTES, warnings)
        if not head.startswith("<") or _looks_binary(head):
            raise FeedError("not_xml", "the body is not XML (binary data or plain text)")
        body = _trim_partial_utf8(body, head, warnings)
        body = _decoded(body, content_type, warnings)
        _refuse_entities(body, warnings)
    except FeedError as exc:
        return FeedParse(warnings=tuple(warnings), error=exc)

    headers = {"content-location": url}
    if content_type:  # the body is UTF-8 now, whatever the server said
        headers["content-type"] = content_type.split(";")[0].strip() + "; charset=utf-8"
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:  # feedparser is defensive, but it must not take the crawl down
        return FeedParse(warnings=tuple(warnings),
                         error=FeedError("malformed", f"feedparser failed: {exc!r}"))

    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        name = type(exc).__name__
        if isinstance(exc, feedparser.NonXMLContentType) and content_type is None:
            pass  # no Content-Type given: nothing to warn about
        elif isinstance(exc, (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType,
                              feedparser.CharacterEncodingUnknown)):
            warnings.append(f"encoding: {name}: {exc}")
        elif not _is_malformed(warnings):
            warnings.append(f"malformed: {name}: {exc}")

    version = parsed.get("version") or ""
    kind: Literal["rss", "atom"] = "atom" if version.startswith("atom") else "rss"
    entries: list[FeedEntry] = []
    no_link = 0
    last_kept = False  # was the document's last item kept (it is the one a truncation cuts)?
    for item in parsed.entries:
        link = _entry_url(item, url)
        last_kept = link is not None
        if link is None:
            no_link += 1
            continue
        published_at, raw = _date_from_feed(item, "published", warnings)
        updated_at, updated_raw = _date_from_feed(item, "updated", warnings)
        if raw is None and updated_raw is not None:  # RSS 1.0 dc:date, Atom without <published>
            published_at, raw = updated_at, updated_raw
        entries.append(FeedEntry(url=link, title=_clean(item.get("title")),
                                 published_at=published_at, published_raw=raw,
                                 source=kind, updated_at=updated_at))
    if no_link:
        warnings.append(f"no_link: {no_link} entries without a link were skipped")
    if last_kept and _is_malformed(warnings) and _unclosed_tail(
            body, b"entry" if kind == "atom" else b"item", len(entries) + no_link):
        entries.pop()
        warnings.append("truncated: dropped the last entry, cut off before its end")

    if not entries:
        error = None
        if not version and _HTML.match(head):
            error = FeedError("not_a_feed", "an HTML page, not a feed")
        elif _is_malformed(warnings):
            error = FeedError("malformed", "no entries could be read from the malformed feed")
        elif not version and not no_link:
            error = FeedError("not_a_feed", "XML but not RSS or Atom (no channel, no items)")
        if error is not None:
            return FeedParse(warnings=tuple(warnings), error=error)
        warnings.append("empty: the feed lists no entries")
    feed_title = _clean(parsed.feed.get("title")) if parsed.get("feed") else None
    return FeedParse(entries=tuple(entries), warnings=tuple(warnings), kind=kind, title=feed_title)


# --------------------------------------------------------------------------------------------
# Sitemaps


def _local(tag) -> str:
    """Local name of an lxml tag: ``{ns}name`` → ``name``; also ``prefix:name``, which lxml's
    recovery mode leaves for an undeclared or cut-off prefix; ``""`` for comments and PIs."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2].rpartition(":")[2]


def _child_text(parent, name: str) -> str | None:
    for child in parent:
        if _local(child.tag) == name:
            return _clean("".join(child.itertext()))
    return None


def _news_element(url_el):
    for child in url_el:
        if _local(child.tag) == "news" and child.tag.startswith("{" + _NEWS_NS):
            return child
    return None


def _safe_xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, recover=True,
                           remove_comments=True, remove_pis=True)


def parse_sitemap(body: bytes, url: str, *, max_bytes: int = MAX_SITEMAP_BYTES,
                  content_type: str | None = None) -> SitemapParse:
    """Read a sitemap: its page URLs, or the child sitemaps of a sitemap index.

    Accepts ``<urlset>`` (with Google News ``news:title``/``news:publication_date``; ``image:``
    and ``video:`` extensions are ignored), ``<sitemapindex>``, a gzipped body (detected by the
    magic bytes ``1f 8b``, whatever the Content-Type or extension: case 13), a plain-text sitemap
    (one URL a line) and an RSS/Atom feed used as a sitemap (passed to :func:`parse_feed`).
    Elements are matched by local name, so a missing or outdated sitemap namespace is tolerated.

    Args:
        body: the response body as received.
        url: the sitemap's URL, the base for relative ``<loc>`` values (never fetched).
        max_bytes: cap on the body after decompression (default: the protocol's 50 MB).
        content_type: the response's ``Content-Type``, if any (its charset is one piece of
            evidence of the encoding; an unsafe one is refused).

    Returns:
        :class:`SitemapParse`.  Never raises for bad input: a refused or unreadable body gives
        ``error`` (a :class:`FeedError`); a truncated sitemap keeps the URLs before the cut,
        with a ``malformed`` warning.
    """
    warnings: list[str] = []
    try:
        body, head = _prepare(body, max_bytes, warnings)
        if _looks_binary(head):
            raise FeedError("not_xml", "the body is binary, not XML or text")
        if not head.startswith("<"):
            return _text_sitemap(body, url, warnings)
        body = _decoded(body, content_type, warnings)
        _refuse_entities(body, warnings)
        try:
            root = etree.fromstring(body, _safe_xml_parser())
        except etree.XMLSyntaxError as exc:
            raise FeedError("malformed", f"no XML could be read ({exc})") from None
        if root is None:
            raise FeedError("malformed", "no XML element could be read")
    except FeedError as exc:
        return SitemapParse(warnings=tuple(warnings), error=exc)

    name = _local(root.tag)
    if name in ("rss", "feed", "RDF"):
        feed = parse_feed(body, url)
        return SitemapParse(entries=feed.entries, warnings=tuple(warnings) + feed.warnings,
                            error=feed.error)
    if name not in ("urlset", "sitemapindex"):
        return SitemapParse(warnings=tuple(warnings), error=FeedError(
            "not_a_sitemap", f"root element <{name}> is neither <urlset> nor <sitemapindex>"))

    is_index = name == "sitemapindex"
    item_name = "sitemap" if is_index else "url"
    entries: list[FeedEntry] = []
    no_loc = 0
    last_kept = False  # was the document's last item kept (it is the one a truncation cuts)?
    for item in root:
        if _local(item.tag) != item_name:
            continue
        entry = _sitemap_entry(item, url, is_index, warnings)
        last_kept = entry is not None
        if entry is None:
            no_loc += 1
        else:
            entries.append(entry)

    if no_loc:
        warnings.append(f"no_loc: {no_loc} <{item_name}> elements without <loc> were skipped")
    if last_kept and _is_malformed(warnings) and _unclosed_tail(
            body, item_name.encode(), len(entries) + no_loc):
        entries.pop()
        warnings.append(f"truncated: dropped the last <{item_name}>, cut off before its end")
    if len(entries) > SITEMAP_MAX_URLS:
        warnings.append(f"too_many_urls: {len(entries)} URLs, over the protocol's {SITEMAP_MAX_URLS}")
    if not entries:
        if _is_malformed(warnings):
            return SitemapParse(warnings=tuple(warnings), error=FeedError(
                "malformed", f"no URLs could be read from the malformed <{name}>"))
        warnings.append(f"empty: the <{name}> lists no URLs")
    if is_index:
        return SitemapParse(sitemaps=tuple(e.url for e in entries), sitemap_entries=tuple(entries),
                            is_sitemap_index=True, warnings=tuple(warnings))
    return SitemapParse(entries=tuple(entries), warnings=tuple(warnings))


def _sitemap_entry(item, base: str, is_index: bool, warnings: list[str]) -> FeedEntry | None:
    """One ``<url>`` or ``<sitemap>`` element → entry (``None`` without ``<loc>``)."""
    loc = _child_text(item, "loc")
    if loc is None:
        return None
    lastmod_raw = _child_text(item, "lastmod")
    updated_at = _w3c_date(lastmod_raw)
    if lastmod_raw and updated_at is None:
        warnings.append(f"date: unreadable lastmod {lastmod_raw!r}")
    updated_at = _checked(updated_at, lastmod_raw, "lastmod", warnings)
    url = urljoin(base, loc.replace(" ", "%20"))
    news = None if is_index else _news_element(item)
    if news is None:
        return FeedEntry(url=url, source="sitemap", updated_at=updated_at, is_sitemap=is_index)
    raw = _child_text(news, "publication_date")
    published_at = _w3c_date(raw)
    if raw and published_at is None:
        warnings.append(f"date: unreadable news:publication_date {raw!r}")
    published_at = _checked(published_at, raw, "news:publication_date", warnings)
    return FeedEntry(url=url, title=_child_text(news, "title"), published_at=published_at,
                     published_raw=raw, source="news_sitemap", updated_at=updated_at)


def _text_sitemap(body: bytes, url: str, warnings: list[str]) -> SitemapParse:
    """A plain-text sitemap: UTF-8, one absolute URL a line (sitemaps.org, "Text file").

    Raises:
        FeedError: ``not_xml`` when any non-empty line is not an http(s) URL.
    """
    text = body.decode("utf-8-sig", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not all(line.lower().startswith(("http://", "https://")) and " " not in line
               for line in lines):
        raise FeedError("not_xml", "the body is neither XML nor a plain-text list of URLs")
    entries = tuple(FeedEntry(url=urljoin(url, line), source="sitemap") for line in lines)
    return SitemapParse(entries=entries, warnings=tuple(warnings))


# --------------------------------------------------------------------------------------------
# Filtering


def filter_entries(entries: Iterable[FeedEntry], outlet: "Outlet"
                   ) -> tuple[list[FeedEntry], list[tuple[FeedEntry, str]]]:
    """Keep the entries that link to the outlet's own pages, once each.

    Args:
        entries: from one feed or sitemap.
        outlet: anything with ``owns(url) -> bool`` (normally a :class:`rasd.core.seeds.Outlet`:
            scheme, host in one form — Unicode and punycode IDNs alike — and port).

    Returns:
        ``(kept, rejected)``: kept entries in their original order, and ``(entry, reason)``
        pairs, each entry with exactly one reason:

        * ``not_http`` — not an ``http``/``https`` URL (``mailto:``, ``javascript:``, …);
        * ``bad_url`` — no host, or a URL :func:`rasd.core.urls.canonicalize_url` refuses;
        * ``off_domain`` — not the outlet's: another host, or another port of its host (an
          ``xml:base`` or a link to ``host:8080`` is another server);
        * ``duplicate`` — the same page as an earlier entry of this listing by Rasd's one URL
          identity, :func:`rasd.core.urls.canonicalize_url` (raw vs percent-encoded Arabic
          paths, query order, fragments: case 13; http/https, ``www.``, tracking parameters,
          AMP markers).  The first entry is kept; a page another listing of the crawl showed
          is the spider's ``listed_twice``.
    """
    kept: list[FeedEntry] = []
    rejected: list[tuple[FeedEntry, str]] = []
    seen: set[str] = set()
    for entry in entries:
        try:
            parts = urlsplit(entry.url)
            host = parts.hostname
        except ValueError:
            rejected.append((entry, "bad_url"))
            continue
        if parts.scheme.lower() not in ("http", "https"):
            rejected.append((entry, "not_http"))
            continue
        if not host:
            rejected.append((entry, "bad_url"))
            continue
        if not outlet.owns(entry.url):
            rejected.append((entry, "off_domain"))
            continue
        try:
            key = canonicalize_url(entry.url)
        except (ValueError, UnicodeError):
            rejected.append((entry, "bad_url"))
            continue
        if key in seen:
            rejected.append((entry, "duplicate"))
            continue
        seen.add(key)
        kept.append(entry)
    return kept, rejected
