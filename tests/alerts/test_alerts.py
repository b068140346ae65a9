"""pipelines/alerts.py and alerts_model.py against the real search node: the percolator index has
the articles' analysis, the engine refuses invalid queries with its reason, several documents are
percolated in one request with filters, and the seed story notifies once by mail and webhook."""

from __future__ import annotations

import pytest

from rasd.core.archive import ArchiveWriter
from rasd.alerts.match import (KEY_ANALYZER,
    AlertError,
    add_alert,
    alert_history,
    alerts_index,
    alerts_index_body,
    get_alert,
    list_alerts,
    match_alerts,
    parse_alert,
    remove_alert)
from rasd.pipelines.alerts import AlertPipeline
from rasd.alerts.model import load_alerts_file, query_tree, tree_texts
from rasd.alerts.match import named_texts
from rasd.core.query import parse_query
from rasd.core.errors import ConfigError
from rasd.core.paths import CONFIG_DIR
from rasd.search.articles import HL_POST, HL_PRE

pytestmark = [pytest.mark.search, pytest.mark.integration]
SEED_QUERY = "مسئولون AND التحالف"


def test_model_is_strict():
    with pytest.raises(AlertError, match="name"):
        parse_alert({"name": "Has Space", "query": "x"})
    with pytest.raises(AlertError, match="colour"):
        parse_alert({"name": "a", "query": "x", "colour": "red"})
    with pytest.raises(AlertError, match="frequency"):
        parse_alert({"name": "a", "query": "x", "frequency": "hourly"})
    with pytest.raises(AlertError, match="smtp_port"):
        parse_alert({"name": "a", "query": "x",
                     "deliveries": {"email": {"to": ["a@b.c"], "smtp_port": "25"}}})
    with pytest.raises(AlertError, match="query"):
        parse_alert({"name": "a", "query": "  "})


