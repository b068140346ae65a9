"""Downloader middlewares: charset repair, robots.txt decoding, ownership, polite retries.

* :class:`CharsetMiddleware` — decide a page's encoding from body evidence when the HTTP
  header lies (old Arabic CMSs serve windows-1256 bytes under a blanket ``utf-8`` header, or
  UTF-8 under the server default ``ISO-8859-1``).  Scrapy trusts the header first (scrapy
  issue #4933; ``../shared/cases/case-11-*``); browsers do too, but Rasd would lose the text.
  A UTF-16 or UTF-32 page (byte-order mark, or the NUL pattern of ``<``) is decoded as such,
  even when Scrapy took it for binary (no ``Content-Type``).
* :class:`RobotsTxtMiddleware` — Scrapy's, with robots.txt decoded like any other body
  (:func:`rasd.crawler.encodings.decode_text`: BOM, charset, UTF-8, windows-1256, ISO-8859-6)
  before Protego reads it: Scrapy decodes UTF-8 with ``errors="ignore"``, so a legacy Arabic
  ``Disallow: /أخبار/`` lost its path and the page was fetched.  Protego then matches a rule
  written raw or percent-encoded alike.
* :class:`OwnershipMiddleware` — the last check before any request of an outlet leaves: its URL
  must be the outlet's (scheme, host *and port*, :meth:`rasd.core.seeds.Outlet.owns`), redirects
  Scrapy follows for listings included.  A request that is not is dropped and counted.
* :class:`BackoffRetryMiddleware` — Scrapy's retry middleware plus a wait before each retry:
  the server's ``Retry-After`` (every form servers send, :func:`retry_after_seconds`) on
  429/503, else exponential backoff, during which the whole download slot (the outlet's
  domain) slows down.  A wait longer than the longest in-run wait, or one that would outlast
  the run's deadline, is not waited: the page is *deferred* to a later run
  (:exc:`RetryDeferred`, outcome ``deferred/retry_after``).  Waits end at once when the crawl
  is stopped (:mod:`rasd.crawler.stopping`).
"""

from __future__ import annotations

import codecs
import logging
import re
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from charset_normalizer import from_bytes
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Request, Response, TextResponse

from rasd.crawler.encodings import decode_text, utf_codec
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.response import response_status_message
from twisted.internet import task

