"""Conditional GET for feeds and sitemaps that cannot get stuck: validators, entries, distrust.

Every crawl (``rasd crawl``, the scheduler's runs, ``scrapy crawl outlet``) uses it unless the
Scrapy setting ``RASD_CONDITIONAL_GET`` is false.  Per listing URL (feed, sitemap index or
sitemap) :class:`FeedState` keeps the server's ``ETag`` and ``Last-Modified``, a hash and the
size of the last body, the listing's entries (links with their titles and dates, as parsed),
the child sitemaps of a sitemap index, and what it has learnt about the server's validators.
The spider sends ``If-None-Match``/``If-Modified-Since`` from it (:meth:`FeedState.conditional_headers`)
and asks :meth:`FeedState.observe` what an answer means:

* ``"not_modified"``: a 304 — the listing is the one whose entries are remembered;
* ``"unchanged"``: a 200 whose body hashes like the last one (servers that ignore validators);
* ``"changed"``: anything else; the listing is parsed as usual and its entries remembered.

A 304 or an unchanged body saves the download and the parse, never the links: the spider
follows the remembered entries (:meth:`FeedState.entries`) exactly as if it had parsed them, so
each is checked against the seen-URL store again.  Conditional headers are only sent for a URL
whose entries are remembered, and "unchanged" is only said of one.

**A 304 is only as good as the server's validators** (case 23, FreshRSS #1020: a CMS sending
the same ``Last-Modified``/``ETag`` — dated 2041 — forever, and 304 to every conditional
request, hid every new item).  So the next poll of a listing is *unconditional* (no
validators sent; :meth:`FeedState.forced` says why) when

* its validators are in the future: a ``Last-Modified`` (or an ETag that is an HTTP date) more
  than :data:`CLOCK_SKEW_SECONDS` after the answer's own ``Date`` (a day after Rasd's clock
  when there is none) — a server's clock cannot have modified the feed then;
* it answered 304 ``max_not_modified`` times in a row (the crawl setting
  ``crawl.conditional_max_not_modified``, default 4);
* its last full answer (a 200) is older than ``max_age_seconds``
  (``crawl.conditional_max_age_seconds``, default 6 h).

When such a full answer lists entries that were not among the remembered ones — published
(when dated) before the last 304 — the server hid them behind its 304s: the URL is marked as
*not honouring validators* (:attr:`FeedRecord.distrust` says why, :attr:`FeedRecord.liar` is
true) and polled unconditionally from then on.  So is a server that sends a 200 with the *same*
``ETag`` as before and a different body (the guard Media Cloud's rss-fetcher applies).

Bytes are accounted per URL and per crawl (:class:`Poll`): a 304 *saves* the size of the last
full body; a full answer fetched although validators were remembered (forced, distrusted,
future-dated) *spends* its size.  Both add up in the record (``saved_bytes``,
``spent_bytes``) and, per outlet, in the crawl's stats
(``rasd/listings/<outlet>/bytes_saved`` …, see the spider).

Updates are buffered and written by :meth:`FeedState.commit`, which the spider calls only when
the crawl *finished*: a run cut short (SIGTERM, timeout) must not mark a listing as seen whose
articles were never fetched, or the next run would skip them on a 304.

Storage: SQLite table ``feeds`` in ``<data-dir>/feedstate.sqlite`` (``entries``: JSON list of
:class:`~rasd.crawler.feeds.FeedEntry` fields, NULL when not remembered; columns added after the
first version are added to older files on open), a connection per call opened with
:func:`rasd.core.sqlite.connect` (WAL, busy timeout 30 s: parallel runs share the file).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

from rasd.core.sqlite import add_missing_columns, connect as connect_sqlite, transaction
from rasd.crawler.feeds import FeedEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    body_hash TEXT,
    children TEXT NOT NULL DEFAULT '[]',
    liar INTEGER NOT NULL DEFAULT 0,
    updated_at REAL,
    entries TEXT
)
"""
#: Columns added after the first version (added to older files on open).
_ADDED = {"entries": "TEXT", "outlet": "TEXT", "streak": "INTEGER NOT NULL DEFAULT 0",
          "full_at": "REAL", "last_304_at": "REAL", "body_bytes": "INTEGER",
          "distrust": "TEXT", "future": "INTEGER NOT NULL DEFAULT 0",
          "saved_bytes": "INTEGER NOT NULL DEFAULT 0", "spent_bytes": "INTEGER NOT NULL DEFAULT 0"}
