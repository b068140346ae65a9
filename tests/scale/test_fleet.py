"""A fleet of real processes on one machine: ``rasd schedule --queue`` and three ``rasd worker``
processes on a real Redis, the replay server, the real search node and a webhook receiver.

* 600 pages of 12 outlets crawled by 3 workers: every article archived exactly once across
  the shards, indexed once, every matching story notified once; no outlet's domain ever gets
  more requests per second than its politeness allows, measured at the replay server;
* a worker ``kill -9``-ed at a random moment mid-crawl (several trials): its polls go back to
  the queue, the others finish them; nothing lost, nothing doubled in the archive, the seen
  store, the index or the notifications;
* copies of one story on three outlets, crawled by three workers at the same moment: one
  origin, one notification.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time

import pytest

from rasd.alerts.match import add_alert, parse_alert
from rasd.core.urls import canonicalize_url
from tests.faults.conftest import ALERT_QUERY, Receiver
from tests.scale.harness import Fleet, busiest_window, fleet_census, stories_of
from tests.search.conftest import engine, make_prefix  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.search, pytest.mark.faults, pytest.mark.slow]

#: kill trials (RASD_FLEET_KILL_TRIALS for more)
KILL_TRIALS = int(os.environ.get("RASD_FLEET_KILL_TRIALS", "3"))


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def big_recording(tmp_path_factory):
    from rasd.replay.recording import make_recording

    return make_recording(tmp_path_factory.mktemp("fleet-600") / "rec", outlets=12,
                          pages_per_outlet=50, syndicated_stories=12, seed=12)


@pytest.fixture(scope="module")
def small_recording(tmp_path_factory):
    from rasd.replay.recording import make_recording

    return make_recording(tmp_path_factory.mktemp("fleet-120") / "rec", outlets=12,
                          pages_per_outlet=10, syndicated_stories=4, seed=5)


def _alerted_prefix(engine, make_prefix, receiver) -> str:
    prefix = make_prefix()
    add_alert(engine, prefix, parse_alert({"name": "levant", "query": ALERT_QUERY,
                                           "deliveries": {"webhook": {"url": receiver.url}}}))
    return prefix


def _matching_stories(engine, prefix, info) -> set[str]:
    """Ground-truth stories with an indexed article the alert's query matches (what the receiver
    must hear of, once each)."""
    query = parse_alert({"name": "levant", "query": ALERT_QUERY}).search_query()
    engine.refresh(prefix)
    hits = engine.search(prefix, {"query": query, "size": 5000, "_source": ["url"]})["hits"]["hits"]
    truth = {canonicalize_url(p.url): p.story for p in info.pages}
    return {truth[canonicalize_url(h["_source"]["url"])] for h in hits}


def _all_notified(notified: set, expected: set) -> None:
    """Every matching story notified, and nothing else (doubles are counted by the census)."""
    assert notified <= expected, notified - expected  # nothing notified that does not match
    assert notified == expected, f"{len(expected - notified)} of {len(expected)} matching stories not notified"



def _alerts_caught_up(data) -> bool:
    """Whether the alert follower has matched every archive line (its checkpoint per file at
    the file's size) and delivered every notification it made."""
    path = data / "alerts.sqlite"
    if not path.exists():
        return False
    archive = data / "archive"
    sizes = {str(f.relative_to(archive)): f.stat().st_size for f in archive.rglob("*.jsonl")}
    try:
        with sqlite3.connect(path) as db:
            done = dict(db.execute("SELECT file, offset FROM archive_checkpoints WHERE follower = 'alerts'"))
            pending = db.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL "
                                 "AND dropped_at IS NULL").fetchone()[0]
    except sqlite3.OperationalError:
        return False
    return pending == 0 and all(done.get(f, 0) >= n for f, n in sizes.items())


