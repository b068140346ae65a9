"""Alert notifications: one per story, digests, and a durable outbox of deliveries.

State lives in one SQLite file, ``<data-dir>/alerts.sqlite`` (:class:`AlertStore`):

* ``stories`` — one row per (alert, story_id): the first matching article (title, url, outlet,
  published_at, highlight; replaced by a later-matched copy published earlier, so the story
  points at its first publisher whatever the crawl order) and the distinct outlets that carried
  the story since.  The first
  article of a story for an alert is a *new* story (an immediate alert notifies now); later
  copies with the same ``story_id`` only add their outlet (digests say "also reported by N other
  outlets").  ``seen`` makes the same article counted once however often it is percolated.
* ``archive_checkpoints`` — how far the alert matcher has followed the archive (follower
  ``alerts``, see :mod:`rasd.pipelines.archive`): the matches of a batch of archive lines, their
  outbox rows and the new checkpoint are one transaction, so after a kill at any point every
  archived article is matched exactly once (no inbox copy of the articles exists).
* ``outbox`` — every delivery (one row per alert × channel × notification) with the message as
  JSON; a row is marked delivered, never deleted, so nothing is lost: a failed attempt sets
  ``next_attempt_at`` = now + ``backoff_seconds · 2^(attempts-1)`` (capped at
  ``max_backoff_seconds``) and :func:`deliver_pending` retries due rows (``force``: all rows).
  Each notification has a stable ``id`` (``notification_id``: a hash of alert, kind and story
  or digest time) carried by every channel (webhook ``Idempotency-Key`` header and body, e-mail
  ``Message-ID``, Atom entry id), so a delivery retried after a timeout or a kill — delivery is
  at least once — can be dropped by the receiver.
  A row can also be *held* (its alert is paused: not attempted, kept until the alert resumes)
  or *dropped* (``dropped_at`` + ``drop_reason``: its alert was removed, or a user dropped it
  from the outbox); dropped rows stay in the table, visible, and are never attempted again.
* ``digests`` — when each daily/weekly alert last sent its digest.  A digest is due at the
  alert's ``digest_hour`` in its ``timezone`` (weekly: on ``digest_weekday``), see
  :func:`digest_slot`; ``rasd schedule`` checks every minute (:func:`send_digests`).

A *message* (what the outbox holds) is ``{"id", "alert", "query", "kind": "immediate"|"daily"|
"weekly", "created_at", "stories": [{"story_id", "title", "url", "outlet", "published_at",
"outlets": [...], "outlet_count", "also_reported_by", "highlight": {"title", "snippet"}}]}``;
the channels render it (:mod:`rasd.alerts.render`) at delivery time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rasd.core.article import isoformat_utc, utcnow
from rasd.alerts.channels import CHANNELS, DeliveryError
from rasd.core.errors import RasdError
from rasd.core.failpoints import failpoint
from rasd.core.sqlite import add_missing_columns, connect as connect_sqlite, transaction

log = logging.getLogger(__name__)

DIGEST_PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (alert TEXT NOT NULL, story_id TEXT NOT NULL,
  first_id TEXT NOT NULL, title TEXT, url TEXT, outlet TEXT, published_at TEXT,
  highlight TEXT, matched_at TEXT NOT NULL, outlets TEXT NOT NULL, articles INTEGER NOT NULL,
  digested_at TEXT, PRIMARY KEY (alert, story_id));
CREATE TABLE IF NOT EXISTS seen (alert TEXT NOT NULL, article_id TEXT NOT NULL,
  PRIMARY KEY (alert, article_id));
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, alert TEXT NOT NULL,
  channel TEXT NOT NULL, target TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, last_error TEXT,
  delivered_at TEXT, notification_id TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(delivered_at, next_attempt_at);
CREATE TABLE IF NOT EXISTS digests (alert TEXT PRIMARY KEY, sent_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta_alerts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


#: How long a delivery claim holds a row (seconds): longer than any channel's send can take
#: (webhook 10 s, Apprise and SMTP 30 s by default), so only a process killed mid-send lets it lapse.
CLAIM_SECONDS = 300.0


class AlertStoreError(RasdError):
    """The alert store cannot be opened or written."""


def _dead(owner: str | None) -> bool:
    """Whether the claim owner ``host:pid:thread`` is a process of this host that no longer
    exists (a pid reused since only makes the claim wait for its lease)."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, as another user
        return False
    return False


