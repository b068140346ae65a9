"""Indexing: the search index follows the archive.

No second copy of the documents exists: the archive (:mod:`rasd.pipelines.archive`) is the queue.

* :func:`index_articles` — bulk requests with ``op_type: create`` and ``_id`` = the article id
  (hash of the canonical URL), so indexing the same records twice leaves the count unchanged
  (409 → ``already_indexed``).  Documents the engine rejects for good (4xx, e.g. a mapping
  error) are counted by reason; no answer, 429 or 5xx after quick retries raises
  :class:`~rasd.search.engine.EngineUnavailable`.
* :class:`IndexFollower` — applies the archive lines after its checkpoint (``<data-dir>/
  followers.sqlite``, follower ``index:<alias>``) to the index: a record line is created, a
  link or topics amendment becomes an ``update`` of the document already there.  The
  checkpoint moves only past lines with a definite answer, in order; a kill at any point
  re-sends at most the last batch, which ``create``/``update`` make harmless, so every
  archived article is in the index exactly once.  Refused lines are kept in the ``rejected``
  table (id, reason, where in the archive), never silently dropped.  One follower at a time
  per data directory and alias (``flock`` on ``locks/index-<alias>.lock``).
* :class:`IndexPipeline` — the Scrapy stage (after the archive): runs the follower in a
  background thread (woken by each archived item, and every ``RASD_INDEX_FLUSH_SECONDS``) so
  the reactor never waits on the engine; at close it drains for at most
  ``RASD_INDEX_DRAIN_SECONDS`` and refreshes.  With the engine down the crawl goes on and the
  lag (archive lines not yet indexed) is reported; ``rasd index`` (or the next crawl) catches
  up.  Off unless the Scrapy setting ``RASD_INDEX_ENABLED`` (from ``index_enabled``) is true.

Stats: ``rasd/index/queued`` per archived item; per archive line applied one of
``rasd/index/indexed``, ``rasd/index/already_indexed``, ``rasd/index/amended``,
``rasd/index/failed/<reason>``; ``rasd/index/engine_unavailable`` per failed attempt; at close
the gauge ``rasd/index/waiting`` (archive lines not yet in the index).

Fail points: ``before_index`` (a batch read, nothing sent), ``after_index`` (the engine
answered, the checkpoint not yet saved).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

from rasd.core.archive import AMENDMENT_KINDS, ArchiveLine, Checkpoints, follow, lag
from rasd.search.engine import RETRYABLE_STATUSES, Engine, EngineUnavailable
from rasd.core.errors import EngineError
from rasd.core.failpoints import failpoint
from rasd.core.sqlite import connect as connect_sqlite, transaction
from rasd.search.articles import init_index, load_template

log = logging.getLogger(__name__)


@cache
def document_fields() -> frozenset[str]:
    """Top-level fields of the index mapping (``config/index_template.yaml``)."""
    return frozenset(load_template()["mappings"]["properties"])


@dataclass
class IndexReport:
    """Per-line outcomes of an indexing run; ``total`` = lines handled.

    ``failed`` maps a reason (the engine's error type, ``missing_id``, ``invalid_line`` …) to a
    count; ``unmapped_fields`` counts record keys left out because the mapping has no such
    field; ``waiting`` is what was left unindexed (the engine went away).
    """

    indexed: int = 0
    already_indexed: int = 0
    amended: int = 0
    waiting: int = 0
    failed: Counter = field(default_factory=Counter)
    unmapped_fields: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.indexed + self.already_indexed + self.amended + self.waiting + sum(self.failed.values())

    def add(self, other: "IndexReport") -> None:
        for name in ("indexed", "already_indexed", "amended", "waiting", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed.update(other.failed)
        self.unmapped_fields.update(other.unmapped_fields)

    def as_dict(self) -> dict[str, Any]:
        return {"indexed": self.indexed, "already_indexed": self.already_indexed,
                "amended": self.amended, "waiting": self.waiting, "failed": dict(self.failed),
                "total": self.total, "unmapped_fields": dict(self.unmapped_fields),
                "seconds": round(self.seconds, 3)}


def encode(record: dict, unmapped: Counter | None = None) -> tuple[str, bytes] | None:
    """``(id, JSON bytes)`` of the index document of an archive record: the mapped fields only
    (the mapping is strict; others are counted in ``unmapped``); ``None`` without a usable id."""
    doc_id, fields = record.get("id"), document_fields()
    if not doc_id or not isinstance(doc_id, str):
        return None
    doc = {k: v for k, v in record.items() if k in fields}
    if len(doc) != len(record) and unmapped is not None:
        unmapped.update(k for k in record if k not in fields)
    return doc_id, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def index_articles(engine: Engine, records: Iterable[dict | tuple[str, bytes]], *, index: str,
                   chunk_size: int = 500, retries: int = 2, backoff_seconds: float = 0.5,
                   check_existing: bool = False, require_alias: bool = False,
                   progress: Callable[[int], None] | None = None,
                   sleep: Callable[[float], None] = time.sleep) -> IndexReport:
    """Index ``records`` into ``index`` (the alias, or one index) → per-document outcomes.

    ``records``: :meth:`Article.to_record` dicts, or ``(id, JSON bytes)`` documents already
    encoded by :func:`encode`.  ``check_existing``: before each bulk request, ask which ids
    already exist behind ``index`` (needed when the alias spans several indices, where
    ``create`` only sees the write index).  ``require_alias``: ``index`` must be an alias; if it
    is missing nothing is written (writing would auto-create an index without Rasd's mapping).
    ``progress(n)`` is called after each chunk with the number of records handled.

    Raises:
        EngineUnavailable: the engine is down or keeps answering 429/5xx (the partial report
            is its ``report`` attribute).
        EngineError: a request failed with a non-retryable error (e.g. 401).
    """
    report, t0 = IndexReport(), time.perf_counter()
    it = iter(records)
    while chunk := list(islice(it, chunk_size)):
        docs = []
        for rec in chunk:
            doc = rec if isinstance(rec, tuple) else encode(rec, report.unmapped_fields)
            if doc is None:
                report.failed["missing_id"] += 1
            else:
                docs.append(doc)
        try:
            for status, item in _send(engine, index, [("create", d[0], d[1]) for d in docs], retries,
                                      backoff_seconds, check_existing, require_alias, sleep):
                _count_create(report, status, item)
        except EngineUnavailable as exc:
            exc.report = report  # type: ignore[attr-defined]
            raise
        if progress is not None:
            progress(len(chunk))
    report.seconds = time.perf_counter() - t0
    return report


def _count_create(report: IndexReport, status: int, item) -> None:
    if status in (200, 201):
        report.indexed += 1
    elif status == 409:
        report.already_indexed += 1
    else:
        report.failed[(item.error_type if item else None) or f"http_{status}"] += 1


def _send(engine: Engine, index: str, ops: list[tuple[str, str, Any]], retries: int, backoff: float,
          check_existing: bool, require_alias: bool, sleep) -> list[tuple[int, Any]]:
    """``(status, BulkItem or None)`` per op of ``ops`` (``(action, id, body)``), in order;
    429/5xx items are retried ``retries`` times.  ``check_existing`` answers ``create`` of an
    id present behind the alias with 409 without sending it and sends ``update`` to the index
    that holds the id (an alias over several indices has no single target)."""
    results: list[tuple[int, Any] | None] = [None] * len(ops)
    targets: dict[str, str] = {}
    if check_existing and ops:
        targets = engine.locate(index, sorted({doc_id for _, doc_id, _ in ops}))
    pending = []
    for i, (action, doc_id, body) in enumerate(ops):
        if action == "create" and doc_id in targets:
            results[i] = (409, None)
        elif action == "update" and check_existing and doc_id not in targets:
            results[i] = (404, None)
        else:
            pending.append(i)
    attempt = 0
    while pending:
        batch = []
        for i in pending:
            action, doc_id, body = ops[i]
            target = targets.get(doc_id, index) if action == "update" else index
            batch.append((action, target, doc_id, body, require_alias and target == index))
        items = engine.bulk(batch)
        if require_alias and any(it.status == 404 and it.error_type and "index_not_found" in it.error_type
                                 for it in items):
            raise EngineUnavailable(f"alias {index} is missing (`rasd index init` makes it)", 404)
        retry = []
        for i, item in zip(pending, items):
            if item.status in RETRYABLE_STATUSES:
                retry.append(i)
            else:
                results[i] = (item.status, item)
        pending = retry
        if pending:
            attempt += 1
            if attempt > retries:
                raise EngineUnavailable(f"{len(pending)} documents still refused (429/5xx) "
                                        f"after {retries} retries", 429)
            sleep(backoff * 2 ** (attempt - 1))
    return [r for r in results]  # type: ignore[misc]


# --- the follower -------------------------------------------------------------------------------

_FOLLOWER_SCHEMA = """
CREATE TABLE IF NOT EXISTS rejected (follower TEXT NOT NULL, id TEXT, file TEXT NOT NULL,
  offset INTEGER NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (follower, file, offset));
"""


def open_followers_db(data_dir: Path | str) -> sqlite3.Connection:
    """``<data-dir>/followers.sqlite``: checkpoints and rejected lines of the archive followers
    that are not stores of their own (the index), opened with :func:`rasd.core.sqlite.connect`
    (WAL, autocommit, busy timeout 5 s; usable from the index stage's thread).

    Raises:
        DatabaseFileError: the file is not a SQLite database or cannot be opened."""
    db = connect_sqlite(Path(data_dir) / "followers.sqlite", what="the followers' checkpoints", threads=True)
    db.executescript(_FOLLOWER_SCHEMA)
    return db


class FollowerBusy(EngineError):
    """Another process is running this follower now (it will apply the lines)."""


class IndexFollower:
    """The index as a follower of ``<data-dir>/archive`` (see the module docstring).

    ``connect`` builds the :class:`Engine` (called again after a failure); ``index`` is the
    alias (``init``: installed with :func:`rasd.search.articles.init_index` on first contact;
    ``require_alias``: never write to ``index`` unless it is an alias, so a missing alias never
    auto-creates an index without Rasd's mapping).  When the alias spans several indices (after
    a rollover) ids are looked up first, as ``create`` only sees the write index.

    Raises (from :meth:`run`): :class:`FollowerBusy`, :class:`~rasd.search.engine.EngineUnavailable`,
    :class:`~rasd.core.errors.EngineError`.
    """

    def __init__(self, data_dir: Path | str, connect: Callable[[], Engine], index: str, *,
                 batch_size: int = 500, retries: int = 2, backoff_seconds: float = 0.5,
                 init: bool = True, require_alias: bool = True, archive_dir: Path | str | None = None):
        self.data_dir = Path(data_dir)
        self.archive_dir = Path(archive_dir) if archive_dir is not None else self.data_dir / "archive"
        self.index, self.batch_size = index, batch_size
        self.retries, self.backoff_seconds = retries, backoff_seconds
        self._connect, self._engine, self._init = connect, None, init
        self.require_alias = require_alias
        self.db = open_followers_db(self.data_dir)
        self.name = f"index:{index}" + ("" if archive_dir is None else f"@{Path(archive_dir).resolve()}")
        self.checkpoints = Checkpoints(self.db, self.name)
        lock_path = self.data_dir / "locks" / f"index-{index}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._thread_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            engine = self._connect()
            if self._init:
                init_index(engine, self.index)
            self._engine = engine
        return self._engine

    def lag(self) -> tuple[int, int]:
        """``(lines, bytes)`` of the archive not yet applied to the index."""
        return lag(self.archive_dir, self.checkpoints.load())

    def rejected(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM rejected WHERE follower = ?", (self.name,)).fetchone()[0]

    def _lock(self, wait: float | None) -> bool:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)

    def run(self, *, wait: float | None = 0.0, max_seconds: float | None = None,
            progress: Callable[[int], None] | None = None) -> IndexReport:
        """Apply the archive lines after the checkpoint until there are none (or
        ``max_seconds`` passed); ``wait``: seconds to wait for another process running this
        follower (``None``: as long as it takes).

        Raises:
            FollowerBusy: another process holds the follower after ``wait``.
            EngineUnavailable: the engine went away; the checkpoint stays at the last line with
                a definite answer (the partial report is the exception's ``report``).
        """
        report = IndexReport()
        t0 = time.monotonic()
        with self._thread_lock:
            if not self._lock(wait):
                raise FollowerBusy(f"another process is indexing {self.data_dir} into {self.index}")
            try:
                while True:
                    lines = list(follow(self.archive_dir, self.checkpoints.load(), limit=self.batch_size))
                    if not lines:
                        break
                    try:
                        self._apply(lines, report)
                    except EngineUnavailable as exc:
                        self._drop_engine()
                        exc.report = report  # type: ignore[attr-defined]
                        raise
                    if progress is not None:
                        progress(len(lines))
                    if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                        break
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        report.seconds = time.monotonic() - t0
        return report

    def _apply(self, lines: list[ArchiveLine], report: IndexReport) -> None:
        ops: list[tuple[str, str, Any]] = []
        where: list[int] = []  # index into lines of each op
        done: list[tuple[str, Any] | None] = [None] * len(lines)  # (outcome, detail) per line
        for i, line in enumerate(lines):
            rec = line.data
            if rec is None:
                done[i] = ("failed", "invalid_line")
                continue
            if line.kind == "record":
                doc = encode(rec, report.unmapped_fields)
                if doc is None:
                    done[i] = ("failed", "missing_id")
                    continue
                ops.append(("create", doc[0], doc[1]))
            else:
                key = AMENDMENT_KINDS.get(line.kind)
                if key is None or not rec.get("id") or key not in rec:
                    done[i] = ("failed", "invalid_amendment")
                    continue
                ops.append(("update", rec["id"], {key: rec[key]}))
            where.append(i)
        failpoint("before_index")
        engine = self.engine
        multi = len(engine.alias_indices(self.index)) > 1
        results = _send(engine, self.index, ops, self.retries, self.backoff_seconds, multi,
                        self.require_alias, time.sleep)
        failpoint("after_index")
        for i, (status, item), (action, _, _) in zip(where, results, ops):
            if action == "create":
                if status in (200, 201):
                    done[i] = ("indexed", None)
                elif status == 409:
                    done[i] = ("already_indexed", None)
                else:
                    done[i] = ("failed", (item.error_type if item else None) or f"http_{status}",
                               item.reason if item else None)
            elif status in (200, 201):
                done[i] = ("amended", None)
            elif status == 404:
                done[i] = ("failed", "amendment_target_missing")
            else:
                done[i] = ("failed", (item.error_type if item else None) or f"http_{status}",
                           item.reason if item else None)
        positions: dict[str, int] = {}
        rejected = []
        for line, outcome in zip(lines, done):
            positions[line.file] = max(positions.get(line.file, 0), line.end)
            kind = outcome[0]
            if kind == "failed":
                report.failed[outcome[1]] += 1
                detail = outcome[2] if len(outcome) > 2 and outcome[2] else ""
                rejected.append((self.name, (line.data or {}).get("id"), line.file, line.start,
                                 f"{outcome[1]}: {detail}".rstrip(": "), time.time()))
            else:
                setattr(report, kind, getattr(report, kind) + 1)
        with transaction(self.db):
            self.db.executemany("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?, ?)", rejected)
            self.checkpoints.save(positions)

    def reset(self, positions: dict[str, int] | None = None) -> None:
        """Start over from the archive's beginning (``positions``: from these offsets)."""
        with self._thread_lock:
            with transaction(self.db):
                self.checkpoints.reset(positions)
                self.db.execute("DELETE FROM rejected WHERE follower = ?", (self.name,))

    def refresh(self) -> None:
        self.engine.refresh(self.index)

    def _drop_engine(self) -> None:
        if self._engine is not None:
            try:
                self._engine.close()
            except Exception:  # pragma: no cover
                pass
            self._engine = None

    def close(self) -> None:
        self._drop_engine()
        self.db.close()
        os.close(self._lock_fd)
