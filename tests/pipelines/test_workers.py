"""Extraction in real worker processes (pipelines/workers.py): results, the time and memory
budget, dead workers, shutdown, a ``kill -9``'ed crawl, and a non-asyncio reactor.

No mocks: every test starts a real pool (fork server + workers); pages that break the budget
are generated (tests/pipelines/_pathological.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from rasd.pipelines.base import Skip, outcome_key
from rasd.pipelines.extract import ExtractPipeline, extract_article, extract_outcome
from rasd.pipelines.workers import TaskTimeout, WorkerDied, WorkerPool
from tests.pipelines._corpus import CORPUS, article_for, manifest
from tests.pipelines._pathological import image_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/youm7.com/htmldate_1691196862.html"


def corpus_item(rel: str = PAGE, outlet: str = "youm7"):
    return article_for((CORPUS / rel).read_text(encoding="utf-8"), manifest()[rel], outlet=outlet)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone between open() and read()
        return False


def wait_gone(pids, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


async def outcome_of(stage, item):
    try:
        await stage.process_item(item)
    except Skip as skip:
        return skip
    return None


def test_pool_extracts_like_the_inline_function_and_stops_with_the_spider():
    inline = extract_article(corpus_item())
    stats = MemoryStatsCollector(get_crawler())
    stage = ExtractPipeline(stats=stats, workers=2)
    assert not stage.pool.started  # lazily: a crawl with no new article never starts it

    async def crawl():
        items = [corpus_item() for _ in range(4)]
        done = await asyncio.gather(*(stage.process_item(i) for i in items))
        pids = stage.pool.worker_pids()
        await stage.close_spider()
        return done, pids

    done, pids = asyncio.run(crawl())
    for item in done:
        assert item.html  # the page stays with the item; the worker sent back the rest
        assert item.to_record() == inline.to_record()
        assert item.date_candidates == inline.date_candidates
    assert len(pids) == 2 and os.getpid() not in pids
    assert wait_gone(pids, 5) == []
    assert stats.get_stats() == {}


def test_timeout_ends_as_too_complex_and_the_pool_goes_on():
    """A page under the element budget whose extraction runs past the timeout: its worker is
    killed, the page counted as skipped/too_complex, the next page extracted by a new worker."""
    stats = MemoryStatsCollector(get_crawler())
    stage = ExtractPipeline(stats=stats, workers=1, timeout=1.0)
    slow = article_for(image_blocks(60_000), "https://heavy.example/slow", outlet="heavy")  # ~4.5 s

    async def crawl():
        await stage.pool.run(os.getpid, timeout=5)  # pool up, so the clock below is the page's
        first = stage.pool.worker_pids()
        start = time.monotonic()
        skip = await outcome_of(stage, slow)
        took = time.monotonic() - start
        after = await stage.process_item(corpus_item())
        second = stage.pool.worker_pids()
        await stage.close_spider()
        return skip, took, after, first, second

    skip, took, after, first, second = asyncio.run(crawl())
    assert skip is not None and skip.outcome == "skipped/too_complex"
    assert "https://heavy.example/slow: extraction ran past 1 s" in str(skip)
    assert 1.0 <= took < 1.0 + 3.5  # pebble: SIGTERM, SIGKILL after 3 s at worst
    assert after.title and after.text
    assert first != second and wait_gone(first, 5) == []
    assert stats.get_value(outcome_key("heavy", "skipped/too_complex")) == 1


def test_memory_limit_ends_as_too_complex_not_a_crash():
    """Past the worker's address-space limit trafilatura gets MemoryError: a counted outcome,
    and the same worker extracts the next page."""
    stats = MemoryStatsCollector(get_crawler())
    stage = ExtractPipeline(stats=stats, workers=1, memory_mb=256)
    # one 9.2 MiB paragraph (libxml2 drops a text node over 10 MB): ~400 MiB to extract
    paragraph = "<p>" + "كلمة عربية في الخبر " * 260_000 + "</p>"
    big = article_for(f"<html><body>{paragraph}</body></html>", "https://heavy.example/long", outlet="heavy")

    async def crawl():
        skip = await outcome_of(stage, big)
        pids = stage.pool.worker_pids()
        after = await stage.process_item(corpus_item())
        same = stage.pool.worker_pids() == pids
        await stage.close_spider()
        return skip, after, same

    skip, after, same = asyncio.run(crawl())
    assert skip is not None and skip.outcome == "skipped/too_complex"
    assert "out of memory at the 256 MiB limit" in str(skip)
    assert after.text and same
    assert stats.get_value(outcome_key("heavy", "skipped/too_complex")) == 1


def test_a_worker_that_dies_is_reported_and_replaced():
    pool = WorkerPool(workers=1, memory_mb=None)

    async def go():
        with pytest.raises(WorkerDied, match="exit code 3"):
            await pool.run(os._exit, 3, timeout=5)
        with pytest.raises(WorkerDied, match="signal 6"):
            await pool.run(os.abort, timeout=5)
        with pytest.raises(TaskTimeout):
            await pool.run(time.sleep, 30, timeout=0.3)
        return await pool.run(extract_outcome, corpus_item(), None, 200, 30_000, timeout=10)

    try:
        outcome, fields = asyncio.run(go())
    finally:
        pool.close()
    assert outcome is None and fields["title"]
    assert "html" not in fields


def test_a_broken_pool_is_rebuilt():
    """A worker killed while idle makes pebble give the whole pool up; the next call gets a new
    pool (new fork, same fork server)."""
    pool = WorkerPool(workers=1, memory_mb=None)

    async def go():
        first = await pool.run(os.getpid, timeout=5)
        os.kill(first, signal.SIGKILL)
        assert wait_gone([first], 5) == []
        await asyncio.sleep(0.3)  # pebble's manager notices the death and marks the pool broken
        return first, await pool.run(os.getpid, timeout=5)

    try:
        first, second = asyncio.run(go())
    finally:
        pool.close()
    assert second != first and pool.restarts == 1


KILLED_CRAWL = textwrap.dedent("""
    import asyncio, os, sys
    from rasd.pipelines.extract import ExtractPipeline
    from rasd.core.article import Article
    from tests.pipelines._pathological import image_blocks

    async def main():
        stage = ExtractPipeline(workers=2, timeout=600, max_elements=None)
        await stage.pool.run(os.getpid, timeout=10)
        page = Article(url="https://heavy.example/slow", outlet="heavy", html=image_blocks(1_000_000))
        task = asyncio.ensure_future(stage.process_item(page))
        await asyncio.sleep(0.5)
        print(" ".join(map(str, stage.pool.worker_pids())), flush=True)
        await task

    if __name__ == "__main__":
        asyncio.run(main())
