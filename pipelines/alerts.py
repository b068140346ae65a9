"""Alerts stage: the Scrapy wrapper of the alert matcher (:mod:`rasd.alerts.follower`), run in a
background thread so the reactor never waits on the engine or a receiver."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rasd.pipelines.base import StagePipeline
from rasd.core.errors import EngineError

if TYPE_CHECKING:  # the alert machinery and the search client load only when the stage is on
    from rasd.alerts.follower import AlertFollower
    from rasd.search.engine import Engine

log = logging.getLogger(__name__)


class AlertPipeline(StagePipeline):
    """Scrapy stage (after the index stage, priority 900): runs the :class:`AlertFollower` and
    the outbox deliveries in a background thread (woken by each archived item; never on the
    reactor), and at close matches what is left and makes one forced delivery attempt of
    everything pending (at most ``drain_seconds``).

    Stats: ``rasd/alerts/queued``, ``rasd/alerts/checked``, ``rasd/alerts/matched``,
    ``rasd/alerts/notified`` (new story for an immediate alert), ``rasd/alerts/story_copy``,
    ``rasd/alerts/digest_queued``, ``rasd/alerts/delivered``, ``rasd/alerts/delivery_failed``,
    ``rasd/alerts/engine_unavailable``; gauges ``rasd/alerts/outbox_pending`` and
    ``rasd/alerts/waiting`` (archive lines not matched yet) at close.
    A test builds it with ``AlertPipeline(enabled=True, connect=lambda: engine,
    prefix=prefix, data_dir=tmp)``.
    """

    def __init__(self, stats=None, *, enabled: bool = False, connect: Callable[[], Engine] | None = None,
                 prefix: str = "rasd-articles", data_dir: str | Path = "data",
                 batch_size: int = 20, flush_seconds: float = 2.0, drain_seconds: float = 60.0,
                 senders: dict | None = None, background: bool = True):
        super().__init__(stats)
        self.enabled = enabled and connect is not None
        self.prefix, self.batch_size, self.flush_seconds = prefix, batch_size, flush_seconds
        self.data_dir, self.drain_seconds, self._background = Path(data_dir), drain_seconds, background
        self._connect, self._senders = connect, senders
        self.follower: AlertFollower | None = None
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def options_from_settings(cls, settings) -> dict[str, Any]:
        """From the crawler's settings (:func:`rasd.crawler.settings.scrapy_settings`):
        ``RASD_ALERTS_ENABLED``, ``RASD_ENGINE`` (an ``EngineSettings``; the defaults when
        absent), ``RASD_DATA_DIR``, ``RASD_ALERTS_BATCH``, ``RASD_ALERTS_FLUSH_SECONDS`` and
        ``RASD_ALERTS_DRAIN_SECONDS`` (seconds)."""
        if not settings.getbool("RASD_ALERTS_ENABLED", False):
            return {"enabled": False}
        from rasd.core.settings import EngineSettings
        from rasd.search.engine import connect

        engine = settings.get("RASD_ENGINE") or EngineSettings()
        return {"enabled": True, "connect": lambda: connect(engine, engine.secret),
                "prefix": engine.index_prefix, "data_dir": settings.get("RASD_DATA_DIR", "data"),
                "batch_size": settings.getint("RASD_ALERTS_BATCH", 20),
                "flush_seconds": settings.getfloat("RASD_ALERTS_FLUSH_SECONDS", 2.0),
                "drain_seconds": settings.getfloat("RASD_ALERTS_DRAIN_SECONDS", 60.0)}

    @property
    def store(self):
        return self.follower.store if self.follower is not None else None

    def open_spider(self, spider=None) -> None:
        if self.enabled and self.follower is None:
            from rasd.alerts.follower import AlertFollower

            self.follower = AlertFollower(self.data_dir, self._connect, self.prefix,
                                          batch_size=self.batch_size, senders=self._senders)
            if self._background:
                self._thread = threading.Thread(target=self._run, name="rasd-alerts", daemon=True)
                self._thread.start()

    def process_item(self, item, spider=None):
        if self.enabled:
            self.count("rasd/alerts/queued")
            self._wake.set()
        return item

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if not self._stop.is_set():
                self._flush_safely()

    def _flush_safely(self, **kwargs) -> None:
        """:meth:`flush`, an error of the alert store (a full disk: ``database or disk is
        full``) logged and counted (``rasd/alerts/store_unavailable``) instead of ending the
        background thread with a traceback on stderr; the lines wait in the archive and the
        next flush, or the next crawl, matches them (the follower's checkpoint did not move)."""
        try:
            self.flush(**kwargs)
        except (sqlite3.Error, OSError) as exc:
            self.count("rasd/alerts/store_unavailable")
            log.warning("alerts: cannot write the alert store now, archive lines wait: %s", exc)

    def flush(self, wait: float | None = 0.0, max_seconds: float | None = None, force: bool = False) -> int:
        """Match what the archive holds beyond the checkpoint, then deliver; returns the
        articles checked (0 with the engine down or another process matching)."""
        from rasd.alerts.follower import AlertFollowerBusy

        try:
            outcome = self.follower.run(wait=wait, max_seconds=max_seconds)
        except AlertFollowerBusy:
            outcome = Counter()
        except EngineError as exc:
            self.count("rasd/alerts/engine_unavailable")
            log.warning("alerts: cannot percolate now, archive lines wait: %s", exc)
            outcome = Counter()
        for key, n in outcome.items():
            if n:
                self.count(f"rasd/alerts/{key}", n)
        report = self.follower.deliver(force=force)
        self.count("rasd/alerts/delivered", report.delivered)
        self.count("rasd/alerts/delivery_failed", report.failed)
        return outcome.get("checked", 0)

    def close(self) -> None:
        """Stop the thread, match what is left, one forced delivery attempt for everything
        pending, and record the gauges."""
        if not self.enabled or self.follower is None:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._flush_safely(wait=self.drain_seconds, max_seconds=self.drain_seconds, force=True)
        try:
            pending = self.follower.store.pending_count()
        except sqlite3.Error:
            pending = None
        if self.stats is not None and pending is not None:
            self.stats.set_value("rasd/alerts/outbox_pending", pending)
            self.stats.set_value("rasd/alerts/waiting", self.follower.lag())
        if pending:
            log.warning("alerts: %d deliveries wait in %s; `rasd alerts deliver` retries them",
                        pending, self.follower.store.path)
        self.follower.close()
        self.follower = None

    async def close_spider(self, spider=None) -> None:
        import asyncio

        await asyncio.to_thread(self.close)
