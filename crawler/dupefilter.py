"""Rasd's URL identity in Scrapy's terms: the request fingerprinter and a persistent dupefilter.

One notion of "the same page" for the whole crawl: :func:`rasd.core.urls.canonicalize_url`.

* :class:`UrlFingerprinter` (``REQUEST_FINGERPRINTER_CLASS``, Scrapy's documented interface:
  ``fingerprint(request) -> bytes``): a GET request's fingerprint is the document id its
  canonical URL gives (:func:`rasd.core.urls.document_id`, 16 bytes), so ``http://www.x/a``,
  ``https://x/a/`` and ``https://x/a?utm_source=y`` are one request.  Other methods hash the
  method and body too; a URL canonicalize_url refuses (``data:``, ``file:``) gets Scrapy's own
  fingerprint.
* :class:`SeenUrlDupeFilter` (``DUPEFILTER_CLASS``): the scheduler drops a request whose
  fingerprint it saw earlier in this crawl, or whose URL an earlier crawl (or this one) already
  settled in the seen-URL store (:class:`rasd.pipelines.seenstore.SeenStore`: archived,
  duplicate, skipped), or that is deferred to a time still to come.  The store is the data
  directory's one connection, the :class:`~rasd.pipelines.ledger.Ledger`'s: archived URLs enter
  it when their archive line is durable, skipped and duplicate URLs directly.  Requests with
  ``dont_filter`` (feeds and sitemaps, redirect hops, retries) are not checked, as in Scrapy.

The spider asks the same object before it requests a listed link (:meth:`~SeenUrlDupeFilter.
link_seen`, :meth:`~SeenUrlDupeFilter.seen_before`) so that it can count each link that is not
fetched under its reason (``rasd/links/<outlet>/listed_twice``, ``known``, ``deferred``); what it
then yields passes :meth:`~SeenUrlDupeFilter.request_seen` unless the store changed in between
(the spider counts such a drop ``skipped/duplicate_request``).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from scrapy.dupefilters import BaseDupeFilter
from scrapy.utils.request import RequestFingerprinter

from rasd.core.urls import canonicalize_url, document_id

if TYPE_CHECKING:
    from scrapy import Request

    from rasd.pipelines.seenstore import SeenStore


class UrlFingerprinter:
    """Scrapy request fingerprinter over :func:`rasd.core.urls.canonicalize_url` (see the module
    docstring).  ``fingerprint(request)``: 16 bytes for an http(s) URL (for GET, the bytes of
    ``document_id(canonicalize_url(url))``); Scrapy's 20-byte SHA-1 fingerprint otherwise.
    Cached per request object, like Scrapy's own."""

    def __init__(self, crawler=None):
        self._cache: WeakKeyDictionary = WeakKeyDictionary()
        self._fallback = RequestFingerprinter(crawler)

    @classmethod
    def from_crawler(cls, crawler) -> "UrlFingerprinter":
        return cls(crawler)

    def fingerprint(self, request: "Request") -> bytes:
        if request in self._cache:
            return self._cache[request]
        canonical = canonical_url(request)
        if canonical is None:
            fp = self._fallback.fingerprint(request)
        elif request.method == "GET" and not request.body:
            fp = bytes.fromhex(document_id(canonical))
        else:
            digest = hashlib.blake2b(digest_size=16)
            for part in (request.method.encode("ascii"), canonical.encode("utf-8"), request.body or b""):
                digest.update(len(part).to_bytes(8, "big") + part)
            fp = digest.digest()
        self._cache[request] = fp
        return fp


def canonical_url(request: "Request") -> str | None:
    """``canonicalize_url(request.url)``, or ``None`` for a URL it refuses (not http(s))."""
    try:
        return canonicalize_url(request.url)
    except ValueError:
        return None


class SeenUrlDupeFilter(BaseDupeFilter):
    """Scrapy dupefilter backed by the seen-URL store (see the module docstring).

    ``store``: a callable returning the :class:`SeenStore` to consult (opened on first use);
    ``fingerprinter``: the crawler's request fingerprinter; ``now``: POSIX seconds, for deferrals.
    A test builds it with ``SeenUrlDupeFilter(lambda: store, UrlFingerprinter())``.

    Counts ``dupefilter/filtered`` in the crawler's stats for each request it drops, as Scrapy's
    own dupefilter does (when built by ``from_crawler``).
    """

    def __init__(self, store, fingerprinter=None, *, stats=None, now=time.time, ledger=None):
        self._store_factory = store
        self._store: SeenStore | None = None
        self.fingerprinter = fingerprinter or UrlFingerprinter()
        self.stats, self.now = stats, now
        self._ledger = ledger
        self._fingerprints: set[bytes] = set()  # requests scheduled in this crawl
        self._listed: set[bytes] = set()  # links listed in this crawl (requested or not)

    @classmethod
    def from_crawler(cls, crawler) -> "SeenUrlDupeFilter":
        from rasd.pipelines.ledger import Ledger

        data_dir = Path(crawler.settings.get("RASD_DATA_DIR", "data"))
        data_dir.mkdir(parents=True, exist_ok=True)
        ledger = Ledger.shared(data_dir)
        return cls(lambda: ledger.seen, crawler.request_fingerprinter, stats=crawler.stats,
                   ledger=ledger)

    @property
    def store(self) -> "SeenStore":
        """The seen-URL store (the data directory's, shared with the dedup stage)."""
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    def open(self) -> None:
        self.store  # noqa: B018 - open (and catch up on the archive) before the first request

    def close(self, reason: str) -> None:
        """Close the data directory's ledger if no pipeline did (a crawl without them)."""
        from rasd.pipelines.ledger import Ledger

        if self._ledger is not None and Ledger.is_shared(self._ledger):
            self._ledger.close()
        self._store = None

    # ---- the three questions ----------------------------------------------------------------
    def request_seen(self, request: "Request") -> bool:
        """Scrapy's question, for each request without ``dont_filter``: True (drop it) when a
        request with its fingerprint was scheduled earlier in this crawl or :meth:`seen_before`
        has a reason; otherwise remembers the fingerprint."""
        fp = self.fingerprinter.fingerprint(request)
        if fp in self._fingerprints:
            return True
        self._fingerprints.add(fp)
        return self.seen_before(request) is not None

    def link_seen(self, request: "Request") -> bool:
        """For a link read from a listing: True when its fingerprint was already listed or
        scheduled in this crawl (the spider counts it ``listed_twice``); otherwise remembers it
        as listed."""
        fp = self.fingerprinter.fingerprint(request)
        if fp in self._listed or fp in self._fingerprints:
            return True
        self._listed.add(fp)
        return False

    def seen_before(self, request: "Request") -> str | None:
        """``"known"`` when the request's canonical URL is in the seen-URL store, ``"deferred"``
        when it is deferred (:meth:`SeenStore.defer_url`) to a time after :attr:`now`, else
        ``None`` (fetch it; a deferred page that is due is fetched, listed or not)."""
        canonical = canonical_url(request)
        if canonical is None:
            return None
        if self.store.seen_url(canonical):
            return "known"
        not_before = self.store.deferred_until(canonical)
        if not_before is not None and not_before > self.now():
            return "deferred"
        return None

    def log(self, request: "Request", spider) -> None:
        if self.stats is not None:
            self.stats.inc_value("dupefilter/filtered")
