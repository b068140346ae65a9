"""Layer 3, the stages (``rasd.pipelines``): item pipelines, in the order a page goes through them.
Imports ``rasd.core``, ``rasd.search`` and ``rasd.alerts``.

Each module holds a pure function over one :class:`~rasd.core.article.Article` (tested and
benchmarked without a crawl) and a thin Scrapy item pipeline class that calls it, counts the
outcome in ``crawler.stats`` and raises ``DropItem`` when the record must go:

extract → clean → dates → language → enrich → dedup → stories → archive → index → alerts

Dedup, stories and archive run under the data directory's lock and commit archive-first
(:mod:`rasd.pipelines.ledger`); index and alerts follow the archive from checkpoints.
"""
