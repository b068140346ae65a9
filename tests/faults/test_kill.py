"""``kill -9`` at every point between two writes, and at random times: nothing lost, nothing doubled.

Each trial crawls the generated recording (40 pages, 8 outlets, 3 syndicated stories) with
indexing and one webhook alert on, in a real child process, with the real replay server, the
real search node and a real loopback webhook receiver.  The crawl is killed with SIGKILL —
at a fail point (:mod:`rasd.core.failpoints`; the process kills itself there, between two writes)
or from outside at a random moment — and then run again to completion.  Then
:func:`tests.faults.conftest.census` counts, against the recording's ground truth: pages never
archived, articles archived twice, URLs the seen-URL store knows without an archive line,
archived articles missing from the index or indexed twice, and stories notified twice (or not
at all, against a clean run).  Every count must be 0.
"""

from __future__ import annotations

import random
import time

import pytest

from rasd.alerts.match import add_alert, parse_alert
from tests.faults.conftest import ALERT_QUERY, census, crawl, kill_group, start_crawl

pytestmark = [pytest.mark.search, pytest.mark.integration, pytest.mark.faults, pytest.mark.slow]

#: (fail point, which time it fires): per-article points a few articles in, follower points on
#: their first batch
POINTS = [("after_dedup", 3), ("in_stories", 4), ("in_enrich", 5), ("before_archive_write", 6),
          ("after_archive_write", 7), ("after_seen_commit", 8), ("after_state_commit", 9),
          ("before_index", 1), ("after_index", 1), ("before_alert_commit", 1),
          ("after_alert_commit", 2), ("after_delivery", 1)]
RANDOM_TRIALS = 20
RESULTS: dict[str, dict] = {}


def _prefix_with_alert(engine, make_prefix, receiver) -> str:
    prefix = make_prefix()
    add_alert(engine, prefix, parse_alert({"name": "levant", "query": ALERT_QUERY,
                                           "deliveries": {"webhook": {"url": receiver.url}}}))
    return prefix


@pytest.fixture(scope="module")
def reference(recording, engine, tmp_path_factory):
    """The stories a clean crawl notifies (the set every trial must reach, once each)."""
    from tests.faults.conftest import Receiver
    from tests.search.conftest import drop_prefix

    receiver = Receiver()
    prefix = f"rasd-test-faults-ref-{random.randrange(1 << 30):x}"
    try:
        from rasd.search.articles import init_index

        init_index(engine, prefix)
        add_alert(engine, prefix, parse_alert({"name": "levant", "query": ALERT_QUERY,
                                               "deliveries": {"webhook": {"url": receiver.url}}}))
        data = tmp_path_factory.mktemp("faults-reference")
        done = crawl(recording.directory, data, prefix)
        assert done.returncode == 0, done.stderr[-2000:]
        result = census(data, recording, engine, prefix, receiver)
    finally:
        receiver.stop()
        drop_prefix(engine, prefix)
    assert result.archived == result.expected == 40
    assert result.indexed == 40 and result.notifications == len(result.stories_notified) >= 3
    return result


def _check(name: str, result, reference) -> None:
    RESULTS[name] = result.lost_doubled() | {"redelivered": result.redelivered}
    assert result.archived == result.expected, result
    assert result.lost_doubled() == dict.fromkeys(result.lost_doubled(), 0), result
    assert result.indexed == result.archived
    assert result.stories_notified == reference.stories_notified  # none lost, none extra


@pytest.mark.parametrize("point,nth", POINTS, ids=[p for p, _ in POINTS])
def test_kill_at_fail_point_then_rerun(point, nth, recording, engine, make_prefix, receiver, reference,
                                       tmp_path):
    prefix = _prefix_with_alert(engine, make_prefix, receiver)
    killed = crawl(recording.directory, tmp_path / "data", prefix, failpoint=f"{point}:{nth}")
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    assert f"failpoint {point}: SIGKILL" in killed.stderr
    rerun = crawl(recording.directory, tmp_path / "data", prefix)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    result = census(tmp_path / "data", recording, engine, prefix, receiver)
    _check(point, result, reference)
    # deliveries are at least once: a kill between "sent" and "marked sent" (here, or in the
    # background thread at whatever point the crawl was killed) resends with the same id
    assert result.redelivered <= (2 if point == "after_delivery" else 1)


def test_kill_at_random_times_then_rerun(recording, engine, make_prefix, receiver, reference, tmp_path,
                                         capsys):
    rng = random.Random(20261201)
    t0 = time.monotonic()
    clean = crawl(recording.directory, tmp_path / "timing", _prefix_with_alert(engine, make_prefix, receiver))
    whole = time.monotonic() - t0
    assert clean.returncode == 0
    rows = []
    for trial in range(RANDOM_TRIALS):
        receiver.posts.clear()
        prefix = _prefix_with_alert(engine, make_prefix, receiver)
        data = tmp_path / f"trial-{trial}"
        proc = start_crawl(recording.directory, data, prefix)
        delay = rng.uniform(1.0, whole)  # start-up (imports, opening stores) takes about 1 s
        time.sleep(delay)
        finished = proc.poll() is not None
        kill_group(proc)
        rerun = crawl(recording.directory, data, prefix)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        result = census(data, recording, engine, prefix, receiver)
        rows.append((trial, round(delay, 2), finished, result))
        _check(f"random-{trial}", result, reference)
    with capsys.disabled():
        print(f"\nrandom kills: {RANDOM_TRIALS} trials over a {whole:.1f} s crawl "
              f"({sum(1 for r in rows if not r[2])} killed mid-crawl)")
        for trial, delay, finished, r in rows:
            print(f"  trial {trial:2d} kill at {delay:5.2f} s{' (after it ended)' if finished else ''}: "
                  f"archived {r.archived}/{r.expected}, indexed {r.indexed}, "
                  f"stories notified {len(r.stories_notified)}, lost/doubled {sum(r.lost_doubled().values())}, "
                  f"redelivered {r.redelivered}")
    assert sum(1 for r in rows if not r[2]) >= RANDOM_TRIALS // 2  # most kills landed mid-crawl


def test_zz_print_fault_table(capsys):
    """The closing summary of the fault trials of this module (runs last)."""
    if not RESULTS:
        pytest.skip("no fault trial ran")
    with capsys.disabled():
        print("\nfault trials (lost/doubled per place):")
        for name, counts in RESULTS.items():
            print(f"  {name:22s} " + " ".join(f"{k}={v}" for k, v in counts.items()))
    assert all(v == 0 for c in RESULTS.values() for k, v in c.items() if k != "redelivered")
