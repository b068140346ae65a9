"""Atom channel: the stories appended to an Atom feed file (newest first, ``keep`` entries)."""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree as ET

from rasd.alerts.channels.base import DeliveryError
from rasd.alerts.render import ATOM_NS, _plain, also_reported, health_line, render_subject


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def atom_entries(message: dict) -> list[ET.Element]:
    """One ``<entry>`` per story: id ``urn:rasd:alert:<name>:<story_id>:<kind>:<created_at>``."""
    out = []
    if message["kind"] == "health":  # one entry per change (rasd.alerts.health)
        entry = ET.Element(f"{{{ATOM_NS}}}entry")
        _el(entry, "id", f"urn:rasd:alert:{message['alert']}:{message['id']}")
        _el(entry, "title", render_subject(message))
        _el(entry, "updated", message["created_at"])
        _el(_el(entry, "author"), "name", message["health"]["outlet"])
        _el(entry, "summary", health_line(message))
        out.append(entry)
    for s in message["stories"]:
        entry = ET.Element(f"{{{ATOM_NS}}}entry")
        _el(entry, "id", f"urn:rasd:alert:{message['alert']}:{s['story_id']}:{message['kind']}:"
                         f"{message['created_at']}")
        _el(entry, "title", _plain(s["title"]) or s["url"])
        _el(entry, "updated", message["created_at"])
        if s.get("published_at"):
            _el(entry, "published", s["published_at"])
        _el(_el(entry, "author"), "name", s["outlet"] or "unknown")
        if s["url"]:
            _el(entry, "link", href=s["url"])
        summary = _plain(s["highlight"].get("snippet", ""))
        also = also_reported(s["also_reported_by"])
        _el(entry, "summary", " — ".join(x for x in (summary, also) if x) or _plain(s["title"]))
        out.append(entry)
    return out


def send(target: dict, message: dict) -> None:
    path, keep = Path(target["path"]), int(target.get("keep", 50))
    old: list[ET.Element] = []
    if path.exists():
        try:
            old = ET.parse(path).getroot().findall(f"{{{ATOM_NS}}}entry")
        except ET.ParseError as exc:
            raise DeliveryError(f"atom {path}: existing feed is not XML: {exc}") from None
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _el(feed, "id", f"urn:rasd:alert:{message['alert']}")
    _el(feed, "title", f"Rasd alert {message['alert']}: {message['query']}")
    _el(feed, "updated", message["created_at"])
    _el(_el(feed, "author"), "name", "Rasd")
    _el(feed, "generator", "Rasd")
    known = {e.findtext(f"{{{ATOM_NS}}}id") for e in old}
    fresh = [e for e in atom_entries(message) if e.findtext(f"{{{ATOM_NS}}}id") not in known]
    for entry in (fresh + old)[:keep]:  # a retried delivery adds no second copy of an entry
        feed.append(entry)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(feed).write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, path)
    except OSError as exc:
        raise DeliveryError(f"atom {path}: {exc}") from None


write_atom = send
