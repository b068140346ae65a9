"""Replay recorded pages from a real HTTP server on 127.0.0.1.

``rasd crawl --replay DIR`` crawls a recording (``DIR/MANIFEST.tsv``, the layout of
``../shared/corpus``) with the same spider and pipeline as a live crawl:

* :class:`ReplaySite` holds what the server answers, keyed by the *original* URL
  (``https://www.youm7.com/story/…``): the recorded article pages, plus, for every host, a
  ``robots.txt``, an RSS feed ``/rss.xml`` and a news-sitemap index ``/sitemap_index.xml``
  pointing at a gzipped ``/sitemap-news.xml.gz`` (served as ``application/x-gzip`` without
  ``Content-Encoding``, as many CMSs do) that list the host's pages.  Feeds and sitemaps carry
  no dates or titles: the recording has none, and Rasd must find them in the pages.
* :class:`ReplayServer` is a threaded ``http.server`` on loopback.  The crawler's
  :class:`rasd.replay.handler.ReplayDownloadHandler` sends ``https://host/path?q`` to
  ``http://127.0.0.1:PORT/host/path?q`` and hands the spider a response under the original
  URL, so domains, robots.txt, download slots and canonical URLs are those of the real site.
* :func:`replay_outlets` turns the recording's hosts into outlet definitions, reusing the
  ``seeds/`` outlet that owns a host (its hints and slug) with the replay feed and sitemap.

Pages can be added or changed while the server runs (:meth:`ReplaySite.put`), which the
scheduler tests use to publish a new article between two polls.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from rasd.core.errors import ConfigError
from rasd.core.seeds import Outlet, is_country_code
from rasd.core.urls import ascii_host

log = logging.getLogger(__name__)


@dataclass
class Resource:
    """One answer of the replay server: body bytes and headers."""

    body: bytes
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: float | None = None  # POSIX seconds; sent as Last-Modified with an ETag

    @property
    def etag(self) -> str:
        return '"' + hashlib.blake2b(self.body, digest_size=8).hexdigest() + '"'


def url_key(url: str) -> str:
    """Lookup key of a URL: the host in one form (lower case, an IDN in punycode:
    :func:`rasd.core.urls.ascii_host`) + unquoted path and query (scheme and port ignored)."""
    parts = urlsplit(url)
    try:
        host = ascii_host(parts.hostname or "")
    except ValueError:
        host = (parts.hostname or "").lower()
    key = host + unquote(parts.path or "/")
    if parts.query:
        key += "?" + unquote(parts.query)
    return key


@dataclass(frozen=True)
class RecordedPage:
    """A manifest row that the replay serves as an article page."""

    file: Path
    url: str
    outlet: str
    language: str
    charset: str


class ReplaySite:
    """The replay server's content, by original URL.  Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resources: dict[str, list[Resource]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, key), for tests and stats
        #: ``(time.monotonic() at arrival, key)`` of every request, for politeness checks
        self.arrivals: list[tuple[float, str]] = []

    def put(self, url: str, resource: Resource | list[Resource]) -> None:
        """Serve ``resource`` at ``url`` (replacing what was there).

        A list is served in turn, one item per request, the last one from then on (e.g. a
        429 with ``Retry-After`` and then the page).
        """
        queue = list(resource) if isinstance(resource, list) else [resource]
        if not queue:
            raise ValueError("put() needs at least one resource")
        with self._lock:
            self._resources[url_key(url)] = queue

    def get(self, key: str) -> Resource | None:
        with self._lock:
            self.requests.append(("GET", key))
            self.arrivals.append((time.monotonic(), key))
            queue = self._resources.get(key)
            if not queue:
                return None
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def hits(self, url: str) -> int:
        """How many times ``url`` was requested."""
        key = url_key(url)
        with self._lock:
            return sum(1 for _, k in self.requests if k == key)


