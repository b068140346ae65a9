"""The spider's building blocks: failure outcomes and per-outlet politeness."""

from scrapy.settings import Settings

from rasd.crawler.spiders.outlet import OutletSpider, download_slots
from rasd.core.paths import SEEDS_DIR
from rasd.core.seeds import load_outlets


def test_download_slots_follow_seed_politeness():
    outlets = load_outlets()
    slots = download_slots(outlets)
    assert set(slots) == set(outlets)
    bbc = outlets["bbc_arabic"].politeness
    assert slots["bbc_arabic"] == {"delay": bbc.download_delay, "concurrency": bbc.concurrency}


def test_scrapy_crawl_gets_slots_for_every_seed_outlet():
    settings = Settings({"RASD_SEEDS_DIR": str(SEEDS_DIR)})
    OutletSpider.update_settings(settings)
    assert set(settings.getdict("DOWNLOAD_SLOTS")) == set(load_outlets())


def test_explicit_slots_are_kept():
    settings = Settings({"RASD_SEEDS_DIR": str(SEEDS_DIR), "DOWNLOAD_SLOTS": {"x": {"delay": 9}}})
    OutletSpider.update_settings(settings)
    assert settings.getdict("DOWNLOAD_SLOTS") == {"x": {"delay": 9}}
