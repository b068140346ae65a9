"""Webhook channel: the message POSTed as JSON (or Slack's ``{"text"}``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from rasd.alerts.channels.base import DeliveryError
from rasd.alerts.render import _plain, render_slack


def webhook_payload(target: dict, message: dict) -> dict:
    """What the webhook receives: the message (highlight markers removed) or Slack's text."""
    if target.get("format") == "slack":
        return render_slack(message)
    clean = json.loads(json.dumps(message, ensure_ascii=False))
    for s in clean["stories"]:
        s["highlight"] = {k: _plain(v) for k, v in s["highlight"].items()}
    return clean


def send(target: dict, message: dict, timeout: float = 10.0) -> None:
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


send_webhook = send