def read_manifest(directory: Path) -> tuple[list[RecordedPage], list[str]]:
    """Article pages of a recording, and a reason for every article row not used.

    Raises:
        ConfigError: ``MANIFEST.tsv`` is missing or lacks the expected columns.
    """
    manifest = directory / "MANIFEST.tsv"
    if not manifest.is_file():
        raise ConfigError(f"{manifest}: no MANIFEST.tsv in the replay directory")
    try:
        return _read_rows(directory, manifest)
    except UnicodeError as exc:
        raise ConfigError(f"{manifest}: not UTF-8 text ({exc})") from exc


def _read_rows(directory: Path, manifest: Path) -> tuple[list[RecordedPage], list[str]]:
    pages, unused = [], []
    with manifest.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"file", "url", "outlet", "kind", "language", "charset"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(f"{manifest}: missing columns {sorted(missing)}")
        root = directory.resolve()
        for row in reader:
            if row["kind"] != "article":
                continue
            if not row["file"].endswith((".html", ".htm")):
                unused.append(f"{row['file']}: not an HTML page")
                continue
            if not row["url"].startswith(("http://", "https://")):
                unused.append(f"{row['file']}: no original URL")
                continue
            path = directory / row["file"]
            if not path.resolve().is_relative_to(root):
                unused.append(f"{row['file']}: outside the recording directory")
                continue
            if not path.is_file():
                unused.append(f"{row['file']}: file missing")
                continue
            pages.append(RecordedPage(path, row["url"], row["outlet"], row["language"] or "ar",
                                      (row["charset"] or "utf-8").split()[0]))
    return pages, unused


def _rss(host_url: str, urls: list[str]) -> bytes:
    items = "".join(f"<item><link>{escape(u)}</link><guid>{escape(u)}</guid></item>" for u in urls)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(host_url)}</title><link>{escape(host_url)}/</link>"
            f"<description>replayed recording</description>{items}</channel></rss>").encode()


def _sitemap(urls: list[str]) -> bytes:
    locs = "".join(f"<url><loc>{escape(u)}</loc></url>" for u in urls)
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{locs}</urlset>").encode()


