"""``rasd worker``: a long-lived crawl process that takes outlet polls from Redis.

The pattern is scrapy-redis's ``RedisSpider`` (a spider that stays open when idle and pulls its
work from a Redis list), with three pieces done differently, and why:

* **the queue is reliable**: polls are taken with ``LMOVE`` into this worker's processing list
  and acknowledged only when the poll is done (:class:`rasd.core.shared.ReliableQueue`);
  scrapy-redis pops (``LPOP``/``SPOP``), so a worker that dies loses what it popped;
* **a poll's requests stay in this worker's own Scrapy scheduler** (scrapy-redis would share
  them through Redis): a poll is one outlet's run, with its outcomes counted per run and sent
  back to the scheduler for the run history, and a dead worker's poll is simply run again by
  another — its archived articles are known by then, so nothing is fetched twice into the
  archive;
* **the dupefilter is Rasd's** (:class:`rasd.crawler.dupefilter.SeenUrlDupeFilter`, here over
  the seen-URL store on Redis, bounded by expiry): scrapy-redis's ``RFPDupeFilter`` is a Redis
  set of fingerprints that grows for ever.

What a worker does (:class:`WorkerSpider`), every :data:`TICK_SECONDS` on the reactor: take
polls while fewer than ``RASD_WORKER_MAX_POLLS`` are running, request each poll's listings (and
the outlet's deferred pages that are due), and when a poll's listings and pages all have their
outcome — the counters the spider keeps per outlet (``rasd/pages/<outlet>/requested`` against
the outcomes) — send the run's summary to ``rasd:results`` (the scheduler records it), commit
the poll's listing validators, acknowledge the poll.  A heartbeat thread keeps the worker's
lease; polls of workers whose heartbeat expired are moved back to the queue.  Shared state:
the ledger in fleet mode (:class:`rasd.pipelines.ledger.Ledger` with ``redis_url``), fleet-wide
politeness and robots.txt (:mod:`rasd.crawler.fleet`), listing validators on Redis
(:class:`rasd.crawler.fleet.RedisFeedState`).  The index and the alert matcher are not run
here: the scheduler follows every worker's archive shard.

Poll messages (JSON, pushed by ``rasd schedule --queue``): ``{"run_id", "slug", "outlet": <the
Outlet's fields>, "deadline": POSIX seconds, "scheduled_at"}``; results: ``{"run_id", "slug",
"outcome": "ok"|"timeout"|"interrupted", "summary": <the child's summary>, "worker",
"cpu_seconds"}``.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

import scrapy
from twisted.internet import task

from rasd.core.seeds import Outlet
from rasd.core.shared import round_trips, Heartbeat, ReliableQueue, connect, worker_id
from rasd.crawler.dupefilter import SeenUrlDupeFilter
from rasd.crawler.fleet import RedisFeedState, fleet_download_slots
from rasd.crawler.spiders.outlet import OutletSpider

log = logging.getLogger(__name__)

#: how often (seconds) the worker takes polls and checks which are done
TICK_SECONDS = 0.25
#: how often (seconds) it moves dead workers' polls back to the queue
RECLAIM_SECONDS = 5.0


class WorkerDupeFilter(SeenUrlDupeFilter):
    """The dupefilter of a long-lived worker: what it remembers of "this crawl" is per poll —
    the fingerprints a poll requested or listed are forgotten when the poll ends
    (:meth:`forget`), or the next poll of the outlet would count every link ``listed_twice``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._by_outlet: dict[str, set[bytes]] = {}

    def _note(self, request) -> None:
        slug = request.meta.get("rasd_outlet")
        if slug:
            self._by_outlet.setdefault(slug, set()).add(self.fingerprinter.fingerprint(request))

    def request_seen(self, request) -> bool:
        self._note(request)
        return super().request_seen(request)

    def link_seen(self, request) -> bool:
        self._note(request)
        return super().link_seen(request)

    def forget(self, slug: str) -> None:
        """Forget what the poll of ``slug`` requested and listed (it ended)."""
        for fp in self._by_outlet.pop(slug, ()):
            self._fingerprints.discard(fp)
            self._listed.discard(fp)


