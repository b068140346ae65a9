"""Index stage: the Scrapy wrapper of the index follower (:mod:`rasd.search.indexing`)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rasd.pipelines.base import StagePipeline
from rasd.core.errors import EngineError

if TYPE_CHECKING:  # the search client loads only when the stage is on (index_enabled)
    from rasd.search.engine import Engine
    from rasd.search.indexing import IndexFollower, IndexReport

log = logging.getLogger(__name__)


# --- the Scrapy stage ---------------------------------------------------------------------------


class IndexPipeline(StagePipeline):
    """Scrapy stage: the :class:`IndexFollower` in a background thread (see the module
    docstring).  A test builds it with ``IndexPipeline(enabled=True, data_dir=tmp,
    connect=lambda: engine, index=prefix)``.
    """

    def __init__(self, stats=None, *, enabled: bool = False, data_dir: str | Path = "data",
                 connect: Callable[[], Engine] | None = None, index: str = "rasd-articles",
                 batch_size: int = 500, flush_seconds: float = 2.0, retry_seconds: float = 30.0,
                 drain_seconds: float = 60.0, background: bool = True):
        super().__init__(stats)
        self.enabled = enabled and connect is not None
        self.data_dir, self.index, self.batch_size = Path(data_dir), index, batch_size
        self.flush_seconds, self.retry_seconds, self.drain_seconds = flush_seconds, retry_seconds, drain_seconds
        self._connect, self._background = connect, background
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._next_contact = 0.0
        self.follower: IndexFollower | None = None

    @classmethod
    def options_from_settings(cls, settings) -> dict[str, Any]:
        """From the crawler's settings (:func:`rasd.crawler.settings.scrapy_settings`):
        ``RASD_INDEX_ENABLED``, ``RASD_ENGINE`` (an ``EngineSettings``; the defaults when absent),
        ``RASD_DATA_DIR``, ``RASD_INDEX_BATCH``, ``RASD_INDEX_FLUSH_SECONDS`` and
        ``RASD_INDEX_DRAIN_SECONDS`` (seconds)."""
        if not settings.getbool("RASD_INDEX_ENABLED", False):
            return {"enabled": False}
        from rasd.core.settings import EngineSettings
        from rasd.search.engine import connect

        engine = settings.get("RASD_ENGINE") or EngineSettings()
        return {"enabled": True, "data_dir": settings.get("RASD_DATA_DIR", "data"),
                "connect": lambda: connect(engine, engine.secret), "index": engine.index_prefix,
                "batch_size": settings.getint("RASD_INDEX_BATCH", 500),
                "flush_seconds": settings.getfloat("RASD_INDEX_FLUSH_SECONDS", 2.0),
                "drain_seconds": settings.getfloat("RASD_INDEX_DRAIN_SECONDS", 60.0)}

    def open_spider(self, spider=None) -> None:
        if not self.enabled:
            log.info("index stage off (index_enabled is false): articles are archived but not "
                     "indexed; `rasd index` backfills from the archive later")
            return
        from rasd.search.indexing import IndexFollower

        self.follower = IndexFollower(self.data_dir, self._connect, self.index, batch_size=self.batch_size)
        if self._background:
            self._thread = threading.Thread(target=self._run, name="rasd-index", daemon=True)
            self._thread.start()

    def process_item(self, item, spider=None):
        if self.enabled:
            self.count("rasd/index/queued")
            self._wake.set()
        return item

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()

    def flush(self, force: bool = False, wait: float | None = 0.0,
              max_seconds: float | None = None) -> "IndexReport | None":
        """Run the follower once; ``None`` if the engine is known down and ``retry_seconds``
        have not passed (``force`` tries anyway) or another process is following."""
        from rasd.search.indexing import FollowerBusy

        if not force and time.monotonic() < self._next_contact:
            return None
        try:
            report = self.follower.run(wait=wait, max_seconds=max_seconds)
        except FollowerBusy:
            return None
        except (EngineError, OSError, sqlite3.Error) as exc:
            partial = getattr(exc, "report", None)
            if partial is not None:
                self._count(partial)
            self._next_contact = time.monotonic() + self.retry_seconds
            if isinstance(exc, EngineError):
                self.count("rasd/index/engine_unavailable")
                log.warning("index engine unavailable, archive lines wait for the index: %s", exc)
            else:  # its checkpoint file (a full disk, say): not the engine's fault
                self.count("rasd/index/store_unavailable")
                log.warning("index: cannot record progress in followers.sqlite, archive lines wait "
                            "for the index: %s", exc)
            return None
        self._count(report)
        return report

    def _count(self, report: "IndexReport") -> None:
        for name in ("indexed", "already_indexed", "amended"):
            if getattr(report, name):
                self.count(f"rasd/index/{name}", getattr(report, name))
        for reason, n in report.failed.items():
            self.count(f"rasd/index/failed/{reason}", n)

    def close(self) -> None:
        """Stop the background thread, drain what is left (one forced attempt, at most
        ``drain_seconds``, waiting that long for another process that is following), refresh
        the alias, record the ``rasd/index/waiting`` gauge."""
        if not self.enabled or self.follower is None:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if self.flush(force=True, wait=self.drain_seconds, max_seconds=self.drain_seconds) is not None:
            try:  # make this crawl's documents searchable now, not after refresh_interval
                self.follower.refresh()
            except EngineError as exc:
                log.warning("index: refresh after the crawl failed: %s", exc)
        waiting, _ = self.follower.lag()
        if self.stats is not None:
            self.stats.set_value("rasd/index/waiting", waiting)
        if waiting:
            log.warning("index: %d archive lines wait for the index; `rasd index` sends them", waiting)
        self.follower.close()
        self.follower = None

    async def close_spider(self, spider=None) -> None:
        import asyncio

        await asyncio.to_thread(self.close)
