"""What every Scrapy item-pipeline wrapper shares: settings access and outcome counting.

Outcome accounting follows Media Cloud's story-indexer: every page that enters the pipeline ends
in exactly one outcome, counted in ``crawler.stats`` under ``rasd/outcome/<outlet>/<outcome>``:

* ``archived`` — written to the archive (the archive stage counts it);
* ``duplicate`` — the same article already archived for this outlet;
* ``skipped/<reason>`` — deliberately not archived (``skipped/too_little_text``, …);
* ``failed/<reason>`` — an error in a stage (``failed/extract_error``, …).

Pages that never become items are counted by the spider under the same keys (HTTP errors,
redirects not followed, ``failed/interrupted`` after a stop, ``failed/no_outcome`` for a page
the crawl lost track of), plus ``deferred/<reason>`` — left for a later run by a server's
``Retry-After`` (see ``crawler/spiders/outlet.py``).

Stage-level counters that are not outcomes (``rasd/language/fa``, ``rasd/dates/source/feed``)
use other keys, so the outcome counters always add up to the pages that entered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.exceptions import DropItem

log = logging.getLogger(__name__)

OUTCOME_PREFIX = "rasd/outcome/"


def outcome_key(outlet: str, outcome: str) -> str:
    """Stats key of one outcome: ``rasd/outcome/<outlet>/<outcome>``."""
    return f"{OUTCOME_PREFIX}{outlet}/{outcome}"


def _skip_class() -> type:
    """Build :class:`Skip` on first use.  It subclasses Scrapy's ``DropItem``, and importing
    anything of Scrapy imports all of it (0.25 s of CPU): the extraction workers' fork server
    imports the stages' pure functions (:mod:`rasd.pipelines.extract` → ``dates``, ``clean``, this
    module) and never needs Scrapy, so the class is made when it is first asked for
    (:func:`__getattr__`, PEP 562)."""
    from scrapy.exceptions import DropItem

    class Skip(DropItem):
        """``DropItem`` that carries its outcome (``skipped/<reason>``, ``duplicate`` …).

        Raised by :meth:`StagePipeline.drop` after the outcome has been counted, so Scrapy's own
        dropped-item log line and Rasd's counters agree.
        """

        def __init__(self, outcome: str, detail: str = ""):
            self.outcome = outcome
            super().__init__(f"{outcome}: {detail}" if detail else outcome)

    Skip.__module__, Skip.__qualname__ = __name__, "Skip"  # pickled and printed as base.Skip
    return Skip


def __getattr__(name: str):
    """``Skip``, made by :func:`_skip_class` the first time it is imported or used."""
    if name == "Skip":
        cls = globals().get("_Skip")
        if cls is None:
            cls = globals()["_Skip"] = _skip_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class StagePipeline:
    """Base of Rasd's Scrapy item pipelines.

    Subclasses implement ``process_item(item, spider)`` by calling their stage function and,
    when a record must go, ``raise self.drop(item, "skipped/too_little_text", detail)``.
    Configuration comes through ``__init__`` (built by :meth:`from_crawler` from the crawler's
    settings), so a test builds a stage with ``Stage(stats=None, **options)``.
    """

    def __init__(self, stats: Any = None):
        self.stats = stats

    crawler = None  # set by from_crawler; the spider is ``crawler.spider`` (Scrapy ≥ 2.13 style)

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(stats=crawler.stats, **cls.options_from_settings(crawler.settings))
        pipeline.crawler = crawler
        return pipeline

    def outlet_of(self, item, spider=None):
        """The item's :class:`~rasd.core.seeds.Outlet` from the running spider's ``outlets``, or
        ``None`` (unit tests, or a spider that has none)."""
        spider = spider or getattr(self.crawler, "spider", None)
        return (getattr(spider, "outlets", None) or {}).get(item.outlet)

    @classmethod
    def options_from_settings(cls, settings) -> dict[str, Any]:
        """Constructor keyword arguments read from Scrapy settings (none by default)."""
        return {}

    def count(self, key: str, n: int = 1) -> None:
        """Increment a stats counter (no-op when built without stats, e.g. in a unit test)."""
        if self.stats is not None:
            self.stats.inc_value(key, n)

    def count_outcome(self, outlet: str, outcome: str) -> None:
        self.count(outcome_key(outlet, outcome))

    def disk_full(self, exc: Exception) -> None:
        """The disk is full: record it (stats ``rasd/disk_full``, the error text) and close the
        crawl (reason ``disk_full``) once; pages not archived end as counted failures and are
        fetched again next run.  ``rasd crawl`` turns it into one error line and exit code 3."""
        crawler = self.crawler
        if crawler is None or crawler.stats.get_value("rasd/disk_full"):
            return
        crawler.stats.set_value("rasd/disk_full", str(exc))
        log.error("disk full, closing the crawl: %s", exc)
        close_crawl(crawler, "disk_full")

    def write_failed(self, exc: Exception, path: str) -> None:
        """A state write failed (SQLite error): count it; a full disk closes the crawl."""
        self.count("rasd/state/write_failed")
        if "full" in str(exc).lower():
            from rasd.core.durable import DiskFull

            self.disk_full(DiskFull(path, str(exc)))
        else:
            log.warning("state write failed: %s: %s", path, exc)

    def drop(self, item, outcome: str, detail: str = "") -> "DropItem":
        """Count ``outcome`` for the item's outlet and return the ``DropItem`` (a :class:`Skip`)
        to raise."""
        self.count_outcome(item.outlet, outcome)
        return __getattr__("Skip")(outcome, detail)


def close_crawl(crawler, reason: str) -> None:
    """Ask the engine to close the running spider with ``reason`` (at the next reactor turn,
    so the current item finishes its outcome first)."""
    from twisted.internet import reactor

    engine, spider = getattr(crawler, "engine", None), getattr(crawler, "spider", None)
    if engine is None or spider is None or not reactor.running:
        return
    from scrapy.utils.defer import deferred_from_coro

    reactor.callLater(0, lambda: deferred_from_coro(engine.close_spider_async(reason=reason)))
