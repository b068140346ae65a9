"""Conditional GET for feeds and sitemaps: remembered validators, body hashes, entries, lying servers.

Every crawl (``rasd crawl``, the scheduler's runs, ``scrapy crawl outlet``) uses it unless the
Scrapy setting ``RASD_CONDITIONAL_GET`` is false.  Per listing URL (feed, sitemap index or
sitemap) :class:`FeedState` keeps the server's ``ETag`` and ``Last-Modified``, a hash of the
last body, the listing's entries (links with their titles and dates, as parsed), the child
sitemaps of a sitemap index, and a ``liar`` flag.  The spider sends
``If-None-Match``/``If-Modified-Since`` from it (:meth:`FeedState.conditional_headers`) and asks
:meth:`FeedState.observe` what an answer means:

* ``"not_modified"``: a 304 — the listing is the one whose entries are remembered;
* ``"unchanged"``: a 200 whose body hashes like the last one (servers that ignore validators);
* ``"changed"``: anything else; the listing is parsed as usual and its entries remembered.

A 304 or an unchanged body saves the download and the parse, never the links: the spider
follows the remembered entries (:meth:`FeedState.entries`) exactly as if it had parsed them, so
each is checked against the seen-URL store again.  A page that failed, was cut short or was
never requested in an earlier run (it is not "known") is therefore requested again although
its listing did not change; deferred pages come back from the seen store's deferred table when
due.  Conditional headers are only sent for a URL whose entries are remembered (a listing that
could not be parsed is fetched whole next time), and "unchanged" is only said of one.

Distrust (the guard Media Cloud's rss-fetcher applies to servers whose validators lie): when a
200 arrives with the *same* ``ETag`` as before but a *different* body, the server's validators
cannot be trusted, so the URL is flagged ``liar`` and gets no conditional headers from then on
(a 304 from it could hide new items).

Updates are buffered and written by :meth:`FeedState.commit`, which the spider calls only when
the crawl *finished*: a run cut short (SIGTERM, timeout) must not mark a listing as seen whose
articles were never fetched, or the next run would skip them on a 304.

Storage: SQLite table ``feeds`` in ``<data-dir>/feedstate.sqlite`` (``entries``: JSON list of
:class:`~rasd.crawler.feeds.FeedEntry` fields, NULL when not remembered; the column is added to
files written before it), a connection per call opened with :func:`rasd.core.sqlite.connect`
(WAL, busy timeout 30 s: parallel runs of the scheduler share the file).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path

from rasd.core.sqlite import connect as connect_sqlite, transaction
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
_DATES = ("published_at", "updated_at")


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


@dataclass(frozen=True)
class FeedRecord:
    """What is remembered about one listing URL."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    children: tuple[str, ...] = ()
    liar: bool = False
    entries: str | None = None  # encode_entries() of the listing's entries, None if not remembered


