"""Scrapy items: Rasd has one, :class:`rasd.core.article.Article` (a dataclass item)."""

from rasd.core.article import Article

__all__ = ["Article"]
