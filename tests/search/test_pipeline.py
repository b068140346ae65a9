"""Tests for pipelines/index.py's Scrapy stage, IndexPipeline."""

from __future__ import annotations

import asyncio
import logging

import pytest
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector

from rasd.pipelines.index import IndexPipeline
from rasd.core.article import Article
from rasd.search.engine import connect
from tests.search.conftest import ENGINE_URL, engine_settings, no_secret
from tests.search.shims import TcpProxy


class _Crawler:
    def __init__(self, **settings):
        self.settings = Settings(settings)
        self.stats = MemoryStatsCollector(self)
        self.spider = None


def _archive(data_dir, records):
    from rasd.core.archive import ArchiveWriter

    writer = ArchiveWriter(data_dir / "archive", sync=False)
    for rec in records:
        writer.append("2024-01-28.jsonl", rec)
    writer.close()


def test_off_by_default_is_a_noop_with_a_log_line(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("RASD_INDEX_ENABLED", raising=False)
    crawler = _Crawler(RASD_DATA_DIR=str(tmp_path))
    pipe = IndexPipeline.from_crawler(crawler)
    with caplog.at_level(logging.INFO):
        pipe.open_spider()
    item = Article(url="https://x.test/1", outlet="x")
    assert pipe.process_item(item) is item
    asyncio.run(pipe.close_spider())
    assert "index stage off" in caplog.text
    assert not (tmp_path / "followers.sqlite").exists() and crawler.stats.get_stats() == {}


def test_enabled_from_settings(tmp_path, monkeypatch):
    """Environment → RasdSettings → the crawler's settings → the stage; the stage reads nothing
    else (the environment is changed after the Scrapy settings were built: no effect)."""
    from rasd.core.settings import load_settings
    from rasd.crawler.settings import scrapy_settings

    monkeypatch.setenv("RASD_ENGINE__INDEX_PREFIX", "rasd-test-x")
    monkeypatch.setenv("RASD_INDEX_ENABLED", "1")
    monkeypatch.setenv("RASD_INDEX__BATCH_SIZE", "50")
    built = scrapy_settings(load_settings(data_dir=tmp_path))
    monkeypatch.setenv("RASD_ENGINE__INDEX_PREFIX", "rasd-ignored")
    pipe = IndexPipeline.from_crawler(_Crawler(**built))
    assert pipe.enabled and pipe.index == "rasd-test-x" and pipe.batch_size == 50
    assert pipe.data_dir == tmp_path and pipe.drain_seconds == 60.0
    bare = IndexPipeline.options_from_settings(Settings({"RASD_INDEX_ENABLED": True}))
    assert bare["index"] == "rasd-articles" and bare["batch_size"] == 500  # the defaults


@pytest.mark.search
def test_crawl_goes_on_while_engine_is_down_then_delivers(engine, make_prefix, records, tmp_path):
    """Engine unreachable at the start: archived items wait in the archive (the crawl is not
    blocked), counted; when the engine is back, the next flush delivers them all; the counters
    add up."""
    prefix = make_prefix(init=False)
    proxy = TcpProxy(ENGINE_URL)
    proxy.kill()
    crawler = _Crawler()
    pipe = IndexPipeline(crawler.stats, enabled=True, data_dir=tmp_path,
                         connect=lambda: connect(engine_settings(proxy.url, timeout_seconds=3), no_secret),
                         index=prefix, retry_seconds=0, background=False)
    try:
        pipe.open_spider()
        items = [Article.from_record(r) for r in records]
        for n, item in enumerate(items, 1):
            _archive(tmp_path, [item.to_record()])  # what the archive stage does first
            assert pipe.process_item(item) is item
            if n % 3 == 0:
                assert pipe.flush() is None  # engine down: nothing lost, nothing blocked
        assert crawler.stats.get_value("rasd/index/engine_unavailable") >= 2
        assert pipe.follower.lag()[0] == len(items)
        proxy.revive()
        pipe.close()
    finally:
        proxy.close()
    engine.refresh(prefix)
    stats = crawler.stats.get_stats()
    assert engine.count(prefix) == len(items)
    assert stats["rasd/index/queued"] == stats["rasd/index/indexed"] == len(items)
    assert stats["rasd/index/waiting"] == 0


@pytest.mark.search
def test_background_flush_and_at_close(engine, make_prefix, records, tmp_path):
    prefix = make_prefix()
    crawler = _Crawler()
    # the same records archived twice (e.g. an archive copied over itself): indexed once
    _archive(tmp_path, records * 2)
    pipe = IndexPipeline(crawler.stats, enabled=True, data_dir=tmp_path,
                         connect=lambda: connect(engine_settings(), no_secret), index=prefix,
                         batch_size=2, flush_seconds=0.2)
    pipe.open_spider()
    for rec in records:
        pipe.process_item(Article.from_record(rec))
    asyncio.run(pipe.close_spider())
    stats = crawler.stats.get_stats()
    assert engine.count(prefix) == len(records)  # searchable at once: close refreshes the alias
    assert stats["rasd/index/indexed"] == len(records)
    assert stats["rasd/index/already_indexed"] == len(records)
    assert stats["rasd/index/waiting"] == 0
