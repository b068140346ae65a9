"""Run one crawl in this process and return its stats.

Scrapy's Twisted reactor cannot be restarted within a process, so :func:`run_crawl` may be
called once per process: ``rasd crawl`` calls it once, and the scheduler runs each crawl in a
child process (see ``scheduler/``).

SIGTERM and SIGINT are handled by :class:`rasd.crawler.stopping.CleanStop` (not by Scrapy's
handlers): the crawl stops within seconds, flushing what is done, and the stats say
``rasd/interrupted``; callers then exit with :data:`~rasd.crawler.stopping.EXIT_INTERRUPTED` (130).
"""

from __future__ import annotations

import logging
from typing import Any

# First, while the import chain is short: Scrapy's TLS modules call inspect.stack() when they
# are imported (scrapy.utils.deprecate.create_deprecated_class, three times), which reads every
# frame's source and scans sys.modules for each import-machinery frame; imported five modules
# deeper (spider → middlewares → stopping → http11) that cost 0.15 CPU-s of every crawl, here 0.06.
import scrapy.core.downloader.handlers.http11  # noqa: F401,E402  (isort: skip)
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from rasd.crawler.settings import scrapy_settings
from rasd.crawler.spiders.outlet import OutletSpider, download_slots
from rasd.core.errors import CrawlFailed, RasdError, error_line
from rasd.core.seeds import Outlet
from rasd.core.settings import RasdSettings

log = logging.getLogger(__name__)

REPLAY_HANDLERS = {
    "http": "rasd.replay.handler.ReplayDownloadHandler",
    "https": "rasd.replay.handler.ReplayDownloadHandler",
}


def replay_overrides(replay_url: str) -> dict[str, Any]:
    """Scrapy settings for a crawl of the replay server at ``replay_url`` (no politeness waits)."""
    return {"RASD_REPLAY_URL": replay_url, "DOWNLOAD_HANDLERS": REPLAY_HANDLERS,
            "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RASD_BACKOFF_BASE": 0.2}


def build_settings(rasd: RasdSettings, **extra: Any) -> Settings:
    """Scrapy ``Settings``: the project's module, then Rasd's values, then ``extra``."""
    settings = Settings()
    settings.setmodule("rasd.crawler.settings", priority="project")
    settings.setdict(scrapy_settings(rasd, **extra), priority="cmdline")
    return settings


def run_crawl(rasd: RasdSettings, outlets: dict[str, Outlet], **extra: Any) -> dict[str, Any]:
    """Crawl ``outlets`` to completion or to a stop (blocking) and return the crawler's stats.

    ``extra`` are Scrapy settings (upper-case), e.g. ``RASD_DEADLINE`` (POSIX seconds: waits
    that would end after it defer their pages instead).  After SIGTERM/SIGINT the stats hold
    ``rasd/interrupted`` (the signal's name) and the crawl's partial counts.

    Raises:
        CrawlFailed: the crawl could not start or its machinery failed (e.g. a pipeline stage
            that cannot be imported); the traceback goes to the log (``LOG_FILE``).
        RuntimeError: if called a second time in one process (the reactor is gone).
    """
    extra.setdefault("DOWNLOAD_SLOTS", download_slots(outlets))
    # a log line that cannot be written (a full disk) must not print a traceback per record on
    # stderr: the crawl reports a full disk itself (rasd/disk_full, one line from `rasd crawl`)
    logging.raiseExceptions = False
    process = CrawlerProcess(build_settings(rasd, **extra))
    crawler = process.create_crawler(OutletSpider)
    return run_to_end(process, crawler, extra.get("LOG_FILE"), outlet=",".join(outlets), outlets=outlets)


def _first_cause(exc: BaseException) -> BaseException:
    """The exception that began the chain ``exc`` ends: Scrapy closing an engine that failed to
    open raises ``RuntimeError("Engine slot not assigned")`` over the real error (a data
    directory's ``archive`` that is a file, say), which is its ``__context__``.  A Rasd error on the way is the answer (its message
    names the file: ``seen.sqlite: cannot open seen store: file is not a database``)."""
    seen = {id(exc)}
    while not isinstance(exc, RasdError) and id(nxt := exc.__cause__ or (
            None if exc.__suppress_context__ else exc.__context__)) not in seen and nxt is not None:
        seen.add(id(nxt))
        exc = nxt
    return exc


def run_to_end(process: CrawlerProcess, crawler: Any, log_file: str | None, **crawl_args: Any) -> dict[str, Any]:
    """Crawl with ``crawler`` of ``process`` to its end (blocking) and return its stats.

    A crawl that fails as a whole (its engine, a pipeline stage or an extension cannot be
    built, e.g. a stage whose library cannot be imported) is not left to Twisted's
    "Unhandled error in Deferred" traceback and an empty, successful-looking result: its
    traceback goes to the log and :class:`~rasd.core.errors.CrawlFailed` is raised with one line.
    Signals are left to :class:`rasd.crawler.stopping.CleanStop` (an extension).
    """
    failures: list = []
    process.crawl(crawler, **crawl_args).addErrback(failures.append)
    process.start(install_signal_handlers=False)
    if failures:
        failure = failures[0]
        cause = _first_cause(failure.value)
        log.error("the crawl could not run:\n%s", failure.getTraceback())
        if cause is not failure.value:
            log.error("… while handling:", exc_info=(type(cause), cause, cause.__traceback__))
        what = error_line(cause) if isinstance(cause, (OSError, RasdError)) else f"{type(cause).__name__}: {cause}"
        raise CrawlFailed(f"the crawl could not run: {what} (traceback in {log_file or 'the log'})")
    return dict(crawler.stats.get_stats())
