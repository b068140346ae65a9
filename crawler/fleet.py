"""Downloader middlewares of a fleet (``rasd worker``): politeness and robots.txt shared on Redis.

* :class:`FleetPoliteness` — before each request, its domain (the host without ``www.``) asks
  the fleet-wide :class:`rasd.core.shared.PolitenessLimiter` for its turn: an outlet's
  ``download_delay`` (seconds between request starts) and ``concurrency`` hold for all workers
  together, not per process.  The limiter is the only delay then: Scrapy's own per-slot delay
  would add a local wait *after* the fleet gave the turn, spacing requests of two workers less
  than the delay apart, so :func:`fleet_download_slots` sets it to 0 and lets Scrapy's slot
  concurrency be the outlet's.  Placed last before the download handler (priority 950), so
  retries and redirect hops ask too.
* :class:`SharedRobotsTxt` — Rasd's ``RobotsTxtMiddleware`` (robots.txt decoded like any body)
  with its robots.txt bodies cached, decoded, in Redis for ``RASD_ROBOTS_CACHE_SECONDS`` (default a day): one worker fetches an outlet's
  robots.txt, the others (and its own later polls) parse the cached copy; a long-lived worker
  forgets its parsed copies after the same time, so a changed robots.txt is obeyed next day.

Both are off unless ``RASD_REDIS_URL`` is set (``NotConfigured``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from twisted.internet.defer import Deferred
from scrapy.exceptions import NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from rasd.core.shared import PolitenessLimiter, connect
from rasd.crawler.encodings import decode_text
from rasd.crawler.middlewares import RobotsTxtMiddleware

log = logging.getLogger(__name__)


def fleet_download_slots(outlets) -> dict[str, dict]:
    """``DOWNLOAD_SLOTS`` entries for a fleet worker: no local delay (the fleet limiter spaces
    requests), the outlet's concurrency."""
    return {slug: {"delay": 0, "concurrency": o.politeness.concurrency} for slug, o in outlets.items()}


class FleetPoliteness:
    """See the module docstring.  Stats: ``rasd/fleet/polite_wait_ms`` (total waited)."""

    def __init__(self, crawler, limiter: PolitenessLimiter):
        self.crawler, self.limiter = crawler, limiter

    @classmethod
    def from_crawler(cls, crawler):
        url = crawler.settings.get("RASD_REDIS_URL")
        if not url:
            raise NotConfigured
        prefix = crawler.settings.get("RASD_REDIS_PREFIX", "rasd:")
        return cls(crawler, PolitenessLimiter(connect(url), prefix=f"{prefix}polite"))

    def _policy(self, request) -> tuple[str, float, int]:
        """``(domain, delay seconds, concurrency)``: the limiter's key is the request's host
        without ``www.`` — two outlets on one domain share its turns — and the policy is the
        request's outlet's; a request without one (a robots.txt) takes the policy of the outlet
        owning its host, else ``DOWNLOAD_DELAY`` and ``CONCURRENT_REQUESTS_PER_DOMAIN``."""
        host = (urlparse_cached(request).hostname or "?").lower()
        slot = host[4:] if host.startswith("www.") else host
        outlets = getattr(self.crawler.spider, "outlets", None) or {}
        outlet = outlets.get(request.meta.get("rasd_outlet"))
        if outlet is None:
            outlet = next((o for o in outlets.values() if o.owns(host)), None)
        if outlet is not None:
            return slot, outlet.politeness.download_delay, outlet.politeness.concurrency
        return slot, self.crawler.settings.getfloat("DOWNLOAD_DELAY", 1.0), \
            self.crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 2)

    async def process_request(self, request, spider=None):
        slot, delay, concurrency = self._policy(request)
        token = uuid.uuid4().hex
        t0 = time.monotonic()
        while True:
            wait = self.limiter.acquire(slot, delay, concurrency, token)
            if wait == 0:
                break
            await asyncio.sleep(wait / 1000 if wait > 0 else 0.02)
        waited = int((time.monotonic() - t0) * 1000)
        if waited:
            self.crawler.stats.inc_value("rasd/fleet/polite_wait_ms", waited)
        request.meta["rasd_polite"] = (slot, token)
        return None

    def _release(self, request) -> None:
        held = request.meta.pop("rasd_polite", None)
        if held is not None:
            self.limiter.release(*held)

    def process_response(self, request, response, spider=None):
        self._release(request)
        return response

    def process_exception(self, request, exception, spider=None):
        self._release(request)
        return None


