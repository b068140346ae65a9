"""Issue 11: the first publisher is the story's origin whatever the crawl order.

The crawl's path per article (dedup → stories → archive under the ledger), the real index
follower and the real alert follower on the search node, in both crawl orders: the seed story
(Euronews and an aggregator's exact copy) and a near-duplicate syndication (a sentence added).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from rasd.alerts.follower import AlertFollower
from rasd.alerts.match import add_alert, parse_alert
from rasd.core.archive import read_archive
from rasd.core.article import utcnow
from rasd.pipelines.dedup import decide
from rasd.pipelines.ledger import Ledger
from rasd.pipelines.stories import decide_story
from rasd.search.indexing import IndexFollower
from tests.pipelines._corpus import corpus_article

pytestmark = pytest.mark.search

CRAWL = utcnow() - timedelta(hours=1)  # inside the story window (it is over fetched_at)
ADDED = "\nوقال محلل سياسي في بغداد إن انسحاب القوات سيستغرق وقتا طويلا بسبب التعقيدات الأمنية."


def _pair(kind: str):
    original = corpus_article("seed/euronews-original.html")
    copy = corpus_article("seed/aggregator-republished.html")
    original.outlet, copy.outlet = "euronews_arabic", "akhbar_example"
    if kind == "near":
        copy.text = copy.text + ADDED  # not an exact copy: the stories stage decides
    assert original.published_at < copy.published_at
    return original, copy


def _crawl(data_dir, articles):
    """Each article as the crawl handles it, the alert follower running after each one (as
    ``rasd schedule`` does between runs)."""
    ledger = Ledger(data_dir)
    try:
        for i, art in enumerate(articles):
            art.fetched_at = CRAWL + timedelta(minutes=i)
            ledger.begin()
            decision = decide(art, ledger.seen)
            assert decision.outcome != "duplicate"
            decide_story(art, ledger.stories)
            ledger.commit(art)
            yield art
    finally:
        ledger.close()


@pytest.mark.parametrize("kind", ["exact", "near"])
@pytest.mark.parametrize("order", ["original_first", "copy_first"])
def test_first_publisher_is_the_origin_in_both_crawl_orders(engine, make_prefix, tmp_path, kind, order):
    prefix = make_prefix()
    add_alert(engine, prefix, parse_alert({"name": "iraq", "query": "مسؤولون عراقيون"}))
    original, copy = _pair(kind)
    follower = AlertFollower(tmp_path, lambda: engine, prefix)
    notified = 0
    try:
        for _ in _crawl(tmp_path, [original, copy] if order == "original_first" else [copy, original]):
            engine.refresh(prefix)
            notified += follower.run()["notified"]
        archive = {r["id"]: r for r in read_archive(tmp_path / "archive")}
        story_id = archive[original.id]["story_id"]
        assert archive[copy.id]["story_id"] == story_id                 # one story
        assert archive[original.id]["duplicate_of"] is None             # the first publisher
        assert archive[copy.id]["duplicate_of"] == original.id          # the copy points at it
        assert notified == 1                                            # one notification
        row = follower.store.story("iraq", story_id)
        assert row["url"] == original.url and row["outlet"] == original.outlet
        assert sorted(row["outlets"]) == ["akhbar_example", "euronews_arabic"]
    finally:
        follower.close()
    indexer = IndexFollower(tmp_path, lambda: engine, prefix)
    indexer.run()
    indexer.close()
    engine.refresh(prefix)
    hits = engine.search(prefix, {"size": 10, "query": {"match_all": {}}})["hits"]["hits"]
    indexed = {h["_id"]: (h["_source"]["story_id"], h["_source"]["duplicate_of"]) for h in hits}
    assert indexed == {i: (r["story_id"], r["duplicate_of"]) for i, r in archive.items()}
