"""rasd/core/query.py and rasd/core/rules.py against the real node: one parser with Lucene's
classic precedence, and a local matcher that finds exactly the documents ``rasd search`` finds.

The engine is the judge: each query runs through :func:`rasd.search.articles.build_query` on an
index of real articles (the search samples and the story fixtures), and the local matcher must
give the same set of documents — for the alert test's generated query shapes, for mixed AND/OR
without parentheses (where boolean precedence and Lucene's differ), NOT, ``+``/``-``, stop words
and wildcards.  The Arabic stop-word list is checked against the engine's analyzer too.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from rasd.core.article import Article
from rasd.core.query import occurs, parse_query
from rasd.core.rules import STOP_WORDS, Document, parse_rule
from rasd.search.articles import build_query
from tests.search.conftest import sample_records

pytestmark = [pytest.mark.search, pytest.mark.integration]
STORIES = Path(__file__).resolve().parent.parent / "fixtures" / "stories"
WORD = re.compile(r"[\u0621-\u064A\d]{2,}")


def story_records() -> list[dict]:
    out = []
    for i, path in enumerate(sorted(STORIES.glob("*.txt"))):
        lines = path.read_text(encoding="utf-8").strip().splitlines()
        art = Article(url=f"https://stories.example/{i}", outlet="stories", title=lines[0],
                      text="\n".join(lines[1:]), language="ar")
        art.id = f"story-{i:02d}"
        rec = art.to_record()
        rec["story_id"] = art.id
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def corpus(engine):
    """``(prefix, records)``: sample and story records in a fresh alias, refreshed."""
    import uuid

    from rasd.search.articles import init_index
    from rasd.search.indexing import index_articles
    from tests.search.conftest import drop_prefix

    prefix = f"rasd-test-qs-{uuid.uuid4().hex[:8]}"
    init_index(engine, prefix)
    records = sample_records() + story_records()
    assert index_articles(engine, records, index=prefix).indexed == len(records)
    engine.refresh(prefix)
    yield prefix, records
    drop_prefix(engine, prefix)


def engine_hits(engine, prefix: str, records: list[dict], queries: list[str]) -> list[set[str]]:
    """The ids of the records each query matches, by the engine: every query stored as
    ``rasd search`` sends it (:func:`build_query`'s ``query_string``) in a percolator index with
    the articles' analysis, then each record percolated (one request per record)."""
    from rasd.alerts.match import percolate_document
    from rasd.search.articles import build_template

    template = build_template(prefix)["template"]
    index = f"{prefix}-queries"
    mappings = dict(template["mappings"], properties=dict(template["mappings"]["properties"],
                                                         q={"type": "percolator"}))
    engine.create_index(index, {"settings": template["settings"], "mappings": mappings})
    docs = [(str(n), {"q": build_query(q)["query"]["bool"]["must"][0]}) for n, q in enumerate(queries)]
    for start in range(0, len(docs), 1000):
        assert all(i.status == 201 for i in engine.bulk_create(index, docs[start:start + 1000]))
    engine.refresh(index)
    out: list[set[str]] = [set() for _ in queries]
    for rec in records:
        body = {"size": 10000, "_source": False,
                "query": {"percolate": {"field": "q", "document": percolate_document(rec)}}}
        for hit in engine.search(index, body)["hits"]["hits"]:
            out[int(hit["_id"])].add(rec["id"])
    return out


def local_hits(records: list[dict], queries: list[str]) -> list[set[str]]:
    docs = [(r["id"], Document(r.get("title"), r.get("description"), r.get("text"))) for r in records]
    return [{i for i, d in docs if d.matches(parse_rule(q))} for q in queries]


def generated_queries(records: list[dict], n: int, seed: int) -> list[str]:
    """The alert test's shapes (words, AND, OR, AND of an OR, phrases from the texts) and
    mixed ones: AND and OR without parentheses, NOT, ``+``/``-``, wildcards; words drawn from the
    records, stop words included."""
    rng = random.Random(seed)
    seqs = [WORD.findall(f"{r.get('title') or ''} {r.get('text') or ''}") for r in records]
    words = sorted({w for s in seqs for w in s})
    stops = sorted(w for w in words if w in STOP_WORDS)
    shapes = ["{a}", "{a} AND {b}", "{a} OR {b}", "{a} AND ({b} OR {c})", '"{p2}"', '"{p3}"', '"{a} {b}"',
              "{a} OR {b} AND {c}", "{a} AND {b} OR {c}", "{a} {b} OR {c}", "{a} OR {b} {c}",
              "{a} OR {b} AND NOT {c}", "NOT {a}", "{a} NOT {b}", "{a} OR NOT {b}", "({a} OR {b}) AND NOT {c}",
              "{a} OR (NOT {b})", "+{a} OR {b}", "-{a} {b}", "{a} OR {s} AND {b}", "{a} AND {s} OR {b}",
              "{s} OR {a}", "{a} AND ({s})", "{w}* OR {b}", "{w}* AND {a} OR {b}", '"{p2}" OR {a} AND {b}',
              "({a} OR {b}) ({c} OR {s})", "{a} OR {b} OR {c} AND {a2}"]
    out = []
    for _ in range(n):
        a, b, c, a2 = rng.sample(words, 4)
        seq = rng.choice([s for s in seqs if len(s) > 3])
        i = rng.randrange(len(seq) - 2)
        w = rng.choice([x for x in (a, b, c) if len(x) >= 4] or ["وزير"])[:3]
        out.append(rng.choice(shapes).format(a=a, b=b, c=c, a2=a2, s=rng.choice(stops), w=w,
                                             p2=f"{seq[i]} {seq[i + 1]}", p3=" ".join(seq[i:i + 3])))
    return out


MIXED = ["العراق OR سوريا AND التحالف", "التحالف AND سوريا OR وزير", "وزير OR الخارجية القاهرة",
         "سوريا OR العراق AND NOT التحالف", "NOT سوريا", "العراق NOT سوريا OR مصر",
         "العراق OR في AND سوريا", "في OR وزير", "+العراق OR سوريا", "-سوريا العراق",
         "(سوريا OR العراق) AND (وزير OR مسئولون) OR الفخار", "سوريا || العراق && !التحالف"]


def test_classic_precedence_as_the_engine_explains_it(engine, corpus):
    prefix, _ = corpus
    for query, lucene in [("aa OR bb AND cc", "text:aa +text:bb +text:cc"),
                          ("aa AND bb OR cc", "+text:aa text:bb text:cc"),
                          ("aa OR bb cc", "text:aa text:bb +text:cc"),
                          ("aa OR +bb", "text:aa text:bb"),
                          ("aa OR NOT bb", "text:aa -text:bb"),
                          ("aa OR في AND bb", "+text:aa +text:bb")]:
        body = {"query": {"query_string": {"query": query, "fields": ["text"], "default_operator": "AND"}}}
        explained = engine.request("POST", f"/{prefix}/_validate/query", body, params={"explain": "true"})
        assert explained["explanations"][0]["explanation"] == lucene
        mine = " ".join({"must": "+", "should": "", "must_not": "-"}[o] + "text:" + n.text
                        for o, n in occurs(parse_query(query), lambda n: n.text in STOP_WORDS))
        assert mine == lucene, query


def test_local_matcher_finds_what_search_finds(engine, corpus):
    prefix, records = corpus
    from tests.alerts.test_alerts import SEED_QUERY

    queries = ["وزير", "الوزير", "مسئولون", SEED_QUERY, '"قوات التحالف"', '"التحالف الدولي"',
               "العراق AND (وزير OR مسئولون)", "(العراق OR سوريا) AND (وزير OR التحالف)",
               "كلمةلاتوجد", "وزير كلمةلاتوجد", "2024", "وزي*", 'العراق NOT "قوات التحالف"'] + MIXED
    queries += generated_queries(records, 3000, seed=3)
    want, got = engine_hits(engine, prefix, records, queries), local_hits(records, queries)
    wrong = [(q, sorted(w - g), sorted(g - w)) for q, w, g in zip(queries, want, got) if w != g]
    print(f"\n{len(queries)} queries over {len(records)} records: {len(queries) - len(wrong)} agree; "
          f"{sum(map(len, want))} (query, document) matches")
    assert not wrong, wrong[:10]
    assert sum(1 for w in want if w) > len(queries) // 3  # the comparison is not all empty


def test_stop_words_are_the_engines(engine, corpus):
    prefix, records = corpus
    vocabulary = sorted({w for r in records for w in WORD.findall(f"{r['title']} {r.get('text') or ''}")})
    from rasd.alerts.match import analyse_texts
    from rasd.core.arabic import tokens

    words = sorted({t for w in vocabulary + list(STOP_WORDS) for t in tokens(w)})
    analysed = analyse_texts(engine, prefix, words, ["text"])["text"]
    removed = {w for w in words if not analysed[w]}
    assert removed == {w for w in words if w in STOP_WORDS}
    assert len(removed) > 50
