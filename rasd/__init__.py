"""Rasd (رصد): a scheduled news-monitoring crawler for Arabic outlets.

The data flow is readable from the top-level packages:

``seeds/`` (outlet definitions) → ``crawler/`` (Scrapy spider, middlewares) →
``pipelines/`` (extract → clean → dates → language → dedup → enrich → archive → index → alerts)
→ ``scheduler/`` (runs crawls on a schedule).  ``rasd`` holds what every stage shares:
the :class:`~rasd.article.Article` record, settings, errors, the Arabic normaliser and the CLI.
"""

__version__ = "0.1.0"
