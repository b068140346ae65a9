"""Redirects of article pages, decided by the spider rather than Scrapy's middlewares.

Scrapy's ``RedirectMiddleware``, ``OffsiteMiddleware``, dupefilter and ``UrlLengthMiddleware``
drop a redirect off the outlet's domains, a loop, a chain that is too long, an empty or
garbage ``Location`` and a URL over 2,083 characters with at most a debug line: the page then
has no outcome.  Article requests are therefore sent with ``dont_redirect`` and receive their
3xx responses (and pages whose ``<meta http-equiv="refresh">`` redirects) in the spider, which
asks :func:`next_hop` where to go, and counts a ``skipped/<reason>`` outcome when it goes
nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from w3lib.url import canonicalize_url as w3lib_canonicalize_url
from w3lib.url import safe_url_string

#: HTTP statuses that redirect (RFC 9110 §15.4; 300, 304 and 305 do not).
REDIRECT_STATUSES = (301, 302, 303, 307, 308)

#: Outcome reasons of redirects not followed, and whether the original URL is remembered as
#: seen (so later runs do not fetch it again): only when the answer is about the URL itself.
REDIRECT_OUTCOMES = {
    "skipped/bad_redirect": False,  # no Location, empty, undecodable, unparsable, not http(s)
    "skipped/url_too_long": True,  # the target is longer than URLLENGTH_LIMIT
    "skipped/offsite_redirect": True,  # the target is on another outlet's or nobody's host
    "skipped/redirect_loop": False,  # to itself, or back to a URL of its own chain
    "skipped/too_many_redirects": False,  # more hops than REDIRECT_MAX_TIMES
}


@dataclass(frozen=True)
class Hop:
    """Where a redirect leads: ``url`` to request next, or ``outcome`` (``skipped/<reason>``)
    and ``detail`` (for the log) when it is not followed."""

    url: str | None = None
    outcome: str | None = None
    detail: str = ""


def same_page_key(url: str) -> str | None:
    """The key loops are detected with: the exact address, ``w3lib.url.canonicalize_url``
    without fragment (percent-encoding and query order normalised), or ``None`` for a URL it
    cannot read.  Not the page identity (:func:`rasd.core.urls.canonicalize_url`, the request
    fingerprint): a redirect from ``http`` to ``https`` or from ``www.`` to the bare host moves
    to another address of the same page and is no loop."""
    try:
        return w3lib_canonicalize_url(url, keep_fragments=False)
    except (ValueError, UnicodeError):
        return None


def resolve_location(current_url: str, location: bytes | str | None) -> str | None:
    """The absolute http(s) URL a ``Location`` (or meta-refresh) value points to, relative to
    ``current_url``, without fragment, encoded as Scrapy requests it; ``None`` when it is
    missing, blank, unreadable, not http(s), or has no host or a bad port."""
    if location is None:
        return None
    location = location.strip()
    if not location:
        return None
    try:
        location = safe_url_string(location)  # bytes: UTF-8, other bytes percent-encoded
        if location.startswith("//"):
            location = f"{urlsplit(current_url).scheme}:{location}"
        target = safe_url_string(urljoin(current_url, location))
        target = urldefrag(target)[0]
        parts = urlsplit(target)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except (ValueError, UnicodeError):
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return target


def next_hop(current_url: str, location: bytes | str | None, chain: Sequence[str],
             owns: Callable[[str], bool], max_redirects: int, max_url_chars: int) -> Hop:
    """Decide one redirect of an article request.

    Args:
        current_url: the URL that answered with the redirect.
        location: its ``Location`` header (raw bytes) or meta-refresh URL.
        chain: the URLs requested before ``current_url`` for this page (oldest first).
        owns: the outlet's ``owns(url)`` (scheme, host and port).
        max_redirects: hops allowed per page (``REDIRECT_MAX_TIMES``).
        max_url_chars: longest URL requested (``URLLENGTH_LIMIT``).

    Returns:
        a :class:`Hop` with the next URL, or with the outcome, checked in this order:
        ``skipped/bad_redirect``, ``skipped/url_too_long``, ``skipped/offsite_redirect``,
        ``skipped/redirect_loop``, ``skipped/too_many_redirects``.
    """
    target = resolve_location(current_url, location)
    if target is None:
        shown = location if isinstance(location, str) else (location or b"").decode("latin-1")
        return Hop(outcome="skipped/bad_redirect", detail=f"Location {shown[:200]!r}")
    if max_url_chars and len(target) > max_url_chars:
        return Hop(outcome="skipped/url_too_long", detail=f"target of {len(target)} characters")
    if not owns(target):
        parts = urlsplit(target)
        return Hop(outcome="skipped/offsite_redirect", detail=f"to {parts.netloc.rpartition('@')[2]}")
    key = same_page_key(target)
    earlier = {same_page_key(u) for u in (*chain, current_url)}
    if key is None or key in earlier:
        return Hop(outcome="skipped/redirect_loop", detail=f"back to {target[:200]}")
    if len(chain) + 1 > max_redirects:
        return Hop(outcome="skipped/too_many_redirects", detail=f"{len(chain) + 1} hops > {max_redirects}")
    return Hop(url=target)
