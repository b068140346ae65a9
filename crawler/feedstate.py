"""Conditional GET for feeds and sitemaps: remembered validators, body hashes, lying servers.

Per listing URL (feed, sitemap index or sitemap) :class:`FeedState` keeps the server's ``ETag``
and ``Last-Modified``, a hash of the last body, the child sitemaps of a sitemap index, and a
``liar`` flag.  The spider sends ``If-None-Match``/``If-Modified-Since`` from it
(:meth:`FeedState.conditional_headers`) and asks :meth:`FeedState.observe` what an answer means:

* ``"not_modified"``: a 304 — the listing is unchanged, no article is fetched;
* ``"unchanged"``: a 200 whose body hashes like the last one (servers that ignore validators);
* ``"changed"``: anything else; the listing is parsed as usual.

Distrust (the guard Media Cloud's rss-fetcher applies to servers whose validators lie): when a
200 arrives with the *same* ``ETag`` as before but a *different* body, the server's validators
cannot be trusted, so the URL is flagged ``liar`` and gets no conditional headers from then on
(a 304 from it could hide new items).

Updates are buffered and written by :meth:`FeedState.commit`, which the spider calls only when
the crawl *finished*: a run cut short (SIGTERM, timeout) must not mark a listing as seen whose
articles were never fetched, or the next run would skip them on a 304.

Storage: SQLite table ``feeds`` in ``<data-dir>/feedstate.sqlite``, a connection per call opened
with :func:`rasd.core.sqlite.connect` (WAL, busy timeout 30 s: parallel runs of the scheduler share
the file).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from rasd.core.sqlite import connect as connect_sqlite, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    body_hash TEXT,
    children TEXT NOT NULL DEFAULT '[]',
    liar INTEGER NOT NULL DEFAULT 0,
    updated_at REAL
)
"""


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
            row = db.execute("SELECT etag, last_modified, body_hash, children, liar FROM feeds "
                             "WHERE url = ?", (url,)).fetchone()
        finally:
            db.close()
        if row is None:
            return None
        return FeedRecord(url, row[0], row[1], row[2], tuple(json.loads(row[3])), bool(row[4]))

    def records(self) -> list[tuple[FeedRecord, float | None]]:
        """Every listing remembered, with the time it was last written (POSIX seconds), by URL
        (the web app's outlet pages show them)."""
        db = self._connect()
        try:
            rows = db.execute("SELECT url, etag, last_modified, body_hash, children, liar, updated_at "
                              "FROM feeds ORDER BY url").fetchall()
        finally:
            db.close()
        return [(FeedRecord(r[0], r[1], r[2], r[3], tuple(json.loads(r[4] or "[]")), bool(r[5])), r[6])
                for r in rows]

    def conditional_headers(self, url: str) -> dict[str, str]:
        """``If-None-Match``/``If-Modified-Since`` for ``url``; empty if unknown or a liar."""
        rec = self.get(url)
        if rec is None or rec.liar:
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
            ``"not_modified"`` (304), ``"unchanged"`` (200, same body hash as last time) or
            ``"changed"``.
        """
        prev = self.get(url) or FeedRecord(url)
        if status == 304:
            return "not_modified"
        digest = body_hash(body)
        liar = prev.liar or (etag is not None and etag == prev.etag and prev.body_hash is not None
                             and digest != prev.body_hash)
        self._pending[url] = replace(prev, etag=etag, last_modified=last_modified,
                                     body_hash=digest, liar=liar)
        return "unchanged" if digest == prev.body_hash else "changed"

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

    def commit(self) -> int:
        """Write the buffered updates; returns how many URLs were written."""
        if not self._pending:
            return 0
        db = self._connect()
        try:
            with transaction(db):
                db.executemany(
                    "INSERT INTO feeds (url, etag, last_modified, body_hash, children, liar, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET etag=excluded.etag, "
                    "last_modified=excluded.last_modified, body_hash=excluded.body_hash, "
                    "children=excluded.children, liar=excluded.liar, updated_at=excluded.updated_at",
                    [(r.url, r.etag, r.last_modified, r.body_hash, json.dumps(list(r.children)),
                      int(r.liar), time.time()) for r in self._pending.values()])
        finally:
            db.close()
        n = len(self._pending)
        self._pending.clear()
        return n

    def discard(self) -> None:
        """Forget the buffered updates (the run did not finish)."""
        self._pending.clear()
