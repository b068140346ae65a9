"""Health alerts: an outlet's change of health state, sent through the alert channels.

A health alert (:class:`HealthAlert`) is configured like a keyword alert — ``rasd alerts
add-health NAME [--outlet SLUG …] [--state failing …] --webhook URL | --email … | --atom PATH |
--apprise URL`` or an entry ``kind: health`` in an alerts YAML file (``rasd alerts import``) —
but has no query: it fires when an outlet it covers (``filters.outlets``, empty: all) changes
health state (:mod:`rasd.scheduler.health`), optionally only into some ``states``.

Definitions live in the local alert store (``<data-dir>/alerts.sqlite``, table
``health_alerts``), not in the engine: a health notice must go out when the engine is what is
down.  A change is one message (``kind: "health"``, ``stories: []``, ``health: {outlet, state,
previous, reason, since}``) queued in the same outbox as keyword notifications, one row per
delivery, with a stable notification id over (alert, outlet, new state, ``since``): the outbox's
unique index makes a second enqueue of the same change a no-op, so a change is sent once and a
state that holds sends nothing more (:meth:`rasd.scheduler.runner.Daemon.assess_health` calls
:func:`notify_change` only on a change).  Failed deliveries are retried by the outbox like any.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from rasd.alerts.model import HEALTH_STATES, AlertError, HealthAlert, parse_health_alert  # noqa: F401 (re-exported)
from rasd.alerts.outbox import AlertStore, deliver_pending, notification_id
from rasd.core.article import isoformat_utc

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS health_alerts (name TEXT PRIMARY KEY, spec TEXT NOT NULL)"


def _db(store: AlertStore):
    store.db.execute(_SCHEMA)
    return store.db


def save_health_alert(store: AlertStore, alert: HealthAlert, replace: bool = False) -> None:
    """Store ``alert``; raises :class:`AlertError` if the name exists and not ``replace``, or
    for an Apprise URL Apprise cannot notify."""
    from rasd.alerts.match import check_deliveries

    check_deliveries(alert)
    db = _db(store)
    with store.transaction():
        if not replace and db.execute("SELECT 1 FROM health_alerts WHERE name=?", (alert.name,)).fetchone():
            raise AlertError(f"health alert {alert.name!r} exists (--replace to replace it)")
        db.execute("INSERT OR REPLACE INTO health_alerts (name, spec) VALUES (?, ?)",
                   (alert.name, json.dumps(alert.spec(), ensure_ascii=False)))


def list_health_alerts(store: AlertStore) -> list[HealthAlert]:
    return [HealthAlert.model_validate(json.loads(r[0]))
            for r in _db(store).execute("SELECT spec FROM health_alerts ORDER BY name")]


def remove_health_alert(store: AlertStore, name: str) -> bool:
    db = _db(store)
    with store.transaction():
        return db.execute("DELETE FROM health_alerts WHERE name=?", (name,)).rowcount > 0


def health_message(alert: HealthAlert, outlet: str, previous: str | None, state: str, reason: str,
                   since: float) -> dict:
    """The outbox message of one change (see the module docstring)."""
    when = datetime.fromtimestamp(since, timezone.utc)
    return {"id": notification_id(alert.name, "health", f"{outlet}\x1f{state}\x1f{since:.3f}"),
            "alert": alert.name, "query": "health", "kind": "health", "created_at": isoformat_utc(when),
            "stories": [], "health": {"outlet": outlet, "state": state, "previous": previous,
                                      "reason": reason, "since": isoformat_utc(when)}}


def notify_change(store: AlertStore, outlet: str, previous: str | None, state: str, reason: str,
                  since: float, *, senders: dict | None = None, deliver: bool = True) -> dict[str, int]:
    """Queue the change of ``outlet`` from ``previous`` to ``state`` for every active health
    alert covering it, then (``deliver``) try those rows once.  Returns counts ``queued``,
    ``delivered``, ``failed`` (a failed row stays in the outbox for its retries)."""
    now = datetime.fromtimestamp(since, timezone.utc)
    seqs = []
    for alert in list_health_alerts(store):
        if alert.paused or not alert.covers(outlet, state):
            continue
        message = health_message(alert, outlet, previous, state, reason, since)
        for channel, target in alert.deliveries.configured().items():
            seq = store.enqueue(alert.name, channel, target, message, now)  # 0: queued before
            if seq:
                seqs.append(seq)
    counts = {"queued": len(seqs), "delivered": 0, "failed": 0}
    if deliver and seqs:
        report = deliver_pending(store, senders=senders, seqs=seqs, force=True)
        counts.update(delivered=report.delivered, failed=report.failed)
    log.info("health_notified outlet=%s state=%s queued=%d delivered=%d failed=%d", outlet, state,
             counts["queued"], counts["delivered"], counts["failed"])
    return counts
