"""The labelled query set on the real node (issue 11): today's analysis finds the proclitic
forms (recall ≥ 0.98) without losing more than a point of precision to the v2 template."""

from __future__ import annotations

import pytest

from tests.search._query_set import judgements, measure

pytestmark = pytest.mark.search


def test_query_set_has_enough_judgements_of_every_kind():
    rows = judgements()
    assert len(rows) >= 200
    assert sum(not r.relevant for r in rows) >= 30
    notes = {r.note.split(" ")[0] for r in rows}
    assert {"proclitic", "other", "ZWNJ", "presentation", "name", "corpus"} <= notes


def test_recall_and_precision_against_the_stock_and_v2_analyses(engine, make_prefix):
    rows = judgements()
    got = {a: measure(engine, make_prefix(init=False), a, rows) for a in ("stock", "template-v2", "template")}
    new, v2, stock = got["template"], got["template-v2"], got["stock"]
    assert new.recall >= 0.98, new
    assert new.precision >= v2.precision - 0.01, (new, v2)
    assert new.recall > v2.recall and new.recall > stock.recall
