"""Pure helpers of the web app's pages: times, highlights, text differences, Kibana links, CSV
and Atom exports.  Everything that turns crawled text into HTML escapes it first."""

from __future__ import annotations

import csv
import difflib
import io
import re
from datetime import datetime, timezone
from urllib.parse import quote
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from rasd.alerts.render import ATOM_NS, marked_html


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def times(value: str | None, zone: str) -> dict | None:
    """``{"iso", "local", "utc", "zone"}`` of an ISO time (``None`` when absent/unreadable):
    ``local`` = ``YYYY-MM-DD HH:MM`` in ``zone``, ``utc`` = the same in UTC."""
    dt = parse_iso(value)
    if dt is None:
        return None
    local = dt.astimezone(ZoneInfo(zone))
    return {"iso": dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "local": local.strftime("%Y-%m-%d %H:%M"), "utc": dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "zone": zone}


def marked(text: str | None) -> Markup:
    """Crawled text with the engine's highlight markers as ``<mark>``: escaped first, so any
    markup in it shows as text."""
    return Markup(marked_html(" ".join((text or "").split())))


_WORD = re.compile(r"\S+|\s+")


def text_diff(base: str, other: str) -> tuple[Markup, int]:
    """``other`` as HTML with the words not in ``base`` in ``<ins>`` and the words of ``base``
    missing from it in ``<del>`` (word-level :class:`difflib.SequenceMatcher`, every word
    escaped), and how many words differ."""
    a, b = _WORD.findall(base or ""), _WORD.findall(other or "")
    out, changed = [], 0
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(escape("".join(b[j1:j2])))
            continue
        if i2 > i1:
            removed = "".join(a[i1:i2])
            changed += sum(1 for w in a[i1:i2] if w.strip())
            out.append(Markup("<del>") + escape(removed) + Markup("</del>"))
        if j2 > j1:
            added = "".join(b[j1:j2])
            changed += sum(1 for w in b[j1:j2] if w.strip())
            out.append(Markup("<ins>") + escape(added) + Markup("</ins>"))
    return Markup("").join(out), changed


def _rison(value: str) -> str:
    """A string in Rison (Kibana's URL state): ``'…'`` with ``!`` and ``'`` escaped by ``!``."""
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def kibana_discover(base: str, data_view: str, query: str, since: str | None, until: str | None) -> str:
    """A Kibana Discover URL showing ``query`` (Lucene) on ``data_view`` over ``since``–``until``
    (default: the last 30 days)."""
    g = f"(time:(from:{_rison(since or 'now-30d')},to:{_rison(until or 'now')}))"
    a = (f"(index:{_rison(data_view)},query:(language:lucene,query:{_rison(query or '')}),"
         "sort:!(!(published_at,desc)))")
    return f"{base.rstrip('/')}/app/discover#/?_g={quote(g, safe='(),:!')}&_a={quote(a, safe='(),:!')}"


CSV_COLUMNS = ("id", "story_id", "duplicate_of", "published_at", "outlet", "outlet_name", "language",
               "topics", "title", "url")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # a cell a spreadsheet would run as a formula (=, +, -, @, tab, CR) is prefixed with '
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(hits, outlet_name) -> str:
    """The hits as CSV (header :data:`CSV_COLUMNS`, UTF-8 with a BOM so spreadsheets read Arabic)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for h in hits:
        plain = h.as_json()
        w.writerow([_cell(x) for x in (h.id, h.story_id, h.duplicate_of, h.published_at, h.outlet,
                                       outlet_name(h.outlet), h.language, " ".join(h.topics),
                                       plain["title"], h.url)])
    return buf.getvalue()


def to_atom(hits, outlet_name, title: str, self_url: str) -> bytes:
    """The hits as an Atom 1.0 feed (RFC 4287); ElementTree escapes every text."""
    ET.register_namespace("", ATOM_NS)

    def el(parent, tag, text=None, **attrs):
        node = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            node.text = text
        return node

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    el(feed, "id", "urn:rasd:search:" + quote(self_url, safe=""))
    el(feed, "title", title)
    el(feed, "updated", datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"))
    el(feed, "link", rel="self", href=self_url)
    el(el(feed, "author"), "name", "Rasd")
    for h in hits:
        plain = h.as_json()
        entry = el(feed, "entry")
        el(entry, "id", f"urn:rasd:article:{h.id}")
        el(entry, "title", plain["title"] or h.url)
        el(entry, "updated", h.published_at or h.fetched_at or datetime.now(timezone.utc).isoformat())
        if h.published_at:
            el(entry, "published", h.published_at)
        el(el(entry, "author"), "name", outlet_name(h.outlet))
        if h.url:
            el(entry, "link", href=h.url)
        summary = plain["snippet"] + (f" — copy of {h.duplicate_of}" if h.duplicate_of else "")
        el(entry, "summary", summary)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
