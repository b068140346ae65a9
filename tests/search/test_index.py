"""Tests for pipelines/index.py: indexing, idempotent re-indexing, the index as a follower of the
archive, and the engine stopped mid-index (real restart of the node when this session can
control it)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rasd.core.archive import ArchiveWriter, lag
from rasd.search.indexing import IndexFollower, index_articles
from rasd.core.article import Article
from rasd.search.engine import BulkItem, EngineUnavailable, connect
from rasd.search.articles import build_template, mapped_fields
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


def _archive(data_dir: Path, records: list[dict]) -> ArchiveWriter:
    """Write ``records`` as archive lines of one day file; the writer stays open for more."""
    writer = ArchiveWriter(data_dir / "archive", sync=False)
    for rec in records:
        writer.append("2024-01-28.jsonl", rec)
    return writer


# --- pure ----------------------------------------------------------------------------------------


def test_every_article_field_is_mapped():
    record = Article(url="https://x.test/a", outlet="x").to_record()
    assert set(record) <= mapped_fields(build_template("rasd-articles")["template"]["mappings"])


class _ScriptedEngine:
    """Answers ``_bulk`` from a script (a status per call, or an exception): the 429 and
    connection-reset answers a real node cannot be made to give on demand."""

    def __init__(self, script):
        self.script, self.calls = list(script), []

    def bulk(self, ops, require_alias=False):
        self.calls.append([op[2] for op in ops])
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return [BulkItem(op[2], step(op[2]) if callable(step) else step) for op in ops]

    def alias_indices(self, alias):
        return {}

    def close(self):
        pass


def test_follower_retries_429_then_stops_without_moving_its_checkpoint(tmp_path, records):
    _archive(tmp_path, records).close()
    eng = _ScriptedEngine([429, 429, 429])
    follower = IndexFollower(tmp_path, lambda: eng, "x", retries=2, backoff_seconds=0, init=False,
                             require_alias=False)
    with pytest.raises(EngineUnavailable):
        follower.run()
    assert len(eng.calls) == 3
    assert follower.lag()[0] == len(records)  # nothing given up: all of it still waits
    follower.close()


def test_follower_engine_down_sends_one_request_and_keeps_everything(tmp_path, records):
    _archive(tmp_path, records * 3).close()
    eng = _ScriptedEngine([EngineUnavailable("down")])
    follower = IndexFollower(tmp_path, lambda: eng, "x", batch_size=4, init=False, require_alias=False)
    with pytest.raises(EngineUnavailable):
        follower.run()
    assert len(eng.calls) == 1 and follower.lag()[0] == len(records) * 3
    follower.close()


def test_follower_keeps_refused_and_torn_lines_in_rejected_and_moves_on(tmp_path, records):
    writer = _archive(tmp_path, records[:2])
    writer.append("2024-01-28.jsonl", {"url": "u", "outlet": "o"})  # no id
    writer.close()
    with open(tmp_path / "archive" / "2024-01-28.jsonl", "ab") as fh:
        fh.write(b'{"id": "torn-by-a-cra\n')  # a torn line someone closed off
    status = {records[0]["id"]: 409, records[1]["id"]: 400}
    eng = _ScriptedEngine([lambda d: status.get(d, 201)])
    follower = IndexFollower(tmp_path, lambda: eng, "x", init=False, require_alias=False)
    rep = follower.run()
    assert (rep.indexed, rep.already_indexed) == (0, 1)
    assert dict(rep.failed) == {"http_400": 1, "missing_id": 1, "invalid_line": 1}
    assert follower.rejected() == 3 and follower.lag() == (0, 0)
    reasons = sorted(r[0] for r in follower.db.execute("SELECT reason FROM rejected"))
    assert reasons == ["http_400", "invalid_line", "missing_id"]
    follower.close()


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
def test_mapping_rejection_is_counted_with_reason(engine, make_prefix, records):
    prefix = make_prefix()
    bad = dict(records[0], id="bad-date", published_at="not a date")
    rep = index_articles(engine, [bad, records[1]], index=prefix)
    assert rep.indexed == 1 and rep.failed == {"mapper_parsing_exception": 1}


@pytest.mark.search
def test_follower_indexes_the_archive_once_and_amendments_as_updates(engine, make_prefix, records, tmp_path):
    prefix = make_prefix()
    writer = _archive(tmp_path, records)
    follower = IndexFollower(tmp_path, lambda: engine, prefix)
    first = follower.run()
    assert (first.indexed, follower.lag()[0]) == (len(records), 0)
    assert follower.run().total == 0  # nothing new: nothing sent
    # a re-link and a re-tag of documents already in the index become updates
    writer.amend("links", [{"id": records[1]["id"], "duplicate_of": records[0]["id"]}])
    writer.amend("topics", [{"id": records[2]["id"], "topics": ["sport"]}])
    writer.close()
    second = follower.run()
    engine.refresh(prefix)
    assert second.amended == 2 and not second.failed
    got = {h["_id"]: h["_source"] for h in
           engine.search(prefix, {"size": 50, "query": {"match_all": {}}})["hits"]["hits"]}
    assert len(got) == len(records)
    assert got[records[1]["id"]]["duplicate_of"] == records[0]["id"]
    assert got[records[2]["id"]]["topics"] == ["sport"]
    # a checkpoint lost (or a kill before it was saved): everything again, nothing doubled
    follower.reset()
    again = follower.run()
    engine.refresh(prefix)
    assert (again.already_indexed, again.amended, engine.count(prefix)) == (len(records), 2, len(records))
    follower.close()


@pytest.mark.search
def test_follower_after_rollover_finds_documents_in_older_indices(engine, make_prefix, records, tmp_path):
    prefix = make_prefix()
    writer = _archive(tmp_path, records)
    follower = IndexFollower(tmp_path, lambda: engine, prefix)
    follower.run()
    engine.request("POST", f"/{prefix}/_rollover")
    writer.amend("topics", [{"id": records[0]["id"], "topics": ["economy"]}])
    writer.close()
    follower.reset()  # everything again, across two indices
    rep = follower.run()
    engine.refresh(prefix)
    assert (rep.already_indexed, rep.amended, engine.count(prefix)) == (len(records), 1, len(records))
    doc = engine.search(prefix, {"query": {"ids": {"values": [records[0]["id"]]}}})["hits"]["hits"][0]
    assert doc["_source"]["topics"] == ["economy"] and doc["_index"] == f"{prefix}-000001"
    follower.close()


@pytest.mark.search
def test_follower_refuses_to_auto_create_a_missing_alias(engine, make_prefix, records, tmp_path):
    prefix = make_prefix(init=False)
    _archive(tmp_path, records).close()
    follower = IndexFollower(tmp_path, lambda: engine, prefix, init=False)
    with pytest.raises(EngineUnavailable, match="alias"):
        follower.run()
    assert not engine.exists(prefix) and follower.lag()[0] == len(records)
    follower.close()


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
    """The archive holds N documents; the follower indexes them; after a few batches the engine
    stops (the real node, restarted with scripts/search-node when this session controls it;
    otherwise a proxy that resets every connection) while requests are in flight; the follower
    stops with its checkpoint at the last definite answer; the engine comes back; the follower
    runs again.  Final count must be N: 0 lost, 0 duplicated."""
    n, chunk = 3000, 100
    prefix = make_prefix()
    _archive(tmp_path, _synthetic(n, records)).close()
    real = _node_is_ours()
    proxy = None if real else TcpProxy(ENGINE_URL)
    eng = engine if real else connect(engine_settings(proxy.url, timeout_seconds=5), no_secret)
    done, stopper = [0], None

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

    follower = IndexFollower(tmp_path, lambda: eng, prefix, batch_size=chunk, retries=1, backoff_seconds=0.1)
    try:
        with pytest.raises(EngineUnavailable) as raised:
            follower.run(progress=progress)
        first = raised.value.report
        stopper.join()
        waiting = follower.lag()[0]
        assert 0 < waiting < n and first.indexed + waiting == n, first.as_dict()
        with pytest.raises(EngineUnavailable):  # while down: nothing moves
            follower.run()
        assert follower.lag()[0] == waiting
        _node("start") if real else proxy.revive()
        replay = follower.run()
        eng.refresh(prefix)
        final = eng.count(prefix)
    finally:
        if real:
            _node("start")  # idempotent; never leave the shared node down
        elif proxy is not None:
            proxy.close()
        follower.close()
    lost, duplicated = n - final, max(0, final - n)
    with capsys.disabled():
        print(f"\nfault test ({'node restarted' if real else 'proxy reset'}): {n} documents, "
              f"{first.indexed} indexed before the stop, {waiting} waiting in the archive, second run: "
              f"{replay.indexed} indexed + {replay.already_indexed} already there; "
              f"final count {final}: lost {lost}, duplicated {duplicated}")
    assert lag(tmp_path / "archive", {})[0] == n
    assert not replay.failed and not first.failed
    assert first.indexed + replay.indexed + replay.already_indexed >= n
    assert (lost, duplicated) == (0, 0)
