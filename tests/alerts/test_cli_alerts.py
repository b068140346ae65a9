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
    assert "invalid query" in result.output and "opening parenthesis ( is not closed" in result.output
    assert "Traceback" not in result.output and "Exception" not in result.output
    result = run("add", "Bad Name", "--query", "x")
    assert result.exit_code == 2 and "alert: name: 'Bad Name' is not a slug" in " ".join(result.output.split())
    assert "Value error" not in result.output and "rasd alerts add:" not in result.output


@pytest.mark.parametrize("args, reason", [
    (["--lang", "arabic"], "filters.languages: 'arabic' is not an ISO 639 language code (ar, fa, ur, en …); "
                           "did you mean ar?"),
    (["--lang", "xx"], "filters.languages: 'xx' is not an ISO 639 language code (ar, fa, ur, en …)\n"),
    (["--lang", "ara"], "did you mean ar?"),  # near misses among the languages Rasd sees, not "zxx"
    (["--topic", "nosuchtopic"], "filters.topics: 'nosuchtopic' is not a topic of config/topics.yaml"),
    (["--outlet", "nosuch"], "filters.outlets: 'nosuch' is not a known outlet"),
    (["--timezone", "Mars/Olympus"], "'Mars/Olympus' is not a time zone"),
    (["--digest-hour", "24"], "digest_hour: Input should be less than or equal to 23"),
])
def test_add_refuses_filters_that_cannot_match(cli, args, reason):
    _, run = cli
    result = run("add", "never", "--query", "العراق", "--webhook", "http://127.0.0.1:9/hook", *args)
    words = " ".join(result.output.split()) + "\n"  # the message's end, where a hint would follow
    assert result.exit_code == 2 and reason in words, result.output
    assert json.loads(run("list", "--json").output) == []


def test_add_refuses_a_query_on_a_field_no_article_has(cli):
    """``titel:غزة`` (a typo) would be stored and never match, silently; it is refused."""
    _, run = cli
    result = run("add", "typo", "--query", "titel:غزة OR outlet:bbc_arabic", "--webhook", "http://127.0.0.1:9/hook")
    assert result.exit_code == 2
    assert "invalid query 'titel:غزة OR outlet:bbc_arabic': there is no field 'titel' (fields: title, text," \
        in " ".join(result.output.split())
    assert json.loads(run("list", "--json").output) == []
    ok = run("add", "fielded", "--query", "title:غزة OR title.exact:غزة", "--webhook", "http://127.0.0.1:9/hook")
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("query", ["و", "و OR في", '"و في"'])
def test_add_refuses_a_query_of_stop_words_only(cli, query):
    """Such a query has no clause once analysed: stored, it would never match."""
    _, run = cli
    result = run("add", "stops", "--query", query, "--webhook", "http://127.0.0.1:9/hook")
    assert result.exit_code == 2
    assert f"alert stops: the query {query!r} is only stop words" in " ".join(result.output.split())
    assert json.loads(run("list", "--json").output) == []


def test_add_refuses_an_alert_without_delivery(cli):
    _, run = cli
    result = run("add", "silent", "--query", "العراق", "--lang", "ar", "--outlet", "bbc_arabic")
    assert result.exit_code == 2
    assert "no delivery: an alert needs at least one of webhook, email, atom, apprise" in " ".join(result.output.split())
    assert json.loads(run("list", "--json").output) == []


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


def test_import_is_all_or_none_and_names_the_file(cli, tmp_path):
    """Two alerts of one name, a file not in UTF-8, one alert whose name is taken: each refused
    in one line before any alert is added (before: the first of two same-named alerts was added,
    then 'exists'; a bad byte gave the codec's message without the file)."""
    _, run = cli
    hook = 'deliveries: {webhook: {url: "http://127.0.0.1:9/hook"}}'
    twice = tmp_path / "twice.yaml"
    twice.write_text(f"alerts:\n  - name: y7\n    query: غزة\n    {hook}\n"
                     f"  - name: y7\n    query: العراق\n    {hook}\n", encoding="utf-8")
    result = run("import", str(twice))
    assert result.exit_code == 2
    assert f"{twice}: alerts.1: the name 'y7' is also alerts.0's (names are unique)" in " ".join(result.output.split())
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"alerts:\n  - name: caf\xe9\n")
    result = run("import", str(latin))
    assert result.exit_code == 2 and f"{latin}: cannot read alerts:" in " ".join(result.output.split())
    assert json.loads(run("list", "--json").output) == []
    assert run("add", "taken", "--query", "غزة", "--webhook", "http://127.0.0.1:9/hook").exit_code == 0
    both = tmp_path / "both.yaml"
    both.write_text(f"alerts:\n  - name: fresh\n    query: العراق\n    {hook}\n"
                    f"  - name: taken\n    query: سوريا\n    {hook}\n", encoding="utf-8")
    result = run("import", str(both))
    assert result.exit_code == 2 and "alert(s) exist: taken (--replace to replace)" in " ".join(result.output.split())
    assert [a["name"] for a in json.loads(run("list", "--json").output)] == ["taken"]
    assert run("import", str(both), "--replace").exit_code == 0
    assert [a["name"] for a in json.loads(run("list", "--json").output)] == ["fresh", "taken"]


def test_add_refuses_an_atom_feed_that_could_never_be_written(cli, tmp_path):
    """`--atom /tmp` (a directory) and `--atom /proc/nope/x.atom` used to be accepted, and failed
    at every delivery; a missing directory the channel can create is fine."""
    _, run = cli
    (tmp_path / "notes.txt").write_text("not a feed\n")
    for path, reason in ((tmp_path, "is a directory"), ("/proc/nope/x.atom", "cannot write in /proc"),
                         (tmp_path / "notes.txt", "an existing file that is not an Atom feed")):
        result = run("add", "never", "--query", "العراق", "--atom", str(path))
        assert result.exit_code == 2 and reason in " ".join(result.output.split()), result.output
    result = run("add", "fine", "--query", "العراق", "--atom", str(tmp_path / "new" / "dir" / "a.atom"))
    assert result.exit_code == 0, result.output
