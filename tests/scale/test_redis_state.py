"""The fleet's shared state on a real Redis: the story window gives the same matches as the
SQLite one on the pair set, the seen-URL store the same dedup decisions, and the ledger of two
workers with their own archive shards commits archive-first and catches up on a line a dead
worker wrote but never applied."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from rasd.core.archive import ArchiveWriter, read_archive, shard_dir
from rasd.core.article import Article
from rasd.pipelines.dedup import decide, dedup
from rasd.pipelines.ledger import Ledger
from rasd.pipelines.redisstate import RedisSeenStore, RedisStoryIndex
from rasd.pipelines.stories import assign_story, decide_story
from tests.pipelines.test_dedup import seed_story
from tests.pipelines.test_stories import DIFFERENT, SAME, T0, article, now_fn, syndicated, text

pytestmark = pytest.mark.integration


def _index(client, prefix):
    return RedisStoryIndex(client, prefix=f"{prefix}{uuid.uuid4().hex[:6]}:", now=now_fn())


def test_story_window_on_redis_has_precision_and_recall_1_on_the_pair_set(redis_client, prefix):
    def joins(a: str, b: str) -> bool:
        index = _index(redis_client, prefix)
        assign_story(article("a", a, "one"), index)
        return assign_story(article("b", b, "two", T0 + timedelta(hours=1)), index).story_id == "a"

    tp = sum(joins(a(), b()) for _, a, b in SAME)
    fp = sum(joins(text(a), text(b)) for a, b in DIFFERENT)
    assert (tp, fp) == (len(SAME), 0)


def test_story_window_on_redis_keeps_stories_and_their_counts(redis_client, prefix):
    index = _index(redis_client, prefix)
    assign_story(article("euronews-1", text("seed-article"), "euronews"), index)
    copy = article("agg-1", syndicated(text("seed-article")), "aggregator", T0 + timedelta(hours=2))
    decision = assign_story(copy, index)
    assert (decision.outcome, copy.story_id, copy.duplicate_of) == ("joined", "euronews-1", "euronews-1")
    story = index.story("euronews-1")
    assert (story.first_outlet, story.outlets, story.articles) == ("euronews", 2, 2)
    assert assign_story(article("agg-1", syndicated(text("seed-article")), "aggregator"), index).story_id == "euronews-1"


def test_seen_store_on_redis_decides_like_the_sqlite_one(redis_client, prefix):
    store = RedisSeenStore(redis_client, prefix=prefix)
    first = Article(url="https://akhbar.example/2024/01/28/story", outlet="akhbar", text=seed_story(),
                    published_at=datetime(2024, 1, 28, 6, tzinfo=timezone.utc))
    assert dedup(first, store).outcome == "new"
    again = Article(url="https://akhbar.example/news/98765", outlet="akhbar", text=seed_story() + "\n")
    assert (decide(again, store).outcome, again.duplicate_of) == ("duplicate", first.id)
    assert store.is_known_url("https://www.akhbar.example/news/98765")  # remembered as a duplicate
    original = Article(url="https://arabic.euronews.com/x", outlet="euronews", text=seed_story(),
                       published_at=datetime(2024, 1, 27, 13, tzinfo=timezone.utc))
    decision = dedup(original, store)
    assert (decision.outcome, decision.relinked) == ("new", (first.id,))  # published earlier
    late = Article(url="https://other.example/y", outlet="other", text=seed_story())
    assert (decide(late, store).outcome, late.duplicate_of) == ("syndicated", original.id)
    store.mark_url("https://akhbar.example/stub", "akhbar", "skipped/too_little_text")
    assert store.seen_url("https://akhbar.example/stub") and store.find_url("https://akhbar.example/stub") is None
    store.defer_url("https://akhbar.example/slow", "https://akhbar.example/slow", "akhbar", 123.0, "retry_after")
    assert store.deferred_urls("akhbar") == [("https://akhbar.example/slow", "https://akhbar.example/slow",
                                               123.0, "retry_after")]
    assert redis_client.ttl(f"{prefix}url:https://akhbar.example/stub") > 80 * 86400  # bounded


def _ledger(tmp_path, redis_url, prefix, worker):
    return Ledger(tmp_path / "data", redis_url=redis_url, worker=worker, redis_prefix=prefix,
                  now=lambda: datetime.now(timezone.utc))


def test_two_workers_share_decisions_and_write_their_own_shards(tmp_path, redis_url, prefix):
    w1, w2 = _ledger(tmp_path, redis_url, prefix, "w1"), _ledger(tmp_path, redis_url, prefix, "w2")
    original = Article(url="https://euronews.example/1", outlet="euronews", text=text("seed-article"),
                       id=None)
    w1.begin()
    decide(original, w1.seen)
    decide_story(original, w1.stories)
    w1.commit(original)
    copy = Article(url="https://akhbar.example/1", outlet="akhbar", text=syndicated(text("seed-article")))
    w2.begin()
    decision = decide(copy, w2.seen)
    story = decide_story(copy, w2.stories)
    w2.commit(copy)
    assert decision.outcome == "new" and story.outcome == "joined"  # not exact, near-duplicate
    assert copy.story_id == original.story_id == original.id and copy.duplicate_of == original.id
    archive = tmp_path / "data" / "archive"
    assert sorted(p.relative_to(archive).parts[:2] for p in archive.glob("shards/*/*.jsonl")) == \
        [("shards", "w1"), ("shards", "w2")]
    assert {r["id"] for r in read_archive(archive)} == {original.id, copy.id}
    w1.close()
    w2.close()


def test_a_line_a_dead_worker_never_applied_is_applied_by_the_next_writer(tmp_path, redis_url, prefix):
    dead = _ledger(tmp_path, redis_url, prefix, "dead")
    orphan = Article(url="https://akhbar.example/orphan", outlet="akhbar", text=seed_story())
    dead.begin()
    decide(orphan, dead.seen)
    dead.lock.declare(dead.writer.files_for(orphan))
    dead.writer.write(orphan)  # durable, never applied: the worker dies here
    dead.lock.release()
    alive = _ledger(tmp_path, redis_url, prefix, "alive")
    again = Article(url="https://akhbar.example/orphan", outlet="akhbar", text=seed_story())
    alive.begin()  # the intent names the dead worker's shard file: caught up first
    decision = decide(again, alive.seen)
    alive.lock.release()
    assert (decision.outcome, decision.duplicate_of) == ("duplicate", orphan.id)
    assert shard_dir("dead") == "shards/dead/"
    dead.close()
    alive.close()


def test_story_window_on_redis_names_the_first_publisher_as_the_sqlite_one_does(redis_client, prefix):
    """The first-publisher rule (``near``) on the fleet's window: a copy of a copy points at the
    original, and an earlier original re-points every near-duplicate crawled before it.  The
    Redis window lacked ``near`` at first, so every near-duplicate a worker crawled failed its
    stage (5 of 120 pages lost in the fleet's kill test)."""
    from tests.pipelines.test_stories import _copies

    original, copy, copy_of_copy = _copies()
    index = _index(redis_client, prefix)
    assign_story(article("orig", original, "first", T0), index)
    assign_story(article("copy", copy, "second", T0 + timedelta(hours=1)), index)
    cc = article("copy2", copy_of_copy, "third", T0 + timedelta(hours=2))
    assign_story(cc, index)
    assert (cc.duplicate_of, cc.story_id) == ("orig", "orig")
    index = _index(redis_client, prefix)
    assign_story(article("copy", copy, "second", T0 + timedelta(hours=1)), index)
    assign_story(article("copy2", copy_of_copy, "third", T0 + timedelta(hours=2)), index)
    o = article("orig", original, "first", T0)
    decision = assign_story(o, index)
    assert o.duplicate_of is None and set(o.relinked) == set(decision.relinked) == {"copy", "copy2"}