class _Poll:
    """One poll being run: the message, the outlet, the outlet's counters when it began."""

    def __init__(self, raw: bytes, message: dict, outlet: Outlet, before: dict[str, int]):
        self.raw, self.message, self.outlet, self.before = raw, message, outlet, before
        self.started = time.monotonic()
        self.cpu0 = _cpu()
        self.lock_wait0 = _lock_waited()
        self.quiet = 0  # ticks in a row on which the poll looked done


def _lock_waited() -> float:
    """Seconds this process's ledgers have waited for the fleet's writer lock so far (the wait
    blocks the event loop: every outlet of the worker waits with it)."""
    from rasd.pipelines.ledger import Ledger

    return sum(getattr(l.lock, "waited_seconds", 0.0) for l in Ledger.all_shared())


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def _mine(key: str, slug: str) -> bool:
    return f"/{slug}/" in key or key.endswith(f"/{slug}")


class WorkerSpider(OutletSpider):
    """The outlet spider of a long-lived worker (see the module docstring): no outlets at
    start, one per poll taken from the queue."""

    name = "worker"

    def __init__(self, **kwargs):
        super().__init__(outlet="all", **kwargs)
        self.polls: dict[str, _Poll] = {}
        self.polls_done = 0

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.outlets = {}  # one per poll; the seeds are not this worker's business
        spider.allowed_domains = []  # outlets change per poll; the spider checks owns() itself
        prefix = settings.get("RASD_REDIS_PREFIX", "rasd:")
        spider.redis = connect(settings.get("RASD_REDIS_URL"))
        spider.worker = settings.get("RASD_WORKER_ID") or worker_id()
        spider.max_polls = settings.getint("RASD_WORKER_MAX_POLLS", 4)
        spider.queue = ReliableQueue(spider.redis, f"{prefix}polls", spider.worker,
                                     heartbeat_seconds=settings.getfloat("RASD_WORKER_HEARTBEAT_SECONDS", 15))
        spider.results_key = f"{prefix}results"
        spider.inflight_prefix = f"{prefix}inflight:"
        spider.feedstate = RedisFeedState(
            spider.redis, prefix=f"{prefix}feed:",
            max_not_modified=settings.getint("RASD_CONDITIONAL_MAX_NOT_MODIFIED", 4),
            max_age_seconds=settings.getfloat("RASD_CONDITIONAL_MAX_AGE", 6 * 3600.0))
        crawler.rasd_deadlines = {}
        crawler.signals.connect(spider._opened, signal=scrapy.signals.spider_opened)
        crawler.signals.connect(spider._idle, signal=scrapy.signals.spider_idle)
        crawler.signals.connect(spider._worker_closed, signal=scrapy.signals.spider_closed)
        return spider

    async def start(self):
        return
        yield  # pragma: no cover - an async generator: a worker starts with no requests

    # ---- lifecycle ---------------------------------------------------------------------------
    def _opened(self, spider) -> None:
        self._heartbeat = Heartbeat(self.queue.heartbeat, max(1.0, self.queue.heartbeat_seconds / 3)).start()
        self._last_reclaim = 0.0
        self._loop = task.LoopingCall(self._tick)
        self._loop.start(TICK_SECONDS, now=True).addErrback(
            lambda f: log.error("worker tick failed: %s", f.getTraceback()))
        log.info("worker_started id=%s queue=%s max_polls=%d", self.worker, self.queue.name, self.max_polls)

    def _idle(self, spider) -> None:
        if not self._interrupted():
            raise scrapy.exceptions.DontCloseSpider

    def _worker_closed(self, spider, reason) -> None:
        if getattr(self, "_loop", None) is not None and self._loop.running:
            self._loop.stop()
        for slug in list(self.polls):  # cut short by a stop: reported, and put back for others
            self._finish(slug, "interrupted", requeue=True)
        if getattr(self, "_heartbeat", None) is not None:
            self._heartbeat.stop()
        self.queue.leave()
        log.info("worker_stopped id=%s polls_done=%d", self.worker, self.polls_done)

    # ---- the tick ----------------------------------------------------------------------------
    def _tick(self) -> None:
        if self._interrupted():
            return
        now = time.monotonic()
        if now - self._last_reclaim > RECLAIM_SECONDS:
            self._last_reclaim = now
            for dead, n in self.queue.reclaim().items():
                log.warning("polls_reclaimed from=%s n=%d", dead, n)
                self._count("rasd/fleet/polls_reclaimed", n)
        for slug in list(self.polls):
            self._check(slug)
        free = self.max_polls - len(self.polls)
        if free > 0:
            for raw, message in self.queue.pop(free):
                self._begin(raw, message)

    def _begin(self, raw: bytes, message: dict) -> None:
        try:
            outlet = Outlet.model_validate(message["outlet"])
            slug = outlet.slug
        except Exception as exc:  # not a poll we can run: acknowledge it, never loop on it
            log.error("poll_refused error=%s message=%.200r", exc, message)
            self.queue.ack(raw)
            return
        if slug in self.polls:  # the same outlet already running here: back to the queue
            self.queue.client.lpush(self.queue.name, raw)
            self.queue.ack(raw)
            return
        self.outlets[slug] = outlet
        self.crawler.engine.downloader.per_slot_settings.update(fleet_download_slots({slug: outlet}))
        self.crawler.rasd_deadlines[slug] = float(message.get("deadline") or 0) or None
        stats = self.crawler.stats.get_stats()
        before = {k: v for k, v in stats.items() if isinstance(v, int) and _mine(k, slug)}
        self.polls[slug] = _Poll(raw, message, outlet, before)
        log.info("poll_started outlet=%s run=%s worker=%s", slug, message.get("run_id"), self.worker)
        requests = list(self._due_deferred(outlet, time.time()))
        for url in outlet.feeds:
            requests += list(self._listing(url, outlet, self.parse_feed))
        for url in outlet.sitemaps:
            requests += list(self._listing(url, outlet, self.parse_sitemap))
        for request in requests:
            self.crawler.engine.crawl(request)

    def _check(self, slug: str) -> None:
        d = self._delta_of(self.polls[slug], slug)
        requested = d.get(f"rasd/pages/{slug}/requested", 0)
        counted = sum(v for k, v in d.items() if k.startswith(f"rasd/outcome/{slug}/"))
        listed = d.get(f"rasd/listings/{slug}/requested", 0)
        ended = sum(d.get(f"rasd/listings/{slug}/{k}", 0) for k in ("ok", "not_modified", "failed"))
        deadline = self.crawler.rasd_deadlines.get(slug)
        if ended >= listed and counted >= requested and not self._busy(slug):
            poll = self.polls[slug]
            poll.quiet += 1
            if poll.quiet >= 2:  # balanced on two ticks in a row: nothing still on its way
                self._finish(slug, "ok")
        elif deadline is not None and time.time() > deadline + 5:
            self._finish(slug, "timeout")
        else:
            self.polls[slug].quiet = 0

    def _busy(self, slug: str) -> bool:
        """Whether a request of ``slug``'s poll is still downloading, queued in its download
        slot, or having its response processed (callbacks, item pipelines)."""
        engine = self.crawler.engine
        slot = engine.downloader.slots.get(slug)
        if slot is not None and (slot.active or slot.queue or slot.transferring):
            return True
        scraper_slot = getattr(engine.scraper, "slot", None)
        return any(r.meta.get("rasd_outlet") == slug for r in getattr(scraper_slot, "active", ()))

    def _finish(self, slug: str, outcome: str, requeue: bool = False) -> None:
        """Report the poll of ``slug`` (its counters since it began), commit its listings'
        validators when it finished, acknowledge it (``requeue``: put it back for another
        worker instead, a stop cut it short)."""
        from rasd.crawler.extensions import outlet_summary

        poll = self.polls.pop(slug)
        summary = outlet_summary(self._delta_of(poll, slug), slug)
        summary["interrupted"] = outcome == "interrupted"
        if outcome == "ok":
            self.feedstate.commit(self.feedstate.pending_under(poll.outlet))
        else:
            self.feedstate.discard(self.feedstate.pending_under(poll.outlet))
        result = {"run_id": poll.message.get("run_id"), "slug": slug, "outcome": outcome,
                  "summary": summary, "worker": self.worker,
                  "cpu_seconds": round(_cpu() - poll.cpu0, 3),
                  "lock_wait_seconds": round(_lock_waited() - poll.lock_wait0, 3),
                  "seconds": round(time.monotonic() - poll.started, 3)}
        with self.redis.pipeline() as pipe:
            if requeue:
                pipe.lpush(self.queue.name, poll.raw)
            else:
                pipe.lpush(self.results_key, json.dumps(result, ensure_ascii=False))
                pipe.delete(f"{self.inflight_prefix}{slug}")
            pipe.lrem(self.queue.processing, 1, poll.raw)
            pipe.execute()
        self.dupefilter.forget(slug)
        self.crawler.rasd_deadlines.pop(slug, None)
        self.polls_done += outcome == "ok"
        log.info("poll_finished outlet=%s run=%s outcome=%s archived=%d seconds=%.2f "
                 "lock_wait=%.3f lock_wait_total=%.3f redis_round_trips_total=%d", slug,
                 result["run_id"], outcome, summary["outcomes"].get("archived", 0), result["seconds"],
                 result["lock_wait_seconds"], _lock_waited(), round_trips())

    def _delta_of(self, poll: _Poll, slug: str) -> dict[str, Any]:
        return {k: v - poll.before.get(k, 0) for k, v in self.crawler.stats.get_stats().items()
                if isinstance(v, (int, float)) and _mine(k, slug)}


