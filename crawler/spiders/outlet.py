"""The one generic spider: polls outlets' feeds and news sitemaps and fetches new articles.

``scrapy crawl outlet -a outlet=bbc_arabic,dw_arabic`` (or ``-a outlet=all``) and
``rasd crawl bbc_arabic dw_arabic`` run it.  For each outlet it requests every feed and
sitemap in its seed file, follows only links on the outlet's own domains, skips links whose
canonical URL is already in the seen-URL store (a second run never refetches a known article),
and yields an :class:`~rasd.article.Article` per article page for the item pipelines.

Every article request ends in exactly one outcome (see :mod:`pipelines.base`): the pipelines
count those that reach them; this spider counts pages that never become items
(``skipped/too_large``, ``skipped/not_html``, ``failed/http_404``, ``skipped/robots`` …).
Links that are not fetched are counted under ``rasd/links/<outlet>/<reason>``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.feeds import filter_entries, parse_feed, parse_sitemap
from pipelines.base import outcome_key
from pipelines.dedup import SeenStore, canonicalize_url
from rasd.article import Article, utcnow
from rasd.errors import ConfigError
from rasd.seeds import Outlet, load_outlets


#: Sitemap indexes nested deeper than this are not followed (real sites use one level).
MAX_SITEMAP_DEPTH = 3


def failure_outcome(failure) -> str:
    """The outcome name of a failed article request (``failed/http_404``, ``skipped/too_large`` …)."""
    exc = failure.value
    name = type(exc).__name__
    if isinstance(exc, HttpError):
        return f"failed/http_{exc.response.status}"
    if name == "DownloadCancelledError" or "maxsize" in str(exc).lower():
        return "skipped/too_large"
    if isinstance(exc, IgnoreRequest):
        return "skipped/robots" if "robots" in str(exc).lower() else "skipped/ignored"
    if "Timeout" in name:
        return "failed/timeout"
    if "DNS" in name or "Resolve" in name:
        return "failed/dns"
    if "Connection" in name or "Refused" in name:
        return "failed/connection"
    return f"failed/{name}"


def download_slots(outlets: dict[str, Outlet]) -> dict[str, dict]:
    """Scrapy ``DOWNLOAD_SLOTS`` from the outlets' politeness: one slot per outlet (every
    request of an outlet carries ``meta["download_slot"] = slug``), with its minimum delay
    (seconds) and concurrency.  AutoThrottle may raise a slot's delay, never below this one."""
    return {slug: {"delay": o.politeness.download_delay, "concurrency": o.politeness.concurrency}
            for slug, o in outlets.items()}


