"""Layer 4, the crawl (``rasd.crawler``): the Scrapy project — the outlet spider, listings
(feeds, sitemaps, conditional GET), middlewares, extensions.  Imports ``rasd.core``,
``rasd.search``, ``rasd.alerts`` and ``rasd.pipelines``."""