_COLUMNS = ("url", "etag", "last_modified", "body_hash", "children", "liar", "entries", "outlet",
            "streak", "full_at", "last_304_at", "body_bytes", "distrust", "future", "saved_bytes",
            "spent_bytes")
_DATES = ("published_at", "updated_at")

#: A validator dated more than this after the answer's ``Date`` is in the future (seconds).
CLOCK_SKEW_SECONDS = 300.0
#: Without a ``Date`` header Rasd's own clock is compared, with this much slack (seconds).
NO_DATE_SLACK_SECONDS = 86400.0
#: Defaults of the crawl settings ``conditional_max_not_modified`` / ``conditional_max_age_seconds``.
MAX_NOT_MODIFIED = 4
MAX_AGE_SECONDS = 6 * 3600.0


def encode_entries(entries) -> str:
    """JSON of listing entries (``FeedEntry`` fields; ``None`` fields left out, dates ISO 8601)."""
    out = []
    for e in entries:
        d = {}
        for f in fields(FeedEntry):
            v = getattr(e, f.name)
            if v is None or (f.name == "is_sitemap" and not v):
                continue
            d[f.name] = v.isoformat() if f.name in _DATES else v
        out.append(d)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def decode_entries(text: str) -> tuple[FeedEntry, ...]:
    """The entries :func:`encode_entries` wrote."""
    return tuple(FeedEntry(**{k: datetime.fromisoformat(v) if k in _DATES else v
                              for k, v in d.items()}) for d in json.loads(text))


def body_hash(body: bytes) -> str:
    """A short, stable fingerprint of a listing body (BLAKE2b, 16 hex digits)."""
    return hashlib.blake2b(body, digest_size=8).hexdigest()