class OutletSpider(scrapy.Spider):
    """Spider for one or more outlets (``outlet``: comma-separated slugs, or ``all``).

    ``outlets`` may be passed ready-made (``rasd crawl --replay`` does); otherwise they are read
    from the ``RASD_SEEDS_DIR`` seed files.  ``outlets`` stays available to the item
    pipelines (``spider.outlets[item.outlet]``) for per-outlet hints and policies.
    """

    name = "outlet"

    def __init__(self, outlet: str = "all", outlets: dict[str, Outlet] | None = None, **kwargs):
        super().__init__(**kwargs)
        self._wanted = [s.strip() for s in outlet.split(",") if s.strip()] if outlet else ["all"]
        self.outlets: dict[str, Outlet] = dict(outlets) if outlets else {}
        self.seen: SeenStore | None = None
        self._requested: set[str] = set()  # canonical article URLs requested in this crawl
        self._listings_requested: set[str] = set()  # feeds and sitemaps requested in this crawl
        self.max_age = timedelta(days=7)

    @classmethod
    def update_settings(cls, settings):
        """Per-outlet politeness for ``scrapy crawl``: slots for every seeds/ outlet, unless the
        caller (``rasd crawl``) already set ``DOWNLOAD_SLOTS`` for the outlets it crawls."""
        super().update_settings(settings)
        if not settings.get("DOWNLOAD_SLOTS") and settings.get("RASD_SEEDS_DIR"):
            try:
                outlets = load_outlets(Path(settings.get("RASD_SEEDS_DIR")))
            except ConfigError:
                return  # reported when the spider loads the seeds
            settings.set("DOWNLOAD_SLOTS", download_slots(outlets), priority="spider")

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        if settings.get("RASD_SETTINGS_ERROR"):
            raise ConfigError(settings.get("RASD_SETTINGS_ERROR"))
        if not spider.outlets:
            spider.outlets = load_outlets(Path(settings.get("RASD_SEEDS_DIR")))
        if spider._wanted != ["all"]:
            unknown = [s for s in spider._wanted if s not in spider.outlets]
            if unknown:
                raise ConfigError(f"unknown outlet(s): {', '.join(unknown)}; see `rasd outlets`")
            spider.outlets = {s: spider.outlets[s] for s in spider._wanted}
        spider.allowed_domains = sorted({d for o in spider.outlets.values() for d in o.domains})
        spider.max_age = timedelta(days=settings.getint("RASD_SITEMAP_MAX_AGE_DAYS", 7))
        data_dir = Path(settings.get("RASD_DATA_DIR", "data"))
        data_dir.mkdir(parents=True, exist_ok=True)
        spider.seen = SeenStore(data_dir / "seen.sqlite")
        crawler.signals.connect(spider._closed, signal=scrapy.signals.spider_closed)
        # Conditional GET of listings (opt-in; the scheduler's runs turn it on): see
        # crawler/feedstate.py.  State is committed only when the crawl finished.
        spider.feedstate = None
        if settings.getbool("RASD_CONDITIONAL_GET", False):
            from crawler.feedstate import FeedState

            spider.feedstate = FeedState(data_dir / "feedstate.sqlite")

            def _commit_feedstate(spider, reason):
                if reason == "finished":
                    spider.feedstate.commit()
                else:
                    spider.feedstate.discard()

            crawler.signals.connect(_commit_feedstate, signal=scrapy.signals.spider_closed, weak=False)
        return spider

    def _closed(self, spider):
        if self.seen is not None:
            self.seen.close()

    # ---- counting -------------------------------------------------------------------------
    def _count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(key, n)

    def _outcome(self, outlet: str, outcome: str, url: str | None = None) -> None:
        """Count a page's outcome; a ``skipped/*`` page is remembered so it is not refetched."""
        self._count(outcome_key(outlet, outcome))
        if url and outcome.startswith("skipped/") and self.seen is not None:
            try:
                self.seen.mark_url(canonicalize_url(url), outlet, outcome)
            except ValueError:
                pass

    # ---- listings -------------------------------------------------------------------------
    def _listing(self, url: str, outlet: Outlet, callback, depth: int = 0):
        """Yield the request for a feed or sitemap, at most once per crawl and at most
        :data:`MAX_SITEMAP_DEPTH` sitemap indexes deep (a sitemap index that lists itself, or
        two that list each other, must not loop); repeats are counted ``listings/…/repeated``."""
        key = canonicalize_url(url) if url.startswith(("http://", "https://")) else url
        if key in self._listings_requested or depth > MAX_SITEMAP_DEPTH:
            self._count(f"rasd/listings/{outlet.slug}/repeated" if depth <= MAX_SITEMAP_DEPTH
                        else f"rasd/listings/{outlet.slug}/too_deep")
            return
        self._listings_requested.add(key)
        meta = {"rasd_outlet": outlet.slug, "download_slot": outlet.slug, "rasd_depth": depth}
        headers = {}
        feedstate = getattr(self, "feedstate", None)
        if feedstate is not None:
            headers = feedstate.conditional_headers(url)
            meta["handle_httpstatus_list"] = [304]  # a 304 must reach the callback
        yield scrapy.Request(url, callback=callback, errback=self.listing_failed, meta=meta,
                             headers=headers, dont_filter=True)

    async def start(self):
        for outlet in self.outlets.values():
            for url in outlet.feeds:
                for request in self._listing(url, outlet, self.parse_feed):
                    yield request
            for url in outlet.sitemaps:
                for request in self._listing(url, outlet, self.parse_sitemap):
                    yield request

    def listing_failed(self, failure):
        request = failure.request
        slug = request.meta["rasd_outlet"]
        self._count(f"rasd/listings/{slug}/failed")
        self._count(f"rasd/listings/{slug}/failed/{failure_outcome(failure).split('/', 1)[1]}")
        self.logger.warning("listing failed outlet=%s url=%s reason=%s", slug, request.url,
                            failure.getErrorMessage())

    def parse_feed(self, response: Response):
        outlet = self.outlets[response.meta["rasd_outlet"]]
        verdict = self.feedstate.classify(response) if getattr(self, "feedstate", None) else "changed"
        if verdict != "changed":  # 304, or the same body again: nothing new to follow
            self._count(f"rasd/listings/{outlet.slug}/not_modified")
            self._count(f"rasd/listings/{outlet.slug}/not_modified/{verdict}")
            return
        ctype = response.headers.get(b"Content-Type", b"").decode("latin-1") or None
        result = parse_feed(response.body, response.url, ctype)
        yield from self._follow(result, response, outlet, kind="feed")

    def parse_sitemap(self, response: Response):
        outlet = self.outlets[response.meta["rasd_outlet"]]
        verdict = self.feedstate.classify(response) if getattr(self, "feedstate", None) else "changed"
        if verdict != "changed":
            self._count(f"rasd/listings/{outlet.slug}/not_modified")
            self._count(f"rasd/listings/{outlet.slug}/not_modified/{verdict}")
            # an unchanged sitemap index says nothing about its children: poll them anyway
            for child in self.feedstate.children(response.url):
                yield from self._listing(child, outlet, self.parse_sitemap, response.meta.get("rasd_depth", 0) + 1)
            return
        result = parse_sitemap(response.body, response.url)
        if not result.error and getattr(self, "feedstate", None) is not None and result.sitemaps:
            self.feedstate.set_children(response.url, [c for c in result.sitemaps
                                                       if outlet.owns(urlsplit(c).hostname or "")])
        if not result.error:
            for child in result.sitemaps:
                if outlet.owns(urlsplit(child).hostname or ""):
                    yield from self._listing(child, outlet, self.parse_sitemap,
                                             response.meta.get("rasd_depth", 0) + 1)
                else:
                    self._count(f"rasd/links/{outlet.slug}/off_domain")
        yield from self._follow(result, response, outlet, kind="sitemap")

    def _follow(self, result, response: Response, outlet: Outlet, kind: str):
        slug = outlet.slug
        if result.error:
            self._count(f"rasd/listings/{slug}/failed")
            self._count(f"rasd/listings/{slug}/failed/invalid_{kind}")
            self.logger.warning("%s rejected outlet=%s url=%s reason=%s", kind, slug,
                                response.url, result.error)
            return
        self._count(f"rasd/listings/{slug}/ok")
        kept, rejected = filter_entries(result.entries, outlet)
        for _entry, reason in rejected:
            self._count(f"rasd/links/{slug}/{reason}")
        oldest = utcnow() - self.max_age
        for entry in kept:
            canonical = canonicalize_url(entry.url)
            if canonical in self._requested:
                self._count(f"rasd/links/{slug}/listed_twice")
                continue
            self._count(f"rasd/links/{slug}/listed")
            self._requested.add(canonical)
            if entry.published_at is not None and entry.published_at < oldest and kind == "sitemap":
                self._count(f"rasd/links/{slug}/too_old")
                continue
            if self.seen is not None and self.seen.seen_url(canonical):
                self._count(f"rasd/links/{slug}/known")
                continue
            yield scrapy.Request(
                entry.url, callback=self.parse_article, errback=self.article_failed,
                meta={"rasd_outlet": slug, "download_slot": slug, "rasd_feed_url": response.url,
                      "rasd_feed_title": entry.title, "rasd_feed_published_at": entry.published_at},
            )

    # ---- articles -------------------------------------------------------------------------
    def article_failed(self, failure):
        slug = failure.request.meta["rasd_outlet"]
        self._count("rasd/pages/fetched_failed")
        self._outcome(slug, failure_outcome(failure), failure.request.url)

    def parse_article(self, response: Response):
        meta = response.meta
        outlet = self.outlets[meta["rasd_outlet"]]
        self._count(f"rasd/pages/{outlet.slug}/fetched")
        if not response.body:
            self._outcome(outlet.slug, "skipped/empty_body", response.url)
            return
        if not isinstance(response, TextResponse) or b"\x00" in response.body[:4096]:
            self._outcome(outlet.slug, "skipped/not_html", response.url)
            return
        if not outlet.owns(urlsplit(response.url).hostname or ""):  # redirected off-site
            self._outcome(outlet.slug, "skipped/off_domain", response.url)
            return
        content_language = response.headers.get(b"Content-Language")
        yield Article(
            url=response.url,
            outlet=outlet.slug,
            html=response.text,
            fetched_at=utcnow(),
            feed_url=meta.get("rasd_feed_url"),
            feed_title=meta.get("rasd_feed_title"),
            feed_published_at=meta.get("rasd_feed_published_at"),
            country=outlet.country,
            declared_language=(content_language.decode("latin-1").split(",")[0].strip()[:2].lower()
                               if content_language else None),
        )
