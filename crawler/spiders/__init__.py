"""The spiders of the crawl (Scrapy's ``SPIDER_MODULES``)."""
