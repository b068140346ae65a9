"""rasd/cli_alerts.py: `rasd alerts add` refuses an invalid query with the engine's reason;
`rasd alerts test NAME --since` shows the seed story once; list/show/remove/deliver."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from rasd.search.indexing import index_articles
from rasd.cli.alerts import register

pytestmark = [pytest.mark.search, pytest.mark.integration]


@pytest.fixture
def cli(engine, make_prefix, monkeypatch, tmp_path):
    prefix = make_prefix()
    monkeypatch.setenv("RASD_ENGINE__INDEX_PREFIX", prefix)
    monkeypatch.setenv("RASD_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    return prefix, lambda *args: runner.invoke(app, ["alerts", *args])


def test_add_refuses_invalid_query_with_engine_reason(cli):
    _, run = cli
    result = run("add", "broken", "--query", "مسئولون AND (التحالف")
    assert result.exit_code == 2
    assert "invalid query" in result.output and "Cannot parse" in result.output
    assert "Traceback" not in result.output
    result = run("add", "Bad Name", "--query", "x")
    assert result.exit_code == 2 and "slug" in result.output


def test_alerts_test_shows_the_seed_story_once(engine, cli, seed_pair, tmp_path):
    prefix, run = cli
    index_articles(engine, [a.to_record() for a in seed_pair], index=prefix)
    engine.refresh(prefix)
    result = run("add", "iraq-coalition", "--query", "مسئولون AND التحالف", "--lang", "ar",
                 "--frequency", "daily", "--webhook", "http://127.0.0.1:9/hook",
                 "--email", "analyst@example.org", "--atom", str(tmp_path / "f.atom"))
    assert result.exit_code == 0, result.output
    result = run("test", "iraq-coalition", "--since", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert "1 stories" in result.output and "euronews_arabic" in result.output
    assert result.output.count("euronews_arabic") == 1 and "also reported by 1 other outlet" in result.output
    stories = json.loads(run("test", "iraq-coalition", "--since", "2024-01-01", "--json").output)
    assert len(stories) == 1 and stories[0]["story_id"] == seed_pair[0].story_id
    assert stories[0]["outlets"] == ["akhbar_example", "euronews_arabic"]
    assert json.loads(run("test", "iraq-coalition", "--since", "7d", "--json").output) == []
    listed = json.loads(run("list", "--json").output)
    assert [a["name"] for a in listed] == ["iraq-coalition"]
    assert listed[0]["deliveries"]["email"]["to"] == ["analyst@example.org"]
    shown = json.loads(run("show", "iraq-coalition").output)
    assert shown["percolator_query"]["bool"]["filter"] == [{"terms": {"language": ["ar"]}}]
    assert run("add", "iraq-coalition", "--query", "x").exit_code == 2
    assert run("remove", "iraq-coalition").exit_code == 0
    assert run("show", "iraq-coalition").exit_code == 2
    result = run("deliver")
    assert result.exit_code == 0 and "0 pending" in result.output