def _instant(t: datetime) -> str:
    """``t`` in UTC to the microsecond, in one fixed width (claims compare as strings)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: outbox columns newer than its first layout, added to older files at open
_ADDED_OUTBOX_COLUMNS = {"notification_id": "TEXT", "dropped_at": "TEXT", "drop_reason": "TEXT",
                         "claimed_by": "TEXT", "claimed_until": "TEXT"}


class AlertStore:
    """The SQLite file described in the module docstring.  One connection; autocommit with
    explicit transactions; WAL journal so the CLI and a crawl can share it.

    Raises:
        AlertStoreError: the file cannot be opened.
    """

    def __init__(self, path: str | Path):
        from rasd.core.archive import Checkpoints

        self.path = str(path)
        self.db = connect_sqlite(self.path, what="the alert store", error=AlertStoreError, threads=True)
        try:
            self.db.executescript(_SCHEMA)
            # stores from before notification ids, held/dropped rows and delivery claims
            add_missing_columns(self.db, "outbox", _ADDED_OUTBOX_COLUMNS)
            self.db.execute("CREATE UNIQUE INDEX IF NOT EXISTS outbox_once ON "
                            "outbox(notification_id, channel, target)")
            self.db.execute("DROP TABLE IF EXISTS inbox")
            self.checkpoints = Checkpoints(self.db, "alerts")
        except (sqlite3.Error, OSError) as exc:
            raise AlertStoreError(f"{path}: cannot open the alert store: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def transaction(self):
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``); nested calls join it
        (:func:`rasd.core.sqlite.transaction`)."""
        return transaction(self.db)

    # stories
    def is_new_story(self, alert: str, doc: dict) -> bool:
        """Whether :meth:`record_match` would now answer ``new`` for ``doc`` (an article not
        recorded for ``alert``, of a story it has not seen): the only case that stores the
        match's highlight, so the crawl stage highlights only those."""
        if self.db.execute("SELECT 1 FROM seen WHERE alert = ? AND article_id = ?",
                           (alert, doc["id"])).fetchone():
            return False
        return self.db.execute("SELECT 1 FROM stories WHERE alert = ? AND story_id = ?",
                               (alert, doc.get("story_id") or doc["id"])).fetchone() is None

    def record_match(self, alert: str, doc: dict, now: datetime) -> str:
        """``new`` (first article of the story for this alert), ``copy`` (a later article of a
        known story: its outlet is added) or ``seen`` (this article was recorded before)."""
        story_id = doc.get("story_id") or doc["id"]
        with self.transaction():
            cur = self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (alert, doc["id"]))
            if cur.rowcount == 0:
                outcome = "seen"
            else:
                row = self.db.execute("SELECT outlets FROM stories WHERE alert = ? AND story_id = ?",
                                      (alert, story_id)).fetchone()
                if row is None:
                    self.db.execute(
                        "INSERT INTO stories VALUES (?,?,?,?,?,?,?,?,?,?,1,NULL)",
                        (alert, story_id, doc["id"], doc.get("title"), doc.get("url"),
                         doc.get("outlet"), doc.get("published_at"), _dumps(doc.get("highlight") or {}),
                         isoformat_utc(now), _dumps([doc.get("outlet", "")])))
                    outcome = "new"
                else:
                    outlets = sorted(set(json.loads(row[0])) | {doc.get("outlet", "")})
                    self.db.execute("UPDATE stories SET outlets = ?, articles = articles + 1 "
                                    "WHERE alert = ? AND story_id = ?", (_dumps(outlets), alert, story_id))
                    # the story's first publisher is its origin, whatever the crawl order: a copy
                    # published earlier than the article the story points at takes its place
                    # (digests and the web show it; no second notification, the story is one)
                    self.db.execute(
                        "UPDATE stories SET first_id = ?, title = ?, url = ?, outlet = ?, published_at = ? "
                        "WHERE alert = ? AND story_id = ? AND ? IS NOT NULL "
                        "AND (published_at IS NULL OR ? < published_at)",
                        (doc["id"], doc.get("title"), doc.get("url"), doc.get("outlet"), doc.get("published_at"),
                         alert, story_id, doc.get("published_at"), doc.get("published_at")))
                    outcome = "copy"
        return outcome

    def story(self, alert: str, story_id: str) -> dict | None:
        rows = self._stories("alert = ? AND story_id = ?", (alert, story_id))
        return rows[0] if rows else None

    def undigested(self, alert: str) -> list[dict]:
        return self._stories("alert = ? AND digested_at IS NULL", (alert,))

    def _stories(self, where: str, args: tuple) -> list[dict]:
        cols = ("story_id", "title", "url", "outlet", "published_at", "highlight", "outlets")
        rows = self.db.execute(f"SELECT {', '.join(cols)} FROM stories WHERE {where} "
                               "ORDER BY matched_at, rowid", args).fetchall()
        return [story_entry(dict(zip(cols, r))) for r in rows]

    def mark_digested(self, alert: str, story_ids: Sequence[str], now: datetime) -> None:
        with self.transaction():
            self.db.executemany("UPDATE stories SET digested_at = ? WHERE alert = ? AND story_id = ?",
                                [(isoformat_utc(now), alert, s) for s in story_ids])
            self.db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?)", (alert, isoformat_utc(now)))

    def last_digest(self, alert: str) -> datetime | None:
        row = self.db.execute("SELECT sent_at FROM digests WHERE alert = ?", (alert,)).fetchone()
        return datetime.fromisoformat(row[0].replace("Z", "+00:00")) if row else None

    # outbox
    def enqueue(self, alert: str, channel: str, target: dict, message: dict, now: datetime) -> int:
        """Queue one delivery of ``message`` (its ``id`` once per channel and target: queuing
        the same notification again is a no-op); returns the row's ``seq`` (0 when a no-op)."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO outbox (alert, channel, target, message, created_at, next_attempt_at, "
            "notification_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (alert, channel, _dumps(target), _dumps(message), isoformat_utc(now), isoformat_utc(now),
             message.get("id")))
        return cur.lastrowid if cur.rowcount else 0

    def due(self, now: datetime | None) -> list[tuple[int, str, dict, dict, int]]:
        """Pending rows ``(seq, channel, target, message, attempts)``; all when ``now`` is None."""
        sql = ("SELECT seq, channel, target, message, attempts FROM outbox "
               "WHERE delivered_at IS NULL AND dropped_at IS NULL")
        args: tuple = ()
        if now is not None:
            sql, args = sql + " AND next_attempt_at <= ?", (isoformat_utc(now),)
        return [(s, c, json.loads(t), json.loads(m), a)
                for s, c, t, m, a in self.db.execute(sql + " ORDER BY seq", args).fetchall()]

    def claim(self, seq: int, owner: str, lease_seconds: float = CLAIM_SECONDS) -> bool:
        """Take pending row ``seq`` for one delivery attempt, unless another process holds it:
        ``True`` when this caller may send it.  The claim is one atomic ``UPDATE`` (SQLite runs
        one writer at a time), so of several processes delivering the outbox at once — every
        outlet's scheduled run does — exactly one sends each row; the others skip it.  A claim
        ends with :meth:`delivered` or :meth:`failed`; one left by a process killed while
        sending is taken over at once when that process is gone (same host, its pid not alive),
        else it lapses after ``lease_seconds`` (wall clock, another host's); the row is sent
        again then (the receiver sees the same notification id: the one case of a repeat)."""
        now = datetime.now(timezone.utc)
        until = _instant(now + timedelta(seconds=lease_seconds))
        cur = self.db.execute(
            "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE seq = ? AND delivered_at IS NULL "
            "AND dropped_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?)",
            (owner, until, seq, _instant(now)))
        if cur.rowcount == 1:
            return True
        row = self.db.execute("SELECT claimed_by FROM outbox WHERE seq = ? AND delivered_at IS NULL "
                              "AND dropped_at IS NULL", (seq,)).fetchone()
        if row is None or not _dead(row[0]):
            return False
        # the claim's process is gone (killed while sending): take the row over at once
        cur = self.db.execute("UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE seq = ? "
                              "AND claimed_by = ? AND delivered_at IS NULL AND dropped_at IS NULL",
                              (owner, until, seq, row[0]))
        return cur.rowcount == 1

    def delivered(self, seq: int, now: datetime) -> None:
        self.db.execute("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL, "
                        "claimed_by = NULL, claimed_until = NULL WHERE seq = ?", (isoformat_utc(now), seq))

    def failed(self, seq: int, error: str, retry_at: datetime) -> None:
        self.db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
                        "claimed_by = NULL, claimed_until = NULL WHERE seq = ?",
                        (error[:500], isoformat_utc(retry_at), seq))

    def pending_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL "
                               "AND dropped_at IS NULL").fetchone()[0]

    def outbox_counts(self) -> dict[str, int]:
        """``{"delivered": n, "pending": n}`` (plus ``"dropped": n`` when any row was dropped)."""
        d, x, n = self.db.execute("SELECT COUNT(delivered_at), COUNT(dropped_at), COUNT(*) "
                                  "FROM outbox").fetchone()
        return {"delivered": d, "pending": n - d - x} | ({"dropped": x} if x else {})

    def drop(self, seq: int, reason: str, now: datetime | None = None) -> bool:
        """Drop the pending row ``seq`` (never attempted again, kept with ``reason``); ``False``
        when there is no such pending row."""
        cur = self.db.execute("UPDATE outbox SET dropped_at = ?, drop_reason = ? WHERE seq = ? "
                              "AND delivered_at IS NULL AND dropped_at IS NULL",
                              (isoformat_utc(now or utcnow()), reason[:200], seq))
        return cur.rowcount == 1

    def outbox(self, alert: str | None = None, state: str | None = None, limit: int = 200) -> list[dict]:
        """Outbox rows, newest first: ``{"seq", "alert", "channel", "target", "notification_id",
        "kind", "stories", "created_at", "attempts", "next_attempt_at", "last_error",
        "delivered_at", "dropped_at", "drop_reason", "state"}`` with ``state`` one of
        ``delivered``/``pending``/``dropped`` (``state`` filters on it)."""
        where, args = [], []
        if alert is not None:
            where.append("alert = ?")
            args.append(alert)
        if state == "delivered":
            where.append("delivered_at IS NOT NULL")
        elif state == "dropped":
            where.append("dropped_at IS NOT NULL")
        elif state == "pending":
            where.append("delivered_at IS NULL AND dropped_at IS NULL")
        sql = ("SELECT seq, alert, channel, target, message, created_at, attempts, next_attempt_at, "
               "last_error, delivered_at, notification_id, dropped_at, drop_reason FROM outbox"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC LIMIT ?")
        out = []
        for row in self.db.execute(sql, (*args, limit)).fetchall():
            (seq, name, channel, target, message, created, attempts, nxt, error, delivered, nid,
             dropped, reason) = row
            msg = json.loads(message)
            out.append({"seq": seq, "alert": name, "channel": channel, "target": json.loads(target),
                        "notification_id": nid, "kind": msg.get("kind"),
                        "stories": [s.get("title", "") for s in msg.get("stories", [])],
                        "created_at": created, "attempts": attempts, "next_attempt_at": nxt,
                        "last_error": error, "delivered_at": delivered, "dropped_at": dropped,
                        "drop_reason": reason,
                        "state": "delivered" if delivered else "dropped" if dropped else "pending"})
        return out

    def retry_now(self, seq: int, now: datetime | None = None) -> bool:
        """Make the pending row ``seq`` due now; ``False`` when it is not pending."""
        cur = self.db.execute("UPDATE outbox SET next_attempt_at = ? WHERE seq = ? AND "
                              "delivered_at IS NULL AND dropped_at IS NULL",
                              (isoformat_utc(now or utcnow()), seq))
        return cur.rowcount == 1


def story_entry(row: dict) -> dict:
    """A message's story entry from a ``stories`` row (``outlets`` and ``highlight`` as JSON)."""
    outlets = json.loads(row["outlets"]) if isinstance(row["outlets"], str) else list(row["outlets"])
    hl = row.get("highlight")
    hl = json.loads(hl) if isinstance(hl, str) else (hl or {})
    return {"story_id": row["story_id"], "title": row.get("title") or "", "url": row.get("url") or "",
            "outlet": row.get("outlet") or "", "published_at": row.get("published_at"),
            "outlets": outlets, "outlet_count": len(outlets),
            "also_reported_by": max(0, len(outlets) - 1),
            "highlight": {"title": hl.get("title") or row.get("title") or "",
                          "snippet": hl.get("snippet") or ""}}


def notification_id(alert: str, kind: str, key: str) -> str:
    """The stable id of a notification: ``rasd-`` + 32 hex digits of SHA-256 over the alert
    name, the kind (``immediate``/``daily``/``weekly``/…) and ``key`` (the story id of an
    immediate alert, the digest's time)."""
    return "rasd-" + hashlib.sha256(f"{alert}\x1f{kind}\x1f{key}".encode("utf-8")).hexdigest()[:32]


def _message(alert, kind: str, stories: list[dict], now: datetime, key: str | None = None) -> dict:
    created = isoformat_utc(now)
    return {"id": notification_id(alert.name, kind, key if key is not None else created),
            "alert": alert.name, "query": alert.query, "kind": kind,
            "created_at": created, "stories": stories}


def enqueue_message(store: AlertStore, alert, message: dict, now: datetime) -> int:
    """One outbox row per configured delivery of ``alert``; returns how many."""
    n = 0
    for channel, target in alert.deliveries.configured().items():
        store.enqueue(alert.name, channel, target, message, now)
        n += 1
    if n == 0:
        log.warning("alert=%s has no deliveries; notification kept in the store only", alert.name)
    return n


def handle_matches(store: AlertStore, matches: Sequence[tuple[Any, dict]],
                   now: datetime | None = None) -> Counter:
    """Record ``(alert, document)`` matches (from :func:`rasd.pipelines.alerts.match_alerts`):
    a new story for an immediate alert queues one notification per delivery; copies and digest
    alerts only update the story; a paused immediate alert records the story and sends nothing.
    Returns counts ``notified``, ``story_copy``, ``digest_queued``, ``paused``, ``already_seen``."""
    now = now or utcnow()
    counts: Counter = Counter()
    for alert, doc in matches:
        outcome = store.record_match(alert.name, doc, now)
        if outcome == "seen":
            counts["already_seen"] += 1
        elif outcome == "copy":
            counts["story_copy"] += 1
        elif alert.frequency != "immediate":
            counts["digest_queued"] += 1
        elif getattr(alert, "paused", False):
            counts["paused"] += 1  # the story is recorded (a copy will not notify later), nothing sent
        else:
            story_id = doc.get("story_id") or doc["id"]
            story = store.story(alert.name, story_id)
            enqueue_message(store, alert, _message(alert, "immediate", [story], now, key=story_id), now)
            counts["notified"] += 1
    return counts


_WEEKDAY = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
            "saturday": 5, "sunday": 6}


