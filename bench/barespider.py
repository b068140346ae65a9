"""A bare Scrapy + trafilatura spider: the other side of ``bench/state.py``'s start-up ratio.

What anyone would write to get the articles of a feed: a ``scrapy.Spider`` that requests the RSS
feed, follows every ``<item><link>``, extracts each page's text with ``trafilatura.extract``
inline (no worker process, no budget) and appends one JSON line per page to ``OUT``.  No
robots.txt, no sitemaps, no dedup, dates, language, stories or archive: only the work without
which there is no article.  Scrapy runs with its defaults except three that only make it
quieter or lighter, the same as Rasd's crawl sets them: ``LOG_LEVEL = WARNING``, no telnet
console and no remote control extension (Scrapy 2.19's HTTP code-execution server, whose
aiohttp import is a fifth of a one-page crawl; ``crawler/settings.py`` drops it too).  So the
ratio compares Rasd with the least a Scrapy crawl of the page costs.

The feed's links are the outlet's real addresses (``https://akhbar-01.example/…``); requests go
to the replay server on loopback (``rasd.replay.server``) at ``BASE/<host>/<path>``, as Rasd's
replay download handler sends them.

    python bench/barespider.py BASE FEED_URL OUT
    (e.g. http://127.0.0.1:8765 https://akhbar-01.example/rss.xml /tmp/out.jsonl)
"""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

import scrapy
import trafilatura
from scrapy.crawler import CrawlerProcess
from scrapy.settings import default_settings

REMOTE_CONTROL = "scrapy.extensions.remote_control.RemoteControl"


def loopback(base: str, url: str) -> str:
    """``url`` as the replay server at ``base`` serves it: ``base/<host>/<path>?<query>``."""
    parts = urlsplit(url)
    return f"{base.rstrip('/')}/{parts.hostname}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")


class BareSpider(scrapy.Spider):
    """Feed → pages → ``trafilatura.extract`` → one JSON line each in ``out``."""

    name = "bare"

    def __init__(self, base: str, feed: str, out: str, **kwargs):
        super().__init__(**kwargs)
        self.base, self.feed, self.out = base, feed, out

    async def start(self):
        yield scrapy.Request(loopback(self.base, self.feed), callback=self.parse)

    def parse(self, response):
        for link in response.xpath("//item/link/text()").getall():
            yield scrapy.Request(loopback(self.base, link.strip()), callback=self.parse_page,
                                 cb_kwargs={"url": link.strip()})

    def parse_page(self, response, url: str):
        text = trafilatura.extract(response.text, url=url, include_comments=False)
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"url": url, "chars": len(text or "")}, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> int:
    base, feed, out = argv
    process = CrawlerProcess({
        "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False,
        "EXTENSIONS_BASE": {k: v for k, v in default_settings.EXTENSIONS_BASE.items() if k != REMOTE_CONTROL},
    })
    process.crawl(BareSpider, base=base, feed=feed, out=out)
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
