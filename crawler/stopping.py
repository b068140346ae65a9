"""Clean stops: SIGTERM/SIGINT end a crawl within seconds, whatever it is waiting for.

Scrapy's own graceful stop closes the spider only once every request in progress has ended,
so a crawl waiting out a ``Retry-After``, reading a slow-drip server or downloading a large
page keeps a stopped crawl alive for minutes (and the scheduler then SIGKILLs it, losing the
archive's and the index's ``close_spider``).  Here:

* :class:`CleanStop` (a Scrapy extension) installs the SIGTERM/SIGINT handlers.  The first
  signal *interrupts* the crawl (:meth:`CleanStop.interrupt`): the engine stops taking
  requests, requests still in the scheduler end at once, every wait and download registered
  with :meth:`CleanStop.wait` is cancelled, and download slots held back by a delay are
  released; pages cut short this way end as ``failed/interrupted`` (the spider counts them and
  does not remember them as seen, so the next run fetches them).  What was already downloaded
  is still processed, and the item pipelines' ``close_spider`` runs as usual.  Stats get
  ``rasd/interrupted`` = the signal's name.  A second signal, or a stop that takes longer than
  ``RASD_STOP_TIMEOUT`` seconds (default 10), ends the process at once with exit code 130.
* :class:`StoppableDownloadHandler` is Scrapy's HTTP/1.1 download handler whose downloads
  :meth:`CleanStop.interrupt` aborts (the connection is dropped, as on a download timeout).
* :exc:`Interrupted` is the ``IgnoreRequest`` a cut-short request fails with.

Settings: ``RASD_STOP_SIGNALS`` (bool, default True: install the signal handlers; off for
embedding), ``RASD_STOP_TIMEOUT`` (seconds).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

from scrapy import signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy.utils.reactor import is_reactor_installed
from twisted.internet import defer, task

logger = logging.getLogger(__name__)

#: Exit code of a process stopped by SIGINT/SIGTERM (128 + SIGINT, the shell's convention).
EXIT_INTERRUPTED = 130


def _say(line: str) -> None:
    """Write ``line`` to stderr from a signal handler or a watchdog thread, never raising: when
    the scheduler that started this run has died, stderr is a pipe nobody reads
    (``BrokenPipeError``), and an exception here used to skip the ``os._exit`` after it, so a
    child whose parent was killed hung for ever holding its outlet's lock."""
    try:
        os.write(2, line.encode())
    except OSError:
        pass


class Interrupted(IgnoreRequest):
    """A request cut short because the crawl is stopping (outcome ``failed/interrupted``)."""


def clean_stop(crawler) -> "CleanStop | None":
    """The crawl's :class:`CleanStop` extension, or ``None`` (not enabled, or too early)."""
    try:
        return crawler.get_extension(CleanStop) if crawler is not None else None
    except (RuntimeError, AttributeError):
        return None