def _settled(fleet, info, engine, prefix, receiver, redis_client, redis_prefix, timeout=120.0):
    """The census once the scheduler's followers have indexed every archived article, the alert
    follower's checkpoints have reached the end of every shard, no notification is pending and
    the deliveries have stopped changing (two looks 3 s apart)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        result = fleet_census(fleet, info, engine, prefix, receiver, redis_client, redis_prefix)
        now = (result.indexed, result.notifications, len(receiver.posts))
        if result.index_lost == 0 and now == last and _alerts_caught_up(fleet.data):
            return result
        assert time.monotonic() < deadline, result
        last = now
        fleet.alive()
        time.sleep(3.0)


def test_three_workers_archive_600_pages_once_and_no_domain_gets_more_than_its_rate(
        big_recording, tmp_path, engine, make_prefix, receiver, redis_url, redis_client, prefix, capsys):
    info = big_recording
    delay = 0.25  # seconds between request starts per domain: 4 requests/s
    index_prefix = _alerted_prefix(engine, make_prefix, receiver)
    fleet = Fleet(info.directory, tmp_path / "data", redis_url, prefix, index_prefix,
                  env={"RASD_CRAWL__REPLAY_DOWNLOAD_DELAY": str(delay), "RASD_CRAWL__REPLAY_CONCURRENCY": "2"})
    try:
        for name in ("w1", "w2", "w3"):
            fleet.start_worker(name)
        t0 = time.monotonic()
        fleet.start_scheduler()
        runs = fleet.wait_runs(len(info.outlets), timeout=600)
        crawl_seconds = time.monotonic() - t0
        result = _settled(fleet, info, engine, index_prefix, receiver, redis_client, prefix)
        shards = fleet.shard_lines()
        arrivals = fleet.arrivals_by_host()
    finally:
        fleet.stop()
    assert sorted(o for o, _, _ in runs) == sorted(info.outlets)
    assert all(outcome == "ok" for _, outcome, _ in runs), runs
    expected_stories = _matching_stories(engine, index_prefix, info)
    per_second = {h: busiest_window(t, 1.0) for h, t in arrivals.items()}
    per_10s = {h: busiest_window(t, 10.0) for h, t in arrivals.items()}
    gaps = sorted(b - a for t in arrivals.values() for a, b in zip(t, t[1:]))
    lock_waits = fleet.lock_waits()
    with capsys.disabled():
        print(f"\nfleet of 3 workers: {len(runs)} runs in {crawl_seconds:.1f} s; archived "
              f"{result.archived}/{result.expected} (lost {result.archive_lost}, doubled "
              f"{result.archive_doubled}, known without line {result.seen_not_archived}); shards "
              f"{shards}; indexed {result.indexed} (lost {result.index_lost}, doubled "
              f"{result.index_doubled}); stories notified {len(result.stories_notified)}/"
              f"{len(expected_stories)} (doubled {result.notifications_doubled}); busiest second "
              f"per domain max {max(per_second.values())} (limit {1 / delay:.0f}/s), busiest 10 s "
              f"max {max(per_10s.values())} (limit {10 / delay:.0f}); gaps between arrivals: min "
              f"{gaps[0] * 1000:.0f} ms, 1st percentile {gaps[len(gaps) // 100] * 1000:.0f} ms, "
              f"median {gaps[len(gaps) // 2] * 1000:.0f} ms (delay {delay * 1000:.0f} ms); "
              f"seconds each worker waited for the writer lock {lock_waits}")
    assert result.expected == 600
    assert sum(archived for _, _, archived in runs) == 600
    assert result.lost_doubled() == dict.fromkeys(result.lost_doubled(), 0)
    assert (result.archived, result.indexed) == (600, 600)
    assert len([s for s, n in shards.items() if n]) >= 2, shards  # the work was shared
    assert sum(shards.values()) == 600
    assert expected_stories
    assert len(arrivals) == len(info.outlets)
    # starts are spaced by the delay; an arrival may lag its start by a scheduling hiccup, so a
    # one-second window may catch one request more than the rate, a ten-second one no more
    assert max(per_second.values()) <= 1 / delay + 1, per_second
    assert max(per_10s.values()) <= 10 / delay + 1, per_10s
    # rasd status reads the run history the workers' results were recorded in, as in one process
    status = subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir",
                             str(tmp_path / "data")], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, COLUMNS="200"))
    assert status.returncode == 0, status.stderr
    rows = [line for line in status.stdout.splitlines() if any(o in line for o in info.outlets)]
    assert len(rows) == len(info.outlets) and all(" ok" in row for row in rows), status.stdout
    _all_notified(result.stories_notified, expected_stories)


@pytest.mark.parametrize("trial", range(KILL_TRIALS))
def test_a_worker_killed_mid_crawl_loses_nothing_and_doubles_nothing(
        trial, small_recording, tmp_path, engine, make_prefix, receiver, redis_url, redis_client, prefix, capsys):
    info = small_recording
    rng = random.Random(trial)
    index_prefix = _alerted_prefix(engine, make_prefix, receiver)
    fleet = Fleet(info.directory, tmp_path / "data", redis_url, prefix, index_prefix,
                  env={"RASD_CRAWL__REPLAY_DOWNLOAD_DELAY": "0.1"})
    kill_after = rng.randint(1, 12)  # the victim's archive lines before the kill
    try:
        for name in ("w1", "w2", "w3"):
            fleet.start_worker(name)
        fleet.start_scheduler()
        deadline = time.monotonic() + 300
        while fleet.shard_lines().get("w1", 0) < kill_after:
            fleet.alive()
            if len(fleet.runs()) == len(info.outlets):
                break  # the others took every poll before w1 reached it: killed when all is done
            assert time.monotonic() < deadline, fleet.shard_lines()
            time.sleep(rng.uniform(0.0, 0.05))
        at_kill = fleet.shard_lines()
        runs_at_kill = len(fleet.runs())
        fleet.kill("w1")
        runs = fleet.wait_runs(len(info.outlets), timeout=300, ok=len(info.outlets))
        result = _settled(fleet, info, engine, index_prefix, receiver, redis_client, prefix)
    finally:
        fleet.stop()
    expected_stories = _matching_stories(engine, index_prefix, info)
    with capsys.disabled():
        print(f"\nkill -9 of w1 (trial {trial}) at shards {at_kill}, {runs_at_kill} runs done: "
              f"archived {result.archived}/{result.expected}, {result.lost_doubled()}, "
              f"stories notified {len(result.stories_notified)}/{len(expected_stories)}, "
              f"redelivered {result.redelivered}")
    assert result.lost_doubled() == dict.fromkeys(result.lost_doubled(), 0)
    assert (result.archived, result.indexed) == (result.expected, result.expected)
    _all_notified(result.stories_notified, expected_stories)
    assert sum(o == "ok" for _, o, _ in runs) == len(info.outlets)


def test_story_copies_crawled_by_three_workers_at_once_get_one_origin_and_one_notification(
        tmp_path, engine, make_prefix, receiver, redis_url, redis_client, prefix, capsys):
    from rasd.core.archive import read_archive
    from rasd.replay.recording import make_recording

    # three outlets whose pages are nearly all planted copies of one another: each worker takes
    # one outlet (one poll each), so every story's copies are decided by different processes
    info = make_recording(tmp_path / "rec", outlets=3, pages_per_outlet=4, syndicated_stories=4, seed=9)
    index_prefix = _alerted_prefix(engine, make_prefix, receiver)
    fleet = Fleet(info.directory, tmp_path / "data", redis_url, prefix, index_prefix)
    try:
        for name in ("w1", "w2", "w3"):
            fleet.start_worker(name, max_polls=1)
        time.sleep(1.0)  # all three idle on the queue before the polls arrive together
        fleet.start_scheduler()
        runs = fleet.wait_runs(len(info.outlets), timeout=300)
        result = _settled(fleet, info, engine, index_prefix, receiver, redis_client, prefix)
        records = list(read_archive(fleet.data / "archive"))
    finally:
        fleet.stop()
    by_url = {canonicalize_url(r["url"]): r for r in records}
    shard_of = {}
    for shard in (fleet.data / "archive" / "shards").glob("*"):
        for f in shard.glob("*.jsonl"):
            for line in f.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    shard_of[json.loads(line)["id"]] = shard.name
    stories = stories_of(fleet.data, info)
    spread = {key: {shard_of[by_url[canonicalize_url(u)]["id"]] for u in urls}
              for key, urls in info.stories.items()}
    origins = {key: [u for u in urls if by_url[canonicalize_url(u)]["story_id"] == by_url[canonicalize_url(u)]["id"]]
               for key, urls in info.stories.items()}
    posts_per_story = {key: sum(1 for _, body in receiver.posts for s in body.get("stories", [])
                                if canonicalize_url(s["url"]) in {canonicalize_url(u) for u in urls})
                       for key, urls in info.stories.items()}
    expected = _matching_stories(engine, index_prefix, info)
    with capsys.disabled():
        print(f"\nstory copies over 3 workers: runs {[(o, r) for o, r, _ in runs]}; workers per story "
              f"{ {k: sorted(v) for k, v in spread.items()} }; story ids per story "
              f"{ {k: len(v) for k, v in stories.items()} }; notifications per story {posts_per_story}")
    assert all(outcome == "ok" for _, outcome, _ in runs), runs
    assert result.lost_doubled() == dict.fromkeys(result.lost_doubled(), 0)
    assert any(len(v) >= 2 for v in spread.values()), spread  # copies decided by different workers
    assert all(len(ids) == 1 for ids in stories.values()), stories  # one story per planted story
    assert all(len(o) == 1 for o in origins.values()), origins  # one origin each
    planted_matching = set(info.stories) & expected
    assert planted_matching
    assert all(posts_per_story[k] <= 1 for k in planted_matching), posts_per_story  # never twice
    _all_notified({k for k in planted_matching if posts_per_story[k]}, planted_matching)
