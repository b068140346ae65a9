"""Digests on time: :class:`DigestSender`, what ``rasd schedule`` runs every minute.

Each tick lists the alerts (from the engine), queues the digest of every daily/weekly alert
whose hour has come in its time zone (:func:`rasd.alerts.outbox.digest_slot`), and makes one
delivery pass over the outbox (:func:`rasd.alerts.outbox.send_digests`): due retries of
immediate notifications go out too, rows of removed alerts are dropped and those of paused
alerts held.  Every outcome is logged as ``key=value`` (logger ``rasd.alerts.digests``).  An
engine that cannot be reached skips the tick (logged); the next tick catches up, since a
digest is due until it was sent for its slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rasd.core.errors import RasdError
from rasd.search.engine import Engine

log = logging.getLogger(__name__)


class DigestSender:
    """Sends due digests for ``data_dir`` (``alerts.sqlite``) with the alerts of ``prefix``;
    ``connect`` makes the engine connection (called again after a failure)."""

    def __init__(self, data_dir: Path | str, connect: Callable[[], Engine], prefix: str, *,
                 senders: dict | None = None):
        self.data_dir, self.prefix, self._connect, self._senders = Path(data_dir), prefix, connect, senders
        self._engine: Engine | None = None

    def tick(self, now: datetime | None = None):
        """One pass; returns the :class:`~rasd.alerts.outbox.DigestReport` (``None`` when the
        engine or the store could not be used: logged)."""
        from rasd.alerts.match import list_alerts
        from rasd.alerts.outbox import AlertStore, send_digests

        try:
            if self._engine is None:
                self._engine = self._connect()
            alerts = list_alerts(self._engine, self.prefix)
        except RasdError as exc:
            self._engine = None
            log.warning("digests_skipped reason=%r", str(exc))
            return None
        try:
            store = AlertStore(self.data_dir / "alerts.sqlite")
        except RasdError as exc:
            log.warning("digests_skipped reason=%r", str(exc))
            return None
        try:
            from rasd.alerts.health import list_health_alerts

            alerts = list(alerts) + list_health_alerts(store)  # their retries too, never "removed"
            report = send_digests(store, alerts, now=now, senders=self._senders)
        finally:
            store.close()
        for name, n in report.items():
            log.info("digest_queued alert=%s stories=%d", name, n)
        for name, why in report.skipped.items():
            log.info("digest_skipped alert=%s reason=%s", name, why)
        d = report.delivery
        for row in d.rows or []:
            (log.warning if row["outcome"] == "failed" else log.info)(
                "delivery alert=%s channel=%s outbox=%d outcome=%s%s", row["alert"], row["channel"],
                row["seq"], row["outcome"], f" error={row['error']!r}" if row["error"] else "")
        return report

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