def worker_settings(rasd, redis_url: str, worker: str, *, prefix: str = "rasd:", max_polls: int = 4,
                    replay_url: str | None = None) -> dict[str, Any]:
    """Scrapy settings of a worker process (on top of :func:`rasd.crawler.settings.scrapy_settings`):
    the fleet's dupefilter, politeness and robots middlewares, no local delay or AutoThrottle
    (the fleet limiter spaces requests), no index or alert stage (the scheduler follows the
    shards), ``RASD_REDIS_*`` for the ledger."""
    from rasd.crawler.run import replay_overrides

    extra: dict[str, Any] = {
        "RASD_REDIS_URL": redis_url, "RASD_REDIS_PREFIX": prefix, "RASD_WORKER_ID": worker,
        "RASD_WORKER_MAX_POLLS": max_polls,
        "RASD_WORKER_HEARTBEAT_SECONDS": rasd.fleet.heartbeat_seconds,
        "RASD_ROBOTS_CACHE_SECONDS": rasd.fleet.robots_cache_seconds,
        "DUPEFILTER_CLASS": "rasd.crawler.worker.WorkerDupeFilter",
        "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0,
        "RASD_INDEX_ENABLED": False, "RASD_ALERTS_ENABLED": False,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "rasd.crawler.middlewares.RobotsTxtMiddleware": None,
            "rasd.crawler.fleet.SharedRobotsTxt": 100,
            "rasd.crawler.fleet.FleetPoliteness": 950,
        },
    }
    if replay_url:
        extra.update(replay_overrides(replay_url))
    return extra