@dataclass
class FeedState:
    """Validators and body hashes of listing URLs (see the module docstring).

    Args:
        path: the SQLite file (created with its table if missing).

    Raises:
        DatabaseFileError: the file is not a SQLite database or cannot be opened (the message
            names it).
    """

    path: Path
    _pending: dict[str, FeedRecord] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        db = self._connect()
        try:
            db.execute(SCHEMA)
            if "entries" not in {r[1] for r in db.execute("PRAGMA table_info(feeds)")}:
                db.execute("ALTER TABLE feeds ADD COLUMN entries TEXT")
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
            row = db.execute("SELECT etag, last_modified, body_hash, children, liar, entries "
                             "FROM feeds WHERE url = ?", (url,)).fetchone()
        finally:
            db.close()
        if row is None:
            return None
        return FeedRecord(url, row[0], row[1], row[2], tuple(json.loads(row[3])), bool(row[4]), row[5])

    def records(self) -> list[tuple[FeedRecord, float | None]]:
        """Every listing remembered, with the time it was last written (POSIX seconds), by URL
        (the web app's outlet pages show them)."""
        db = self._connect()
        try:
            rows = db.execute("SELECT url, etag, last_modified, body_hash, children, liar, entries, "
                              "updated_at FROM feeds ORDER BY url").fetchall()
        finally:
            db.close()
        return [(FeedRecord(r[0], r[1], r[2], r[3], tuple(json.loads(r[4] or "[]")), bool(r[5]), r[6]), r[7])
                for r in rows]

    def conditional_headers(self, url: str) -> dict[str, str]:
        """``If-None-Match``/``If-Modified-Since`` for ``url``; empty if unknown, a liar, or its
        entries are not remembered (a 304 could then not be followed)."""
        rec = self.get(url)
        if rec is None or rec.liar or rec.entries is None:
            return {}
        headers = {}
        if rec.etag:
            headers["If-None-Match"] = rec.etag
        if rec.last_modified:
            headers["If-Modified-Since"] = rec.last_modified
        return headers

    def observe(self, url: str, status: int, etag: str | None, last_modified: str | None,
                body: bytes) -> str:
        """Classify an answer to a listing request and remember it (until :meth:`commit`).

        Returns:
            ``"not_modified"`` (304), ``"unchanged"`` (200, same body hash as last time, whose
            entries are remembered) or ``"changed"`` (then :meth:`set_entries` should follow
            the parse).
        """
        prev = self.get(url) or FeedRecord(url)
        if status == 304:
            return "not_modified"
        digest = body_hash(body)
        liar = prev.liar or (etag is not None and etag == prev.etag and prev.body_hash is not None
                             and digest != prev.body_hash)
        same = digest == prev.body_hash and prev.entries is not None
        self._pending[url] = replace(prev, etag=etag, last_modified=last_modified, body_hash=digest,
                                     liar=liar, entries=prev.entries if same else None)
        return "unchanged" if same else "changed"

    def classify(self, response) -> str:
        """:meth:`observe` for a Scrapy response to a listing request."""
        def header(name: bytes) -> str | None:
            return (response.headers.get(name) or b"").decode("latin-1") or None

        return self.observe(response.url, response.status, header(b"ETag"),
                            header(b"Last-Modified"), response.body)

    def set_children(self, url: str, children: list[str]) -> None:
        """Remember the child sitemaps of the sitemap index at ``url`` (re-requested on a 304)."""
        rec = self._pending.get(url) or self.get(url) or FeedRecord(url)
        self._pending[url] = replace(rec, children=tuple(children))

    def children(self, url: str) -> tuple[str, ...]:
        rec = self.get(url)
        return rec.children if rec else ()

    def set_entries(self, url: str, entries) -> None:
        """Remember the entries parsed from the listing at ``url`` (a sitemap index: none)."""
        rec = self._pending.get(url) or self.get(url) or FeedRecord(url)
        self._pending[url] = replace(rec, entries=encode_entries(entries))

    def entries(self, url: str) -> tuple[FeedEntry, ...] | None:
        """The remembered entries of ``url`` (what a 304 or an unchanged body stands for), or
        None when not remembered."""
        rec = self.get(url)
        return decode_entries(rec.entries) if rec is not None and rec.entries is not None else None

    def commit(self) -> int:
        """Write the buffered updates; returns how many URLs were written."""
        if not self._pending:
            return 0
        db = self._connect()
        try:
            with transaction(db):
                db.executemany(
                    "INSERT INTO feeds (url, etag, last_modified, body_hash, children, liar, updated_at, "
                    "entries) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET "
                    "etag=excluded.etag, last_modified=excluded.last_modified, "
                    "body_hash=excluded.body_hash, children=excluded.children, liar=excluded.liar, "
                    "updated_at=excluded.updated_at, entries=excluded.entries",
                    [(r.url, r.etag, r.last_modified, r.body_hash, json.dumps(list(r.children)),
                      int(r.liar), time.time(), r.entries) for r in self._pending.values()])
        finally:
            db.close()
        n = len(self._pending)
        self._pending.clear()
        return n

    def discard(self) -> None:
        """Forget the buffered updates (the run did not finish)."""
        self._pending.clear()
