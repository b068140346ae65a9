"""The one generic spider: polls outlets' feeds and news sitemaps and fetches new articles.

``scrapy crawl outlet -a outlet=bbc_arabic,dw_arabic`` (or ``-a outlet=all``) and
``rasd crawl bbc_arabic dw_arabic`` run it.  For each outlet it requests every feed and
sitemap in its seed file, follows only links on the outlet's own domains, skips links the
crawl's dupefilter has seen (:mod:`rasd.crawler.dupefilter`: the same request fingerprint earlier
in this crawl, or a URL the seen-URL store holds, so a second run never refetches a known
article), and yields an :class:`~rasd.core.article.Article` per article page for the item
pipelines.  "The same page" is one notion throughout: :func:`rasd.core.urls.canonicalize_url`,
Scrapy's request fingerprint.

Every article page requested ends in exactly one outcome (see :mod:`rasd.pipelines.base`): the
pipelines count those that reach them; this spider counts pages that never become items
(``skipped/too_large``, ``skipped/not_html``, ``failed/http_404``, ``skipped/robots`` …), pages
whose redirects it does not follow (:mod:`rasd.crawler.redirects`: ``skipped/offsite_redirect``,
``skipped/redirect_loop``, ``skipped/too_many_redirects``, ``skipped/bad_redirect``,
``skipped/url_too_long``), pages left for a later run (``deferred/retry_after``, persisted in
the seen-URL store and requested by the next run once due, listed or not), pages cut short by
a stop (``failed/interrupted``, :mod:`rasd.crawler.stopping`) and requests the dupefilter drops
after the spider asked for them (``skipped/duplicate_request``).  Pages requested are counted under
``rasd/pages/<outlet>/requested``; when the spider closes it compares them with the outcomes
counted and counts any difference as ``failed/no_outcome`` (with a warning), so the table
always adds up.  Listings (feeds and sitemaps) likewise: ``rasd/listings/<outlet>/requested``
against ``ok`` + ``not_modified`` + ``failed``.
Links that are not fetched are counted under ``rasd/links/<outlet>/<reason>``: those
:func:`rasd.crawler.feeds.filter_entries` rejects (``off_domain``, ``duplicate`` …), then, in this
order, ``listed_twice`` (already listed or requested in this crawl; not counted ``listed``),
``too_old``, ``known``, ``deferred`` and ``not_requested_interrupted``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.response import get_meta_refresh

from rasd.crawler.dupefilter import SeenUrlDupeFilter
from rasd.crawler.feeds import FeedParse, filter_entries, parse_feed, parse_sitemap
from rasd.crawler.middlewares import RetryDeferred
from rasd.crawler.redirects import REDIRECT_OUTCOMES, REDIRECT_STATUSES, next_hop, same_page_key
from rasd.crawler.stopping import Interrupted, clean_stop
from rasd.pipelines.base import outcome_key
from rasd.pipelines.seenstore import SeenStore
from rasd.core.urls import canonicalize_url
from rasd.core.article import Article, utcnow
from rasd.core.errors import ConfigError
from rasd.core.seeds import Outlet, load_outlets


#: Sitemap indexes nested deeper than this are not followed (real sites use one level).
MAX_SITEMAP_DEPTH = 3


#: Meta keys an article request carries to every redirect hop (Scrapy's own keys such as
#: ``retry_times`` or ``download_latency`` must not be copied: MetaCopyDetectionMiddleware).
_PAGE_META = ("rasd_outlet", "rasd_kind", "rasd_page_url", "rasd_feed_url", "rasd_feed_title",
              "rasd_feed_published_at", "rasd_deferred", "download_slot")


def failure_outcome(failure) -> str:
    """The outcome name of a failed article request (``failed/http_404``, ``skipped/too_large``,
    ``failed/interrupted``, ``deferred/retry_after`` …)."""
    exc = failure.value
    name = type(exc).__name__
    if isinstance(exc, HttpError):
        return f"failed/http_{exc.response.status}"
    if isinstance(exc, Interrupted):
        return "failed/interrupted"
    if isinstance(exc, RetryDeferred):
        return f"deferred/{exc.reason}"
    if name == "DownloadCancelledError" or "maxsize" in str(exc).lower():
        return "skipped/too_large"
    if isinstance(exc, IgnoreRequest):
        text = str(exc).lower()
        if "robots" in text:
            return "skipped/robots"
        if "max redirections" in text:
            return "skipped/too_many_redirects"
        if "offsite" in text:
            return "skipped/offsite"
        return "skipped/ignored"
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
        self._listings_requested: set[bytes] = set()  # request fingerprints of feeds and sitemaps
        self.max_age = timedelta(days=7)
        self.max_redirects = 20
        self.max_url_chars = 2083
        self.meta_refresh_max_delay: float | None = 100.0
        self.meta_refresh_ignore_tags: list[str] = ["noscript"]
        self.redirect_priority_adjust = 2

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
        spider.allowed_domains = sorted({d for o in spider.outlets.values() for d in o.hosts()})
        spider.max_age = timedelta(days=settings.getint("RASD_SITEMAP_MAX_AGE_DAYS", 7))
        spider.max_redirects = settings.getint("REDIRECT_MAX_TIMES", 20)
        spider.max_url_chars = settings.getint("URLLENGTH_LIMIT", 2083)
        spider.meta_refresh_max_delay = (settings.getfloat("METAREFRESH_MAXDELAY", 100)
                                         if settings.getbool("METAREFRESH_ENABLED", True) else None)
        spider.meta_refresh_ignore_tags = settings.getlist("METAREFRESH_IGNORE_TAGS", ["noscript"])
        spider.redirect_priority_adjust = settings.getint("REDIRECT_PRIORITY_ADJUST", 2)
        data_dir = Path(settings.get("RASD_DATA_DIR", "data"))
        data_dir.mkdir(parents=True, exist_ok=True)
        from scrapy.utils.misc import load_object

        if not issubclass(load_object(settings["DUPEFILTER_CLASS"]), SeenUrlDupeFilter):
            raise ConfigError(f"DUPEFILTER_CLASS {settings['DUPEFILTER_CLASS']!r}: the outlet spider "
                              "needs rasd.crawler.dupefilter.SeenUrlDupeFilter (or a subclass)")
        crawler.signals.connect(spider._closed, signal=scrapy.signals.spider_closed)
        crawler.signals.connect(spider._request_scheduled, signal=scrapy.signals.request_scheduled)
        crawler.signals.connect(spider._request_dropped, signal=scrapy.signals.request_dropped)
        # Conditional GET of listings (every crawl unless RASD_CONDITIONAL_GET is false): see
        # crawler/feedstate.py.  State is committed only when the crawl finished.
        spider.feedstate = None
        if settings.getbool("RASD_CONDITIONAL_GET", True):
            from rasd.crawler.feedstate import FeedState

            spider.feedstate = FeedState(
                data_dir / "feedstate.sqlite",
                max_not_modified=settings.getint("RASD_CONDITIONAL_MAX_NOT_MODIFIED", 4),
                max_age_seconds=settings.getfloat("RASD_CONDITIONAL_MAX_AGE", 6 * 3600.0))

            def _commit_feedstate(spider, reason):
                if reason == "finished":
                    spider.feedstate.commit()
                else:
                    spider.feedstate.discard()

            crawler.signals.connect(_commit_feedstate, signal=scrapy.signals.spider_closed, weak=False)
        return spider

    def _closed(self, spider, reason=None):
        self.check_outcomes()

    @property
    def dupefilter(self) -> SeenUrlDupeFilter:
        """The crawl's dupefilter (the scheduler's, :mod:`rasd.crawler.dupefilter`)."""
        return self.crawler.engine.scheduler.df

    @property
    def seen(self) -> SeenStore:
        """The seen-URL store: the dupefilter's connection (the data directory's one)."""
        return self.dupefilter.store

    # ---- counting -------------------------------------------------------------------------
    def _count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(key, n)

    def _outcome(self, outlet: str, outcome: str, url: str | None = None, meta: dict | None = None,
                 remember: bool | None = None) -> None:
        """Count a page's outcome.

        ``url`` is the page as listed (``meta["rasd_page_url"]`` wins: after redirects it is
        the URL the next run's listing shows).  A ``skipped/*`` page is remembered as seen so
        it is not refetched, unless ``remember`` is False (by default also not for the redirect
        reasons that say nothing about the URL itself, see :data:`REDIRECT_OUTCOMES`).  A
        page that came from the deferred store leaves it unless it is deferred again or cut
        short (``failed/interrupted``).
        """
        meta = meta or {}
        self._count(outcome_key(outlet, outcome))
        url = meta.get("rasd_page_url") or url
        if remember is None:
            remember = outcome.startswith("skipped/") and REDIRECT_OUTCOMES.get(outcome, True)
        if url and remember:
            try:
                self.seen.mark_url(canonicalize_url(url), outlet, outcome)
            except ValueError:
                pass
        if meta.get("rasd_deferred") and not (
                outcome.startswith("deferred/") or outcome == "failed/interrupted"):
            self.seen.clear_deferred(meta["rasd_deferred"])

    def _listing_failed(self, slug: str, reason: str) -> None:
        self._count(f"rasd/listings/{slug}/failed")
        self._count(f"rasd/listings/{slug}/failed/{reason}")

    def _listing_skipped(self, slug: str, reason: str) -> None:
        """A listing refused at the door as hostile (``unsafe_encoding``, ``xml_entities``:
        :data:`rasd.crawler.feeds.REFUSALS`): never handed to a parser."""
        self._count(f"rasd/listings/{slug}/skipped")
        self._count(f"rasd/listings/{slug}/skipped/{reason}")

    def _interrupted(self) -> bool:
        stop = clean_stop(self.crawler)
        return bool(stop is not None and stop.interrupted)

    def check_outcomes(self) -> dict[str, int]:
        """Compare, per outlet, the article pages and the listings requested with the outcomes
        counted; count any shortfall as ``failed/no_outcome`` (pages) or ``failed`` +
        ``failed/no_outcome`` (listings) with a warning, log a surplus as an error.  Returns
        ``{outlet: pages without outcome}`` (outlets with a gap only).  Called when the
        spider closes."""
        stats = self.crawler.stats.get_stats()
        gaps: dict[str, int] = {}
        for slug in self.outlets:
            prefix = outcome_key(slug, "")
            counted = sum(v for k, v in stats.items() if k.startswith(prefix) and isinstance(v, int))
            requested = int(stats.get(f"rasd/pages/{slug}/requested", 0))
            if requested > counted:
                gaps[slug] = requested - counted
                self.logger.warning("pages_without_outcome outlet=%s requested=%d counted=%d "
                                    "gap=%d (counted failed/no_outcome)", slug, requested, counted,
                                    requested - counted)
                self._count(outcome_key(slug, "failed/no_outcome"), requested - counted)
            elif counted > requested:
                self.logger.error("outcomes_over_counted outlet=%s requested=%d counted=%d", slug,
                                  requested, counted)
            listed = int(stats.get(f"rasd/listings/{slug}/requested", 0))
            ended = sum(int(stats.get(f"rasd/listings/{slug}/{k}", 0))
                        for k in ("ok", "not_modified", "failed", "skipped"))
            if listed > ended:
                self.logger.warning("listings_without_outcome outlet=%s requested=%d ended=%d", slug,
                                    listed, ended)
                self._count(f"rasd/listings/{slug}/failed", listed - ended)
                self._count(f"rasd/listings/{slug}/failed/no_outcome", listed - ended)
            elif ended > listed:
                self.logger.error("listing_outcomes_over_counted outlet=%s requested=%d ended=%d",
                                  slug, listed, ended)
        return gaps

    # ---- requests that never reach the downloader --------------------------------------------
    def request_interrupted(self, request: scrapy.Request) -> None:
        """Count the outcome of a request dropped because the crawl is stopping (called by
        :class:`rasd.crawler.stopping.CleanStop` for requests still in the scheduler)."""
        kind, slug = request.meta.get("rasd_kind"), request.meta.get("rasd_outlet")
        if kind == "article":
            self._outcome(slug, "failed/interrupted", request.url, request.meta)
        elif kind == "listing":
            self._listing_failed(slug, "interrupted")

    def _request_scheduled(self, request, spider=None):
        """``request_scheduled`` handler: once the crawl is stopping, a new request (a retry, a
        redirect hop, a sitemap child) is counted ``failed/interrupted`` and dropped."""
        if request.meta.get("rasd_kind") and self._interrupted():
            self.request_interrupted(request)
            raise IgnoreRequest("crawl interrupted")

    def _request_dropped(self, request, spider=None):
        """``request_dropped`` handler: a request the scheduler refused (the dupefilter saw its
        fingerprint) still ends in an outcome."""
        kind, slug = request.meta.get("rasd_kind"), request.meta.get("rasd_outlet")
        if kind == "article":
            self.logger.info("request_dropped outlet=%s url=%s (dupefilter)", slug, request.url)
            self._outcome(slug, "skipped/duplicate_request", request.url, request.meta, remember=False)
        elif kind == "listing":
            self._listing_failed(slug, "duplicate_request")

    # ---- listings -------------------------------------------------------------------------
    def _listing(self, url: str, outlet: Outlet, callback, depth: int = 0):
        """Yield the request for a feed or sitemap, at most once per crawl and at most
        :data:`MAX_SITEMAP_DEPTH` sitemap indexes deep (a sitemap index that lists itself, or
        two that list each other, must not loop); repeats are counted ``listings/…/repeated``."""
        meta = {"rasd_outlet": outlet.slug, "rasd_kind": "listing", "download_slot": outlet.slug,
                "rasd_depth": depth}
        request = scrapy.Request(url, callback=callback, errback=self.listing_failed, meta=meta,
                                 dont_filter=True)
        key = self.crawler.request_fingerprinter.fingerprint(request)
        if key in self._listings_requested or depth > MAX_SITEMAP_DEPTH:
            self._count(f"rasd/listings/{outlet.slug}/repeated" if depth <= MAX_SITEMAP_DEPTH
                        else f"rasd/listings/{outlet.slug}/too_deep")
            return
        if self._interrupted():
            self._count(f"rasd/listings/{outlet.slug}/not_requested_interrupted")
            return
        self._listings_requested.add(key)
        feedstate = getattr(self, "feedstate", None)
        if feedstate is not None:
            request.headers.update(feedstate.conditional_headers(url))
            request.meta["handle_httpstatus_list"] = [304]  # a 304 must reach the callback
            rec = feedstate.get(url)
            if rec is not None and rec.liar:  # not honouring validators: never conditional again
                self._count(f"rasd/listings/{outlet.slug}/unconditional/distrusted")
            forced = feedstate.polls.get(url)
            if forced is not None and forced.forced:
                self._count(f"rasd/listings/{outlet.slug}/unconditional/{forced.forced}")
        self._count(f"rasd/listings/{outlet.slug}/requested")
        yield request

    async def start(self):
        now = time.time()
        for outlet in self.outlets.values():
            for request in self._due_deferred(outlet, now):
                yield request
            for url in outlet.feeds:
                for request in self._listing(url, outlet, self.parse_feed):
                    yield request
            for url in outlet.sitemaps:
                for request in self._listing(url, outlet, self.parse_sitemap):
                    yield request

    def _due_deferred(self, outlet: Outlet, now: float):
        """Requests for the outlet's deferred pages that are due (listed or not; a listing
        showing one later counts it ``listed_twice``).  The others the dupefilter keeps from
        being fetched early (:meth:`SeenUrlDupeFilter.seen_before`)."""
        for canonical, url, not_before, reason in self.seen.deferred_urls(outlet.slug):
            if not_before > now:
                continue
            self._count(f"rasd/deferred/{outlet.slug}/due")
            self.logger.info("deferred_due outlet=%s url=%s reason=%s since=%s", outlet.slug, url,
                             reason, _iso(not_before))
            request = self._article_request(url, outlet, {"rasd_deferred": canonical})
            if request is not None:
                yield request

    def listing_failed(self, failure):
        request = failure.request
        slug = request.meta["rasd_outlet"]
        self._count(f"rasd/listings/{slug}/fetch/failed")
        self._listing_failed(slug, failure_outcome(failure).split("/", 1)[1])
        self.logger.warning("listing failed outlet=%s url=%s reason=%s", slug, request.url,
                            failure.getErrorMessage() or failure.type.__name__)

    def _count_poll(self, response: Response, slug: str) -> None:
        """Count what a listing's answer did for conditional GET (crawler/feedstate.py): the
        fetch by result (``fetch/200``, ``fetch/304``, ``fetch/forced`` for an unconditional
        poll forced by a stuck server), bytes saved and spent, hidden entries found and a
        listing newly marked as not honouring validators (``validators_ignored``, logged)."""
        self._count(f"rasd/listings/{slug}/fetch/{304 if response.status == 304 else 200}")
        poll = self.feedstate.polls.get(response.url) if getattr(self, "feedstate", None) else None
        if poll is None:
            return
        if poll.forced:
            self._count(f"rasd/listings/{slug}/fetch/forced")
        if poll.saved:
            self._count(f"rasd/listings/{slug}/bytes_saved", poll.saved)
        if poll.spent:
            self._count(f"rasd/listings/{slug}/bytes_spent", poll.spent)
        if poll.hidden:
            self._count(f"rasd/listings/{slug}/hidden_entries", poll.hidden)
        if poll.distrusted:
            self._count(f"rasd/listings/{slug}/validators_ignored")
            self.logger.warning("listing_validators_ignored outlet=%s url=%s reason=%r (polled "
                                "unconditionally from now on)", slug, response.url, poll.distrusted)

    def parse_feed(self, response: Response):
        outlet = self.outlets[response.meta["rasd_outlet"]]
        verdict = self.feedstate.classify(response) if getattr(self, "feedstate", None) else "changed"
        if verdict != "changed":  # 304, or the same body again: the remembered entries
            self._count_poll(response, outlet.slug)
            yield from self._not_modified(response, outlet, verdict, kind="feed")
            return
        ctype = response.headers.get(b"Content-Type", b"").decode("latin-1") or None
        result = parse_feed(response.body, response.url, ctype)
        if not result.error and getattr(self, "feedstate", None) is not None:
            self.feedstate.set_entries(response.url, result.entries)
        self._count_poll(response, outlet.slug)
        yield from self._follow(result, response, outlet, kind="feed")

    def _not_modified(self, response: Response, outlet: Outlet, verdict: str, kind: str):
        """A listing answered 304 or with the body it had last time: follow the entries
        remembered for it (crawler/feedstate.py), each checked against the seen store again,
        so that pages that failed or were cut short before are requested again."""
        entries = self.feedstate.entries(response.url)
        if entries is None:  # a 304 we did not ask for: nothing to follow it with
            self._listing_failed(outlet.slug, "not_modified_unknown")
            return
        self._count(f"rasd/listings/{outlet.slug}/not_modified")
        self._count(f"rasd/listings/{outlet.slug}/not_modified/{verdict}")
        yield from self._follow(FeedParse(entries=entries), response, outlet, kind=kind, counted=True)

    def parse_sitemap(self, response: Response):
        outlet = self.outlets[response.meta["rasd_outlet"]]
        verdict = self.feedstate.classify(response) if getattr(self, "feedstate", None) else "changed"
        if verdict != "changed":
            self._count_poll(response, outlet.slug)
            # an unchanged sitemap index says nothing about its children: poll them anyway
            for child in self.feedstate.children(response.url):
                yield from self._listing(child, outlet, self.parse_sitemap, response.meta.get("rasd_depth", 0) + 1)
            yield from self._not_modified(response, outlet, verdict, kind="sitemap")
            return
        ctype = response.headers.get(b"Content-Type", b"").decode("latin-1") or None
        result = parse_sitemap(response.body, response.url, content_type=ctype)
        if not result.error and getattr(self, "feedstate", None) is not None:
            self.feedstate.set_entries(response.url, result.entries)
            if result.sitemaps:
                self.feedstate.set_children(response.url, [c for c in result.sitemaps
                                                           if outlet.owns(c)])
        self._count_poll(response, outlet.slug)
        if not result.error:
            for child in result.sitemaps:
                if outlet.owns(child):
                    yield from self._listing(child, outlet, self.parse_sitemap,
                                             response.meta.get("rasd_depth", 0) + 1)
                else:
                    self._count(f"rasd/links/{outlet.slug}/off_domain")
        yield from self._follow(result, response, outlet, kind="sitemap")

    def _follow(self, result, response: Response, outlet: Outlet, kind: str, counted: bool = False):
        """Request the new links of a parsed listing (``counted``: the listing's own outcome
        is already counted, as ``not_modified``)."""
        slug = outlet.slug
        if result.error:
            if result.error.refused:
                self._listing_skipped(slug, result.error.reason)
            else:
                self._listing_failed(slug, f"invalid_{kind}")
            self.logger.warning("%s rejected outlet=%s url=%s reason=%s", kind, slug,
                                response.url, result.error)
            return
        refused_dates = sum(1 for w in result.warnings if w.startswith("date_out_of_range"))
        if refused_dates:  # dropped as evidence, never repaired (crawler/feeds.py: sane_date)
            self._count(f"rasd/dates/{slug}/refused", refused_dates)
            self.logger.info("listing_dates_refused outlet=%s url=%s count=%d first=%r", slug,
                             response.url, refused_dates,
                             next(w for w in result.warnings if w.startswith("date_out_of_range")))
        if not counted:
            self._count(f"rasd/listings/{slug}/ok")
        kept, rejected = filter_entries(result.entries, outlet)
        for _entry, reason in rejected:
            self._count(f"rasd/links/{slug}/{reason}")
        oldest = utcnow() - self.max_age
        dupefilter = self.dupefilter
        for entry in kept:
            try:
                link = scrapy.Request(entry.url)  # only its fingerprint is asked for
            except (ValueError, TypeError):
                link = None
            if link is not None and dupefilter.link_seen(link):
                self._count(f"rasd/links/{slug}/listed_twice")
                continue
            self._count(f"rasd/links/{slug}/listed")
            if entry.published_at is not None and entry.published_at < oldest and kind == "sitemap":
                self._count(f"rasd/links/{slug}/too_old")
                continue
            # known (seen-URL store) or deferred by a Retry-After that has not passed yet
            reason = dupefilter.seen_before(link) if link is not None else None
            if reason is not None:
                self._count(f"rasd/links/{slug}/{reason}")
                continue
            if self._interrupted():  # not requested: the next run finds it listed again
                self._count(f"rasd/links/{slug}/not_requested_interrupted")
                continue
            request = self._article_request(entry.url, outlet, {
                "rasd_feed_url": response.url, "rasd_feed_title": entry.title,
                "rasd_feed_published_at": entry.published_at})
            if request is not None:
                yield request

    # ---- articles -------------------------------------------------------------------------
    def _article_request(self, url: str, outlet: Outlet, extra: dict) -> scrapy.Request | None:
        """The request for an article page (counted ``rasd/pages/<outlet>/requested``), or
        ``None`` when the page ends before it (``skipped/url_too_long``, ``skipped/bad_url``).

        Redirects come back to :meth:`parse_article` (``dont_redirect`` plus the 3xx statuses
        in ``handle_httpstatus_list``); ``allow_offsite``: the outlet's own domains are checked
        here, not by Scrapy's OffsiteMiddleware, which would drop the request uncounted."""
        slug = outlet.slug
        self._count(f"rasd/pages/{slug}/requested")
        meta = {"rasd_outlet": slug, "rasd_kind": "article", "download_slot": slug,
                "rasd_page_url": url, "dont_redirect": True,
                "handle_httpstatus_list": list(REDIRECT_STATUSES), "allow_offsite": True, **extra}
        if self.max_url_chars and len(url) > self.max_url_chars:
            self._outcome(slug, "skipped/url_too_long", url, meta)
            return None
        try:
            return scrapy.Request(url, callback=self.parse_article, errback=self.article_failed, meta=meta)
        except (ValueError, TypeError) as exc:
            self.logger.info("bad article url outlet=%s url=%r: %s", slug, url[:300], exc)
            self._outcome(slug, "skipped/bad_url", url, meta)
            return None

    def article_failed(self, failure):
        request = failure.request
        slug = request.meta["rasd_outlet"]
        exc = failure.value
        if isinstance(exc, RetryDeferred):
            self._defer(request, exc)
            return
        self._count("rasd/pages/fetched_failed")
        self._outcome(slug, failure_outcome(failure), request.url, request.meta)

    def _defer(self, request: scrapy.Request, exc: RetryDeferred) -> None:
        """Persist a page for a later run (:meth:`SeenStore.defer_url`) and count
        ``deferred/<reason>``."""
        meta = request.meta
        slug = meta["rasd_outlet"]
        url = meta.get("rasd_page_url") or request.url
        try:
            self.seen.defer_url(canonicalize_url(url), url, slug, exc.not_before, exc.reason)
        except ValueError:
            pass
        self.logger.info("page_deferred outlet=%s url=%s reason=%s wait=%.0f not_before=%s", slug,
                         url, exc.reason, exc.wait, _iso(exc.not_before))
        self._outcome(slug, f"deferred/{exc.reason}", url, meta)

    def _redirect(self, response: Response, outlet: Outlet, location, via: str):
        """Follow one redirect of an article page (an HTTP 3xx or a meta refresh) when
        :func:`rasd.crawler.redirects.next_hop` allows it, else count its ``skipped/<reason>``."""
        meta = response.meta
        chain = list(meta.get("rasd_redirect_urls", ()))
        hop = next_hop(response.url, location, chain, outlet.owns, self.max_redirects, self.max_url_chars)
        if hop.outcome is not None:
            self.logger.info("redirect_not_followed outlet=%s url=%s via=%s outcome=%s %s",
                             outlet.slug, response.url, via, hop.outcome, hop.detail)
            self._outcome(outlet.slug, hop.outcome, response.url, meta)
            return
        self._count(f"rasd/redirects/{outlet.slug}/{via}")
        new_meta = {k: meta[k] for k in _PAGE_META if k in meta}
        new_meta.update(rasd_redirect_urls=chain + [response.url], dont_redirect=True,
                        handle_httpstatus_list=list(REDIRECT_STATUSES), allow_offsite=True)
        yield scrapy.Request(hop.url, callback=self.parse_article, errback=self.article_failed,
                             meta=new_meta, dont_filter=True,
                             priority=response.request.priority + self.redirect_priority_adjust)

    def parse_article(self, response: Response):
        meta = response.meta
        outlet = self.outlets[meta["rasd_outlet"]]
        if response.status in REDIRECT_STATUSES:
            yield from self._redirect(response, outlet, response.headers.get(b"Location"), via="http")
            return
        self._count(f"rasd/pages/{outlet.slug}/fetched")
        if not response.body:
            self._outcome(outlet.slug, "skipped/empty_body", response.url, meta)
            return
        # UTF-16/32 pages are decoded (crawler/middlewares.py); NULs in the *text* mean binary
        if not isinstance(response, TextResponse) or "\x00" in response.text[:4096]:
            self._outcome(outlet.slug, "skipped/not_html", response.url, meta)
            return
        if self.meta_refresh_max_delay is not None and isinstance(response, HtmlResponse):
            interval, target = get_meta_refresh(response, ignore_tags=self.meta_refresh_ignore_tags)
            # a refresh of the page itself is a reload, not a redirect: the page is the article
            if target and interval < self.meta_refresh_max_delay and \
                    same_page_key(target) != same_page_key(response.url):
                yield from self._redirect(response, outlet, target, via="meta_refresh")
                return
        if not outlet.owns(response.url):  # redirected off-site (another host or port)
            self._outcome(outlet.slug, "skipped/off_domain", response.url, meta)
            return
        if meta.get("rasd_deferred"):
            self.seen.clear_deferred(meta["rasd_deferred"])
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


def _iso(posix: float) -> str:
    """POSIX seconds as ISO 8601 UTC (far-future values, e.g. from ``Retry-After: 99999999``, included)."""
    try:
        return datetime.fromtimestamp(posix, timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return f"{posix:.0f}"
