"""Item pipelines, in the order a page goes through them.

Each module holds a pure function over one :class:`~rasd.article.Article` (tested and
benchmarked without a crawl) and a thin Scrapy item pipeline class that calls it, counts the
outcome in ``crawler.stats`` and raises ``DropItem`` when the record must go:

extract → clean → dates → language → dedup → enrich → archive → index → alerts
"""
