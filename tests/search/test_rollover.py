"""Monthly indices behind the alias: ``rasd index rollover`` on the real node, the index
follower writing to the new generation and amending documents of the old one, and the
lifecycle policies shipped for clusters that manage rollover themselves (ILM, ISM)."""

from __future__ import annotations

import json

import pytest

from rasd.core.archive import ArchiveWriter
from rasd.core.paths import CONFIG_DIR
from rasd.search.articles import build_template, rollover
from rasd.search.indexing import IndexFollower

LIFECYCLE = CONFIG_DIR / "lifecycle"


@pytest.mark.search
def test_rollover_keeps_reads_whole_and_amendments_reaching_old_generations(engine, make_prefix, records,
                                                                            tmp_path):
    prefix = make_prefix()
    writer = ArchiveWriter(tmp_path / "archive", sync=False)
    first, rest = records[:3], records[3:]
    for rec in first:
        writer.append("2024-01-28.jsonl", rec)
    follower = IndexFollower(tmp_path, lambda: engine, prefix)
    assert follower.run().indexed == 3
    kept = rollover(engine, prefix)  # 30 days not reached: nothing happens
    assert not kept.rolled_over and kept.conditions == {"[max_age: 30d]": False}
    rolled = rollover(engine, prefix, force=True)
    assert (rolled.rolled_over, rolled.old, rolled.new) == (True, f"{prefix}-000001", f"{prefix}-000002")
    assert engine.alias_indices(prefix) == {f"{prefix}-000001": False, f"{prefix}-000002": True}
    for rec in rest:
        writer.append("2024-01-29.jsonl", rec)
    writer.amend("topics", [{"id": first[0]["id"], "topics": ["economy"]}])
    writer.close()
    second = follower.run()
    engine.refresh(prefix)
    assert (second.indexed, second.amended, not second.failed) == (len(rest), 1, True)
    assert engine.count(f"{prefix}-000001") == 3 and engine.count(f"{prefix}-000002") == len(rest)
    assert engine.count(prefix) == len(records)  # one read over both generations
    doc = engine.request("GET", f"/{prefix}-000001/_doc/{first[0]['id']}")
    assert doc["_source"]["topics"] == ["economy"]
    follower.close()


def test_lifecycle_policies_roll_over_monthly_the_indices_of_the_template():
    ilm = json.loads((LIFECYCLE / "ilm-rasd-articles.json").read_text(encoding="utf-8"))
    ism = json.loads((LIFECYCLE / "ism-rasd-articles.json").read_text(encoding="utf-8"))
    assert ilm["policy"]["phases"]["hot"]["actions"]["rollover"]["max_age"] == "30d"
    [hot] = [s for s in ism["policy"]["states"] if s["name"] == ism["policy"]["default_state"]]
    assert hot["actions"][0]["rollover"]["min_index_age"] == "30d"
    patterns = build_template("rasd-articles")["index_patterns"]
    assert ism["policy"]["ism_template"][0]["index_patterns"] == patterns == ["rasd-articles-*"]
