"""The labelled query set (``tests/fixtures/search/query-set.tsv``) and its measure on the node.

Each judgement is a query, a one-sentence document and whether the document is relevant: the
proclitic forms of news words (بغزة, لغزة, وبغزة, فللحكومة …), look-alike words whose first
letter is a root letter (وزير for زير, لجنة for جنة, فيصل for يصل), the Unicode policy (ZWNJ,
presentation forms, tatweel) and the gazetteer's name variants, plus corpus sentences.

:func:`measure` indexes every document once per analysis and runs each query as ``rasd
search`` would (``query_string``, every term required, ``most_fields`` over the field and its
``exact`` subfield where there is one); over the judged pairs, recall = relevant documents found
/ relevant documents, precision = relevant documents found / judged documents found (pooled
judgements: a document is only counted for the queries it is judged for).  The three analyses:

* ``stock``: Elasticsearch/OpenSearch's built-in ``arabic`` analyzer;
* ``template-v2``: Rasd's analysis before issue 11 (``analysis-template-v2.json``);
* ``template``: today's ``config/index_template.yaml`` (:func:`rasd.search.articles.init_index`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from rasd.search.articles import SEARCH_FIELDS, init_index

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "search"
QUERY_SET = FIXTURES / "query-set.tsv"
V2_ANALYSIS = FIXTURES / "analysis-template-v2.json"
ANALYSES = ("stock", "template-v2", "template")


@dataclass(frozen=True)
class Judgement:
    query: str
    document: str
    relevant: bool
    note: str


@dataclass(frozen=True)
class Figures:
    recall: float
    precision: float
    relevant: int
    found_relevant: int
    found_other: int


def judgements() -> list[Judgement]:
    """Every row of the query set, in file order."""
    out = []
    for line in QUERY_SET.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            q, doc, rel, note = line.split("\t")
            out.append(Judgement(q, doc, rel == "1", note))
    return out


def _create(engine, prefix: str, analysis: str) -> tuple[str, list[str]]:
    """A fresh index for ``analysis`` → (index or alias name, fields to search)."""
    if analysis == "template":
        init_index(engine, prefix)
        return prefix, [f.split("^")[0] for f in SEARCH_FIELDS]
    if analysis == "stock":
        body = {"mappings": {"properties": {"text": {"type": "text", "analyzer": "arabic"}}}}
        fields = ["text"]
    else:
        settings = json.loads(V2_ANALYSIS.read_text(encoding="utf-8"))["analysis"]
        body = {"settings": {"analysis": settings},
                "mappings": {"properties": {"text": {"type": "text", "analyzer": "rasd_arabic", "fields": {
                    "exact": {"type": "text", "analyzer": "rasd_arabic_exact"}}}}}}
        fields = ["text", "text.exact"]
    engine.request("PUT", f"/{prefix}-000001", body=body)  # under the prefix: deleted with it
    return f"{prefix}-000001", fields


def measure(engine, prefix: str, analysis: str, rows: list[Judgement] | None = None) -> Figures:
    """Index the query set's documents under ``prefix`` with ``analysis`` (one of
    :data:`ANALYSES`), run its queries and score them; the caller deletes ``prefix*``."""
    rows = rows if rows is not None else judgements()
    index, fields = _create(engine, prefix, analysis)
    docs = list(dict.fromkeys(r.document for r in rows))
    ids = {d: str(i) for i, d in enumerate(docs)}
    items = engine.bulk_create(index, [(ids[d], {"text": d}) for d in docs])
    assert all(200 <= i.status < 300 for i in items), [i for i in items if i.status >= 300][:3]
    engine.refresh(index)
    judged: dict[str, dict[str, bool]] = defaultdict(dict)
    for r in rows:
        judged[r.query][ids[r.document]] = r.relevant
    found_rel = found_other = 0
    for query, docs_ in judged.items():
        body = {"size": len(docs), "_source": False, "query": {"query_string": {
            "query": query, "fields": fields, "default_operator": "AND", "type": "most_fields"}}}
        hits = {h["_id"] for h in engine.request("POST", f"/{index}/_search", body=body)["hits"]["hits"]}
        found_rel += sum(1 for d, rel in docs_.items() if rel and d in hits)
        found_other += sum(1 for d, rel in docs_.items() if not rel and d in hits)
    relevant = sum(r.relevant for r in rows)
    return Figures(found_rel / relevant, found_rel / max(1, found_rel + found_other), relevant,
                   found_rel, found_other)
