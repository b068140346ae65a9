"""Tests for pipelines/index.py: indexing, idempotent re-indexing, the spool, and the engine
stopped mid-index (real restart of the node when this session can control it)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipelines.index import Spool, index_articles
from rasd.article import Article
from rasd.engine import BulkItem, EngineUnavailable, connect
from rasd.search import build_template, mapped_fields
from tests.search.conftest import ENGINE_URL, engine_settings, no_secret
from tests.search.shims import TcpProxy

ROOT = Path(__file__).resolve().parents[2]


def _synthetic(n: int, base: list[dict]) -> list[dict]:
    out = []
    for i in range(n):
        rec = dict(base[i % len(base)])
        rec["id"] = f"doc-{i:06d}"
        rec["url"] = f"https://example.test/{i}"
        out.append(rec)
    return out


# --- pure: documents and the spool --------------------------------------------------------------


def test_every_article_field_is_mapped():
    record = Article(url="https://x.test/a", outlet="x").to_record()
    assert set(record) <= mapped_fields(build_template("rasd-articles")["template"]["mappings"])


class _FakeEngine:
    """Answers bulk requests from a script: a status per call, or an exception."""

    def __init__(self, script):
        self.script, self.calls = list(script), []

    def bulk_create(self, index, docs, require_alias=False):
        self.calls.append([d for d, _ in docs])
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        out = []
        for d, _ in docs:
            status = step(d) if callable(step) else step
            out.append(BulkItem(d, status, "mapper_parsing_exception" if status == 400 else None))
        return out


def test_item_outcomes_are_counted_and_kept(tmp_path, records):
    spool = Spool(tmp_path)
    status = {records[0]["id"]: 409, records[1]["id"]: 400}
    eng = _FakeEngine([lambda d: status.get(d, 201)])
    rep = index_articles(eng, records, index="x", spool=spool)
    assert (rep.indexed, rep.already_indexed, dict(rep.failed)) == \
        (len(records) - 2, 1, {"mapper_parsing_exception": 1})
    rejected = [json.loads(l) for l in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["id"] == rejected[0]["document"]["id"] == records[1]["id"]
    assert rejected[0]["reason"].startswith("mapper_parsing_exception")
    assert rep.total == len(records)


def test_retryable_items_are_retried_then_spooled(tmp_path, records):
    spool = Spool(tmp_path)
    eng = _FakeEngine([429, 429, 429])
    rep = index_articles(eng, records, index="x", spool=spool, retries=2, sleep=lambda s: None)
    assert len(eng.calls) == 3 and rep.spooled == len(records)
    spool.seal()
    assert spool.pending() == len(records)


def test_engine_down_spools_everything_without_hammering(tmp_path, records):
    spool = Spool(tmp_path)
    eng = _FakeEngine([EngineUnavailable("down")])
    rep = index_articles(eng, records * 3, index="x", spool=spool, chunk_size=4)
    assert len(eng.calls) == 1
    assert rep.spooled == len(records) * 3
    with pytest.raises(EngineUnavailable):
        index_articles(_FakeEngine([EngineUnavailable("down")]), records, index="x")


def test_missing_id_is_rejected_not_lost(tmp_path):
    spool = Spool(tmp_path)
    rep = index_articles(_FakeEngine([201]), [{"url": "u", "outlet": "o"}], index="x", spool=spool)
    assert rep.failed["missing_id"] == 1 and spool.rejected() == 1


def test_spool_recovers_parts_of_dead_processes_and_skips_torn_lines(tmp_path):
    (tmp_path / "000000000007-999999999.jsonl.part").write_text('a\t{"id":"a"}\nb\t{"id":"b"}\nc\t{"id"')
    spool = Spool(tmp_path)
    assert [p.name for p in spool.segments()] == ["000000000007-999999999.jsonl"]
    eng = _FakeEngine([201])
    rep = spool.replay(eng, "x")
    assert eng.calls == [["a", "b"]]
    assert (rep.indexed, rep.failed["torn_spool_line"], spool.pending()) == (2, 1, 0)


def test_replay_keeps_segment_when_engine_down_and_rewrites_leftovers(tmp_path, records):
    spool = Spool(tmp_path)
    for rec in records:
        assert spool.append(rec)
    seg = spool.seal()
    rep = spool.replay(_FakeEngine([EngineUnavailable("down")]), "x")
    assert rep.spooled == len(records) and spool.segments() == [seg]  # untouched
    # half goes through, then the engine dies: the rest is rewritten, the old segment deleted
    rep = spool.replay(_FakeEngine([201, EngineUnavailable("down")]), "x", chunk_size=3)
    assert rep.indexed == 3 and rep.spooled == len(records) - 3
    assert seg not in spool.segments() and spool.pending() == len(records) - 3


# --- real engine ------------------------------------------------------------------------------


@pytest.mark.search
def test_index_and_count(engine, make_prefix, records):
    prefix = make_prefix()
    rep = index_articles(engine, records, index=prefix)
    engine.refresh(prefix)
    assert rep.indexed == len(records) and not rep.failed and not rep.unmapped_fields
    assert engine.count(prefix) == len(records)
    doc = engine.request("GET", f"/{prefix}/_doc/{records[0]['id']}")
    assert doc["_source"]["title"] == records[0]["title"]
    assert doc["_index"] == f"{prefix}-000001"


@pytest.mark.search
def test_reindexing_same_records_leaves_count_unchanged(engine, make_prefix, records):
    prefix = make_prefix()
    first = index_articles(engine, records, index=prefix)
    second = index_articles(engine, records, index=prefix, chunk_size=2)
    engine.refresh(prefix)
    assert (first.indexed, second.indexed, second.already_indexed) == (len(records), 0, len(records))
    assert engine.count(prefix) == len(records)


@pytest.mark.search
def test_create_semantics_across_rolled_over_indices(engine, make_prefix, records):
    prefix = make_prefix()
    index_articles(engine, records, index=prefix)
    engine.request("POST", f"/{prefix}/_rollover")
    assert len(engine.alias_indices(prefix)) == 2
    rep = index_articles(engine, records, index=prefix, check_existing=True)
    engine.refresh(prefix)
    assert rep.already_indexed == len(records) and engine.count(prefix) == len(records)


@pytest.mark.search
def test_mapping_rejection_is_counted_with_reason(engine, make_prefix, records, tmp_path):
    prefix = make_prefix()
    bad = dict(records[0], id="bad-date", published_at="not a date")
    spool = Spool(tmp_path)
    rep = index_articles(engine, [bad, records[1]], index=prefix, spool=spool)
    assert rep.indexed == 1 and rep.failed == {"mapper_parsing_exception": 1}
    assert spool.rejected() == 1 and spool.pending() == 0


@pytest.mark.search
def test_missing_alias_spools_instead_of_auto_creating_an_index(engine, make_prefix, records, tmp_path):
    prefix = make_prefix(init=False)
    spool = Spool(tmp_path)
    rep = index_articles(engine, records, index=prefix, spool=spool, require_alias=True)
    assert rep.spooled == len(records) and not engine.exists(prefix)
    spool.seal()
    from rasd.search import init_index
    init_index(engine, prefix)
    assert spool.replay(engine, prefix, require_alias=True).indexed == len(records)


def _node_is_ours() -> bool:
    """Whether the engine under test is the scripts/search-node node this session may restart."""
    parts = urlsplit(ENGINE_URL)
    if parts.hostname not in ("127.0.0.1", "localhost") or \
            parts.port != int(os.environ.get("RASD_SEARCH_PORT", "9200")):
        return False
    if os.environ.get("RASD_SEARCH_NO_RESTART") == "1":
        return False
    return subprocess.run([ROOT / "scripts" / "search-node", "status"], capture_output=True).returncode == 0


def _node(cmd: str) -> None:
    subprocess.run([ROOT / "scripts" / "search-node", cmd], check=True, capture_output=True, timeout=240)


@pytest.mark.search
def test_engine_stopped_mid_index_then_back_loses_and_duplicates_nothing(engine, make_prefix, records,
                                                                        tmp_path, capsys):
    """Index N documents; after a few chunks the engine stops (the real node, restarted with
    scripts/search-node when this session controls it; otherwise a proxy that resets every
    connection) while requests are in flight; the rest goes to the spool; the engine comes back;
    the spool is replayed.  Final count must be N: 0 lost, 0 duplicated."""
    n, chunk = 3000, 100
    prefix = make_prefix()
    docs = _synthetic(n, records)
    real = _node_is_ours()
    proxy = None if real else TcpProxy(ENGINE_URL)
    eng = engine if real else connect(engine_settings(proxy.url, timeout_seconds=5), no_secret)
    spool, done, stopper = Spool(tmp_path / "spool"), [0], None

    def stop_engine():
        _node("stop") if real else proxy.kill()

    def progress(k: int) -> None:
        nonlocal stopper
        done[0] += k
        if done[0] == 5 * chunk:  # stop while the next requests are being sent
            stopper = threading.Thread(target=stop_engine)
            stopper.start()
        elif stopper is not None:
            time.sleep(0.05)

    try:
        first = index_articles(eng, docs, index=prefix, spool=spool, chunk_size=chunk, retries=1,
                               backoff_seconds=0.1, progress=progress)
        stopper.join()
        spool.seal()
        assert first.spooled > 0 and first.total == n, first.as_dict()
        assert spool.pending() == first.spooled
        # while down: replay keeps everything
        down = spool.replay(eng, prefix)
        assert down.indexed == 0 and spool.pending() == first.spooled
        _node("start") if real else proxy.revive()
        replay = spool.replay(eng, prefix)
        eng.refresh(prefix)
        final = eng.count(prefix)
    finally:
        if real:
            _node("start")  # idempotent; never leave the shared node down
        elif proxy is not None:
            proxy.close()
    delivered = first.indexed + replay.indexed
    lost, duplicated = n - final, max(0, final - n)
    with capsys.disabled():
        print(f"\nfault test ({'node restarted' if real else 'proxy reset'}): {n} documents, "
              f"{first.indexed} indexed before the stop, {first.spooled} spooled, replay: "
              f"{replay.indexed} indexed + {replay.already_indexed} already there; "
              f"final count {final}: lost {lost}, duplicated {duplicated}")
    assert spool.pending() == 0 and not replay.failed and not first.failed
    assert delivered + replay.already_indexed == n  # each document exactly one outcome
    assert (lost, duplicated) == (0, 0)
