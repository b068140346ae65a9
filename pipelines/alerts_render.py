"""Alert messages rendered for each channel, and the senders that deliver them.

A message is the dict described in :mod:`pipelines.alerts_delivery`.  Renderers are pure:

* :func:`render_text` — the plain-text part (also Slack's ``text``);
* :func:`render_html` — the HTML part: ``<html dir="rtl" lang="ar">``, the words the alert
  matched in ``<mark>`` (from the engine's highlight markers
  :data:`rasd.search.HL_PRE`/:data:`~rasd.search.HL_POST`, HTML-escaped around them);
* :func:`render_subject`, :func:`render_slack`, :func:`atom_entries`.

Senders (:data:`SENDERS`) take ``(target, message)`` where ``target`` is the delivery's
settings as a dict (:class:`pipelines.alerts_model.WebhookDelivery` …) and raise
:class:`~pipelines.alerts_delivery.DeliveryError` on failure:

* ``webhook`` — HTTP POST, ``Content-Type: application/json``, 10 s timeout, 2xx = delivered;
  ``format: json`` sends the message, ``slack`` sends ``{"text": …}`` (Slack incoming-webhook
  format, https://api.slack.com/messaging/webhooks, ``<url|title>`` links);
* ``email`` — SMTP (``smtplib``), optional STARTTLS and login (password from the environment
  variable ``password_env``), a ``multipart/alternative`` mail with text and HTML parts;
* ``atom`` — rewrites the Atom 1.0 feed file (RFC 4287) with the new entries first, keeping
  the newest ``keep``; written to a temporary file and renamed (never a torn feed).
"""

from __future__ import annotations

import html
import json
import os
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from xml.etree import ElementTree as ET

from pipelines.alerts_delivery import DeliveryError
from rasd.search import HL_POST, HL_PRE

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


def render_subject(message: dict) -> str:
    stories = message["stories"]
    if message["kind"] == "immediate" and stories:
        return f"[Rasd] {message['alert']}: {_plain(stories[0]['title'])}"
    return f"[Rasd] {message['alert']}: {_what(message)}, {len(stories)} stories"


def render_text(message: dict) -> str:
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
    lines = [f"*Rasd alert {message['alert']}* ({_what(message)}): {message['query']}"]
    for s in message["stories"]:
        also = f" — {also_reported(s['also_reported_by'])}" if s["also_reported_by"] else ""
        lines.append(f"• <{s['url']}|{_plain(s['title'])}> ({s['outlet']}){also}")
    return {"text": "\n".join(lines)}


def webhook_payload(target: dict, message: dict) -> dict:
    """What the webhook receives: the message (highlight markers removed) or Slack's text."""
    if target.get("format") == "slack":
        return render_slack(message)
    clean = json.loads(json.dumps(message, ensure_ascii=False))
    for s in clean["stories"]:
        s["highlight"] = {k: _plain(v) for k, v in s["highlight"].items()}
    return clean


def send_webhook(target: dict, message: dict, timeout: float = 10.0) -> None:
    """POST the message as JSON.  The notification's stable id goes in ``Idempotency-Key`` (the
    IETF httpapi draft's header) and ``X-Rasd-Notification-Id`` and, for the JSON format, in the
    body's ``id``: a retry after a timeout carries the same id, so the receiver can drop it.

    Raises:
        DeliveryError: no connection, a timeout or an HTTP error status.
    """
    body = json.dumps(webhook_payload(target, message), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Rasd-alerts/1"}
    if message.get("id"):
        headers["Idempotency-Key"] = headers["X-Rasd-Notification-Id"] = message["id"]
    req = urllib.request.Request(target["url"], data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=float(target.get("timeout_seconds") or timeout)) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {target['url']} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"webhook {target['url']}: {getattr(exc, 'reason', exc)}") from None


def build_email(target: dict, message: dict) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = render_subject(message)
    mail["From"] = target.get("from", "rasd@localhost")
    mail["To"] = ", ".join(target["to"])
    mail["Date"] = formatdate(localtime=False)
    # a stable Message-ID: a retried delivery is the same message (mail clients drop repeats)
    mail["Message-ID"] = f"<{message['id']}@rasd.local>" if message.get("id") else make_msgid(domain="rasd.local")
    mail.set_content(render_text(message))
    mail.add_alternative(render_html(message), subtype="html")
    return mail


def send_email(target: dict, message: dict, timeout: float = 30.0) -> None:
    mail = build_email(target, message)
    password = None
    if target.get("username"):
        env = target.get("password_env") or ""
        password = os.environ.get(env)
        if password is None:
            raise DeliveryError(f"email: environment variable {env!r} (password_env) is not set")
    try:
        with smtplib.SMTP(target["smtp_host"], target["smtp_port"], timeout=timeout) as smtp:
            if target.get("starttls"):
                smtp.starttls()
            if password is not None:
                smtp.login(target["username"], password)
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email via {target['smtp_host']}:{target['smtp_port']}: {exc}") from None


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def atom_entries(message: dict) -> list[ET.Element]:
    """One ``<entry>`` per story: id ``urn:rasd:alert:<name>:<story_id>:<kind>:<created_at>``."""
    out = []
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


def write_atom(target: dict, message: dict) -> None:
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


SENDERS = {"webhook": send_webhook, "email": send_email, "atom": write_atom}
