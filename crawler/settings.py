"""Scrapy settings for Rasd.

Values come from Rasd's own settings (``config/settings.yaml`` + ``RASD_*`` environment, see
:mod:`rasd.core.settings`), so ``scrapy crawl outlet -a outlet=bbc_arabic`` and ``rasd crawl
bbc_arabic`` behave the same.  ``rasd crawl`` may override some of them (``--data-dir``,
``--replay``) through :func:`scrapy_settings`.

:func:`scrapy_settings` is the only way settings reach the crawl: each stage's
``options_from_settings`` reads the names below from the crawler's settings and never loads the
settings file or reads the environment itself.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import default_settings as _scrapy_defaults

from rasd.core.errors import ConfigError
from rasd.core.settings import RasdSettings, load_settings

BOT_NAME = "rasd"
SPIDER_MODULES = ["rasd.crawler.spiders"]
NEWSPIDER_MODULE = "rasd.crawler.spiders"

# The stage order is the data flow; see pipelines/__init__.py.
ITEM_PIPELINES = {
    "rasd.pipelines.extract.ExtractPipeline": 100,
    "rasd.pipelines.clean.CleanPipeline": 200,
    "rasd.pipelines.dates.DatesPipeline": 300,
    "rasd.pipelines.language.LanguagePipeline": 400,
    # CPU-bound stages before dedup: dedup → stories → archive hold the data directory's lock
    # (pipelines/ledger.py) and must stay short and never yield to the reactor
    "rasd.pipelines.enrich.EnrichPipeline": 450,
    "rasd.pipelines.dedup.DedupPipeline": 500,
    "rasd.pipelines.stories.StoryPipeline": 550,
    "rasd.pipelines.archive.ArchivePipeline": 700,
    "rasd.pipelines.index.IndexPipeline": 800,  # on when index_enabled (RASD_INDEX_ENABLED)
    "rasd.pipelines.alerts.AlertPipeline": 900,  # on when alerts_enabled (RASD_ALERTS_ENABLED)
}

DOWNLOADER_MIDDLEWARES = {
    # every request of an outlet must be on its scheme, host and port (redirects included),
    # checked first: not even the robots.txt of a server that is not the outlet's is fetched
    "rasd.crawler.middlewares.OwnershipMiddleware": 90,
    # robots.txt decoded like any other body before Protego reads it (crawler/middlewares.py)
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "rasd.crawler.middlewares.RobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "rasd.crawler.middlewares.BackoffRetryMiddleware": 550,
    # after HttpCompressionMiddleware (590) has unpacked the body, before it reaches the spider
    "rasd.crawler.middlewares.CharsetMiddleware": 595,
}

#: Scrapy's built-in extensions without its remote control (2.19+): an HTTP server on localhost
#: that runs Python code sent to it and leaves a job file in the user's profile.  A crawler needs
#: neither, and aiohttp, which it imports, was a fifth of a one-page crawl's CPU.  It is left out
#: of the base list, not set to None in EXTENSIONS: Scrapy imports every class named there,
#: disabled or not, to normalise the names.
_REMOTE_CONTROL = "scrapy.extensions.remote_control.RemoteControl"
EXTENSIONS_BASE = {k: v for k, v in _scrapy_defaults.EXTENSIONS_BASE.items() if k != _REMOTE_CONTROL}
EXTENSIONS = {
    "rasd.crawler.stopping.CleanStop": 100,  # SIGTERM/SIGINT: stop within seconds (crawler/stopping.py)
    "rasd.crawler.extensions.OutcomeSummary": 500,
}

# Downloads that a stop can abort (crawler/stopping.py); the replay handler derives from it.
DOWNLOAD_HANDLERS = {
    "http": "rasd.crawler.stopping.StoppableDownloadHandler",
    "https": "rasd.crawler.stopping.StoppableDownloadHandler",
}
# Article redirects are followed by the spider (crawler/redirects.py) with these two limits;
# Scrapy's RedirectMiddleware still follows the listings' redirects.
URLLENGTH_LIMIT = 2083

RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
DOWNLOAD_WARNSIZE = 5 * 1024 * 1024
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
COOKIES_ENABLED = False
# no control channels: the telnet console and Scrapy 2.19's remote-control HTTP server (which
# writes a token-bearing job file under the user's state directory that a kill -9 leaves behind)
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
# One URL identity (rasd.core.urls.canonicalize_url) as Scrapy's request fingerprint, and a
# dupefilter that also drops what the seen-URL store already holds (crawler/dupefilter.py)
REQUEST_FINGERPRINTER_CLASS = "rasd.crawler.dupefilter.UrlFingerprinter"
DUPEFILTER_CLASS = "rasd.crawler.dupefilter.SeenUrlDupeFilter"
FEED_EXPORT_ENCODING = "utf-8"
LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def scrapy_settings(rasd: RasdSettings, **extra: Any) -> dict[str, Any]:
    """Scrapy settings derived from Rasd's settings, plus ``extra`` (upper-case names).

    ``RASD_ENGINE`` is the :class:`~rasd.core.settings.EngineSettings` object itself (its secrets
    stay ``SecretStr``; stages connect with ``connect(engine, engine.secret)``); every other value
    is a plain str/number/bool.
    """
    crawl = rasd.crawl
    out = {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_TIMEOUT": crawl.request_timeout_seconds,
        "RETRY_TIMES": crawl.retry_times,
        "RASD_RETRY_AFTER_MAX": crawl.retry_after_max_seconds,
        "RASD_RETRY_DEFER_MAX": crawl.retry_defer_max_seconds,
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        "RASD_STOP_TIMEOUT": crawl.stop_timeout_seconds,
        "RASD_MIN_TEXT_CHARS": crawl.min_text_chars,
        "RASD_MAX_PAGE_ELEMENTS": crawl.max_page_elements,
        "RASD_EXTRACT_TIMEOUT_SECONDS": crawl.extract_timeout_seconds,
        "RASD_EXTRACT_WORKERS": crawl.extract_workers,
        "RASD_EXTRACT_MEMORY_MB": crawl.extract_memory_mb,
        "RASD_SITEMAP_MAX_AGE_DAYS": crawl.sitemap_max_age_days,
        "RASD_CONDITIONAL_MAX_NOT_MODIFIED": crawl.conditional_max_not_modified,
        "RASD_CONDITIONAL_MAX_AGE": crawl.conditional_max_age_seconds,
        "RASD_DATA_DIR": str(rasd.data_dir),
        "RASD_SEEDS_DIR": str(rasd.seeds_dir),
        "RASD_CONFIG_DIR": str(rasd.config_dir),
        "LOG_LEVEL": rasd.log_level,
        "RASD_ENGINE": rasd.engine,
        "RASD_INDEX_ENABLED": rasd.index_enabled,
        "RASD_INDEX_BATCH": rasd.index.batch_size,
        "RASD_INDEX_FLUSH_SECONDS": rasd.index.flush_seconds,
        "RASD_INDEX_DRAIN_SECONDS": rasd.index.drain_seconds,
        "RASD_ALERTS_ENABLED": rasd.alerts_enabled,
        "RASD_ALERTS_BATCH": rasd.alerts.batch_size,
        "RASD_ALERTS_FLUSH_SECONDS": rasd.alerts.flush_seconds,
        "RASD_ALERTS_DRAIN_SECONDS": rasd.alerts.drain_seconds,
        "RASD_STORIES_THRESHOLD": rasd.stories.threshold,
        "RASD_STORIES_DUPLICATE_THRESHOLD": rasd.stories.duplicate_threshold,
        "RASD_STORIES_NUM_PERM": rasd.stories.num_perm,
        "RASD_STORIES_WINDOW_DAYS": rasd.stories.window_days,
    }
    out.update(extra)
    return out


try:
    globals().update(scrapy_settings(load_settings()))
except ConfigError as _error:  # reported by whoever runs the crawl (rasd crawl, the spider)
    RASD_SETTINGS_ERROR = str(_error)
