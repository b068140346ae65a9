"""Arabic analysis of the index template on the real node (cases 15 and 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rasd.search.indexing import index_articles
from rasd.search.articles import build_query

pytestmark = pytest.mark.search

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "search"


def _pairs(name: str) -> list[tuple[str, str, str]]:
    rows = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [tuple(r.split("\t")) for r in rows if r.strip()]


@pytest.fixture(scope="module")
def analysis_index(engine):
    """One index with the template's analyzers (module-scoped: _analyze only reads it)."""
    from rasd.search.articles import init_index
    from tests.search.conftest import SESSION, drop_prefix

    prefix = f"rasd-test-{SESSION}-analysis"
    init_index(engine, prefix)
    yield prefix
    drop_prefix(engine, prefix)


@pytest.mark.parametrize("a,b,gloss", _pairs("case-15-pairs.tsv"))
def test_case15_pair_gives_one_identical_token(engine, analysis_index, a, b, gloss):
    for field in ("title", "text", "description"):
        ta = engine.analyze(analysis_index, a, field=field)
        tb = engine.analyze(analysis_index, b, field=field)
        assert len(ta) == 1, (field, a, ta)
        assert ta == tb, (field, gloss, ta, tb)
    # the exact subfield folds the same way (it may add the form without the article)
    assert engine.analyze(analysis_index, a, field="title.exact") == \
        engine.analyze(analysis_index, b, field="title.exact")


def test_case15_hamza_seats_fold_to_seatless_hamza(engine, analysis_index):
    assert engine.analyze(analysis_index, "مسؤول مسئول مسءول", analyzer="rasd_arabic") == ["مسءول"] * 3


def test_case16_stemmer_alone_splits_the_pairs(engine, analysis_index):
    """Documents the fault the query works around: the light stemmer eats the root و."""
    assert engine.analyze(analysis_index, "وزير", field="title") == ["زير"]
    assert engine.analyze(analysis_index, "الوزير", field="title") == ["وزير"]
    # the exact subfield: وزير as written, الوزير as written plus وزير at the same position
    assert engine.analyze(analysis_index, "وزير", field="title.exact") == ["وزير"]
    assert engine.analyze(analysis_index, "الوزير", field="title.exact") == ["الوزير", "وزير"]


@pytest.mark.parametrize("bare,with_article,gloss", _pairs("case-16-pairs.tsv"))
def test_case16_bare_word_query_finds_article_form(engine, make_prefix, bare, with_article, gloss):
    """A query for the bare word finds documents using only the article form, and a document
    with the bare word ranks first."""
    prefix = make_prefix()
    docs = [
        {"id": "article-form", "outlet": "t", "title": f"خبر عن {with_article} اليوم", "text": ""},
        {"id": "bare-form", "outlet": "t", "title": f"خبر عن {bare} اليوم", "text": ""},
        {"id": "other", "outlet": "t", "title": "خبر عن الطقس اليوم", "text": ""},
    ]
    assert index_articles(engine, docs, index=prefix).indexed == 3
    engine.refresh(prefix)
    hits = engine.search(prefix, build_query(bare))["hits"]["hits"]
    ids = [h["_id"] for h in hits]
    assert set(ids) == {"article-form", "bare-form"}, (gloss, ids)
    score = {h["_id"]: h["_score"] for h in hits}
    assert score["bare-form"] >= score["article-form"], (gloss, score)
    if engine.analyze(prefix, bare, field="title") != engine.analyze(prefix, with_article, field="title"):
        assert score["bare-form"] > score["article-form"], (gloss, score)
    # and the article form as query finds the bare form too
    ids = {h["_id"] for h in engine.search(prefix, build_query(with_article))["hits"]["hits"]}
    assert ids == {"article-form", "bare-form"}, gloss


def test_case16_plain_exact_subfield_would_not_be_enough(engine, analysis_index):
    """Why `exact` also indexes the form without the article: with only unstemmed and stemmed
    tokens, the query وزير (زير / وزير) shares no token with الوزير (وزير / الوزير)."""
    stem_q = engine.analyze(analysis_index, "وزير", analyzer="rasd_arabic")
    stem_d = engine.analyze(analysis_index, "الوزير", analyzer="rasd_arabic")
    assert set(stem_q).isdisjoint(stem_d)
    assert "وزير" in engine.analyze(analysis_index, "الوزير", analyzer="rasd_arabic_exact")


def test_stop_words_and_digits(engine, analysis_index):
    toks = engine.analyze(analysis_index, "في عام ٢٠٢٤ حتى لدى الله", analyzer="rasd_arabic")
    assert "2024" in toks
    assert not {"في", "حتي", "لدي"} & set(toks)
