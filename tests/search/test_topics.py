"""Tests of rasd/topics.py (and rasd/cli_topics.py) against the real search node: the taxonomy
as percolator queries run with the articles index's analyzer, and re-tagging after an edit."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
import yaml
from typer.testing import CliRunner

from rasd.core.archive import read_archive
from rasd.core.taxonomy import TOPICS_FILE, Taxonomy, load_taxonomy
from rasd.pipelines.enrich import tag_topics
from rasd.search.articles import build_template
from rasd.search.topics import (RULE_FIELDS,
    install_topics,
    percolate_topics,
    retag_archive,
    retag_index,
    topics_index)
from tests.search.conftest import seed_record

pytestmark = pytest.mark.search
CORPUS_PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "corpus" / "pages" / "jawharafm.net"


def mini_taxonomy(*rules: str) -> Taxonomy:
    return Taxonomy.model_validate({"schema_version": 1, "topics": [
        {"slug": "officials", "id": "medtop:11000000", "label_en": "officials", "label_ar": "مسؤولون",
         "rules": list(rules)}]})


def test_install_uses_the_article_analysis_and_is_idempotent(engine, make_prefix):
    prefix = make_prefix(init=False)
    taxonomy = load_taxonomy()
    first = install_topics(engine, prefix, taxonomy)
    assert first.action == "created" and first.queries == sum(len(t.groups) for t in taxonomy.topics)
    assert install_topics(engine, prefix, taxonomy).action == "unchanged"
    name = topics_index(prefix)
    settings = engine.request("GET", f"/{name}/_settings")[name]["settings"]["index"]
    template = build_template(prefix)["template"]
    assert settings["analysis"]["analyzer"] == json.loads(json.dumps(template["settings"]["analysis"]["analyzer"]))
    assert settings["hidden"] == "true"  # not in the <prefix>* data view
    props = engine.request("GET", f"/{name}/_mapping")[name]["mappings"]["properties"]
    assert props["text"]["fields"]["exact"]["analyzer"] == "rasd_arabic_exact"
    assert set(props) == set(template["mappings"]["properties"]) | set(RULE_FIELDS)
    assert engine.count(name) == first.queries


def test_seed_article_percolates_to_politics_and_conflict(engine, make_prefix):
    prefix = make_prefix(init=False)
    install_topics(engine, prefix, load_taxonomy())
    assert percolate_topics(engine, [seed_record()], prefix=prefix) == [["politics", "conflict"]]


def test_percolator_agrees_with_local_matcher_on_the_corpus(engine, make_prefix):
    import re

    prefix = make_prefix(init=False)
    taxonomy = load_taxonomy()
    install_topics(engine, prefix, taxonomy)
    docs = []
    for path in sorted(CORPUS_PAGES.glob("antcorpus_*.txt")):
        raw = path.read_text(encoding="utf-8")
        docs.append({"title": re.search(r"<TITLE>(.*?)</TITLE>", raw).group(1),
                     "text": re.search(r"<TEXT>(.*?)</TEXT>", raw, re.S).group(1)})
    from tests.search.conftest import sample_records
    from tests.search.test_query_syntax import story_records

    docs += [{"title": r["title"], "text": r.get("text") or ""} for r in sample_records() + story_records()]
    got = percolate_topics(engine, docs, prefix=prefix, batch=3)  # several requests
    # the crawl tags with the local matcher: it must give what the percolator gives
    assert got == [tag_topics(SimpleNamespace(**d), taxonomy) for d in docs]
    assert ["sport"] in got and ["weather"] in got
    assert sum(map(len, got)) > len(docs)


def test_rule_with_one_hamza_spelling_matches_the_other_through_the_analyzer(engine, make_prefix):
    prefix = make_prefix(init=False)
    install_topics(engine, prefix, mini_taxonomy("مسئول", "بغداد"))
    docs = [{"title": "مسؤولون عراقيون يطالبون بانسحاب القوات", "text": ""},   # title: enough
            {"title": "خبر", "text": "قال المسؤولون في بغداد إن المحادثات انتهت"},  # 2 groups in text
            {"title": "خبر", "text": "قال المسؤولون إن المحادثات انتهت"},           # 1 group only
            {"title": "خبر", "text": "لا شيء هنا"}]
    assert percolate_topics(engine, docs, prefix=prefix) == [["officials"], ["officials"], [], []]


def test_an_edited_taxonomy_replaces_the_queries(engine, make_prefix):
    prefix = make_prefix(init=False)
    install_topics(engine, prefix, mini_taxonomy("مسئول", "بغداد", "سوريا"))
    result = install_topics(engine, prefix, mini_taxonomy("مسئول"))
    assert (result.action, result.queries, result.removed) == ("updated", 1, 2)
    assert engine.count(topics_index(prefix)) == 1


def test_a_rule_the_engine_refuses_is_an_error(engine, make_prefix):
    from rasd.core.errors import EngineError

    prefix = make_prefix(init=False)
    bad = mini_taxonomy("مسئول")
    object.__setattr__(bad.topics[0], "groups", [["مسئول AND ("]])  # bypasses the local check
    with pytest.raises(EngineError, match="rasd-test"):
        install_topics(engine, prefix, bad)


def _edited_taxonomy(tmp_path: Path) -> Path:
    """config/topics.yaml with a culture rule for pottery (الفخار) added."""
    data = yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))
    culture = next(t for t in data["topics"] if t["slug"] == "culture")
    culture["rules"].append("الفخار OR حرفي*")
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_retag_after_editing_a_rule_changes_index_and_archive(engine, loaded, tmp_path):
    prefix, records = loaded
    archive = tmp_path / "data" / "archive"
    archive.mkdir(parents=True)
    (archive / "2024-03-10.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")

    def indexed_topics() -> dict[str, list[str]]:
        hits = engine.search(prefix, {"size": 100, "_source": ["story_id", "topics"]})["hits"]["hits"]
        return {h["_source"]["story_id"]: h["_source"]["topics"] for h in hits}

    def tagger(docs):
        return percolate_topics(engine, docs, prefix=prefix)

    assert indexed_topics()["seed"] == ["iraq"]  # as indexed by the fixture
    install_topics(engine, prefix, load_taxonomy())
    retag_index(engine, prefix, tagger)
    retag_archive(archive, tagger)
    before = indexed_topics()
    assert before["seed"] == ["politics", "conflict"] and before["jar"] == []

    install_topics(engine, prefix, load_taxonomy(_edited_taxonomy(tmp_path)))
    assert retag_index(engine, prefix, tagger) == (len(records), 1)
    after = indexed_topics()
    assert after == before | {"jar": ["culture"]}  # صناعة الفخار in the title
    assert retag_archive(archive, tagger) == (len(records), 1)
    assert {r["story_id"]: r["topics"] for r in read_archive(archive)} == after
    assert retag_archive(archive, tagger) == (len(records), 0)  # amendments applied on read
    lines = (archive / "amendments" / "topics.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["topics"] == ["culture"]


def test_cli_install_and_retag(engine, loaded, tmp_path, monkeypatch):
    from rasd.cli import topics as cli_topics

    prefix, records = loaded
    data = tmp_path / "data"
    (data / "archive").mkdir(parents=True)
    (data / "archive" / "2024-03-10.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    monkeypatch.setenv("RASD_ENGINE__INDEX_PREFIX", prefix)
    app = typer.Typer()
    app.command("noop")(lambda: None)
    cli_topics.register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["topics", "install"])
    assert result.exit_code == 0, result.output
    assert f"{prefix}-topics" in result.output and "created" in result.output
    result = runner.invoke(app, ["topics", "retag", "--data-dir", str(data), "--json",
                                 "--taxonomy", str(_edited_taxonomy(tmp_path))])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["install"] == "updated" and out["index"]["documents"] == len(records)
    assert out["archive"]["records"] == len(records) and out["archive"]["changed"] >= 2
    assert out["index"]["changed"] == out["archive"]["changed"]  # same records, same matcher
    offline = runner.invoke(app, ["topics", "retag", "--data-dir", str(data), "--offline", "--json"])
    assert offline.exit_code == 0 and json.loads(offline.output)["matcher"] == "local"
    bad = runner.invoke(app, ["topics", "install", "--taxonomy", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2 and "cannot read" in bad.output
