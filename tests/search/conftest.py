"""Fixtures for the search tests: a real engine, throw-away index prefixes, article records.

The engine is the node at ``RASD_ENGINE__URL`` (default http://127.0.0.1:9200, started by
``scripts/search-node start``).  If it does not answer, every test that needs it fails with a
message saying so — unless ``RASD_SKIP_SEARCH=1``, which skips them instead.  Each test gets
its own index prefix (``rasd-test-<random>-…``); its indices and template are deleted afterwards.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rasd.core.article import Article
from rasd.search.engine import Engine, connect
from rasd.core.errors import EngineError
from rasd.search.articles import init_index
from rasd.core.settings import EngineSettings, load_settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "search"
SETTINGS = load_settings()
ENGINE_URL = SETTINGS.engine.url
SESSION = uuid.uuid4().hex[:8]


def engine_settings(url: str = ENGINE_URL, **kw) -> EngineSettings:
    return EngineSettings(url=url, timeout_seconds=kw.pop("timeout_seconds", 10), **kw)


def no_secret(name: str) -> None:
    return None


@pytest.fixture(scope="session")
def engine() -> Engine:
    try:
        eng = connect(SETTINGS.engine, SETTINGS.secret)
    except EngineError as exc:
        if os.environ.get("RASD_SKIP_SEARCH") == "1":
            pytest.skip(f"search node not reachable and RASD_SKIP_SEARCH=1: {exc}")
        pytest.fail(f"search node not reachable at {ENGINE_URL} ({exc}). Start it with "
                    "`scripts/search-node start`, point RASD_ENGINE__URL at one, or set "
                    "RASD_SKIP_SEARCH=1 to skip the search tests.", pytrace=False)
    yield eng
    eng.close()


def drop_prefix(engine: Engine, prefix: str) -> None:
    engine.request("DELETE", f"/{prefix}-*", params={"expand_wildcards": "all"})
    try:
        engine.request("DELETE", f"/_index_template/{prefix}")
    except EngineError:
        pass


@pytest.fixture
def make_prefix(engine):
    """``make_prefix(init=True)`` → a fresh prefix (template + first index + alias if ``init``);
    everything under it is deleted after the test."""
    made: list[str] = []

    def make(init: bool = True) -> str:
        prefix = f"rasd-test-{SESSION}-{len(made)}-{uuid.uuid4().hex[:4]}"
        made.append(prefix)
        if init:
            init_index(engine, prefix)
        return prefix

    yield make
    for prefix in made:
        drop_prefix(engine, prefix)


def _article(url: str, outlet: str, language: str | None, published: str | None, title: str, text: str,
             **extra) -> dict:
    art = Article(url=url, outlet=outlet, title=title, text=text, language=language,
                  fetched_at=datetime(2024, 3, 10, 8, 0, tzinfo=timezone.utc),
                  published_at=datetime.fromisoformat(published) if published else None,
                  canonical_url=url, extractor="trafilatura", **extra)
    art.id = hashlib.sha1(url.encode()).hexdigest()[:20]
    art.content_hash = hashlib.sha1(text.encode()).hexdigest()
    return art.to_record()


def seed_record() -> dict:
    """The seed story (Euronews Arabic, 27 Jan 2024): title «مسؤولون عراقيون …»."""
    lines = (FIXTURES / "seed-article.txt").read_text(encoding="utf-8").splitlines()
    return _article("https://arabic.euronews.com/2024/01/27/iraq-us-talks-end-coalition-mission",
                    "euronews_arabic", "ar", "2024-01-27T13:05:00+00:00", lines[0],
                    "\n".join(lines[1:]), country="FR", topics=["iraq"])


def sample_records() -> list[dict]:
    """Seven articles for search tests (hand-written, except the seed story).

    * ``seed``: مسؤولون in the title, العراق + سوريا + "قوات التحالف" in the text;
    * ``minister_article``: الوزير (with the article) only, العراق without سوريا;
    * ``minister_bare``: وزير without the article;
    * ``syria``: سوريا without العراق;
    * ``persian``: Persian (fa), مسئولان;
    * ``undated``: no published_at;
    * ``jar``: زير (a water jar) — what the stemmer makes of وزير.
    """
    recs = {
        "seed": seed_record(),
        "minister_article": _article(
            "https://www.skynewsarabia.com/middle-east/1700001", "sky_news_arabia", "ar",
            "2024-02-10T09:30:00+00:00", "الوزير يزور بغداد لبحث التعاون الاقتصادي",
            "وصل الوزير إلى بغداد صباح اليوم في زيارة رسمية تستمر يومين. وقال الوزير إن "
            "العلاقات مع العراق تشهد تطورا ملحوظا في مجالات الطاقة والتجارة.", source_credit="رويترز"),
        "minister_bare": _article(
            "https://www.bbc.com/arabic/articles/c000minister", "bbc_arabic", "ar",
            "2024-03-05T17:00:00+00:00", "وزير الخارجية يلتقي نظيره في القاهرة",
            "التقى وزير الخارجية نظيره في القاهرة لبحث ملفات المنطقة، وأكد وزير الخارجية "
            "أهمية التنسيق المشترك.", source_credit="أ ف ب"),
        "syria": _article(
            "https://www.france24.com/ar/20231201-syria", "france24_arabic", "ar",
            "2023-12-01T12:00:00+00:00", "هدنة هشة في شمال سوريا",
            "تشهد مناطق في شمال سوريا هدوءا حذرا بعد اتفاق على وقف إطلاق النار بين الأطراف."),
        "persian": _article(
            "https://www.bbc.com/persian/articles/c000persian", "bbc_persian", "fa",
            "2024-02-15T06:00:00+00:00", "مسئولان ایرانی درباره مذاکرات هسته‌ای گفتگو کردند",
            "مسئولان ایرانی روز پنجشنبه درباره ادامه مذاکرات با کشورهای اروپایی اظهار نظر کردند."),
        "undated": _article(
            "https://www.dw.com/ar/undated-1", "dw_arabic", "ar", None,
            "تقرير عن الزراعة في مصر", "يواجه المزارعون في مصر تحديات كبيرة بسبب ارتفاع الأسعار.",
            published_at_reason="no_date_found"),
        "jar": _article(
            "https://www.alyaum.com/articles/zir", "alyaum_com", "ar", "2022-07-01T00:00:00+00:00",
            "صناعة الفخار التقليدي", "يصنع الحرفي زير الماء من الطين ويتركه ليجف تحت الشمس."),
    }
    for key, rec in recs.items():
        rec["story_id"] = key  # handy in assertions (a keyword field)
    return list(recs.values())


@pytest.fixture
def records() -> list[dict]:
    return sample_records()


@pytest.fixture
def loaded(engine, make_prefix, records):
    """A fresh alias holding :func:`sample_records`, refreshed: ``(prefix, records)``."""
    from rasd.search.indexing import index_articles

    prefix = make_prefix()
    report = index_articles(engine, records, index=prefix)
    assert report.indexed == len(records), report.as_dict()
    engine.refresh(prefix)
    return prefix, records
