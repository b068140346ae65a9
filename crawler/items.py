"""Scrapy items: Rasd has one, :class:`rasd.article.Article` (a dataclass item)."""

from rasd.article import Article

__all__ = ["Article"]