from rasd.crawler.stopping import clean_stop
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, resolve_encoding


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        codecs.decode(body, encoding, "strict")
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _mostly_utf8(body: bytes, encoding: str) -> bool:
    """True for UTF-8 text with a few broken bytes (≤ 1 %): decode leniently, don't re-guess."""
    if encoding != "utf-8":
        return False
    text = body.decode("utf-8", "replace")
    return text.count("\ufffd") <= max(1, len(body) // 100)


def choose_encoding(body: bytes, content_type: str | None) -> tuple[str | None, str]:
    """The encoding to decode ``body`` with when Scrapy's header-first rule would be wrong.

    Returns ``(encoding, reason)``; ``encoding`` is ``None`` when Scrapy's choice stands.
    Rules, in order (the body's own declaration is evidence the header is not):

    1. header and in-page declaration (``<meta charset>``, XML declaration) disagree, and the
       body decodes cleanly with the declared one → the declared one (``meta_over_header``);
    2. the header's charset fails to decode the body, and no declaration helps → UTF-8 if
       the body is valid UTF-8, else charset-normalizer's best guess (``header_invalid``);
    3. neither header nor declaration, and the body is not UTF-8 → charset-normalizer
       (``sniffed``), which tells windows-1256 from ISO-8859-6 Arabic.

    A body that is UTF-8 but for a few broken bytes (≤ 1 %) keeps UTF-8, decoded leniently
    (invalid bytes become U+FFFD), rather than being re-guessed as a legacy encoding.

    Before all of them, a byte-order mark, or the NUL pattern of a ``<`` in UTF-16/32 (XML 1.0
    appendix F), decides (``bom``): such a page is UTF-16 or UTF-32 whatever the header says.
    """
    found = _utf16_32(body)
    if found is not None:
        return found, "bom"
    header = http_content_type_encoding(content_type) if content_type else None
    declared = html_body_declared_encoding(body)
    header_r = resolve_encoding(header) if header else None
    declared_r = resolve_encoding(declared) if declared else None
    if header_r and declared_r and header_r != declared_r and _decodes(body, declared_r):
        return declared_r, "meta_over_header"
    if header_r:
        if _decodes(body, header_r) or _mostly_utf8(body, header_r):
            return None, "header"
        if _decodes(body, "utf-8"):
            return "utf-8", "header_invalid"
        guess = from_bytes(body[:65536]).best()
        if guess is not None and resolve_encoding(guess.encoding) != header_r:
            return resolve_encoding(guess.encoding), "header_invalid"
        return None, "header"
    if declared_r or _decodes(body, "utf-8"):
        return None, "declared"
    guess = from_bytes(body[:65536]).best()
    return (resolve_encoding(guess.encoding), "sniffed") if guess is not None else (None, "unknown")


def _utf16_32(body: bytes) -> str | None:
    """``utf-16``/``utf-32`` (with the byte order) when a BOM or a ``<`` pattern says so and
    the body decodes with it, else ``None``."""
    found = utf_codec(body)
    if found is None or not found[0].startswith(("utf-16", "utf-32")):
        return None
    codec = found[0]
    head = body[found[1]:found[1] + 4096]
    head = head[: len(head) - len(head) % (4 if codec.startswith("utf-32") else 2)]
    return codec if _decodes(head, codec) else None


class CharsetMiddleware:
    """Rebuilds a text response with the encoding :func:`choose_encoding` picks.

    Counts ``rasd/charset/<reason>`` for every override.  Raw bytes are kept untouched
    (``response.body``); only the decoding changes.  A response Scrapy took for binary whose
    body is UTF-16/32 HTML becomes an ``HtmlResponse`` (``rasd/charset/utf16_32_page``).
    """

    def __init__(self, stats=None):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_response(self, request: Request, response: Response, spider=None) -> Response:
        if not response.body:
            return response
        if not isinstance(response, TextResponse):
            codec = _utf16_32(response.body)
            if codec is None:
                return response
            if self.stats is not None:
                self.stats.inc_value("rasd/charset/utf16_32_page")
            return HtmlResponse(url=response.url, status=response.status, headers=response.headers,
                                body=response.body, encoding=codec, request=response.request,
                                flags=response.flags, protocol=response.protocol)
        ctype = response.headers.get(b"Content-Type")
        encoding, reason = choose_encoding(response.body, ctype.decode("latin-1") if ctype else None)
        if encoding is None or encoding == resolve_encoding(response.encoding):
            return response
        if self.stats is not None:
            self.stats.inc_value(f"rasd/charset/{reason}")
        return response.replace(encoding=encoding)


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    """Scrapy's ``RobotsTxtMiddleware`` reading robots.txt decoded by Rasd (see the module
    docstring): the body is decoded with :func:`rasd.crawler.encodings.decode_text` (its
    ``Content-Type`` charset is one piece of evidence) and handed to the parser as UTF-8.
    Counts ``rasd/robots/decoded/<codec>`` for a file that was not UTF-8.  Replaces
    ``scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware`` (setting ``ROBOTSTXT_OBEY``
    as before)."""

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        ctype = response.headers.get(b"Content-Type")
        text, codec = decode_text(response.body, ctype.decode("latin-1") if ctype else None)
        if codec != "utf-8":
            self._stats.inc_value(f"rasd/robots/decoded/{codec}")
        await super()._parse_robots(response.replace(body=text.encode("utf-8")), netloc, request)


class OwnershipMiddleware:
    """Drops any request of an outlet (``meta["rasd_outlet"]``) whose URL the outlet does not
    own — another host, or another port of its host — before it is sent, counting
    ``rasd/offsite/<outlet>/<kind>`` and logging it.  The spider already checks links,
    sitemap children, redirects and meta refreshes; this is the one check nothing bypasses
    (Scrapy's own redirects of listings, a request built elsewhere).  Requests without an
    outlet (robots.txt) pass."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request, spider=None):
        slug = request.meta.get("rasd_outlet")
        if slug is None:
            return None
        outlets = getattr(self.crawler.spider, "outlets", None) or {}
        outlet = outlets.get(slug)
        if outlet is None or outlet.owns(request.url):
            return None
        kind = request.meta.get("rasd_kind") or "request"
        self.crawler.stats.inc_value(f"rasd/offsite/{slug}/{kind}")
        logging.getLogger(__name__).warning("request_not_owned outlet=%s kind=%s url=%s", slug,
                                            kind, request.url[:300])
        raise IgnoreRequest(f"offsite: {request.url[:200]} is not on the outlet's scheme, host and port")


_DELTA_SECONDS = re.compile(r"\d+(?:\.\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or ``None`` if absent or unreadable.

    Every form servers send is read (RFC 9110 §10.2.3 and the field, case 29):

    * delta-seconds: ``"120"`` (a fraction such as ``"1.5"`` is accepted too);
    * HTTP-date, all three forms of RFC 9110 §5.6.7: IMF-fixdate ``"Sun, 06 Nov 1994 08:49:37
      GMT"``, obsolete RFC 850 ``"Sunday, 06-Nov-94 08:49:37 GMT"`` and asctime ``"Sun Nov  6
      08:49:37 1994"`` (``email.utils``);
    * ISO 8601 / RFC 3339, not in the RFC but sent by real servers:
      ``"2020-11-10T18:44:00.000+00:00"``, ``"…Z"``, ``"2020-11-10 18:44:00"``.

    A date without a zone is UTC (HTTP dates are GMT); a date in the past gives ``0``.
    ``now`` (aware) is "now" for dates (default: the clock).  Negative numbers and anything
    else give ``None`` (the caller falls back to its own backoff).
    """
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        if _ISO_DATE.fullmatch(text):
            when = datetime.fromisoformat(text.replace("z", "Z"))
        else:
            when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


class RetryDeferred(IgnoreRequest):
    """A retry whose wait does not fit in this run: the page is left for a later run.

    Attributes:
        reason: ``"retry_after"`` (the server's ``Retry-After``) or ``"backoff"`` (Rasd's own
            exponential backoff, when the run's deadline is nearer than the wait).
        wait: the wait that was not waited (seconds; may be huge, e.g. ``Retry-After: 99999999``).
        not_before: when the page may be requested again (POSIX seconds), at most
            ``RASD_RETRY_DEFER_MAX`` after now.
    """

    def __init__(self, reason: str, wait: float, not_before: float, detail: str = ""):
        self.reason, self.wait, self.not_before = reason, wait, not_before
        super().__init__(f"deferred/{reason}: {detail}" if detail else f"deferred/{reason}")


#: the logger of waits a person at the terminal should hear about (``rasd crawl`` shows its
#: INFO records on stderr; they are in the log file too)
progress = logging.getLogger("rasd.progress")
#: retry waits at least this long (seconds) are told on :data:`progress`
PROGRESS_WAIT_SECONDS = 5.0


class BackoffRetryMiddleware(RetryMiddleware):
    """Retry with a wait: ``Retry-After`` when the server gives one, else exponential backoff.

    The wait before retry *n* (0-based) is the server's ``Retry-After`` (any form
    :func:`retry_after_seconds` reads), or ``min(max wait, RASD_BACKOFF_BASE × 2**n)`` seconds.
    While it lasts the request's download slot delay is raised to it, so the whole outlet slows
    down, not just this URL.  The wait is not waited, and the request fails with
    :exc:`RetryDeferred` (the spider counts ``deferred/<reason>`` and persists the page for a
    later run), when

    * a ``Retry-After`` is longer than ``RASD_RETRY_AFTER_MAX`` (the longest in-run wait), or
    * the wait plus ``RASD_DEADLINE_MARGIN`` (seconds, default 10, time for the retry itself)
      would end after ``RASD_DEADLINE`` (POSIX seconds: the scheduler's kill time for this run;
      unset for ``rasd crawl``).

    A wait of :data:`PROGRESS_WAIT_SECONDS` or more is told on the ``rasd.progress`` logger (URL,
    seconds, status, retry number), which ``rasd crawl`` shows on stderr.

    A deferred page is due again after the server's wait, capped at ``RASD_RETRY_DEFER_MAX``
    seconds (default one day).  Waits end at once when the crawl is interrupted
    (:class:`rasd.crawler.stopping.CleanStop`; the request fails with ``Interrupted``).  Retries left
    are checked first: a response after the last retry is returned as it is (``failed/http_503``).
    Replaces ``scrapy.downloadermiddlewares.retry.RetryMiddleware``.
    """

    def __init__(self, settings):
        super().__init__(settings)
        self.base = settings.getfloat("RASD_BACKOFF_BASE", 2.0)
        self.max_wait = settings.getfloat("RASD_RETRY_AFTER_MAX", 120.0)
        self.defer_max = settings.getfloat("RASD_RETRY_DEFER_MAX", 86400.0)
        self.deadline = settings.getfloat("RASD_DEADLINE", 0.0) or None
        self.margin = settings.getfloat("RASD_DEADLINE_MARGIN", 10.0)

    def wait_for(self, request: Request, response: Response | None) -> tuple[float, str]:
        """``(seconds, source)`` to wait before retrying ``request``; ``source`` is
        ``"retry_after"`` (the server's header) or ``"backoff"``."""
        header = response.headers.get(b"Retry-After") if response is not None else None
        after = retry_after_seconds(header)
        if after is not None:
            return after, "retry_after"
        if header and self.crawler is not None:
            self.crawler.stats.inc_value("rasd/retry/retry_after_unreadable")
        return min(self.max_wait, self.base * 2 ** request.meta.get("retry_times", 0)), "backoff"

    def deferral(self, wait: float, source: str, now: float | None = None,
                 deadline: float | None = None) -> RetryDeferred | None:
        """The :exc:`RetryDeferred` for a wait that does not fit in this run, else ``None``
        (``deadline``: this request's run's, POSIX seconds; default ``RASD_DEADLINE``)."""
        now = time.time() if now is None else now
        deadline = self.deadline if deadline is None else deadline
        if source == "retry_after" and wait > self.max_wait:
            detail = f"Retry-After {wait:.0f} s > longest in-run wait {self.max_wait:g} s"
        elif deadline is not None and now + wait + self.margin > deadline:
            detail = f"wait {wait:.1f} s would end after the run's deadline (in {deadline - now:.0f} s)"
        else:
            return None
        return RetryDeferred(source, wait, now + min(wait, self.defer_max), detail)

    def _retries_left(self, request: Request) -> bool:
        limit = request.meta.get("max_retry_times", self.max_retry_times)
        return request.meta.get("retry_times", 0) < limit

    async def process_response(self, request: Request, response: Response, spider=None):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        if not self._retries_left(request):
            return self._retry(request, response_status_message(response.status)) or response
        wait, source = self.wait_for(request, response)
        # a fleet worker runs several outlets' polls at once, each with its own deadline
        per_poll = getattr(self.crawler, "rasd_deadlines", None) or {}
        deferred = self.deferral(wait, source, deadline=per_poll.get(request.meta.get("rasd_outlet")))
        if deferred is not None:
            self.crawler.stats.inc_value(f"rasd/retry/deferred/{source}")
            raise deferred
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        if wait >= PROGRESS_WAIT_SECONDS:
            progress.info("retrying %s in %.0f s (HTTP %d; retry %d of %d%s)", request.url, wait,
                          response.status, retry.meta.get("retry_times", 0),
                          request.meta.get("max_retry_times", self.max_retry_times),
                          ", the server's Retry-After" if source == "retry_after" else "")
        await self._wait(request, wait)
        return retry

    async def _wait(self, request: Request, seconds: float) -> None:
        if seconds <= 0:
            return
        self.crawler.stats.inc_value("rasd/retry/backoff_seconds", int(seconds))
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(downloader.get_slot_key(request))
        previous = slot.delay if slot is not None else None
        if slot is not None:
            slot.delay = max(slot.delay, seconds)
        try:
            stop = clean_stop(self.crawler)
            if stop is not None:
                await stop.sleep(seconds, f"retry wait for {request.url}")
            else:
                from twisted.internet import reactor

                await maybe_deferred_to_future(task.deferLater(reactor, seconds, lambda: None))
        finally:
            if slot is not None and previous is not None and slot.delay == max(previous, seconds):
                slot.delay = previous