def test_example_config_loads_and_errors_name_the_file(tmp_path):
    alerts = load_alerts_file(CONFIG_DIR / "alerts.example.yaml")
    assert {a.frequency for a in alerts} == {"immediate", "daily"}
    bad = tmp_path / "a.yaml"
    bad.write_text("alerts:\n  - name: x\n    query: y\n    bogus: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"a.yaml: alerts.0: bogus"):
        load_alerts_file(bad)


def test_percolator_index_has_the_articles_analysis_and_fields(engine, make_prefix):
    prefix = make_prefix()
    add_alert(engine, prefix, parse_alert({"name": "seed", "query": SEED_QUERY}))
    name = alerts_index(prefix)
    live = engine.request("GET", f"/{name}")[name]
    article_index = next(iter(engine.alias_indices(prefix)))
    articles = engine.request("GET", f"/{article_index}")[article_index]
    analysis = live["settings"]["index"]["analysis"]
    # plus only the alert_keys analyzer (candidate selection), built from the same filters
    assert analysis["analyzer"].pop(KEY_ANALYZER)["char_filter"] == ["rasd_arabic_fold"]
    for extra in ("rasd_alert_with_article", "rasd_alert_key_forms"):
        analysis["filter"].pop(extra)
    assert analysis == articles["settings"]["index"]["analysis"]
    props = live["mappings"]["properties"]
    assert props["query"] == props["candidates"] == {"type": "percolator"}
    for field, spec in articles["mappings"]["properties"].items():
        assert props[field] == spec, field
    assert live["mappings"]["_meta"]["folding"] == articles["mappings"]["_meta"]["folding"]
    assert alerts_index_body(prefix)["mappings"]["_meta"] == live["mappings"]["_meta"]
    # the same analyzer: hamza-seat variants fold to one token in both indices
    assert engine.analyze(name, "مسؤولون", field="title.exact") == engine.analyze(prefix, "مسئولون", field="title.exact")


def test_invalid_query_is_refused_with_the_engines_reason(engine, make_prefix):
    prefix = make_prefix()
    with pytest.raises(AlertError) as info:
        add_alert(engine, prefix, parse_alert({"name": "broken", "query": "مسئولون AND (التحالف"}))
    assert str(info.value) == ("alert broken: invalid query 'مسئولون AND (التحالف': an opening "
                               "parenthesis ( is not closed (near «(التحالف», character 13)")
    assert "Exception" not in str(info.value) and "Cannot parse" not in str(info.value)
    assert "\n" not in str(info.value)
    assert list_alerts(engine, prefix) == []


def test_add_list_show_remove(engine, make_prefix):
    prefix = make_prefix()
    alert = parse_alert({"name": "iraq", "query": SEED_QUERY, "frequency": "daily",
                         "filters": {"languages": ["ar"]},
                         "deliveries": {"webhook": {"url": "http://127.0.0.1:9/x"}}})
    add_alert(engine, prefix, alert)
    with pytest.raises(AlertError, match="exists"):
        add_alert(engine, prefix, alert)
    assert get_alert(engine, prefix, "iraq") == alert
    assert [a.name for a in list_alerts(engine, prefix)] == ["iraq"]
    remove_alert(engine, prefix, "iraq")
    with pytest.raises(AlertError, match="no alert named"):
        get_alert(engine, prefix, "iraq")
    with pytest.raises(AlertError, match="no alert named"):
        remove_alert(engine, prefix, "iraq")


def test_match_several_documents_in_one_request_with_filters(engine, loaded):
    """Every alert matches exactly the documents `rasd search` shows for its query and filters."""
    from rasd.search.articles import search_articles

    prefix, records = loaded
    specs = [{"name": "seed", "query": SEED_QUERY},
             {"name": "seed-bbc-only", "query": SEED_QUERY, "filters": {"outlets": ["bbc_arabic"]}},
             {"name": "minister", "query": "وزير"},
             {"name": "minister-wild", "query": "وزي*"},
             {"name": "not-coalition", "query": 'العراق NOT "قوات التحالف"'},
             {"name": "persian", "query": "مسئولان", "filters": {"languages": ["fa"]}}]
    for spec in specs:
        add_alert(engine, prefix, parse_alert(spec))
    add_alert(engine, prefix, parse_alert({"name": "seed-iraq-topic", "query": SEED_QUERY,
                                           "filters": {"topics": ["iraq"]}}))
    matches = match_alerts(engine, prefix, records, highlight=True)
    got = {(a.name, d["story_id"]) for a, d in matches}
    expected = {("seed-iraq-topic", "seed")}
    for spec in specs:
        f = spec.get("filters", {})
        _, hits = search_articles(engine, prefix, spec["query"], outlets=f.get("outlets"),
                                  languages=f.get("languages"), limit=100)
        story = {r["id"]: r["story_id"] for r in records}
        expected |= {(spec["name"], story[h.id]) for h in hits}
    assert got == expected
    assert ("seed", "seed") in got and ("persian", "persian") in got
    assert ("minister", "minister_bare") in got and not any(n == "seed-bbc-only" for n, _ in got)
    seed_hit = next(d for a, d in matches if a.name == "seed")
    assert seed_hit["id"] == records[0]["id"]
    assert f"{HL_PRE}التحالف{HL_POST}" in seed_hit["highlight"]["title"]
    assert f"{HL_PRE}مسؤولون{HL_POST}" in seed_hit["highlight"]["title"]
    assert match_alerts(engine, prefix, []) == []
    assert {a.name for a, _ in match_alerts(engine, prefix, records, frequency="daily")} == set()


def test_match_cache_follows_replaced_removed_and_old_alerts(engine, loaded):
    """Matches return only names: a replaced alert matches (and carries) its new definition, a
    removed one stops matching, and an alert stored without ``alert.ref`` (older index) still
    matches."""
    from rasd.alerts.match import alert_document

    prefix, records = loaded
    seed = records[0]
    add_alert(engine, prefix, parse_alert({"name": "x", "query": "وزير"}))
    assert "x" not in {a.name for a, d in match_alerts(engine, prefix, [seed])}
    add_alert(engine, prefix, parse_alert({"name": "x", "query": SEED_QUERY, "frequency": "daily"}),
              replace=True)
    (alert, doc), = [(a, d) for a, d in match_alerts(engine, prefix, [seed]) if a.name == "x"]
    assert alert.query == SEED_QUERY and alert.frequency == "daily" and doc is seed
    remove_alert(engine, prefix, "x")
    assert "x" not in {a.name for a, _ in match_alerts(engine, prefix, [seed])}
    old = alert_document(parse_alert({"name": "old", "query": SEED_QUERY}))
    del old["alert"]["ref"], old["alert"]["digest"]
    engine.request("PUT", f"/{alerts_index(prefix)}/_doc/old", old, params={"refresh": "true"})
    assert "old" in {a.name for a, _ in match_alerts(engine, prefix, [seed])}


def test_seed_story_notifies_once_by_mail_and_webhook(engine, make_prefix, seed_pair, smtp, webhook, tmp_path):
    from rasd.search.indexing import index_articles

    prefix = make_prefix()
    port, inbox = smtp
    add_alert(engine, prefix, parse_alert({
        "name": "iraq-coalition", "query": SEED_QUERY,
        "deliveries": {"webhook": {"url": webhook.url},
                       "email": {"to": ["analyst@example.org"], "from": "rasd@example.org",
                                 "smtp_host": "127.0.0.1", "smtp_port": port},
                       "atom": {"path": str(tmp_path / "iraq.atom")}}}))
    stats = _Stats()
    stage = AlertPipeline(stats, enabled=True, connect=lambda: engine, prefix=prefix,
                          data_dir=tmp_path, batch_size=1, background=False)
    stage.open_spider()  # alerts follow the archive from here on
    original, copy = seed_pair
    writer = ArchiveWriter(tmp_path / "archive")
    for art in (original, copy, original):  # the original again: counted once
        writer.write(art)  # what the archive stage does before the alert stage sees the item
        stage.process_item(art)
    writer.close()
    stage.close()
    assert len(webhook.received) == 1 and len(inbox.messages) == 1
    hook = webhook.received[0]
    assert hook["alert"] == "iraq-coalition" and hook["kind"] == "immediate"
    [story] = hook["stories"]
    assert story["story_id"] == original.story_id == copy.story_id
    assert story["title"] == original.title and story["outlet"] == "euronews_arabic"
    assert story["url"] == original.url and HL_PRE not in story["highlight"]["title"]
    rcpt, mail = inbox.messages[0]
    assert rcpt == ["analyst@example.org"]
    assert original.title in mail["Subject"]
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert 'dir="rtl"' in html and "<mark>التحالف</mark>" in html and "<mark>مسؤولون</mark>" in html
    assert original.title in text and original.url in text
    assert stats.values["rasd/alerts/notified"] == 1
    assert stats.values["rasd/alerts/story_copy"] == 1
    assert stats.values["rasd/alerts/already_seen"] == 1
    assert stats.values["rasd/alerts/delivered"] == 3
    assert stats.values["rasd/alerts/outbox_pending"] == 0
    # and `alerts test` over the index history shows the story once, with both outlets
    index_articles(engine, [original.to_record(), copy.to_record()], index=prefix)
    engine.refresh(prefix)
    rows = alert_history(engine, prefix, get_alert(engine, prefix, "iraq-coalition"), since="2024-01-01")
    assert len(rows) == 1 and rows[0]["story_id"] == original.story_id
    assert rows[0]["outlets"] == ["akhbar_example", "euronews_arabic"] and rows[0]["outlet"] == "euronews_arabic"
    assert alert_history(engine, prefix, get_alert(engine, prefix, "iraq-coalition"), since="7d") == []


def test_engine_down_keeps_articles_waiting_in_the_archive(tmp_path, seed_pair):
    from rasd.search.engine import EngineUnavailable

    def down():
        raise EngineUnavailable("cannot reach search engine at http://127.0.0.1:1")

    stage = AlertPipeline(_Stats(), enabled=True, connect=down, prefix="x",
                          data_dir=tmp_path, batch_size=1, background=False)
    stage.open_spider()
    writer = ArchiveWriter(tmp_path / "archive")
    writer.write(seed_pair[0])
    writer.close()
    stage.process_item(seed_pair[0])
    assert stage.flush() == 0
    assert stage.follower.lag() == 1  # still waiting: matched once the engine is back
    assert stage.stats.values["rasd/alerts/engine_unavailable"] == 1


class _Stats:
    def __init__(self):
        self.values: dict = {}

    def inc_value(self, key, n=1):
        self.values[key] = self.values.get(key, 0) + n

    def set_value(self, key, value):
        self.values[key] = value


def test_pre_analysed_alerts_match_exactly_what_search_shows(engine, loaded):
    """Alerts of the plain shapes (words, "phrases", AND/OR, parentheses) are stored pre-analysed
    (term/terms/span queries from the index's own analysis, no ``query_string``), and each
    matches exactly the documents `rasd search` shows for its query on the real records:
    words with and without the article, phrases across folded/synonym positions, ORs, nesting
    and words no record has.  Other shapes (NOT, wildcards, fields) keep the ``query_string``."""
    import random
    import re

    from rasd.search.articles import search_articles

    prefix, records = loaded
    rng = random.Random(3)
    texts = [f"{r.get('title') or ''} {r.get('text') or ''}" for r in records]
    seqs = [re.findall(r"[\u0621-\u064A\d]{2,}", t) for t in texts]
    words = sorted({w for s in seqs for w in s})
    queries = ["وزير", "الوزير", "مسئولون", SEED_QUERY, '"قوات التحالف"', '"التحالف الدولي"',
               "العراق AND (وزير OR مسئولون)", "(العراق OR سوريا) AND (وزير OR التحالف)",
               "كلمةلاتوجد", "وزير كلمةلاتوجد", "2024"]
    for _ in range(25):
        a, b, c = rng.sample(words, 3)
        seq = rng.choice([s for s in seqs if len(s) > 3])
        i = rng.randrange(len(seq) - 2)
        queries += [a, f"{a} AND {b}", f"{a} OR {b}", f"{a} AND ({b} OR {c})",
                    f'"{seq[i]} {seq[i + 1]}"', f'"{seq[i]} {seq[i + 1]} {seq[i + 2]}"', f'"{a} {b}"']
    from rasd.alerts.match import only_stop_words

    stops = [q for q in queries if only_stop_words(q)]  # refused when stored; search finds nothing
    assert all(search_articles(engine, prefix, q)[0] == 0 for q in stops), stops
    queries = [q for q in queries if q not in stops]
    plain = [parse_alert({"name": f"q{n:03d}", "query": q}) for n, q in enumerate(queries)]
    kept = [parse_alert({"name": "wild", "query": "وزي*"}),
            parse_alert({"name": "negated", "query": 'العراق NOT "قوات التحالف"'}),
            parse_alert({"name": "field", "query": "outlet:bbc_arabic AND وزير"})]
    for alert in plain + kept:
        add_alert(engine, prefix, alert)
    compiled = 0
    for alert in plain + kept:
        stored = engine.request("GET", f"/{alerts_index(prefix)}/_doc/{alert.name}")["_source"]["query"]
        has_qs = "query_string" in str(stored)
        if alert in kept:
            assert has_qs, alert.query
        named = bool(named_texts(sorted(tree_texts(query_tree(alert.query) or parse_query(alert.query)))))
        # plain words compile, except a gazetteer name ("التحالف الدولي"), whose spellings only
        # the search analyzer's synonym graph expands: it keeps its query_string
        assert has_qs == (alert in kept or named) or alert not in plain[:11], alert.query
        compiled += not has_qs
    assert compiled >= len(plain) * 3 // 4  # the others have stop words (في, إلى): query_string
    story = {r["id"]: r["story_id"] for r in records}
    got = {(a.name, d["story_id"]) for a, d in match_alerts(engine, prefix, records)}
    expected = set()
    for alert in plain + kept:
        _, hits = search_articles(engine, prefix, alert.query, limit=100)
        expected |= {(alert.name, story[h.id]) for h in hits}
    assert got == expected
    assert len({n for n, _ in got}) > len(plain) // 3  # the comparison is not all empty
