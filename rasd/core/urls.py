"""URL identity: the one canonical form of an article URL, its document id, its site.

:func:`canonicalize_url` is Rasd's only notion of "the same URL": the dedup stage, the spider's
request fingerprints and dupefilter, listings and the seen-URL store all use it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from functools import lru_cache
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import idna
from courlan import extract_domain
from w3lib.url import canonicalize_url as w3lib_canonicalize_url

#: Query parameters that only track a visit (compared lower-case).
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "igshid", "mc_cid",
    "mc_eid", "ocid", "ncid", "cmpid", "xtor", "ref_src", "ref_url", "_ga", "_gl", "amp",
    "__twitter_impression", "wt.mc_id", "s_cid", "ito",
})
#: Prefixes of tracking parameters: ``utm_source``, BBC's ``at_medium``/``at_campaign``,
#: Matomo's ``pk_campaign``, comScore's ``ns_mchannel``.
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "ns_")
#: Host prefixes that name the same site: ``www.``, ``www2.``, ``m.``, ``mobile.``, ``amp.``.
_HOST_PREFIX = re.compile(r"^(?:www\d{0,2}|m|mobile|amp)\.(?=.+\.)")
#: Ports a URL of each scheme has when it names none (RFC 9110 §4.2).
DEFAULT_PORTS = {"http": 80, "https": 443}


@lru_cache(maxsize=4096)
def ascii_host(host: str) -> str:
    """One form of a host name for every comparison: lower case, no trailing dot, an
    internationalised (IDN) name in its ASCII/punycode form (IDNA 2008 with UTS #46 mapping, the
    ``idna`` package; IDNA 2003, Python's codec, for names it refuses), an IPv6 address without
    brackets.  ``اخبار-المثال.مصر`` and ``XN----YMCABACYT3A6QCJ.xn--wgbh1c.`` are both
    ``xn----ymcabacyt3a6qcj.xn--wgbh1c`` (case 24).

    Raises:
        ValueError: empty, or a name no IDNA form can encode (a label over 63 octets, a space…).
    """
    host = host.strip().rstrip(".").strip("[]")
    if not host:
        raise ValueError("empty host name")
    if host.isascii():
        host = host.lower()
        if any(c.isspace() or c in "/?#@" for c in host):
            raise ValueError(f"not a host name: {host!r}")
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        try:
            return host.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise ValueError(f"not an internationalised host name IDNA can encode: {host!r} ({exc})") from None


def url_origin(url: str) -> tuple[str, str, int]:
    """``(scheme, ascii host, port)`` of an absolute http(s) URL, the port filled in from the
    scheme's default (:data:`DEFAULT_PORTS`).

    Raises:
        ValueError: not an absolute http(s) URL, no host, or a port that is not a number in range.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {redact_url(url)!r}")
    port = parts.port  # ValueError for "host:99999" or "host:x"
    return scheme, ascii_host(parts.hostname), port if port is not None else DEFAULT_PORTS[scheme]




def redact_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``***`` (``ftp://user:secret@host/``
    → ``ftp://***@host/``), for every message and log line that shows a URL; other text is
    returned unchanged (:func:`rasd.core.errors.redact_secrets`: any URL in a text)."""
    from rasd.core.errors import redact_secrets

    return redact_secrets(url)


@lru_cache(maxsize=4096)
def canonicalize_url(url: str) -> str:
    """The identity form of an article URL: equal strings for the same article.

    Built on ``w3lib.url.canonicalize_url`` (percent-encoding normalised, so raw Arabic and
    ``%D8%A3…`` spellings are equal — case 13; query sorted; fragment dropped; IDN host in
    punycode), then:

    * scheme ``https`` for http and https (outlets moved to https; the same article is linked
      both ways).  The result is an identity key; ``article.url`` keeps the fetched address;
    * host lower-case, without ``www.``/``www2.``/``m.``/``mobile.``/``amp.``, userinfo and port
      80/443;
    * tracking parameters removed (:data:`TRACKING_PARAMS`, :data:`TRACKING_PREFIXES`) and
      AMP markers: a leading or trailing ``amp`` path segment, a ``.amp`` suffix, ``?amp=1``,
      ``?outputType=amp``;
    * trailing ``/`` removed except for the root path.

    ``https://www.news.example/ar/أخبار/101/amp/?utm_source=x#top`` →
    ``https://news.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/101``

    Pure, so results are cached (a stage asks for one URL several times; w3lib takes ~100 µs).

    Raises:
        ValueError: not an absolute http(s) URL, or an invalid port.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    parts = urlsplit(w3lib_canonicalize_url(url, keep_fragments=False))
    host = _HOST_PREFIX.sub("", parts.hostname.rstrip("."))
    if ":" in host:
        host = f"[{host}]"
    if parts.port not in (None, 80, 443):
        host = f"{host}:{parts.port}"
    path = _strip_amp(parts.path)
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit(("https", host, path, query, ""))


def _is_tracking(pair: str) -> bool:
    name, _, value = pair.partition("=")
    name = unquote_plus(name).lower()
    if name == "outputtype":
        return value.lower() == "amp"
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def _strip_amp(path: str) -> str:
    segments = [s for s in path.split("/") if s]
    if segments and segments[-1].lower() == "amp":
        segments.pop()
    if segments and segments[0].lower() == "amp":
        segments.pop(0)
    if segments:
        last = segments[-1]
        lower = last.lower()
        if lower.endswith(".amp"):
            segments[-1] = last[:-4]
        elif ".amp." in lower:
            i = lower.rindex(".amp.")
            segments[-1] = last[:i] + last[i + 4:]
    return "/" + "/".join(segments)


@lru_cache(maxsize=4096)
def registered_domain(host: str) -> str:
    """``www.bbc.co.uk`` → ``bbc.co.uk`` (Public Suffix List snapshot bundled with ``tld``, via
    courlan); an IP address stays itself; an unknown suffix (``news.example``) → the host
    without ``www.``/``m.``/``amp.``."""
    host = host.lower().rstrip(".").strip("[]")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    return extract_domain(f"http://{host}/") or _HOST_PREFIX.sub("", host)


def document_id(canonical_url: str) -> str:
    """Stable article id: BLAKE2b-128 of the canonical URL, 32 lower-case hex digits."""
    return hashlib.blake2b(canonical_url.encode("utf-8"), digest_size=16).hexdigest()


def _canonical_or_none(url: str) -> str | None:
    try:
        return canonicalize_url(url)
    except ValueError:
        return None


def choose_canonical(url: str, page_canonical: str | None) -> str:
    """Canonical form of the page's declared canonical URL when it is on the fetched URL's
    registered domain (relative ones are resolved), else of the fetched URL.

    Pages are not trusted further: almadenahnews.com's og:url points to a raw IP, aryanews.com's
    is relative, and a canonical on another site would merge two outlets' articles.

    Raises:
        ValueError: ``url`` is not an absolute http(s) URL.
    """
    fetched = canonicalize_url(url)
    if page_canonical:
        candidate = _canonical_or_none(urljoin(url, page_canonical.strip()))
        if candidate and registered_domain(urlsplit(candidate).hostname or "") == \
                registered_domain(urlsplit(fetched).hostname or ""):
            return candidate
    return fetched
