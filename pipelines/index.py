"""Index stage: archived articles → the search engine, with a durable spool in between.

* :func:`index_articles` — the indexing path of the crawl, ``rasd index`` and the benchmark: bulk
  requests with ``op_type: create`` and ``_id`` = the article id (hash of the canonical URL), so
  indexing the same records twice leaves the count unchanged (409 → ``already_indexed``).
  Documents the engine cannot take now (no answer, 429, 5xx after quick retries) go to the
  spool; documents it rejects for good (4xx, e.g. a mapping error) are counted by reason and
  kept in ``rejected.jsonl``.  Nothing is dropped silently.
* :class:`Spool` — ``<data-dir>/spool/``: JSON Lines segments, one ``write(2)`` per line on
  ``O_APPEND`` files, fsynced when sealed; :meth:`Spool.replay` deletes a segment only once every
  document in it has a definite answer.
* :class:`IndexPipeline` — the Scrapy stage (priority 800, after the archive): appends each item
  to the spool and returns at once; a background thread replays the spool every
  ``RASD_INDEX_BATCH`` items or ``RASD_INDEX_FLUSH_SECONDS`` and at close.  With the engine down
  the crawl goes on and documents wait in the spool.  Off unless the Scrapy setting (or, when
  unset, the environment variable) ``RASD_INDEX_ENABLED`` is true.

Stats: ``rasd/index/queued`` per item; per delivered document one of ``rasd/index/indexed``,
``rasd/index/already_indexed``, ``rasd/index/failed/<reason>``; at close the gauge
``rasd/index/spooled`` (documents still waiting) and ``rasd/index/engine_unavailable`` per failed
delivery attempt.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pipelines.base import StagePipeline
from rasd.engine import RETRYABLE_STATUSES, Engine, EngineUnavailable
from rasd.errors import EngineError
from rasd.search import init_index, load_template

log = logging.getLogger(__name__)


@cache
def document_fields() -> frozenset[str]:
    """Top-level fields of the index mapping (``config/index_template.yaml``)."""
    return frozenset(load_template()["mappings"]["properties"])


@dataclass
class IndexReport:
    """Per-document outcomes of an indexing run; ``total`` = documents handled.

    ``failed`` maps a reason (the engine's error type, ``missing_id`` …) to a count;
    ``unmapped_fields`` counts record keys left out because the mapping has no such field.
    """

    indexed: int = 0
    already_indexed: int = 0
    spooled: int = 0
    failed: Counter = field(default_factory=Counter)
    unmapped_fields: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.indexed + self.already_indexed + self.spooled + sum(self.failed.values())

    def add(self, other: "IndexReport") -> None:
        for name in ("indexed", "already_indexed", "spooled", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed.update(other.failed)
        self.unmapped_fields.update(other.unmapped_fields)

    def as_dict(self) -> dict[str, Any]:
        return {"indexed": self.indexed, "already_indexed": self.already_indexed,
                "spooled": self.spooled, "failed": dict(self.failed), "total": self.total,
                "unmapped_fields": dict(self.unmapped_fields), "seconds": round(self.seconds, 3)}


def encode(record: dict, unmapped: Counter | None = None) -> tuple[str, bytes] | None:
    """``(id, JSON bytes)`` of the index document of an archive record: the mapped fields only
    (the mapping is strict; others are counted in ``unmapped``); ``None`` without a usable id."""
    doc_id, fields = record.get("id"), document_fields()
    if not doc_id or not isinstance(doc_id, str) or "\t" in doc_id or "\n" in doc_id:
        return None
    doc = {k: v for k, v in record.items() if k in fields}
    if len(doc) != len(record) and unmapped is not None:
        unmapped.update(k for k in record if k not in fields)
    return doc_id, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def index_articles(engine: Engine, records: Iterable[dict | tuple[str, bytes]], *, index: str,
                   spool: Any = None, chunk_size: int = 500, retries: int = 2,
                   backoff_seconds: float = 0.5, check_existing: bool = False,
                   require_alias: bool = False, progress: Callable[[int], None] | None = None,
                   sleep: Callable[[float], None] = time.sleep) -> IndexReport:
    """Index ``records`` into ``index`` (the alias, or one index) → per-document outcomes.

    ``records``: :meth:`Article.to_record` dicts, or ``(id, JSON bytes)`` documents already
    encoded by :func:`encode` (what the spool holds).
    ``spool``: where documents go that the engine cannot take now — a :class:`Spool` or any
    object with ``append_docs(docs)`` and ``reject(id, document, reason)``.  Once a request fails
    for want of an engine, the remaining records go straight to the spool (no hammering).
    ``check_existing``: before each bulk request, ask which ids already exist behind ``index``
    (needed when the alias spans several indices, where ``create`` only sees the write index).
    ``require_alias``: ``index`` must be an alias; if it is missing the documents are spooled
    (writing would auto-create an index without Rasd's mapping).
    ``progress(n)`` is called after each chunk with the number of records handled.

    Raises:
        EngineUnavailable: the engine is down and ``spool`` is ``None``.
        EngineError: a request failed with a non-retryable error (e.g. 401).
    """
    report, t0 = IndexReport(), time.perf_counter()
    down: EngineUnavailable | None = None
    it = iter(records)
    while chunk := list(islice(it, chunk_size)):
        docs = []
        for rec in chunk:
            doc = rec if isinstance(rec, tuple) else encode(rec, report.unmapped_fields)
            if doc is None:
                report.failed["missing_id"] += 1
                if spool is not None:
                    spool.reject(None, _dumps(rec), "missing_id")
            else:
                docs.append(doc)
        if down is not None:
            spool.append_docs(docs)
            report.spooled += len(docs)
        else:
            down = _index_chunk(engine, docs, index, spool, report, retries, backoff_seconds,
                                check_existing, require_alias, sleep)
            if down is not None and spool is None:
                down.report = report  # type: ignore[attr-defined]
                raise down
        if progress is not None:
            progress(len(chunk))
    report.seconds = time.perf_counter() - t0
    return report


def _index_chunk(engine, pending, index, spool, report, retries, backoff, check_existing,
                 require_alias, sleep) -> EngineUnavailable | None:
    attempt = 0
    try:
        if check_existing and pending:
            present = engine.ids_present(index, [d for d, _ in pending])
            report.already_indexed += sum(1 for d, _ in pending if d in present)
            pending = [p for p in pending if p[0] not in present]
        while pending:
            items = engine.bulk_create(index, pending, require_alias)
            if require_alias and any(i.status == 404 for i in items):
                raise EngineUnavailable(f"alias {index} is missing (`rasd index init` makes it)", 404)
            retry = []
            for doc, item in zip(pending, items):
                if item.status in (200, 201):
                    report.indexed += 1
                elif item.status == 409:
                    report.already_indexed += 1
                elif item.status in RETRYABLE_STATUSES:
                    retry.append(doc)
                else:
                    reason = item.error_type or f"http_{item.status}"
                    report.failed[reason] += 1
                    if spool is not None:
                        spool.reject(doc[0], doc[1], f"{reason}: {item.reason}")
            pending = retry
            if pending:
                attempt += 1
                if attempt > retries:
                    raise EngineUnavailable(f"{len(pending)} documents still refused (429/5xx) "
                                            f"after {retries} retries", 429)
                sleep(backoff * 2 ** (attempt - 1))
    except EngineUnavailable as exc:
        if spool is not None and pending:
            spool.append_docs(pending)
            report.spooled += len(pending)
        return exc
    return None


class Spool:
    """A directory of segment files holding documents not yet in the index.

    A segment line is ``<id>\\t<document JSON>\\n`` (documents are stored encoded, so a
    replay sends the bytes as they are).  Files: ``<seq>-<pid>.jsonl.part`` (being appended to by
    process ``pid``; sealed on open if that process is gone), ``<seq>-<pid>.jsonl`` (sealed,
    waiting for :meth:`replay`), ``rejected.jsonl`` (``{"reason", "id", "document"}`` lines
    refused for good).  Thread-safe; replays from several processes are serialised by ``flock``
    on ``.replay.lock``.

    Raises:
        OSError: the directory cannot be created or written.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._part: Path | None = None
        for part in sorted(self.directory.glob("*.jsonl.part")):
            pid = part.name.split("-")[-1].split(".")[0]
            if not (pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid))):
                part.rename(part.with_suffix(""))

    def append(self, record: dict, unmapped: Counter | None = None) -> bool:
        """Spool one archive record; ``False`` (and kept in ``rejected.jsonl``) if it has no id."""
        doc = encode(record, unmapped)
        if doc is None:
            self.reject(None, _dumps(record), "missing_id")
            return False
        self.append_docs([doc])
        return True

    def append_docs(self, docs: list[tuple[str, bytes]]) -> None:
        """Append encoded documents (one ``write(2)`` each) to this process's open segment."""
        with self._lock:
            if self._fd is None and docs:
                self._part = self.directory / f"{self._next_seq():012d}-{os.getpid()}.jsonl.part"
                self._fd = os.open(self._part, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            for doc_id, payload in docs:
                os.write(self._fd, b"%s\t%s\n" % (doc_id.encode("utf-8"), payload))

    def seal(self) -> Path | None:
        """Fsync and close the open segment, making it replayable; returns it (or ``None``)."""
        with self._lock:
            if self._fd is None:
                return None
            os.fsync(self._fd)
            os.close(self._fd)
            part, self._fd, self._part = self._part, None, None
            part.rename(part.with_suffix(""))
            return part.with_suffix("")

    close = seal

    def reject(self, doc_id: str | None, document: bytes, reason: str) -> None:
        """Keep a document the engine refused for good (``document``: JSON bytes)."""
        head = json.dumps({"reason": reason, "id": doc_id}, ensure_ascii=False)[:-1].encode("utf-8")
        with self._lock, open(self.directory / "rejected.jsonl", "ab") as fh:
            fh.write(head + b',"document":' + document + b"}\n")

    def segments(self) -> list[Path]:
        """Sealed segments, oldest first."""
        return sorted(self.directory.glob("*-*.jsonl"))

    def pending(self) -> int:
        """Documents waiting: lines in the sealed segments and in open parts."""
        return sum(_count_lines(p) for p in self.segments() + sorted(self.directory.glob("*.jsonl.part")))

    def rejected(self) -> int:
        return _count_lines(self.directory / "rejected.jsonl")

    def replay(self, engine: Engine, index: str, **options: Any) -> IndexReport:
        """Seal the open segment, then send each sealed segment through :func:`index_articles`
        (``options`` passed on).  A segment is deleted once every document in it has a definite
        answer; what the engine could not take is rewritten to a new segment (the segment is
        kept as it is if nothing went through) and the replay stops there.  The report's
        ``spooled`` is what still waits in sealed segments; it is empty if another process is
        replaying this spool right now.
        """
        report = IndexReport()
        self.seal()
        lock_fd = os.open(self.directory / ".replay.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return report
            for segment in self.segments():
                docs, torn = _read_segment(segment)
                if docs is None:
                    continue  # replayed meanwhile by another process
                if torn:
                    report.failed["torn_spool_line"] += torn
                left: list[tuple[str, bytes]] = []  # what the engine could not take now
                sink = SimpleNamespace(append_docs=left.extend, reject=self.reject)
                report.add(index_articles(engine, docs, index=index, spool=sink, **options))
                if len(left) == len(docs):
                    break  # nothing went through: keep the segment as it is
                if left:
                    self._write_sealed(left)
                segment.unlink(missing_ok=True)
                if left:
                    break
            report.spooled = sum(_count_lines(s) for s in self.segments())
            return report
        finally:
            os.close(lock_fd)

    def _write_sealed(self, docs: list[tuple[str, bytes]]) -> None:
        with self._lock:
            final = self.directory / f"{self._next_seq():012d}-{os.getpid()}.jsonl"
            tmp = final.with_name(final.name + ".tmp")
            with open(tmp, "wb") as fh:
                fh.write(b"".join(b"%s\t%s\n" % (d.encode("utf-8"), p) for d, p in docs))
                fh.flush()
                os.fsync(fh.fileno())
            tmp.rename(final)

    def _next_seq(self) -> int:
        return max((int(p.name[:12]) for p in self.directory.iterdir() if p.name[:12].isdigit()),
                   default=0) + 1


def _dumps(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _read_segment(path: Path) -> tuple[list[tuple[str, bytes]] | None, int]:
    """``(documents, torn lines)`` of a segment; ``(None, 0)`` if it is gone.  Only a last line
    without its newline (a crash mid-write) or a line without an id can be torn."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, 0
    lines = raw.split(b"\n")
    torn = 1 if lines[-1] else 0  # text after the last newline: an unfinished write
    docs = []
    for line in lines[:-1]:
        doc_id, tab, payload = line.partition(b"\t")
        if tab and doc_id and payload.startswith(b"{") and payload.endswith(b"}"):
            docs.append((doc_id.decode("utf-8"), payload))
        else:
            torn += 1
    return docs, torn


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class IndexPipeline(StagePipeline):
    """Scrapy stage: spool every item, deliver in the background (see the module docstring).

    ``connect`` builds an :class:`Engine` (called again after ``retry_seconds`` while the
    engine is down); ``index`` is the alias (``engine.index_prefix``), installed with
    :func:`rasd.search.init_index` on first contact.  A test builds it with
    ``IndexPipeline(enabled=True, spool_dir=tmp, connect=lambda: engine, background=False)``.
    """

    def __init__(self, stats=None, *, enabled: bool = False, spool_dir: str | Path = "data/spool",
                 connect: Callable[[], Engine] | None = None, index: str = "rasd-articles",
                 batch_size: int = 200, flush_seconds: float = 10.0, retry_seconds: float = 30.0,
                 background: bool = True):
        super().__init__(stats)
        self.enabled = enabled and connect is not None
        self.index, self.batch_size = index, batch_size
        self.flush_seconds, self.retry_seconds = flush_seconds, retry_seconds
        self._connect, self._engine, self._background = connect, None, background
        self._next_contact, self._queued_since_flush = 0.0, 0
        self._wake, self._stop, self._flush_lock = threading.Event(), threading.Event(), threading.Lock()
        self._thread: threading.Thread | None = None
        self.spool = Spool(Path(spool_dir)) if self.enabled else None

    @classmethod
    def options_from_settings(cls, settings) -> dict[str, Any]:
        env = os.environ.get("RASD_INDEX_ENABLED", "").strip().lower() in ("1", "true", "yes", "on")
        if not settings.getbool("RASD_INDEX_ENABLED", env):
            return {"enabled": False}
        from rasd.engine import connect
        from rasd.settings import load_settings

        rasd = load_settings()
        return {"enabled": True, "spool_dir": Path(settings.get("RASD_DATA_DIR", "data")) / "spool",
                "connect": lambda: connect(rasd.engine, rasd.secret), "index": rasd.engine.index_prefix,
                "batch_size": settings.getint("RASD_INDEX_BATCH", 200),
                "flush_seconds": settings.getfloat("RASD_INDEX_FLUSH_SECONDS", 10.0)}

    def open_spider(self, spider=None) -> None:
        if not self.enabled:
            log.info("index stage off (RASD_INDEX_ENABLED is not true): articles are archived "
                     "but not indexed; `rasd index` backfills from the archive later")
            return
        if self._background:
            self._thread = threading.Thread(target=self._run, name="rasd-index", daemon=True)
            self._thread.start()

    def process_item(self, item, spider=None):
        if not self.enabled:
            return item
        self.count("rasd/index/queued")
        if not self.spool.append(item.to_record()):
            self.count("rasd/index/failed/missing_id")
            return item
        self._queued_since_flush += 1
        if self._queued_since_flush >= self.batch_size:
            self._queued_since_flush = 0
            if self._background:
                self._wake.set()
            else:
                self.flush()
        return item

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()

    def flush(self, force: bool = False) -> IndexReport | None:
        """Seal the spool and replay it; ``None`` if the engine is known down and ``retry_seconds``
        have not passed (``force`` tries anyway)."""
        with self._flush_lock:
            if not force and time.monotonic() < self._next_contact:
                self.spool.seal()
                return None
            try:
                if self._engine is None:
                    engine = self._connect()
                    init_index(engine, self.index)
                    self._engine = engine
                multi = len(self._engine.alias_indices(self.index)) > 1
                report = self.spool.replay(self._engine, self.index, check_existing=multi,
                                           require_alias=True)
            except (EngineError, OSError) as exc:
                self._down(exc)
                return None
            self._count(report)
            if report.spooled:
                self._down(None)
            return report

    def _down(self, exc: Exception | None) -> None:
        self.spool.seal()
        self.count("rasd/index/engine_unavailable")
        self._next_contact = time.monotonic() + self.retry_seconds
        if self._engine is not None:  # reconnect and re-check template/alias next time
            self._engine.close()
            self._engine = None
        log.warning("index engine unavailable, documents stay in %s: %s", self.spool.directory,
                    exc or "engine went away during the flush")

    def _count(self, report: IndexReport) -> None:
        self.count("rasd/index/indexed", report.indexed)
        self.count("rasd/index/already_indexed", report.already_indexed)
        for reason, n in report.failed.items():
            self.count(f"rasd/index/failed/{reason}", n)

    def close(self) -> None:
        """Stop the background thread, deliver what is left (one forced attempt), refresh the
        alias, record the ``rasd/index/spooled`` gauge."""
        if not self.enabled:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if self.flush(force=True) is not None:
            try:  # make this crawl's documents searchable now, not after refresh_interval
                self._engine.refresh(self.index)
            except EngineError as exc:
                log.warning("index: refresh after the crawl failed: %s", exc)
        self.spool.close()
        waiting = self.spool.pending()
        if self.stats is not None:
            self.stats.set_value("rasd/index/spooled", waiting)
        if waiting:
            log.warning("index: %d documents wait in %s; `rasd index` replays them", waiting,
                        self.spool.directory)
        if self._engine is not None:
            self._engine.close()

    async def close_spider(self, spider=None) -> None:
        import asyncio

        await asyncio.to_thread(self.close)
