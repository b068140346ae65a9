"""Dedup stage (v1): one archived record per article, syndicated copies linked to the first.

Three pure functions and a store:

* :func:`canonicalize_url` — the identity form of an article URL;
* :func:`document_id` — the article's stable id, a hash of that form;
* :func:`content_hash` — a hash of the folded text, equal for trivially different copies;
* :class:`SeenStore` — a SQLite file remembering URLs and content hashes across runs.

:func:`dedup` decides, for one article, between

* ``new`` — recorded and kept;
* ``duplicate`` — its canonical URL is already recorded, or the same text is already recorded
  *for the same outlet* (republished under a second URL): dropped, the article is archived once;
* ``syndicated`` — the same text is recorded for *another* outlet (wire copy, aggregator): kept,
  with ``duplicate_of`` = the original's id, so both are searchable and linked.

The original of a text is the article recorded first, unless a later one was provably published
earlier (both have ``published_at``, which the dates stage sets before this one): crawl order
is arbitrary, and an aggregator's copy is often fetched before the outlet it copied.  When the
original arrives after its copies it is kept as ``new`` and the store re-points the copies to it
(:attr:`DedupDecision.relinked`, copied to ``Article.relinked``); the archive stage records
the new links as amendments that :func:`rasd.pipelines.archive.read_archive` applies.

What the store remembers, and why (a second run must never refetch a known article, but must
retry what failed):

* every archived article (``new``/``syndicated``), under its canonical URL and the canonical
  form of the fetched URL (a sitemap may list the long URL of a page whose canonical is
  short) — recorded *from its archive line*, after the line is durable
  (:meth:`SeenStore.apply`, :mod:`rasd.pipelines.ledger`), so a crash can never leave a URL known
  whose article is not archived;
* URLs dropped as ``duplicate``, and URLs dropped by any stage with a ``skipped/<reason>``
  outcome (too little text, unwanted language …): fetching them again gives the same answer;
* not URLs dropped with ``failed/<reason>`` (timeouts, extraction or archive errors): they
  are retried next run.

v1 limits: an updated article (same URL, new text) stays the first version; near-duplicates
(a changed sentence) are not caught — that is the MinHash stage's job.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scrapy import signals

from rasd.pipelines.base import StagePipeline
from rasd.pipelines.seenstore import MIN_CONTENT_CHARS, SeenStore, _hash_key, _iso, content_key
from rasd.core.urls import _canonical_or_none, canonicalize_url, choose_canonical, document_id
from rasd.core.article import Article
from rasd.core.failpoints import failpoint

log = logging.getLogger(__name__)

# --- the stage -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DedupDecision:
    """What :func:`dedup` decided: ``outcome``, the article's ``article_id``, the id of the
    article it repeats (``duplicate_of``, None when new), how it matched (``"url"``,
    ``"content"`` or None) and, for an original that arrived after its copies, the ids of the
    copies re-pointed to it (``relinked``)."""

    outcome: Literal["new", "duplicate", "syndicated"]
    article_id: str
    duplicate_of: str | None = None
    matched_by: Literal["url", "content"] | None = None
    relinked: tuple[str, ...] = ()


def decide(article: Article, store: SeenStore) -> DedupDecision:
    """Set ``canonical_url``, ``id``, ``content_hash``, ``content_chars`` (and
    ``duplicate_of``) on ``article`` and decide new / duplicate / syndicated from what
    ``store`` holds.  Writes nothing but the URLs of a ``duplicate`` (:meth:`SeenStore.mark_url`):
    a kept article is recorded when its archive line is durable (:meth:`SeenStore.apply`), or
    by :func:`dedup`.

    Raises:
        ValueError: ``article.url`` is not an absolute http(s) URL.
    """
    canonical = choose_canonical(article.url, article.canonical_url)
    fetched = canonicalize_url(article.url)
    article.canonical_url = canonical
    article.id = document_id(canonical)
    key = content_key(article.text)
    article.content_hash = _hash_key(key)
    article.content_chars = len(key)

    match = store.find_url(canonical) or store.find_url(fetched)
    matched_by: Literal["url", "content"] = "url"
    if match is None and len(key) >= MIN_CONTENT_CHARS:
        match, matched_by = store.find_content(article.content_hash, article.outlet), "content"
    if match is None:
        return DedupDecision("new", article.id)
    if matched_by == "url" or match.outlet == article.outlet:
        article.duplicate_of = match.id
        for url in {canonical, fetched}:
            store.mark_url(url, article.outlet, "duplicate", match.id)
        return DedupDecision("duplicate", article.id, match.id, matched_by)
    mine = _iso(article.published_at)
    if mine is not None and match.published_at is not None and mine < match.published_at:
        # published before the recorded "original": the others become its copies
        return DedupDecision("new", article.id, None, "content",
                             tuple(store.copies(article.content_hash, article.id)))
    article.duplicate_of = match.id
    return DedupDecision("syndicated", article.id, match.id, "content")


def dedup(article: Article, store: SeenStore) -> DedupDecision:
    """:func:`decide`, then record a kept article in ``store`` at once (and re-point its copies)
    — for tools and tests; a crawl records it from its archive line instead.

    Raises:
        ValueError: ``article.url`` is not an absolute http(s) URL.
    """
    decision = decide(article, store)
    if decision.outcome != "duplicate":
        store.add(article, decision.outcome, article.content_chars)
        if decision.relinked:
            store.relink(article.content_hash, article.id)
    return decision


def _asyncio_reactor() -> bool:
    """Whether Twisted's asyncio reactor is installed (the lock can be waited for with
    :func:`asyncio.sleep`); a test calling the pipeline directly has none and blocks."""
    from scrapy.utils.reactor import is_asyncio_reactor_installed

    try:
        return is_asyncio_reactor_installed()
    except Exception:  # noqa: BLE001 - no reactor at all
        return False


class DedupPipeline(StagePipeline):
    """Scrapy wrapper of :func:`decide` over the data directory's seen-URL store
    (``<RASD_DATA_DIR>/seen.sqlite``, opened through the :class:`~rasd.pipelines.ledger.Ledger`).

    Takes the data directory's lock for the article (:meth:`Ledger.begin`), released by the
    archive stage once the line is durable and applied, or when the item is dropped.  Drops
    duplicates with outcome ``duplicate``; counts ``rasd/dedup/syndicated``,
    ``rasd/dedup/relinked`` and ``rasd/dedup/duplicate_<url|content>``.  Listens to
    ``item_dropped``/``item_error``: URLs skipped by any stage are remembered (not fetched
    again); failed ones are not (retried next run).  :meth:`is_known_url` answers for a raw URL.
    """

    def __init__(self, stats=None, store_path: str | Path = "data/seen.sqlite", ledger=None):
        super().__init__(stats)
        self.store_path = Path(store_path)
        self._ledger = ledger

    @property
    def ledger(self):
        if self._ledger is None:
            from rasd.pipelines.ledger import Ledger

            self._ledger = Ledger.shared(self.store_path.parent)
        return self._ledger

    @property
    def store(self) -> SeenStore:
        return self.ledger.seen

    @classmethod
    def options_from_settings(cls, settings):
        return {"store_path": Path(settings.get("RASD_DATA_DIR", "data")) / "seen.sqlite"}

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = super().from_crawler(crawler)
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(pipeline.item_error, signal=signals.item_error)
        return pipeline

    def open_spider(self, spider=None) -> None:
        self.store  # noqa: B018  (open and catch up before the first page)

    def close_spider(self, spider=None) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def is_known_url(self, url: str) -> bool:
        """True when ``url`` (raw, as listed in a feed) needs no fetching."""
        return self.store.is_known_url(url)

    def process_item(self, item: Article, spider=None):
        """The article, or (when another process holds the data directory's lock and the
        asyncio reactor runs) a coroutine that waits for the lock without blocking the event
        loop — other outlets' downloads go on — and then decides.  From the lock's taking to
        the archive stage's release nothing yields to the event loop (Scrapy runs the next
        stages in the same call when a stage returns a value)."""
        if not self._begin(item, blocking=not _asyncio_reactor()):
            return self._when_free(item)
        return self._decide(item)

    def _begin(self, item: Article, blocking: bool) -> bool:
        ledger = self.ledger
        try:
            return ledger.begin(blocking=blocking)
        except sqlite3.Error as exc:
            ledger.abort()
            self.write_failed(exc, ledger.seen.path)
            raise self.drop(item, "failed/disk_full" if "full" in str(exc) else "failed/state_error",
                            str(exc)) from None

    async def _when_free(self, item: Article) -> Article:
        import asyncio

        t0 = time.monotonic()
        delay = 0.001
        while True:
            await asyncio.sleep(delay)
            if self._begin(item, blocking=False):
                break
            delay = min(delay * 2, 0.02)
        self.count("rasd/dedup/lock_wait_ms", int((time.monotonic() - t0) * 1000))
        return self._decide(item)

    def _decide(self, item: Article) -> Article:
        ledger = self.ledger
        try:
            ledger.begin()
            decision = decide(item, ledger.seen)
        except ValueError as exc:
            ledger.abort()
            raise self.drop(item, "failed/bad_url", str(exc)) from None
        except sqlite3.Error as exc:
            ledger.abort()
            self.write_failed(exc, ledger.seen.path)
            raise self.drop(item, "failed/disk_full" if "full" in str(exc) else "failed/state_error",
                            str(exc)) from None
        if decision.outcome == "duplicate":
            ledger.abort()
            self.count(f"rasd/dedup/duplicate_{decision.matched_by}")
            raise self.drop(item, "duplicate", f"{item.url} repeats {decision.duplicate_of} "
                                               f"(same {decision.matched_by})")
        failpoint("after_dedup")
        if decision.outcome == "syndicated":
            self.count("rasd/dedup/syndicated")
        if decision.relinked:
            item.relinked = decision.relinked
            self.count("rasd/dedup/relinked", len(decision.relinked))
        return item

    def item_dropped(self, item, exception, **kwargs) -> None:
        """Release the data directory's lock; remember URLs of ``skipped/*`` items."""
        if self._ledger is not None:
            self._ledger.abort()
        outcome = getattr(exception, "outcome", "") or ""
        if self._ledger is None or not outcome.startswith("skipped/"):
            return
        canonical = _canonical_or_none(getattr(item, "url", "") or "")
        if canonical:
            try:
                self.store.mark_url(canonical, getattr(item, "outlet", ""), outcome)
            except sqlite3.Error as exc:  # e.g. a full disk: refetched next run, nothing lost
                self.write_failed(exc, self.store.path)

    def item_error(self, item, **kwargs) -> None:
        """An unexpected exception in a later stage: release the lock (nothing was recorded)."""
        if self._ledger is not None:
            self._ledger.abort()