class CleanStop:
    """Scrapy extension: a SIGTERM/SIGINT stops the crawl within seconds (module docstring).

    Attributes:
        interrupted: ``None`` while the crawl runs; the reason (``"SIGTERM"``, ``"SIGINT"``, or
            what :meth:`interrupt` was given) once it is stopping.
    """

    def __init__(self, crawler, stop_timeout: float = 10.0, handle_signals: bool = True):
        self.crawler = crawler
        self.stop_timeout = stop_timeout
        self.handle_signals = handle_signals
        self.interrupted: str | None = None
        self._pending: set[defer.Deferred] = set()
        self._signals_seen = 0
        self._stopping: defer.Deferred | None = None
        self._previous: dict[int, Any] = {}  # handlers before ours, restored after a normal end

    @classmethod
    def from_crawler(cls, crawler) -> "CleanStop":
        settings = crawler.settings
        ext = cls(crawler, stop_timeout=settings.getfloat("RASD_STOP_TIMEOUT", 10.0),
                  handle_signals=settings.getbool("RASD_STOP_SIGNALS", True))
        if ext.handle_signals:
            ext.install_signal_handlers()
            if is_reactor_installed():  # (importing the reactor would install one)
                # ``scrapy crawl`` installs Scrapy's own handlers when the reactor starts: take
                # over again once it runs (``rasd crawl`` starts the reactor without them).
                from twisted.internet import reactor

                reactor.callWhenRunning(reactor.callLater, 0, ext.install_signal_handlers)
        crawler.signals.connect(ext._engine_stopped, signal=signals.engine_stopped)
        crawler.signals.connect(ext._spider_closed, signal=signals.spider_closed)
        return ext

    def _spider_closed(self, spider=None, reason=None) -> None:
        """An interrupted crawl whose spider has closed ends its reactor a second later if
        nothing else has.  A stop that came between the spider's opening and the engine's
        start closed the spider, but Scrapy's crawl never finished, so the reactor ran on until
        the stop watchdog (10 s) ended the process without its summary."""
        if not self.interrupted:
            return
        from twisted.internet import reactor

        def stop_if_running() -> None:
            if reactor.running:
                logger.info("crawl_interrupted: the spider closed, the reactor is stopped")
                try:
                    reactor.stop()
                except Exception:  # noqa: BLE001 - ReactorNotRunning: it stopped meanwhile
                    pass

        reactor.callLater(1.0, stop_if_running)

    # ---- signals ----------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """Handle SIGTERM and SIGINT (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.signal(signum, self._on_signal)
            self._previous.setdefault(signum, previous)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        # A signal handler must not log (the interrupted code may hold the log stream's lock):
        # the work happens in the reactor thread.  os.write is safe here.
        name = signal.Signals(signum).name
        self._signals_seen += 1
        if self._signals_seen > 1:
            _say(f"rasd: second stop signal, {name}: stopping at once\n")
            os._exit(EXIT_INTERRUPTED)
        from twisted.internet import reactor

        reactor.callFromThread(self.interrupt, name)
        watchdog = threading.Timer(self.stop_timeout, self._force_exit, args=(name,))
        watchdog.daemon = True
        watchdog.start()

    def _force_exit(self, name: str) -> None:
        _say(f"rasd: the crawl did not stop within {self.stop_timeout:g} s of {name}: stopping at once\n")
        os._exit(EXIT_INTERRUPTED)

    # ---- interrupting -----------------------------------------------------------------------
    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the crawl now (idempotent; call in the reactor thread).

        Order: the engine's graceful stop begins (no new requests leave the scheduler); the
        requests still in the scheduler are handed to the spider's ``request_interrupted(request)``
        (it counts their outcome) and dropped; registered waits and downloads are cancelled
        (they raise :exc:`Interrupted`); download slots held back by a delay are released, so
        their queued requests reach the download handler, which refuses them at once.
        """
        if self.interrupted:
            return
        self.interrupted = reason
        crawler = self.crawler
        crawler.stats.set_value("rasd/interrupted", reason)
        logger.warning("crawl_interrupted signal=%s waits_and_downloads=%d (send it again to "
                       "stop at once)", reason, len(self._pending))
        if getattr(crawler, "crawling", False):
            self._stopping = deferred_from_coro(crawler.stop_async())
            self._stopping.addErrback(lambda f: logger.error("graceful stop failed: %s", f.getErrorMessage()))
        self._drain_scheduler()
        for d in list(self._pending):
            d.cancel()
        self._release_slots()

    def _drain_scheduler(self) -> None:
        engine = getattr(self.crawler, "_engine", None)
        scheduler = getattr(engine, "scheduler", None) if engine is not None else None
        spider = getattr(self.crawler, "spider", None)
        hook = getattr(spider, "request_interrupted", None)
        if scheduler is None:
            return
        drained = 0
        while (request := scheduler.next_request()) is not None:
            drained += 1
            if hook is not None:
                hook(request)
        if drained:
            logger.info("crawl_interrupted scheduled_requests_dropped=%d", drained)

    def _release_slots(self) -> None:
        engine = getattr(self.crawler, "_engine", None)
        downloader = getattr(engine, "downloader", None) if engine is not None else None
        if downloader is None:
            return
        for slot in list(downloader.slots.values()):
            slot.delay = 0
            if slot.latercall is not None:
                slot.latercall.cancel()
                slot.latercall = None
            try:
                # Scrapy has no public call to run a slot's queue now; its queued requests
                # then meet the download handler, which refuses them (Interrupted).
                downloader._process_queue(slot)
            except AttributeError:  # pragma: no cover - a Scrapy without it
                logger.warning("cannot release download slot %s: its queued requests wait out the delay", slot)

    def _engine_stopped(self) -> None:
        """A crawl that ended by itself gives the signals back (a Ctrl-C while its caller
        prints the summary is an ordinary Ctrl-C); a stopping one keeps them, so that a second
        signal still ends the process at once while it winds down."""
        self._pending.clear()
        if self.interrupted or threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) == self._on_signal and previous is not None:
                signal.signal(signum, previous)

    # ---- what stopping cuts short -----------------------------------------------------------
    async def wait(self, d: defer.Deferred, what: str) -> Any:
        """Await ``d``; if the crawl is interrupted meanwhile, ``d`` is cancelled.

        Raises:
            Interrupted: the crawl is stopping (before or while waiting); ``what`` names the
                wait in the message.
        """
        if self.interrupted:
            d.cancel()
            d.addErrback(lambda _f: None)
            raise Interrupted(f"{what}: crawl interrupted ({self.interrupted})")
        self._pending.add(d)
        try:
            return await maybe_deferred_to_future(d)
        except (defer.CancelledError, asyncio.CancelledError):
            if self.interrupted:
                raise Interrupted(f"{what}: crawl interrupted ({self.interrupted})") from None
            raise
        finally:
            self._pending.discard(d)

    async def sleep(self, seconds: float, what: str) -> None:
        """Sleep ``seconds`` unless the crawl is interrupted first (then :exc:`Interrupted`)."""
        from twisted.internet import reactor

        await self.wait(task.deferLater(reactor, seconds, lambda: None), what)


class StoppableDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler whose downloads a stop aborts.

    A download in progress when the crawl is interrupted, or one that starts afterwards, fails
    with :exc:`Interrupted` (the connection is aborted, as on ``DOWNLOAD_TIMEOUT``).
    """

    async def download_request(self, request: Request) -> Response:
        stop = clean_stop(self._crawler)
        if stop is None:
            return await super().download_request(request)
        return await stop.wait(deferred_from_coro(super().download_request(request)),
                               f"download of {request.url}")