def _sitemap_index(child: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{escape(child)}</loc></sitemap></sitemapindex>").encode()


def host_root(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, the host in one spelling (punycode, lower case): the
    pages of an IDN host written either way share one feed and sitemap (two roots would each
    publish a feed under the one key the site serves, the second hiding the first's pages)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{ascii_host(parts.hostname or '')}{port}"


def publish_listings(site: ReplaySite, root: str, urls: list[str]) -> None:
    """(Re)write ``root``'s robots.txt, RSS feed and sitemaps to list ``urls``."""
    site.put(root + "/robots.txt", Resource(
        f"User-agent: *\nDisallow: /private/\nSitemap: {root}/sitemap_index.xml\n".encode(),
        "text/plain; charset=utf-8"))
    site.put(root + "/rss.xml", Resource(_rss(root, urls), "application/rss+xml; charset=utf-8"))
    site.put(root + "/sitemap_index.xml",
             Resource(_sitemap_index(root + "/sitemap-news.xml.gz"), "application/xml"))
    site.put(root + "/sitemap-news.xml.gz",
             Resource(gzip.compress(_sitemap(urls), mtime=0), "application/x-gzip"))


def load_recording(directory: Path) -> tuple[ReplaySite, list[RecordedPage], list[str]]:
    """A :class:`ReplaySite` serving every article page of the recording in ``directory``.

    Returns the site, the pages served and the reasons for manifest rows left out.
    """
    pages, unused = read_manifest(directory)
    if not pages:
        raise ConfigError(f"{directory / 'MANIFEST.tsv'}: no replayable article pages"
                          + (f" ({'; '.join(unused[:5])})" if unused else ""))
    site = ReplaySite()
    by_root: dict[str, list[str]] = {}
    for page in pages:
        site.put(page.url, Resource(page.file.read_bytes(), f"text/html; charset={page.charset}"))
        by_root.setdefault(host_root(page.url), []).append(page.url)
    for root, urls in by_root.items():
        publish_listings(site, root, urls)
    return site, pages, unused


def replay_slug(host: str) -> str:
    """The slug :func:`replay_outlets` gives a host no ``seeds/`` outlet owns:
    ``www.akhbar-01.example`` → ``akhbar_01_example``; any host gives one (an IDN from its
    punycode, a port or other characters as ``_``: ``News.Example:8080`` → ``news_example_8080``)."""
    try:
        name = ascii_host(host)
    except ValueError:
        name = host.lower()
    slug = re.sub(r"[^a-z0-9]+", "_", name.removeprefix("www.")).strip("_")
    return slug or "host"


def replay_outlets(pages: list[RecordedPage], seeds: dict[str, Outlet], *,
                   download_delay: float = 0.0, concurrency: int = 4) -> dict[str, Outlet]:
    """One outlet per host of the recording, each reading that host's replay feed and sitemap.

    A host owned by a ``seeds/`` outlet keeps that outlet's slug, name, country and hints;
    other hosts get an outlet named after the manifest's ``outlet`` column, with the country
    from a top-level domain that is an ISO 3166-1 code (``.tn`` → ``TN``; ``ZZ``, "unknown",
    for any other: ``.eu``, ``.uk``, ``.com``, ``.مصر``).  Any host is accepted (IDN in either
    form, a port, one label).  Every outlet gets the
    politeness given (seconds between request starts, concurrent requests; settings
    ``crawl.replay_download_delay`` / ``crawl.replay_concurrency``).
    """
    outlets: dict[str, Outlet] = {}
    for page in pages:
        root = host_root(page.url)
        parts = urlsplit(root)
        host = ascii_host(parts.hostname or "")
        seed = next((o for o in seeds.values() if o.owns(host)), None)
        if seed is not None:
            slug, base = seed.slug, seed.model_dump()
        else:
            bare = host.removeprefix("www.")
            slug = replay_slug(host)
            tld = bare.rsplit(".", 1)[-1].upper()
            base = {"name": page.outlet or slug, "homepage": root + "/",
                    "country": tld if is_country_code(tld) else "ZZ",
                    "languages": [page.language if re.fullmatch(r"[a-z]{2}", page.language) else "ar"],
                    "domains": [bare]}
        prev = outlets.get(slug)
        feeds = sorted(set((prev.feeds if prev else []) + [root + "/rss.xml"]))
        sitemaps = sorted(set((prev.sitemaps if prev else []) + [root + "/sitemap_index.xml"]))
        domains = sorted(set(base["domains"]) | {host.removeprefix("www.")})
        base.update(slug=slug, feeds=feeds, sitemaps=sitemaps, domains=domains,
                    politeness={"download_delay": download_delay, "concurrency": concurrency})
        outlets[slug] = Outlet.model_validate(base)
    return outlets


class _Handler(BaseHTTPRequestHandler):
    server: "ReplayServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the crawl's own stats tell the story
        pass

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path
        host, _, rest = path.lstrip("/").partition("/")
        key = url_key(f"http://{host}/{rest}")
        res = self.server.site.get(key)
        if res is None:
            return self._send(404, b"not recorded\n", "text/plain")
        headers = dict(res.headers)
        if res.status == 200:
            headers["ETag"] = res.etag
            if res.last_modified is not None:
                headers["Last-Modified"] = formatdate(res.last_modified, usegmt=True)
            if self.headers.get("If-None-Match") == res.etag:
                return self._send(304, b"", None, headers)
        self._send(res.status, res.body, res.content_type, headers)

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. Scrapy cancelling a page over DOWNLOAD_MAXSIZE)


class ReplayServer(ThreadingHTTPServer):
    """A loopback HTTP server answering from a :class:`ReplaySite`.

    Use as a context manager; ``port=0`` picks a free port (read it from :attr:`port`).
    """

    daemon_threads = True

    def __init__(self, site: ReplaySite, port: int = 0, host: str = "127.0.0.1"):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"the replay server binds to loopback only, not {host!r}")
        self.site = site
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ReplayServer":
        self._thread = threading.Thread(target=self.serve_forever, name="rasd-replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-answer (a crawl stopped by Ctrl-C resets its
        connections) is no error of the server's: not a traceback on stderr per connection
        (``socketserver``'s default).  Anything else is logged once, with its traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        log.warning("replay server: error answering %s", client_address, exc_info=True)

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
