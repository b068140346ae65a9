"""The data directory's writer lock is waited for without blocking the event loop.

Another process (here: a second open of the same lock file, which ``flock`` treats as another
holder) holds ``<data-dir>/locks/state.lock``; the dedup stage's wait must let other tasks of
the loop run — in a crawl, every other outlet's downloads — and decide the article once the
lock is free.
"""

from __future__ import annotations

import asyncio

from rasd.core.article import Article
from rasd.core.durable import StateLock
from rasd.pipelines.dedup import DedupPipeline
from rasd.pipelines.ledger import Ledger
from tests.pipelines.test_dedup import seed_story


def test_state_lock_without_blocking_says_none_while_another_holds_it(tmp_path):
    holder, other = StateLock(tmp_path), StateLock(tmp_path)
    try:
        assert holder.acquire() == []
        assert other.acquire(blocking=False) is None and not other.held
        holder.declare(["a.jsonl"])
        holder.release()
        assert other.acquire(blocking=False) == ["a.jsonl"] and other.held
    finally:
        holder.close()
        other.close()


def test_dedup_waits_for_the_lock_while_the_event_loop_runs(tmp_path):
    data = tmp_path / "data"
    ledger = Ledger(data)
    pipeline = DedupPipeline(store_path=data / "seen.sqlite", ledger=ledger)
    holder = StateLock(data)
    item = Article(url="https://akhbar.example/a/1", outlet="akhbar", text=seed_story())

    async def scenario():
        ticks = 0
        assert holder.acquire() == []
        assert ledger.begin(blocking=False) is False  # held by "another process"
        waiting = asyncio.ensure_future(pipeline._when_free(item))
        for _ in range(20):  # 20 x 5 ms of other work while the stage waits
            await asyncio.sleep(0.005)
            ticks += 1
        assert not waiting.done()
        holder.release()
        decided = await asyncio.wait_for(waiting, 5)
        return ticks, decided

    try:
        ticks, decided = asyncio.run(scenario())
        assert ticks == 20
        assert decided is item and ledger.lock.held  # the archive stage releases it
        assert ledger.seen.seen_url("https://akhbar.example/a/1") is False  # decided, not yet archived
    finally:
        ledger.abort()
        holder.close()
        ledger.close()
