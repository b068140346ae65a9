"""Download handler that sends every request to the replay server on loopback.

Enabled by ``rasd crawl --replay`` (setting ``RASD_REPLAY_URL``, e.g. ``http://127.0.0.1:8765``)
for both the ``http`` and ``https`` schemes.  ``https://www.youm7.com/story/1?x=2`` is fetched
as ``http://127.0.0.1:8765/www.youm7.com/story/1?x=2`` and the response is handed back under
the original URL, so everything above the downloader — robots.txt, download slots, offsite
filtering, canonical URLs, the archive — sees the real site's addresses.  See
:mod:`rasd.replay.server` for the server.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response
from w3lib.url import safe_url_string

from rasd.crawler.stopping import StoppableDownloadHandler


def loopback_url(url: str, replay_base: str) -> str:
    """The replay server's address for ``url`` (``http://127.0.0.1:P/<host>/<path>?<query>``)."""
    parts = urlsplit(url)
    tail = parts.path or "/"
    if parts.query:
        tail += "?" + parts.query
    return safe_url_string(f"{replay_base.rstrip('/')}/{(parts.hostname or '').lower()}{tail}")


class ReplayDownloadHandler(StoppableDownloadHandler):
    """Scrapy's HTTP/1.1 handler (one a stop can abort), pointed at the replay server.

    Raises:
        NotConfigured: ``RASD_REPLAY_URL`` is not set, or does not point at loopback.
    """

    def __init__(self, crawler):
        base = crawler.settings.get("RASD_REPLAY_URL")
        if not base:
            raise NotConfigured("RASD_REPLAY_URL is not set")
        if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise NotConfigured(f"RASD_REPLAY_URL must be a loopback address, not {base}")
        super().__init__(crawler)
        self._base = base

    async def download_request(self, request: Request) -> Response:
        local = request.replace(url=loopback_url(request.url, self._base))
        response = await super().download_request(local)
        return response.replace(url=request.url, request=request)
