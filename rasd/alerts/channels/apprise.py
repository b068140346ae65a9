"""Apprise channel: one notification to every Apprise URL of the alert (Telegram, Slack, Teams,
Discord, ntfy, Matrix, e-mail services, plain ``json://``/``form://``/``xml://`` endpoints …;
https://github.com/caronc/apprise/wiki).

Title: :func:`~rasd.alerts.render.render_subject`; body: :func:`~rasd.alerts.render.render_text`
(plain text, highlight markers removed).  The notification's stable id reaches the receiver
where the target format allows it: for Apprise's generic ``json``/``form``/``xml`` targets (and
their ``s`` TLS forms) as the ``Idempotency-Key`` and ``X-Rasd-Notification-Id`` headers
(Apprise's ``+Header=value`` URL parameters) and, for ``json``, as the body's ``id`` field
(``:id=value``); other services have no such field, so a retried delivery there may show twice.

Raises :class:`DeliveryError` naming the URL's scheme and host only (Apprise URLs carry tokens)
with Apprise's own reason when a target failed.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from rasd.alerts.channels.base import DeliveryError
from rasd.alerts.render import render_subject, render_text

#: Apprise schemes that take custom headers (``+Name=value``) and, for json, body fields
HEADER_SCHEMES = {"json", "jsons", "form", "forms", "xml", "xmls"}


def redact(url: str) -> str:
    """``scheme://host/…``: what an error or a page may show of an Apprise URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{'/…' if parts.path not in ('', '/') or parts.query else ''}"


def with_id(url: str, notification_id: str | None) -> str:
    """``url`` with the notification id added as headers (and a JSON body field) when its scheme
    is one of :data:`HEADER_SCHEMES`; other URLs unchanged."""
    scheme = urlsplit(url).scheme.lower()
    if not notification_id or scheme not in HEADER_SCHEMES:
        return url
    extra = {"+Idempotency-Key": notification_id, "+X-Rasd-Notification-Id": notification_id}
    if scheme in ("json", "jsons"):
        extra[":id"] = notification_id
    return url + ("&" if "?" in url else "?") + urlencode(extra)


def unknown_urls(urls: list[str]) -> list[str]:
    """The URLs of ``urls`` Apprise cannot notify (an unknown scheme, a service URL missing its
    token …), redacted (:func:`redact`): checked when an alert is stored, so that an alert no
    delivery could ever reach is refused then rather than retried for ever."""
    import apprise

    notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    return [redact(url) for url in urls if not notifier.add(url)]


def send(target: dict, message: dict, timeout: float = 30.0) -> None:
    import apprise

    failed = []
    for url in target["urls"]:
        notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        if not notifier.add(with_id(url, message.get("id"))):
            failed.append(f"{redact(url)}: Apprise does not know this URL")
            continue
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok = notifier.notify(body=render_text(message), title=render_subject(message),
                                 body_format=apprise.NotifyFormat.TEXT)
        if not ok:
            reason = " ".join(captured.getvalue().split())[:300] or "delivery failed"
            failed.append(f"{redact(url)}: {reason}")
    if failed:
        raise DeliveryError("apprise " + "; ".join(failed))
