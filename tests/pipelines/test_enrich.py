"""Tests of pipelines/enrich.py: topic rules in the search syntax, the taxonomy and the gazetteer."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from rasd.core.taxonomy import MIN_TEXT_EVIDENCE, QueryError, load_gazetteer, load_taxonomy, parse_query
from rasd.pipelines.enrich import (EnrichPipeline,
    match_entities,
    query_matches,
    stem,
    tag_topics,
    topic_evidence)
from rasd.core.rules import evidence_groups, split_clauses
from rasd.core.article import Article
from rasd.core.errors import ConfigError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "enrich"
CORPUS_PAGES = FIXTURES.parent / "corpus" / "pages" / "jawharafm.net"


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="module")
def gazetteer():
    return load_gazetteer()


def seed_article() -> Article:
    title, text = (FIXTURES / "seed-article.txt").read_text(encoding="utf-8").split("\n", 1)
    return Article(url="https://example.org/seed", outlet="seed", title=title, text=text)


def antcorpus(name: str) -> Article:
    file = f"antcorpus_{name if name[2] == '-' else 'JA-' + name}.txt"
    raw = (FIXTURES / file if (FIXTURES / file).exists() else CORPUS_PAGES / file).read_text(encoding="utf-8")
    title = re.search(r"<TITLE>(.*?)</TITLE>", raw).group(1)
    text = re.search(r"<TEXT>(.*?)</TEXT>", raw, re.S).group(1)
    return Article(url=f"https://jawharafm.net/{name}", outlet="jawharafm", title=title, text=text)


# ---------------------------------------------------------------- topics on real articles

def test_seed_article_is_politics_and_conflict(taxonomy):
    topics = tag_topics(seed_article(), taxonomy)
    assert "politics" in topics and "conflict" in topics
    assert "sport" not in topics


def test_sport_page_is_sport_not_conflict(taxonomy):
    topics = tag_topics(antcorpus("sport-1-20170302"), taxonomy)
    assert "sport" in topics
    assert "conflict" not in topics


def test_economy_page_is_economy(taxonomy):
    topics = tag_topics(antcorpus("economy-1-20170302"), taxonomy)
    assert "economy" in topics
    assert "sport" not in topics and "conflict" not in topics


@pytest.mark.parametrize("name", ["JA-culture-1-20170225", "AL-culture-1-20180218"])
def test_culture_pages_are_culture_not_conflict_or_sport(taxonomy, name):
    # ambiguous single words (التحالف alliance, بطولة heroism, المدرب trainer, صحيفة via صحي*)
    # once tagged these pages conflict, sport and health; rules use phrases for them now
    topics = tag_topics(antcorpus(name), taxonomy)
    assert "conflict" not in topics and "sport" not in topics
    assert len(topics) <= 2, topics


# Ground truth: the ANT corpus category of each page (culture, localNews = a weather report,
# sport, economy, technology, internationalNews = a journalist assassinated in Benghazi) and
# the seed story (Iraq asks the US-led coalition to leave).  Before the evidence rule, one word
# was enough: the JA culture page (a Ramadan TV series) got health, society, culture and
# religion; the economy page politics; the technology page education.
@pytest.mark.parametrize("name, expected", [
    ("seed", ["politics", "conflict"]),
    ("sport-1-20170302", ["sport"]),
    ("localNews-1-20170302", ["weather"]),
    ("economy-1-20170302", ["economy"]),
    ("technology-1-20170301", ["economy", "science_technology"]),
    ("internationalNews-1-20140526", ["crime"]),
    ("diverse-1-20170302", ["science_technology", "lifestyle"]),   # space tourism
    ("JA-culture-1-20170225", ["culture", "religion"]),            # a Ramadan TV series
    ("AL-culture-1-20180218", []),                                 # The Voice: no two signals
])
def test_corpus_pages_get_their_topics_only(taxonomy, name, expected):
    article = seed_article() if name == "seed" else antcorpus(name)
    assert tag_topics(article, taxonomy) == expected


def test_one_word_in_the_text_is_not_enough_one_in_the_title_is(taxonomy):
    body = "قال الفنان إن العمل يتقدم ببطء في المدينة."
    assert tag_topics(SimpleNamespace(title="أخبار اليوم", text=body), taxonomy) == []
    assert tag_topics(SimpleNamespace(title="مهرجان السينما", text=body), taxonomy) == ["culture"]
    both = "قال الفنان إن الفيلم يعرض في المهرجان."
    assert topic_evidence(SimpleNamespace(title="أخبار", text=both), taxonomy)["culture"] == (0, 3)
    assert tag_topics(SimpleNamespace(title="أخبار", text=both), taxonomy) == ["culture"]
    assert MIN_TEXT_EVIDENCE == 2


def test_spellings_of_one_word_are_one_piece_of_evidence(taxonomy):
    # الحرب, حرب, الحروب… in the text: one group, so conflict needs another signal
    text = "الحرب والحرب ثم الحرب مرة أخرى في الرواية."
    assert "conflict" not in tag_topics(SimpleNamespace(title="قراءة", text=text), taxonomy)
    assert evidence_groups(['حرب OR الحرب OR "قوات التحالف"', 'قوات OR سياسي* OR السياسية']) == [
        ["حرب", "الحرب"], ['"قوات التحالف"', "قوات"], ["سياسي*", "السياسية"]]
    assert split_clauses('a OR (b AND c) OR "d e"') == ["a", "(b AND c)", '"d e"']
    # Lucene's classic precedence: a rule with a required or prohibited clause is one clause
    assert split_clauses('a OR (b AND c) OR "d e" NOT f') == ['a OR (b AND c) OR "d e" NOT f']
    assert split_clauses("a OR b AND c") == ["a OR b AND c"]  # = b AND c
    assert split_clauses("حرب OR في OR قصف") == ["حرب", "قصف"]  # a stop word adds no clause


def test_taxonomy_keeps_iptc_ids(taxonomy):
    by_slug = {t.slug: t for t in taxonomy.topics}
    assert by_slug["politics"].id == "medtop:11000000"
    assert by_slug["conflict"].id == "medtop:16000000"
    assert by_slug["sport"].id == "medtop:15000000"
    assert all(t.label_ar and t.label_en for t in taxonomy.topics)


def test_pipeline_sets_topics_entities_and_counts():
    class Stats:
        def __init__(self):
            self.values = {}

        def inc_value(self, key, n=1):
            self.values[key] = self.values.get(key, 0) + n

    stats = Stats()
    stage = EnrichPipeline(stats=stats, taxonomy=load_taxonomy(), gazetteer=load_gazetteer())
    item = stage.process_item(seed_article(), None)
    assert item.topics == ["politics", "conflict"]
    assert item.entities_countries[:2] == ["الولايات المتحدة", "العراق"]
    assert "بغداد" in item.entities_cities and "داعش" in item.entities_organisations
    assert item.entities_people == ["محمد شياع السوداني"]
    record = item.to_record()
    assert record["entities_organisations"] == item.entities_organisations
    assert stats.values["rasd/topics/politics"] == 1
    assert stats.values["rasd/topics/matcher/local"] == 1
    empty = stage.process_item(Article(url="u", outlet="o", text="lorem ipsum"), None)
    assert empty.topics == [] and stats.values["rasd/topics/none"] == 1
    assert empty.entities_countries == [] and empty.entities_people == []


def test_pipeline_tags_locally_and_never_calls_the_engine(monkeypatch):
    """Indexing on and an engine that cannot answer (127.0.0.1:1): the stage is built and tags
    without one connection attempt (no network I/O on the reactor)."""
    import socket
    import time

    from scrapy.settings import Settings

    calls = []
    real = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setenv("RASD_ENGINE__URL", "http://127.0.0.1:1")
    t0 = time.monotonic()
    options = EnrichPipeline.options_from_settings(Settings({"RASD_INDEX_ENABLED": True}))
    stage = EnrichPipeline(stats=None, **options)
    assert stage.process_item(seed_article(), None).topics == ["politics", "conflict"]
    assert calls == [] and time.monotonic() - t0 < 5


# ---------------------------------------------------------------- query syntax

TEXT = "مسؤولون عراقيون يطالبون قوات التحالف بقيادة الولايات المتحدة بمغادرة بلادهم"


@pytest.mark.parametrize("query, expected", [
    ("مسئولون AND التحالف", True),          # the alert of issue 5; hamza seat ئ vs ؤ
    ("مسئول", True),                         # stem of مسؤولون
    ("مسؤولين", True),                       # another inflection, same stem
    ("التحالف AND سوريا", False),
    ("سوريا OR التحالف", True),
    ("التحالف NOT قوات", False),
    ("التحالف NOT سوريا", True),
    ("التحالف !قوات", False),
    ("التحالف && (سوريا || بلادهم)", True),
    ("(سوريا OR لبنان) AND التحالف", False),
    ("NOT (سوريا OR لبنان)", True),
    ('"قوات التحالف"', True),
    ('"التحالف قوات"', False),                # phrase order matters
    ('"الولايات المتحدة" AND يطالب*', True),
    ("عراقي*", True),
    ("عراقيز*", False),
    ("تحالف", True),                          # exact field: التحالف without its article
    ("التحالف سوريا", False),                 # juxtaposition is AND
    # Lucene's classic parser has no precedence: each conjunction sets its neighbours' occurrence
    ("التحالف OR سوريا AND لبنان", False),    # = التحالف +سوريا +لبنان, not التحالف OR (…)
    ("سوريا AND لبنان OR التحالف", False),    # = +سوريا لبنان التحالف: سوريا required
    ("التحالف AND سوريا OR قوات", True),      # = +التحالف سوريا قوات
    ("سوريا OR قوات التحالف", True),          # = سوريا +قوات +التحالف
    ("سوريا OR +لبنان", False),               # a + after OR is optional, as in Lucene
    ("التحالف OR في AND سوريا", False),       # في is a stop word: +التحالف +سوريا
    ("في OR التحالف", True),                  # the stop word adds no clause
    ("في", False),                            # an empty query matches nothing
    ('"قوات في الولايات"', False),           # a stop word keeps its position ...
    ('"قوات ما بقيادة"', True),              # ... and stands for any one word
])
def test_query_syntax(query, expected):
    assert query_matches(query, TEXT) is expected


def test_terms_may_match_in_different_fields_phrases_in_one():
    assert query_matches("مسئولون AND بغداد", "مسؤولون عراقيون", "محادثات في بغداد")
    assert not query_matches('"عراقيون محادثات"', "مسؤولون عراقيون", "محادثات في بغداد")


def test_stemmer_follows_lucene():
    assert stem("المسءولون") == "مسءول"
    assert stem("وزير") == "زير"        # Lucene eats the و of وزير (case 16) ...
    assert query_matches("وزير", "الوزير")  # ... but the exact form still matches


@pytest.mark.parametrize("rule, reason", [
    ("title:العراق", "field queries"),
    ("(العراق OR سوريا", "parenthesis"),
    ("العراق)", "parenthesis"),
    ('"العراق', "quote"),
    ("عر*اق", "wildcard"),
    ("العراق^2", "boost"),
    ("العراق NOT NOT سوريا", "one NOT"),
    ("العراق~2", "wildcard"),
    ("العراق AND", "term was expected"),
    ("", "empty"),
])
def test_bad_rules_are_refused_with_reason(rule, reason):
    with pytest.raises(QueryError, match=re.escape(reason)):
        parse_query(rule)


# ---------------------------------------------------------------- config errors

def test_unparsable_rule_names_file_and_field(tmp_path):
    bad = tmp_path / "topics.yaml"
    bad.write_text("schema_version: 1\ntopics:\n  - {slug: politics, id: 'medtop:11000000', "
                   "label_en: politics, label_ar: سياسة, rules: ['title:x']}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"topics\.yaml: topics\.0\.rules: .*field queries"):
        load_taxonomy(bad)


def test_unknown_topic_field_names_file_and_field(tmp_path):
    bad = tmp_path / "topics.yaml"
    bad.write_text("schema_version: 1\ntopics:\n  - {slug: politics, id: 'medtop:11000000', "
                   "label_en: politics, label_ar: سياسة, rules: [x], colour: red}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"topics\.yaml: topics\.0\.colour: Extra inputs"):
        load_taxonomy(bad)


def test_bad_iptc_id_is_refused(tmp_path):
    bad = tmp_path / "topics.yaml"
    bad.write_text("schema_version: 1\ntopics:\n  - {slug: politics, id: '11000000', "
                   "label_en: politics, label_ar: سياسة, rules: [x]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"topics\.0\.id"):
        load_taxonomy(bad)


def test_bad_gazetteer_names_file_and_field(tmp_path):
    bad = tmp_path / "entities.yaml"
    bad.write_text("schema_version: 1\npeople:\n  - {name_ar: بايدن, name_en: Biden, alias: [x]}\n",
                   encoding="utf-8")
    with pytest.raises(ConfigError, match=r"entities\.yaml: people\.0\.alias"):
        load_gazetteer(bad)
    twice = tmp_path / "twice.yaml"
    twice.write_text("schema_version: 1\npeople:\n  - {name_ar: أ, name_en: A, variants: [س]}\n"
                     "  - {name_ar: ب, name_en: B, variants: [س]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"twice\.yaml: people\.1\.variants: 'س' already names"):
        load_gazetteer(twice)


# ---------------------------------------------------------------- entities

def test_seed_article_entities(gazetteer):
    article = seed_article()
    found = match_entities(f"{article.title}\n{article.text}", gazetteer)
    assert set(found) == {"countries", "cities", "organisations", "people"}
    assert found["countries"][:2] == ["الولايات المتحدة", "العراق"]
    assert "بغداد" in found["cities"]
    assert "داعش" in found["organisations"]
    assert "محمد شياع السوداني" in found["people"]


@pytest.mark.parametrize("text, kind, name", [
    ("هجوم لداعش", "organisations", "داعش"),
    ("بيان تنظيم الدولة الإسلامية", "organisations", "داعش"),
    ("ISIS claimed", "organisations", "داعش"),
    ("قال نتانياهو", "people", "بنيامين نتنياهو"),
    ("قال نتنياهو", "people", "بنيامين نتنياهو"),
    ("زيارة إلى امريكا", "countries", "الولايات المتحدة"),
    ("والولايات المتحدة الأمريكية", "countries", "الولايات المتحدة"),
    ("وصل إلى بالعراق", "countries", "العراق"),
    ("الأمم المتحدة", "organisations", "الأمم المتحدة"),
    ("حزب الله", "organisations", "حزب الله"),
])
def test_entity_variants_map_to_canonical_name(gazetteer, text, kind, name):
    assert match_entities(text, gazetteer)[kind] == [name]


def test_variants_of_one_entity_are_reported_once(gazetteer):
    found = match_entities("داعش ثم تنظيم الدولة الإسلامية ثم ISIS", gazetteer)
    assert found["organisations"] == ["داعش"]
    assert found["countries"] == []  # الدولة الإسلامية is not a country, longest match wins


def test_tag_topics_accepts_any_object_with_title_and_text(taxonomy):
    assert "sport" in tag_topics(SimpleNamespace(title="مباراة كرة القدم", text=""), taxonomy)