""")


@pytest.mark.slow
def test_workers_do_not_outlive_a_killed_crawl(tmp_path):
    """``kill -9`` of the process that owns the pool, with a worker busy on a page that would take
    many minutes: the workers and the fork server are gone within seconds."""
    script = tmp_path / "crawl.py"
    script.write_text(KILLED_CRAWL, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2
        forkserver = {int(open(f"/proc/{w}/stat").read().rsplit(")", 1)[1].split()[1]) for w in workers}
        assert len(forkserver) == 1 and proc.pid not in forkserver  # workers are the fork server's
        busy = [w for w in workers if open(f"/proc/{w}/stat").read().rsplit(")", 1)[1].split()[0] == "R"]
        assert busy, "one worker should be extracting the slow page"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert wait_gone(workers + sorted(forkserver), 5) == []


NON_ASYNCIO_REACTOR = textwrap.dedent("""
    from twisted.internet import selectreactor
    selectreactor.install()
    from twisted.internet import defer, task
    from rasd.pipelines.extract import ExtractPipeline
    from rasd.core.article import Article

    async def main(reactor):
        stage = ExtractPipeline(workers=1)
        html = open(__import__("sys").argv[1], encoding="utf-8").read()
        item = await stage.process_item(Article(url="https://www.youm7.com/a", outlet="youm7", html=html))
        await stage.close_spider()
        print("title:", item.title)

    if __name__ == "__main__":
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
""")


def test_pool_works_under_a_non_asyncio_twisted_reactor(tmp_path):
    """TWISTED_REACTOR set to another reactor: the future is awaited through a Deferred."""
    script = tmp_path / "react.py"
    script.write_text(NON_ASYNCIO_REACTOR, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), str(CORPUS / PAGE)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"title: {extract_article(corpus_item()).title}"