def run_worker(rasd, redis_url: str, *, worker: str | None = None, prefix: str = "rasd:",
               max_polls: int = 4, replay_url: str | None = None) -> dict[str, Any]:
    """Run a worker until SIGTERM/SIGINT (blocking); returns its crawler stats.

    Raises:
        rasd.core.shared.SharedStateError: Redis is unreachable.
        rasd.core.errors.CrawlFailed: the worker's crawler could not be built or failed (e.g. a
            pipeline stage that cannot be imported); the traceback is in its log.
    """
    import logging as _logging

    from scrapy.crawler import CrawlerProcess

    from rasd.crawler.run import build_settings, run_to_end
    from rasd.pipelines.ledger import Ledger

    worker = worker or worker_id()
    data_dir = Path(rasd.data_dir)
    Ledger.shared(data_dir, redis_url=redis_url, worker=worker, redis_prefix=prefix,
                  redis_ttl_days=rasd.fleet.seen_ttl_days)
    _logging.raiseExceptions = False
    extra = worker_settings(rasd, redis_url, worker, prefix=prefix, max_polls=max_polls,
                            replay_url=replay_url)
    extra.setdefault("LOG_FILE", str(data_dir / "logs" / f"worker-{worker}.log"))
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    settings = build_settings(rasd, **extra)
    mw = dict(settings.getdict("DOWNLOADER_MIDDLEWARES"))
    settings.set("DOWNLOADER_MIDDLEWARES", mw, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(WorkerSpider)
    return run_to_end(process, crawler, extra["LOG_FILE"])
