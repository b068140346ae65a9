"""Alert messages rendered for each channel (pure functions; the channels in
:mod:`rasd.alerts.channels` send them).

A message is the dict described in :mod:`rasd.alerts.outbox`:

* :func:`render_text` — the plain-text part (also Slack's ``text``);
* :func:`render_html` — the HTML part: ``<html dir="rtl" lang="ar">``, the words the alert
  matched in ``<mark>`` (from the engine's highlight markers
  :data:`rasd.search.articles.HL_PRE`/:data:`~rasd.search.articles.HL_POST`, HTML-escaped around them);
* :func:`render_subject`, :func:`render_slack` (Slack's incoming-webhook format,
  https://api.slack.com/messaging/webhooks, ``<url|title>`` links).

The channels: ``webhook`` (HTTP POST of the JSON message or Slack's ``{"text"}``, 2xx =
delivered, ``Idempotency-Key``), ``email`` (SMTP, optional STARTTLS and login with the password
from ``password_env``, ``multipart/alternative`` text + HTML, a stable ``Message-ID``) and
``atom`` (the Atom 1.0 feed file, RFC 4287, rewritten with the new entries first, keeping the
newest ``keep``, through a temporary file and a rename) and ``apprise`` (subject + plain text
to every Apprise URL, :mod:`rasd.alerts.channels.apprise`).
"""

from __future__ import annotations

import html
from xml.etree import ElementTree as ET

from rasd.search.articles import HL_POST, HL_PRE

ATOM_NS = "http://www.w3.org/2005/Atom"
ET.register_namespace("", ATOM_NS)


def _plain(text: str) -> str:
    return (text or "").replace(HL_PRE, "").replace(HL_POST, "")


def also_reported(n: int) -> str:
    """``also reported by 1 other outlet`` / ``… by 3 other outlets`` / ``""`` for 0."""
    if n <= 0:
        return ""
    return f"also reported by {n} other outlet{'s' if n != 1 else ''}"


def _what(message: dict) -> str:
    kind = message["kind"]
    return "new story" if kind == "immediate" else f"{kind} digest"


def health_line(message: dict) -> str:
    """``outlet youm7 is now failing (was ok) since 2026-12-01T10:00:00Z: <reason>`` of a
    health message (:mod:`rasd.alerts.health`)."""
    h = message["health"]
    was = f" (was {h['previous']})" if h.get("previous") else ""
    return (f"outlet {h['outlet']} is now {h['state']}{was} since {h['since']}"
            + (f": {h['reason']}" if h.get("reason") else ""))


def render_subject(message: dict) -> str:
    if message["kind"] == "health":
        h = message["health"]
        return f"[Rasd] {message['alert']}: outlet {h['outlet']} is {h['state']}"
    stories = message["stories"]
    if message["kind"] == "immediate" and stories:
        return f"[Rasd] {message['alert']}: {_plain(stories[0]['title'])}"
    return f"[Rasd] {message['alert']}: {_what(message)}, {len(stories)} stories"


def render_text(message: dict) -> str:
    if message["kind"] == "health":
        return f"Rasd health alert {message['alert']}: {health_line(message)}\n"
    lines = [f"Rasd alert {message['alert']} ({_what(message)}) for: {message['query']}", ""]
    for s in message["stories"]:
        lines.append(f"* {_plain(s['title'])}")
        lines.append(f"  {s['outlet']}, {s.get('published_at') or 'undated'}")
        lines.append(f"  {s['url']}")
        if s["highlight"].get("snippet"):
            lines.append(f"  {_plain(s['highlight']['snippet'])}")
        if s["also_reported_by"]:
            lines.append(f"  {also_reported(s['also_reported_by'])} ({', '.join(s['outlets'])})")
        lines.append("")
    return "\n".join(lines)


def marked_html(text: str) -> str:
    """HTML-escape ``text`` and turn the highlight markers into ``<mark>…</mark>``."""
    return html.escape(text or "").replace(HL_PRE, "<mark>").replace(HL_POST, "</mark>")


def render_html(message: dict) -> str:
    if message["kind"] == "health":
        return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{html.escape(render_subject(message))}</title></head><body>"
                f"<p>Rasd health alert <b>{html.escape(message['alert'])}</b>: "
                f"{html.escape(health_line(message))}</p></body></html>\n")
    items = []
    for s in message["stories"]:
        extra = (f'<p class="also">{html.escape(also_reported(s["also_reported_by"]))}: '
                 f'{html.escape(", ".join(s["outlets"]))}</p>' if s["also_reported_by"] else "")
        snippet = marked_html(s["highlight"].get("snippet", ""))
        items.append(
            f'<li><h3><a href="{html.escape(s["url"], quote=True)}">{marked_html(s["highlight"]["title"])}'
            f'</a></h3><p class="meta" dir="ltr">{html.escape(s["outlet"])} · '
            f'{html.escape(s.get("published_at") or "undated")}</p>'
            f'<p>{snippet}</p>{extra}</li>')
    return ('<!DOCTYPE html>\n<html dir="rtl" lang="ar"><head><meta charset="utf-8">'
            f"<title>{html.escape(render_subject(message))}</title></head>"
            '<body dir="rtl" style="font-family: sans-serif; text-align: right">'
            f'<p dir="ltr">Rasd alert <b>{html.escape(message["alert"])}</b> '
            f'({html.escape(_what(message))}): <bdi>{html.escape(message["query"])}</bdi></p>'
            f'<ul>{"".join(items)}</ul></body></html>\n')


def render_slack(message: dict) -> dict:
    if message["kind"] == "health":
        return {"text": f"*Rasd health alert {message['alert']}*: {health_line(message)}"}
    lines = [f"*Rasd alert {message['alert']}* ({_what(message)}): {message['query']}"]
    for s in message["stories"]:
        also = f" — {also_reported(s['also_reported_by'])}" if s["also_reported_by"] else ""
        lines.append(f"• <{s['url']}|{_plain(s['title'])}> ({s['outlet']}){also}")
    return {"text": "\n".join(lines)}
