"""A scriptable HTTP server on 127.0.0.1 for crawl tests that need answers the replay server
cannot give: answers that depend on the time (``503`` + ``Retry-After`` until a moment), bodies
dripped byte by byte, redirects to another port.  Crawls reach it as a *live* site (outlet
domain ``127.0.0.1``, no replay handler), so Scrapy's real HTTP download handler is used.

Every request is recorded with its arrival time (``time.time()``) under its path and query,
so a test can measure when retries came.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
JAWHARA = FIXTURES / "corpus" / "pages" / "jawharafm.net"
HTML = "text/html; charset=utf-8"


def real_pages() -> list[bytes]:
    """Seven real recorded Arabic article pages, each different (so none is a duplicate)."""
    return [p.read_bytes() for p in sorted(JAWHARA.glob("*.html"))]


@dataclass
class Answer:
    """A fixed answer."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = HTML
    headers: dict[str, str] = field(default_factory=dict)


#: An answer computed per request: ``fn(handler)`` writes the whole response itself.
Responder = Callable[["_Handler"], None]


class LoopbackSite:
    """What :class:`LoopbackServer` answers, by path (with query).  Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, Answer | Responder] = {}
        self.requests: dict[str, list[float]] = defaultdict(list)
        self.closing = threading.Event()  # set on stop: dripping answers end

    def put(self, path: str, answer: Answer | Responder) -> None:
        with self._lock:
            self._routes[path] = answer

    def route(self, path: str) -> Answer | Responder | None:
        with self._lock:
            self.requests[path].append(time.time())
            return self._routes.get(path)

    def hits(self, path: str) -> list[float]:
        """Arrival times of the requests for ``path``."""
        with self._lock:
            return list(self.requests.get(path, []))


class _Handler(BaseHTTPRequestHandler):
    server: "LoopbackServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):  # noqa: N802
        answer = self.server.site.route(self.path)
        if answer is None:
            return self.send(Answer(404, b"not here\n", "text/plain"))
        if callable(answer):
            return answer(self)
        return self.send(answer)

    def send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        for k, v in answer.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        try:
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 (``port=0``: a free port); a context manager."""

    daemon_threads = True

    def __init__(self, site: LoopbackSite | None = None, port: int = 0):
        self.site = site or LoopbackSite()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LoopbackServer":
        threading.Thread(target=self.serve_forever, name="loopback", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.site.closing.set()
        self.shutdown()
        self.server_close()


# ---- answers ---------------------------------------------------------------------------------
def rss(links: list[str]) -> Answer:
    items = "".join(f"<item><title>خبر</title><link>{u}</link></item>" for u in links)
    body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            f"{items}</channel></rss>").encode()
    return Answer(200, body, "application/rss+xml")


def redirect(location: str | bytes | None, status: int = 301) -> Responder:
    """A 3xx; ``location`` ``None``: no Location header at all; bytes are sent raw."""

    def respond(h: _Handler) -> None:
        h.send_response(status)
        if location is not None:
            raw = location if isinstance(location, bytes) else location.encode("latin-1")
            h._headers_buffer.append(b"Location: " + raw + b"\r\n")  # raw bytes, as a broken server sends them
        h.send_header("Content-Length", "0")
        h.end_headers()

    return respond


def unavailable_until(until: float, then: Answer, retry_after: Callable[[float], str]) -> Responder:
    """``503`` with ``Retry-After: retry_after(until)`` until the POSIX time ``until``, then
    ``then`` (case 29: the server keeps refusing until the time it stated)."""

    def respond(h: _Handler) -> None:
        if time.time() < until:
            h.send(Answer(503, b"busy\n", "text/plain", {"Retry-After": retry_after(until)}))
        else:
            h.send(then)

    return respond


class UnavailableFor:
    """``503`` with a ``Retry-After`` for ``seconds`` after the first request, then ``then``.

    The time stated is fixed at the first request (:attr:`until`, POSIX seconds; whole seconds
    for the date forms, as HTTP-dates have no fractions) and the server keeps refusing until
    then (case 29).  ``form``: ``"seconds"``, ``"imf"`` (IMF-fixdate) or ``"iso"`` (ISO 8601).
    """

    def __init__(self, seconds: float, then: Answer, form: str = "seconds"):
        self.seconds, self.then, self.form = seconds, then, form
        self.until: float | None = None
        self._lock = threading.Lock()

    def __call__(self, h: "_Handler") -> None:
        now = time.time()
        with self._lock:
            if self.until is None:
                self.until = now + self.seconds if self.form == "seconds" else float(int(now + self.seconds) + 1)
            until = self.until
        if now >= until:
            return h.send(self.then)
        if self.form == "seconds":
            value = str(max(1, round(until - now)))
        else:
            value = imf_fixdate(until) if self.form == "imf" else iso8601(until)
        h.send(Answer(503, b"busy\n", "text/plain", {"Retry-After": value}))


def imf_fixdate(t: float) -> str:
    return formatdate(t, usegmt=True)


def iso8601(t: float) -> str:
    """``2020-11-10T18:44:00.000+00:00``: the non-standard form seen in the field (case 29)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(t))


def drip(size: int = 1_000_000, every: float = 0.2, max_seconds: float = 60.0) -> Responder:
    """A slow server: headers at once, then one byte every ``every`` seconds (at most
    ``max_seconds``), until the client goes away or the server stops."""

    def respond(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", HTML)
        h.send_header("Content-Length", str(size))
        h.end_headers()
        end = time.monotonic() + max_seconds
        try:
            h.wfile.write(b"<html><body>")
            h.wfile.flush()
            while time.monotonic() < end and not h.server.site.closing.is_set():
                h.wfile.write(b"a")
                h.wfile.flush()
                time.sleep(every)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        h.close_connection = True

    return respond


def outlet(slug: str, base_url: str, feeds: list[str], **extra) -> dict:
    """Outlet fields for a live crawl of the loopback server (domain ``127.0.0.1``)."""
    fields = {"slug": slug, "name": slug, "country": "ZZ", "homepage": base_url + "/",
              "domains": ["127.0.0.1"], "feeds": [base_url + f for f in feeds],
              "politeness": {"download_delay": 0, "concurrency": 4}}
    fields.update(extra)
    return fields


# ---- running crawls --------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def crawl_env(**overrides: str) -> dict[str, str]:
    """The environment of a child crawl: no AutoThrottle start delay, INFO logs, plus ``overrides``
    (``RASD_*`` settings)."""
    import os

    env = dict(os.environ, RASD_CRAWL__AUTOTHROTTLE="false", RASD_LOG_LEVEL="INFO")
    env.update(overrides)
    return env


def write_seeds(directory: Path, outlets: dict[str, dict]) -> Path:
    """A seeds directory (``RASD_SEEDS_DIR``) with one seed file per outlet."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    for slug, fields in outlets.items():
        (directory / f"{slug}.yaml").write_text(json.dumps(fields), encoding="utf-8")
    return directory


def archived_urls(data_dir: Path) -> list[str]:
    from rasd.core.archive import read_archive

    archive = data_dir / "archive"
    return [r["url"] for r in read_archive(archive)] if archive.exists() else []