class SharedRobotsTxt(RobotsTxtMiddleware):
    """See the module docstring.  Stats: ``rasd/fleet/robots_cached``."""

    def __init__(self, crawler):
        super().__init__(crawler)
        url = crawler.settings.get("RASD_REDIS_URL")
        if not url:
            raise NotConfigured
        self.redis = connect(url)
        self.prefix = crawler.settings.get("RASD_REDIS_PREFIX", "rasd:") + "robots:"
        self.ttl = crawler.settings.getint("RASD_ROBOTS_CACHE_SECONDS", 86400)
        self._parsed_at: dict[str, float] = {}

    async def robot_parser(self, request):
        from scrapy.utils.misc import build_from_crawler

        netloc = urlparse_cached(request).netloc
        parsed_at = self._parsed_at.get(netloc)
        if (netloc in self._parsers and parsed_at is not None
                and not isinstance(self._parsers[netloc], Deferred)
                and time.time() - parsed_at > self.ttl):
            # A parsed robots.txt older than the cache's lifetime is read again; one still
            # being fetched (a Deferred) is left for the request that started it.
            self._parsers.pop(netloc, None)
            self._parsed_at.pop(netloc, None)
        if netloc not in self._parsers:
            body = self.redis.get(self.prefix + netloc)
            if body is not None:
                self._parsers[netloc] = build_from_crawler(self._parserimpl, self.crawler, body)
                self._parsed_at[netloc] = time.time()
                self._stats.inc_value("rasd/fleet/robots_cached")
        return await super().robot_parser(request)

    async def _parse_robots(self, response, netloc, request):
        # Store before parsing, so the other workers of the fleet skip the fetch.
        # The body is kept decoded (UTF-8), as Rasd's robots middleware hands it to the parser.
        if 200 <= response.status < 300 or response.status == 404:
            body = b""
            if response.status != 404:
                ctype = response.headers.get(b"Content-Type")
                body = decode_text(response.body, ctype.decode("latin-1") if ctype else None)[0].encode("utf-8")
            self.redis.set(self.prefix + netloc, body, ex=self.ttl)
        self._parsed_at[netloc] = time.time()
        await super()._parse_robots(response, netloc, request)


def _feedstate_base():
    from rasd.crawler.feedstate import FeedState

    return FeedState


class RedisFeedState(_feedstate_base()):
    """Listing validators, remembered entries and distrust on Redis, shared by a fleet:
    :class:`rasd.crawler.feedstate.FeedState`'s rules (conditional GET that cannot get stuck)
    over another storage, one hash per listing URL under ``prefix`` (``rasd:feed:<url>``), a
    field per :class:`~rasd.crawler.feedstate.FeedRecord` field (JSON) and ``updated_at``.
    Updates are buffered and written by :meth:`commit` for the URLs of a poll that finished
    (:meth:`pending_under`), or forgotten by :meth:`discard` for one that did not — a cut-short
    poll must not mark a listing seen whose articles were never fetched."""

    def __init__(self, client, prefix: str = "rasd:feed:", *, max_not_modified: int | None = None,
                 max_age_seconds: float | None = None, clock=time.time):  # noqa: D107
        from rasd.crawler.feedstate import MAX_AGE_SECONDS, MAX_NOT_MODIFIED

        self.client, self.prefix = client, prefix
        self.path = None
        self.max_not_modified = MAX_NOT_MODIFIED if max_not_modified is None else max_not_modified
        self.max_age_seconds = MAX_AGE_SECONDS if max_age_seconds is None else max_age_seconds
        self.clock = clock
        self._pending = {}
        self.polls = {}

    @staticmethod
    def _decode(url: str, raw: dict):
        from dataclasses import fields

        from rasd.crawler.feedstate import FeedRecord

        d = {k.decode(): v.decode("utf-8") for k, v in raw.items()}
        values = {}
        for f in fields(FeedRecord):
            if f.name != "url" and f.name in d:
                try:
                    values[f.name] = json.loads(d[f.name])
                except ValueError:
                    continue
        if "children" in values:
            values["children"] = tuple(values["children"] or ())
        return FeedRecord(url, **values)

    def get(self, url: str):
        if url in self._pending:
            return self._pending[url]
        raw = self.client.hgetall(self.prefix + url)
        return self._decode(url, raw) if raw else None

    def records(self):
        out = []
        for key in self.client.scan_iter(self.prefix + "*", count=1000):
            raw = self.client.hgetall(key)
            if not raw:
                continue
            url = key.decode("utf-8")[len(self.prefix):]
            updated = raw.pop(b"updated_at", None)
            out.append((self._decode(url, raw), float(updated) if updated else None))
        return sorted(out, key=lambda r: r[0].url)

    def pending_under(self, outlet) -> list[str]:
        """Buffered listing URLs ``outlet`` owns."""
        return [u for u in self._pending if outlet.owns(u)]

    def commit(self, urls: list[str] | None = None) -> int:
        """Write the buffered updates of ``urls`` (all when None); returns how many."""
        from dataclasses import asdict

        todo = list(self._pending) if urls is None else [u for u in urls if u in self._pending]
        with self.client.pipeline() as pipe:
            for url in todo:
                record = asdict(self._pending.pop(url))
                record.pop("url")
                record["children"] = list(record["children"])
                fields = {k: json.dumps(v, ensure_ascii=False) for k, v in record.items()}
                fields["updated_at"] = str(self.clock())
                pipe.delete(self.prefix + url)
                pipe.hset(self.prefix + url, mapping=fields)
            pipe.execute()
        return len(todo)

    def discard(self, urls: list[str] | None = None) -> None:
        """Forget the buffered updates of ``urls`` (all when None): the poll did not finish."""
        for url in (list(self._pending) if urls is None else urls):
            self._pending.pop(url, None)
