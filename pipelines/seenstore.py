"""The seen-URL store: URLs and content hashes already seen, in SQLite, following the archive.

Used by the dedup stage (:mod:`rasd.pipelines.dedup`) through the data directory's
:class:`~rasd.pipelines.ledger.Ledger`; the crawl's dupefilter (:mod:`rasd.crawler.dupefilter`)
and the spider use the same connection to skip known links and to remember skipped and deferred
pages.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rasd.core.arabic import normalize
from rasd.core.article import Article, isoformat_utc
from rasd.core.errors import RasdError
from rasd.core.sqlite import connect as connect_sqlite, transaction
from rasd.core.urls import _canonical_or_none, canonicalize_url

log = logging.getLogger(__name__)

#: Normalised texts shorter than this are not matched by content (boilerplate collides).
MIN_CONTENT_CHARS = 100
_NOT_WORD = re.compile(r"[\W_]+")


def content_key(text: str) -> str:
    """The text as compared for duplicates: Arabic-folded (:func:`rasd.core.arabic.normalize`),
    lower-cased, every run of punctuation, symbols and spaces made one space."""
    return _NOT_WORD.sub(" ", normalize(text).lower()).strip()


def content_hash(text: str) -> str:
    """BLAKE2b-128 hex of :func:`content_key`: copies that differ only in hamza seats,
    tashkeel, digits, punctuation or spacing hash equal."""
    return _hash_key(content_key(text))


def _hash_key(key: str) -> str:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()


class SeenStoreError(RasdError):
    """The seen-store file is unreadable or was written by an incompatible version."""


@dataclass(frozen=True, slots=True)
class ContentMatch:
    """An article already recorded: its ``id``, ``outlet``, canonical ``url`` and
    ``published_at`` (ISO 8601 UTC string, or None)."""

    id: str
    outlet: str
    url: str
    published_at: str | None = None


#: 2: archive checkpoints (the store follows the archive); a version-1 file is upgraded and
#: caught up on the whole archive.
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, outlet TEXT NOT NULL, url TEXT NOT NULL, content_hash TEXT,
    content_chars INTEGER NOT NULL, published_at TEXT, duplicate_of TEXT, added_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS articles_by_content ON articles (content_hash);
CREATE TABLE IF NOT EXISTS urls (
    url TEXT PRIMARY KEY, outlet TEXT NOT NULL, outcome TEXT NOT NULL, article_id TEXT,
    seen_at TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS urls_by_article ON urls (article_id);
"""
_CATCH_UP_BATCH = 500


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class SeenStore:
    """URLs and content hashes already seen, in one SQLite file (``":memory:"`` for tests).

    Articles (``new``/``syndicated``) enter only from the archive: :meth:`apply` takes archive
    lines (the crawl applies each line right after it is durable, see
    :mod:`rasd.pipelines.ledger`) and :meth:`catch_up` applies those after the store's checkpoint in
    ``archive_dir`` (lines a killed process wrote but did not apply; or the whole archive, when
    the file was deleted or comes from an older Rasd).  URLs that are no article
    (``duplicate``, ``skipped/<reason>``) are written directly (:meth:`mark_url`): losing one
    only costs a refetch.  :meth:`add` records an article without the archive (tools, tests).

    One connection, autocommit with explicit transactions, WAL journal, busy timeout 5 s:
    several processes share the file (writes are serialised by the data directory's
    :class:`~rasd.core.durable.StateLock`).  Not for use from several threads.  URLs passed to
    :meth:`seen_url`, :meth:`find_url` and :meth:`mark_url` are canonical
    (:func:`canonicalize_url`); :meth:`is_known_url` takes a raw one.

    Raises:
        SeenStoreError: the file is not a SQLite database or has another schema version.
    """

    def __init__(self, path: str | Path, archive_dir: str | Path | None = None):
        from rasd.core.archive import Checkpoints

        self.path = str(path)
        self.archive_dir = Path(archive_dir) if archive_dir is not None else None
        self._db = connect_sqlite(self.path, what="seen store", error=SeenStoreError)
        try:
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            (version,) = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version == "1":  # v1 had no checkpoints: follow the archive from its start
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
                version = str(SCHEMA_VERSION)
            self.checkpoints = Checkpoints(self._db, "seen")
        except sqlite3.DatabaseError as exc:
            raise SeenStoreError(f"{self.path}: cannot open seen store: {exc}") from exc
        if version != str(SCHEMA_VERSION):
            self._db.close()
            raise SeenStoreError(f"{self.path}: seen store schema version {version}, "
                                 f"this Rasd reads version {SCHEMA_VERSION}")

    def seen_url(self, canonical: str) -> bool:
        """True when the URL was recorded with any outcome (article, duplicate or skipped)."""
        return self._db.execute("SELECT 1 FROM urls WHERE url = ?", (canonical,)).fetchone() is not None

    def is_known_url(self, url: str) -> bool:
        """:meth:`seen_url` for a raw URL (a link found in a feed, before fetching it);
        False for a URL that cannot be canonicalised."""
        try:
            return self.seen_url(canonicalize_url(url))
        except ValueError:
            return False

    def find_url(self, canonical: str) -> ContentMatch | None:
        """The recorded article this URL led to (None if unknown or only skipped)."""
        row = self._db.execute(
            "SELECT a.id, a.outlet, a.url, a.published_at FROM urls u JOIN articles a "
            "ON a.id = u.article_id WHERE u.url = ?", (canonical,)).fetchone()
        return ContentMatch(*row) if row else None

    def find_content(self, content_hash: str, outlet: str | None = None) -> ContentMatch | None:
        """A recorded article with this content hash: one of ``outlet`` if there is one, else
        the original (the one that is no copy)."""
        rows = self._db.execute(
            "SELECT id, outlet, url, published_at FROM articles WHERE content_hash = ? "
            "AND content_chars >= ? ORDER BY duplicate_of IS NOT NULL, rowid",
            (content_hash, MIN_CONTENT_CHARS)).fetchall()
        if not rows:
            return None
        same = [r for r in rows if r[1] == outlet]
        return ContentMatch(*(same or rows)[0])

    def copies(self, content_hash: str, original_id: str) -> list[str]:
        """Ids of the recorded articles with this content hash other than ``original_id``
        (those a new original re-points), in recording order."""
        return [r[0] for r in self._db.execute(
            "SELECT id FROM articles WHERE content_hash = ? AND id != ? ORDER BY rowid",
            (content_hash, original_id))]

    def relink(self, content_hash: str, original_id: str) -> list[str]:
        """Make ``original_id`` the original of every other article with this content hash;
        returns the ids re-pointed."""
        with self._transaction():
            ids = self.copies(content_hash, original_id)
            self._link(ids, original_id)
        return ids

    def _link(self, ids, original_id: str) -> None:
        self._db.executemany("UPDATE articles SET duplicate_of = ? WHERE id = ?",
                             [(original_id, i) for i in ids])

    def add(self, article: Article, outcome: str = "new", content_chars: int | None = None) -> None:
        """Record a kept article under its canonical URL and its fetched URL's canonical form
        (without the archive: for tools and tests; a crawl records articles by :meth:`apply`).

        ``content_chars``: length of :func:`content_key` of its text, if already computed.

        Raises:
            ValueError: ``id`` or ``canonical_url`` is not set (run :func:`dedup` first).
        """
        if not article.id or not article.canonical_url:
            raise ValueError("article has no id/canonical_url: run dedup() before SeenStore.add()")
        with self._transaction():
            self._insert(article.id, article.outlet, article.canonical_url, article.url,
                         article.content_hash, content_chars if content_chars is not None
                         else len(content_key(article.text)), _iso(article.published_at),
                         article.duplicate_of, outcome)

    def _insert(self, article_id, outlet, canonical, fetched, chash, chars, published, duplicate_of,
                outcome) -> None:
        urls = {canonical, _canonical_or_none(fetched)} - {None}
        now = _now()
        self._db.execute("INSERT OR IGNORE INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (article_id, outlet, canonical, chash, chars, published, duplicate_of, now))
        # a URL remembered as skipped earlier now leads to this article
        self._db.executemany(
            "INSERT INTO urls VALUES (?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET "
            "outcome = excluded.outcome, article_id = excluded.article_id, seen_at = excluded.seen_at "
            "WHERE urls.article_id IS NULL",
            [(u, outlet, outcome, article_id, now) for u in urls])

    # ---- following the archive -----------------------------------------------------------
    def apply(self, lines, content_chars: dict[str, int] | None = None) -> int:
        """Apply archive lines (:class:`rasd.pipelines.archive.ArchiveLine`) in one transaction with
        the checkpoint: a record line records its article (idempotent by id), a ``links``
        amendment re-points a copy; other lines only move the checkpoint.  ``content_chars``:
        ``{id: length of its content_key}`` where already computed (the crawl's dedup stage did).
        Returns the articles recorded."""
        n = 0
        positions: dict[str, int] = {}
        with self._transaction():
            for line in lines:
                positions[line.file] = max(positions.get(line.file, 0), line.end)
                rec = line.data
                if rec is None:
                    continue
                if line.kind == "record" and rec.get("id") and rec.get("canonical_url"):
                    chars = (content_chars or {}).get(rec["id"])
                    if chars is None:
                        chars = len(content_key(rec.get("text") or ""))
                    outcome = "syndicated" if rec.get("duplicate_of") else "new"
                    self._insert(rec["id"], rec.get("outlet") or "", rec["canonical_url"],
                                 rec.get("url") or rec["canonical_url"], rec.get("content_hash"), chars,
                                 rec.get("published_at"), rec.get("duplicate_of"), outcome)
                    n += 1
                elif line.kind == "links" and rec.get("id") and rec.get("duplicate_of"):
                    self._link([rec["id"]], rec["duplicate_of"])
            self.checkpoints.save(positions)
        return n

    def catch_up(self, files=None) -> int:
        """Apply the archive lines after the checkpoint (``files``: only in these); returns the
        articles recorded.  No-op without ``archive_dir``."""
        from rasd.core.archive import follow

        if self.archive_dir is None:
            return 0
        total = 0
        while True:
            batch = list(follow(self.archive_dir, self.checkpoints.load(), files, limit=_CATCH_UP_BATCH))
            if not batch:
                break
            total += self.apply(batch)
            if len(batch) < _CATCH_UP_BATCH:
                break
        if total:
            log.info("seen store %s: %d archived article(s) applied from the archive", self.path, total)
        return total

    def mark_url(self, canonical: str, outlet: str, outcome: str, article_id: str | None = None) -> None:
        """Remember a URL that is not a new article (``duplicate``, ``skipped/<reason>``) so it
        is not fetched again.  A URL already recorded keeps its first outcome."""
        self._db.execute("INSERT OR IGNORE INTO urls VALUES (?, ?, ?, ?, ?)",
                         (canonical, outlet, outcome, article_id, _now()))

    def forget(self, article_id: str) -> None:
        """Remove an article and every URL that points to it (it will be fetched again)."""
        with self._transaction():
            self._db.execute("DELETE FROM urls WHERE article_id = ?", (article_id,))
            self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))

    def counts(self) -> dict[str, int]:
        """``{"articles": n, "urls": m}`` (for reports and tests)."""
        return {table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("articles", "urls")}

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "SeenStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _transaction(self):
        return transaction(self._db)

    # -- deferred pages (crawler/middlewares.py RetryDeferred): self-contained, own table --------
    _DEFERRED_TABLE = (
        "CREATE TABLE IF NOT EXISTS deferred (url TEXT PRIMARY KEY, fetch_url TEXT NOT NULL, "
        "outlet TEXT NOT NULL, not_before REAL NOT NULL, reason TEXT NOT NULL, "
        "attempts INTEGER NOT NULL, deferred_at TEXT NOT NULL) WITHOUT ROWID")

    def defer_url(self, canonical: str, url: str, outlet: str, not_before: float, reason: str) -> None:
        """Remember a page to request again at or after ``not_before`` (POSIX seconds), listed
        or not.  ``url`` is the address to request; deferring a page again moves its time,
        replaces its reason (``retry_after``, …) and counts an attempt."""
        self._db.execute(self._DEFERRED_TABLE)
        self._db.execute(
            "INSERT INTO deferred VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (url) DO UPDATE SET "
            "fetch_url = excluded.fetch_url, not_before = excluded.not_before, "
            "reason = excluded.reason, attempts = deferred.attempts + 1, deferred_at = excluded.deferred_at",
            (canonical, url, outlet, float(not_before), reason, _now()))

    def deferred_urls(self, outlet: str) -> list[tuple[str, str, float, str]]:
        """The outlet's deferred pages as ``(canonical, url, not_before, reason)``, soonest first."""
        self._db.execute(self._DEFERRED_TABLE)
        return [tuple(r) for r in self._db.execute(
            "SELECT url, fetch_url, not_before, reason FROM deferred WHERE outlet = ? "
            "ORDER BY not_before, url", (outlet,))]

    def deferred_until(self, canonical: str) -> float | None:
        """``not_before`` (POSIX seconds) of a deferred page, or ``None`` when it is not deferred."""
        self._db.execute(self._DEFERRED_TABLE)
        row = self._db.execute("SELECT not_before FROM deferred WHERE url = ?", (canonical,)).fetchone()
        return row[0] if row else None

    def clear_deferred(self, canonical: str) -> None:
        """Forget a deferred page (it was fetched again); a no-op for one not deferred."""
        self._db.execute(self._DEFERRED_TABLE)
        self._db.execute("DELETE FROM deferred WHERE url = ?", (canonical,))


def _iso(value: datetime | None) -> str | None:
    """Seconds-precision ISO 8601 UTC, so stored strings compare in time order."""
    return isoformat_utc(value.replace(microsecond=0)) if value is not None else None