def _http_date(value: str | None) -> float | None:
    """POSIX seconds of an HTTP-date (any RFC 9110 form), or None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def future_validator(etag: str | None, last_modified: str | None, date: str | None,
                     now: float) -> str | None:
    """Why an answer's validators are in the future (see the module docstring), or None.

    ``date`` is the answer's ``Date`` header (the server's clock); ``now`` Rasd's (POSIX s).
    An ETag counts only when it reads as an HTTP date (case 23's ``"Sat, 16 Nov 2041 …"``).
    """
    server_now = _http_date(date)
    limit = server_now + CLOCK_SKEW_SECONDS if server_now is not None else now + NO_DATE_SLACK_SECONDS
    for name, value in (("Last-Modified", last_modified),
                        ("ETag", (etag or "").removeprefix("W/").strip('"') or None)):
        when = _http_date(value)
        if when is not None and when > limit:
            return f"{name} {value} is after the server's own time"
    return None


@dataclass(frozen=True)
class FeedRecord:
    """What is remembered about one listing URL.

    ``streak``: 304s in a row since the last full answer; ``full_at``/``last_304_at``: when the
    last 200 / 304 came (POSIX s); ``body_bytes``: size of the last full body; ``distrust``: why
    the server's validators are not honoured (then ``liar`` is true and no validators are sent);
    ``future``: its last validators were in the future (not sent until a sane answer);
    ``saved_bytes``/``spent_bytes``: bytes 304s saved / unconditional polls spent, all time.
    """

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    children: tuple[str, ...] = ()
    liar: bool = False
    entries: str | None = None  # encode_entries() of the listing's entries, None if not remembered
    outlet: str | None = None
    streak: int = 0
    full_at: float | None = None
    last_304_at: float | None = None
    body_bytes: int | None = None
    distrust: str | None = None
    future: bool = False
    saved_bytes: int = 0
    spent_bytes: int = 0


@dataclass
class Poll:
    """What one crawl's request of a listing did: ``forced`` (why it went unconditional, or
    None), ``verdict`` (:meth:`FeedState.observe`), ``saved``/``spent`` bytes, ``hidden`` (entries
    the full answer showed that its 304s had hidden), ``distrusted`` (the reason, when this poll
    marked the URL as not honouring validators)."""

    forced: str | None = None
    verdict: str | None = None
    saved: int = 0
    spent: int = 0
    hidden: int = 0
    distrusted: str | None = None


def _record(row) -> FeedRecord:
    d = dict(zip(_COLUMNS, row))
    d["children"] = tuple(json.loads(d["children"] or "[]"))
    d["liar"] = bool(d["liar"]) or bool(d["distrust"])
    d["future"] = bool(d["future"])
    d["streak"], d["saved_bytes"], d["spent_bytes"] = (int(d[k] or 0) for k in ("streak", "saved_bytes", "spent_bytes"))
    return FeedRecord(**d)


@dataclass
class FeedState:
    """Validators, entries and distrust of listing URLs (see the module docstring).

    Args:
        path: the SQLite file (created with its table if missing).
        max_not_modified: 304s in a row after which the next poll is unconditional (≥ 1).
        max_age_seconds: time since the last 200 after which the next poll is unconditional.
        clock: POSIX seconds now (tests pass their own).

    Raises:
        DatabaseFileError: the file is not a SQLite database or cannot be opened (the message
            names it).
    """

    path: Path
    max_not_modified: int = MAX_NOT_MODIFIED
    max_age_seconds: float = MAX_AGE_SECONDS
    clock: Callable[[], float] = time.time
    _pending: dict[str, FeedRecord] = field(default_factory=dict, init=False, repr=False)
    polls: dict[str, Poll] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        db = self._connect()
        try:
            db.execute(SCHEMA)
            add_missing_columns(db, "feeds", _ADDED)
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        return connect_sqlite(self.path, what="the feed state", busy_timeout_seconds=30)

    def get(self, url: str) -> FeedRecord | None:
        """The record of ``url`` (uncommitted updates of this run first), or None."""
        if url in self._pending:
            return self._pending[url]
        db = self._connect()
        try:
            row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM feeds WHERE url = ?", (url,)).fetchone()
        finally:
            db.close()
        return _record(row) if row is not None else None

    def records(self) -> list[tuple[FeedRecord, float | None]]:
        """Every listing remembered, with the time it was last written (POSIX seconds), by URL
        (the web app's outlet pages and ``rasd status`` show them)."""
        db = self._connect()
        try:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)}, updated_at FROM feeds ORDER BY url").fetchall()
        finally:
            db.close()
        return [(_record(r[:-1]), r[-1]) for r in rows]

    def forced(self, url: str) -> str | None:
        """Why the next poll of ``url`` must be unconditional although its entries are
        remembered (future validators, too many 304s in a row, a full answer too long ago), or
        None.  Not for a distrusted URL (it is never conditional) or one without entries."""
        rec = self.get(url)
        if rec is None or rec.liar or rec.entries is None:
            return None
        if rec.future:
            return "future_validator"
        if rec.streak >= max(1, self.max_not_modified):
            return "not_modified_streak"
        if rec.full_at is not None and self.clock() - rec.full_at > self.max_age_seconds:
            return "max_age"
        return None

    def conditional_headers(self, url: str) -> dict[str, str]:
        """``If-None-Match``/``If-Modified-Since`` for ``url``; empty when unknown, not
        honouring validators, its entries not remembered (a 304 could then not be followed), or
        this poll is forced unconditional (:meth:`forced`, remembered in :attr:`polls`)."""
        rec = self.get(url)
        if rec is None or rec.liar or rec.entries is None:
            return {}
        why = self.forced(url)
        if why is not None:
            self.polls[url] = Poll(forced=why)
            return {}
        headers = {}
        if rec.etag:
            headers["If-None-Match"] = rec.etag
        if rec.last_modified:
            headers["If-Modified-Since"] = rec.last_modified
        return headers

    def observe(self, url: str, status: int, etag: str | None, last_modified: str | None,
                body: bytes, *, outlet: str | None = None, date: str | None = None) -> str:
        """Classify an answer to a listing request and remember it (until :meth:`commit`).

        Args:
            date: the answer's ``Date`` header (the server's clock, for :func:`future_validator`).

        Returns:
            ``"not_modified"`` (304), ``"unchanged"`` (200, same body hash as last time, whose
            entries are remembered) or ``"changed"`` (then :meth:`set_entries` should follow
            the parse).
        """
        now = self.clock()
        prev = self.get(url) or FeedRecord(url)
        poll = self.polls.setdefault(url, Poll())
        if status == 304:
            poll.verdict, poll.saved = "not_modified", prev.body_bytes or 0
            self._pending[url] = replace(prev, streak=prev.streak + 1, last_304_at=now,
                                         saved_bytes=prev.saved_bytes + poll.saved,
                                         outlet=outlet or prev.outlet)
            return "not_modified"
        digest = body_hash(body)
        distrust = prev.distrust or ("marked before" if prev.liar else None)
        if distrust is None and etag is not None and etag == prev.etag and prev.body_hash is not None \
                and digest != prev.body_hash:
            distrust = poll.distrusted = f"same ETag {etag} on a changed body"
        if prev.entries is not None and (prev.etag or prev.last_modified) and (poll.forced or prev.liar):
            poll.spent = len(body)  # a 304 could have saved these bytes, had it been trusted
        same = digest == prev.body_hash and prev.entries is not None
        self._pending[url] = replace(
            prev, etag=etag, last_modified=last_modified, body_hash=digest, distrust=distrust,
            liar=distrust is not None, entries=prev.entries if same else None, outlet=outlet or prev.outlet,
            future=future_validator(etag, last_modified, date, now) is not None,
            full_at=now, body_bytes=len(body), spent_bytes=prev.spent_bytes + poll.spent, streak=0)
        poll.verdict = "unchanged" if same else "changed"
        return poll.verdict

    def classify(self, response) -> str:
        """:meth:`observe` for a Scrapy response to a listing request."""
        def header(name: bytes) -> str | None:
            return (response.headers.get(name) or b"").decode("latin-1") or None

        return self.observe(response.url, response.status, header(b"ETag"), header(b"Last-Modified"),
                            response.body, outlet=response.meta.get("rasd_outlet"), date=header(b"Date"))

    def set_children(self, url: str, children: list[str]) -> None:
        """Remember the child sitemaps of the sitemap index at ``url`` (re-requested on a 304)."""
        rec = self._pending.get(url) or self.get(url) or FeedRecord(url)
        self._pending[url] = replace(rec, children=tuple(children))

    def children(self, url: str) -> tuple[str, ...]:
        rec = self.get(url)
        return rec.children if rec else ()

    def set_entries(self, url: str, entries) -> None:
        """Remember the entries parsed from the listing at ``url`` (a sitemap index: none).

        After 304s, a forced unconditional answer listing entries the remembered ones lack
        (dated, if at all, before the last 304) marks the URL as not honouring validators
        (module docstring); a 200 to a conditional request never does: the server honoured
        the validators, and what it lists anew is new."""
        rec = self._pending.get(url) or self.get(url) or FeedRecord(url)
        before = self._committed(url)
        update = {"entries": encode_entries(entries), "streak": 0}
        forced = (self.polls.get(url) or Poll()).forced
        if (forced and before is not None and before.streak > 0 and before.entries is not None
                and not before.distrust):
            # only an unconditional answer can show what the 304s hid: a 200 to a conditional
            # request honours the validators, its new entries are new (an entry dated after
            # the last 304 is new too; an undated one counts)
            known = {e.url for e in decode_entries(before.entries)}
            cut = before.last_304_at
            hidden = [e for e in entries if e.url not in known and
                      (e.published_at is None or cut is None or e.published_at.timestamp() <= cut)]
            if hidden:
                reason = (f"a full answer listed {len(hidden)} entries its {before.streak} "
                          "304 answer(s) had hidden")
                poll = self.polls.setdefault(url, Poll())
                poll.hidden = len(hidden)
                if not rec.distrust:  # this run's observe() may have caught it first (same ETag)
                    update.update(distrust=reason, liar=True)
                    poll.distrusted = reason
        self._pending[url] = replace(rec, **update)

    def _committed(self, url: str) -> FeedRecord | None:
        """The record as the last finished crawl left it (before this crawl's updates)."""
        pending = self._pending.pop(url, None)
        try:
            return self.get(url)
        finally:
            if pending is not None:
                self._pending[url] = pending

    def entries(self, url: str) -> tuple[FeedEntry, ...] | None:
        """The remembered entries of ``url`` (what a 304 or an unchanged body stands for), or
        None when not remembered."""
        rec = self.get(url)
        return decode_entries(rec.entries) if rec is not None and rec.entries is not None else None

    def commit(self) -> int:
        """Write the buffered updates; returns how many URLs were written."""
        if not self._pending:
            return 0
        cols = [c for c in _COLUMNS]
        db = self._connect()
        try:
            with transaction(db):
                db.executemany(
                    f"INSERT INTO feeds ({', '.join(cols)}, updated_at) VALUES "
                    f"({', '.join('?' for _ in cols)}, ?) ON CONFLICT(url) DO UPDATE SET "
                    + ", ".join(f"{c}=excluded.{c}" for c in cols[1:]) + ", updated_at=excluded.updated_at",
                    [(r.url, r.etag, r.last_modified, r.body_hash, json.dumps(list(r.children)),
                      int(r.liar), r.entries, r.outlet, r.streak, r.full_at, r.last_304_at,
                      r.body_bytes, r.distrust, int(r.future), r.saved_bytes, r.spent_bytes,
                      self.clock()) for r in self._pending.values()])
        finally:
            db.close()
        n = len(self._pending)
        self._pending.clear()
        return n

    def discard(self) -> None:
        """Forget the buffered updates (the run did not finish)."""
        self._pending.clear()