def digest_slot(alert, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` (UTC) when ``alert``'s digest was due: its
    ``digest_hour``:00 in its ``timezone``, every day (daily) or on ``digest_weekday``
    (weekly); ``None`` for immediate alerts.  A local hour skipped by a daylight-saving change
    is taken at the same UTC offset as before the change (``zoneinfo``'s fold rules)."""
    from zoneinfo import ZoneInfo

    if alert.frequency not in DIGEST_PERIODS:
        return None
    zone = ZoneInfo(alert.timezone)
    local = now.astimezone(zone)
    slot = local.replace(hour=alert.digest_hour, minute=0, second=0, microsecond=0)
    if slot > local:
        slot -= timedelta(days=1)
    if alert.frequency == "weekly":
        slot -= timedelta(days=(slot.weekday() - _WEEKDAY[alert.digest_weekday]) % 7)
    # re-anchor the wall time (a day step across a DST change keeps the hour, not the offset)
    slot = slot.replace(tzinfo=None).replace(tzinfo=zone)
    return slot.astimezone(timezone.utc)


class DigestReport(dict):
    """``{alert name: stories in its digest}`` for the alerts whose digest was due (0: nothing
    new), plus ``skipped`` (``{name: reason}``: ``paused``) and ``delivery``: the
    :class:`DeliveryReport` of the delivery pass that followed (what was really sent)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.skipped: dict[str, str] = {}
        self.delivery: DeliveryReport | None = None


def send_digests(store: AlertStore, alerts: Sequence[Any], *, now: datetime | None = None,
                 force: bool = False, senders: dict | None = None, deliver: bool = True) -> "DigestReport":
    """Queue the digest of every daily/weekly alert that is due (:func:`digest_slot` later than
    its last digest; ``force``: all of them), then (``deliver``) try every due outbox row of
    ``alerts`` once (:func:`deliver_pending` with ``alerts``: rows of removed alerts are dropped,
    of paused ones held).  A digest lists the stories matched since the previous one with their
    outlet counts.  A paused alert's digest is not made (its stories wait for the next one
    after it resumes).  Returns a :class:`DigestReport`.  ``rasd schedule`` calls this every
    minute; ``rasd alerts send-digests`` once."""
    now = now or utcnow()
    sent = DigestReport()
    for alert in alerts:
        slot = digest_slot(alert, now)
        if slot is None:
            continue
        if alert.paused:
            sent.skipped[alert.name] = "paused"
            continue
        last = store.last_digest(alert.name)
        if not force and last is not None and last >= slot:
            continue
        stories = store.undigested(alert.name)
        if stories:
            key = isoformat_utc(now if force else slot)
            enqueue_message(store, alert, _message(alert, alert.frequency, stories, now, key=key), now)
        store.mark_digested(alert.name, [s["story_id"] for s in stories], now)
        sent[alert.name] = len(stories)
    if deliver:
        sent.delivery = deliver_pending(store, senders=senders, now=now,
                                        alerts={a.name: a for a in alerts})
    return sent


@dataclass
class DeliveryReport:
    """Outcome of one :func:`deliver_pending` pass: attempts that succeeded or failed, rows held
    (paused alert) or dropped (removed alert) in this pass, and the rows still pending
    afterwards (failed now, held, or not yet due).  ``errors``: one line per failed attempt;
    ``rows``: one dict per row handled (``seq``, ``alert``, ``channel``, ``notification_id``,
    ``outcome``: ``delivered``/``failed``/``held``/``dropped``/``busy``, ``error``,
    ``next_attempt_at``); ``busy``: rows skipped because another process was sending them
    (:meth:`AlertStore.claim`)."""

    delivered: int = 0
    failed: int = 0
    pending: int = 0
    errors: list[str] | None = None
    held: int = 0
    dropped: int = 0
    rows: list[dict] | None = None
    busy: int = 0


def deliver_pending(store: AlertStore, *, senders: dict[str, Callable[[dict, dict], None]] | None = None,
                    now: datetime | None = None, force: bool = False, backoff_seconds: float = 30.0,
                    max_backoff_seconds: float = 3600.0, alerts: dict[str, Any] | None = None,
                    seqs: Sequence[int] | None = None) -> DeliveryReport:
    """Try every due outbox row once (``force``: every pending row, due or not; ``seqs``: only
    those rows).

    ``senders`` maps a channel (``webhook``/``email``/``atom``/``apprise``) to
    ``send(target, message)`` raising :class:`~rasd.alerts.channels.DeliveryError` (defaults:
    the channel registry, :data:`rasd.alerts.channels.CHANNELS`).  A failure keeps the row with
    ``next_attempt_at`` pushed back exponentially.  ``alerts`` (``{name: Alert}``, the alerts
    that exist now): given, a row whose alert is not among them is dropped (``alert removed``)
    and a row of a paused alert is held (not attempted, still pending); ``None``: every row is
    attempted (callers that cannot reach the engine).
    """
    senders = senders or CHANNELS
    now = now or utcnow()
    owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    report = DeliveryReport(errors=[], rows=[])
    wanted = set(seqs) if seqs is not None else None
    for seq, channel, target, message, attempts in store.due(None if force or wanted else now):
        if wanted is not None and seq not in wanted:
            continue
        name = message.get("alert")
        row = {"seq": seq, "alert": name, "channel": channel, "notification_id": message.get("id"),
               "error": None, "next_attempt_at": None}
        report.rows.append(row)
        if alerts is not None and name not in alerts:
            store.drop(seq, "alert removed", now)
            report.dropped += 1
            row["outcome"] = "dropped"
            log.info("alert=%s channel=%s outbox=%d dropped: alert removed", name, channel, seq)
            continue
        if alerts is not None and getattr(alerts[name], "paused", False):
            report.held += 1
            row["outcome"] = "held"
            continue
        if not store.claim(seq, owner):  # another process is sending it right now
            report.busy += 1
            row["outcome"] = "busy"
            continue
        try:
            sender = senders.get(channel)
            if sender is None:
                raise DeliveryError(f"no channel named {channel!r} (known: {', '.join(sorted(senders))})")
            sender(target, message)
        except (DeliveryError, OSError) as exc:
            delay = min(max_backoff_seconds, backoff_seconds * 2 ** attempts)
            retry_at = now + timedelta(seconds=delay)
            store.failed(seq, str(exc), retry_at)
            report.failed += 1
            report.errors.append(f"{name} {channel} #{seq}: {exc}")
            row.update(outcome="failed", error=str(exc), next_attempt_at=isoformat_utc(retry_at))
            log.warning("alert=%s channel=%s outbox=%d attempt=%d failed: %s",
                        name, channel, seq, attempts + 1, exc)
        else:
            failpoint("after_delivery")
            store.delivered(seq, now)
            report.delivered += 1
            row["outcome"] = "delivered"
    report.pending = store.pending_count()
    return report


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
