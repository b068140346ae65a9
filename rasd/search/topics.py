"""Percolator-backed topic rules: the taxonomy as stored queries, run with the index's analyzer.

Why: a topic rule is a search (``config/topics.yaml``, the ``rasd search`` / Kibana syntax).
Run by the engine as a percolator query against the article with the article index's own
analysis (char filter from the folding table, Arabic stemmer, ``exact`` subfields), a rule
matches exactly what the same search shows; the local matcher (:mod:`rasd.core.rules`) only
approximates those analyzers.  OpenSearch percolator:
https://opensearch.org/docs/latest/field-types/supported-field-types/percolator/ and the
``percolate`` query (Elasticsearch has the same API).  Taxonomy: IPTC Media Topics, top level
(https://iptc.org/standards/media-topics/).

Index ``<prefix>-topics`` (``prefix`` = ``engine.index_prefix``): the settings and mappings of
the articles index (:func:`rasd.search.articles.build_template`, so the analysis is the same), plus
``rule_query`` (percolator), ``rule_topic``, ``rule_order``, ``rule_group``, ``rule_clauses``;
``index.hidden: true`` keeps it out of the ``<prefix>*`` data view.  One document per evidence
group (:func:`rasd.core.rules.evidence_groups`), id ``<slug>.<n>``; its query is a ``bool``
``should`` of the clauses, each the ``query_string`` that ``rasd search`` would send.

Which matcher is used when:

* crawl: the local matcher (``rasd.pipelines.enrich.tag_topics``), for every article: no
  network I/O on the crawl's reactor (why, and the agreement tests: :mod:`rasd.pipelines.enrich`);
* ``rasd topics install``: :func:`install_topics` (idempotent);
* ``rasd topics retag``: the percolator, over the archive (amendments) and the index;
  ``--offline``: the local matcher, archive only.

Both matchers apply the same evidence rule (:func:`rasd.pipelines.enrich.topic_applies`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from rasd.core.taxonomy import Taxonomy, topic_applies
from rasd.search.engine import Engine, _q
from rasd.search.articles import TEMPLATE_FILE, build_query, build_template

log = logging.getLogger(__name__)

RULE_FIELDS = {"rule_query": {"type": "percolator"}, "rule_topic": {"type": "keyword"},
               "rule_order": {"type": "short"}, "rule_group": {"type": "short"},
               "rule_clauses": {"type": "keyword", "index": False}}
AMENDMENTS = Path("amendments") / "topics.jsonl"


def topics_index(prefix: str) -> str:
    """``<prefix>-topics``."""
    return f"{prefix}-topics"


def taxonomy_digest(taxonomy: Taxonomy) -> str:
    """SHA-256 (16 hex digits) of the taxonomy's slugs and rules: tells an edited one apart."""
    plain = [[t.slug, t.rules] for t in taxonomy.topics]
    return hashlib.sha256(json.dumps(plain, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def group_query(clauses: list[str]) -> dict:
    """The percolator query of one evidence group: any clause, each the ``query_string`` of
    :func:`rasd.search.articles.build_query` (wildcard clauses on the ``exact`` fields only)."""
    return {"bool": {"should": [build_query(c)["query"]["bool"]["must"][0] for c in clauses],
                     "minimum_should_match": 1}}


def rule_documents(taxonomy: Taxonomy) -> list[tuple[str, dict]]:
    """``[(id, source)]`` of the percolator documents: one per evidence group of each topic."""
    return [(f"{t.slug}.{n}", {"rule_topic": t.slug, "rule_order": order, "rule_group": n,
                               "rule_clauses": group, "rule_query": group_query(group)})
            for order, t in enumerate(taxonomy.topics) for n, group in enumerate(t.groups)]


def topics_index_body(prefix: str, taxonomy: Taxonomy, template_path: Path = TEMPLATE_FILE) -> dict:
    """``PUT <prefix>-topics`` body: the articles template's settings and mappings + rule fields."""
    template = build_template(prefix, template_path)["template"]
    settings = dict(template["settings"], hidden=True)
    mappings = dict(template["mappings"])
    mappings["properties"] = dict(mappings["properties"], **RULE_FIELDS)
    mappings["_meta"] = dict(mappings["_meta"], taxonomy=taxonomy_digest(taxonomy))
    return {"settings": settings, "mappings": mappings}


@dataclass
class InstallResult:
    """What :func:`install_topics` did: ``action`` is ``created``, ``recreated`` (analysis or
    template changed), ``updated`` (taxonomy changed) or ``unchanged``."""

    index: str
    action: str
    topics: int
    queries: int
    removed: int = 0


def install_topics(engine: Engine, prefix: str, taxonomy: Taxonomy,
                   template_path: Path = TEMPLATE_FILE) -> InstallResult:
    """Make ``<prefix>-topics`` hold ``taxonomy`` as percolator queries (idempotent).

    The index is rebuilt when its template version or folding digest is not the current one
    (it is derived data); queries are (re)written and stale ones deleted when the taxonomy
    digest differs.  Refreshed before returning, so a percolation right after sees the rules.

    Raises:
        EngineError / EngineUnavailable: the engine refused (e.g. a rule the engine cannot
            parse: the message carries its reason) or does not answer.
    """
    name, body = topics_index(prefix), topics_index_body(prefix, taxonomy, template_path)
    docs, meta = rule_documents(taxonomy), body["mappings"]["_meta"]
    current = engine.request("GET", f"/{_q(name)}/_mapping", missing_ok=True)
    action = "unchanged"
    if current is not None:
        have = next(iter(current.values()))["mappings"].get("_meta", {})
        if any(have.get(k) != meta[k] for k in ("rasd_template_version", "folding")):
            engine.delete_index(name)
            current, action = None, "recreated"
        elif have.get("taxonomy") != meta["taxonomy"] or engine.count(name) != len(docs):
            action = "updated"
    if current is None:
        engine.create_index(name, body)
        action = "created" if action == "unchanged" else action
    if action == "unchanged":
        return InstallResult(name, action, len(taxonomy.topics), len(docs))
    for doc_id, source in docs:
        engine.request("PUT", f"/{_q(name)}/_doc/{_q(doc_id)}", source)
    gone = engine.request("POST", f"/{_q(name)}/_delete_by_query", {
        "query": {"bool": {"must_not": {"ids": {"values": [d for d, _ in docs]}}}}},
        params={"refresh": "true", "conflicts": "proceed"})
    engine.request("PUT", f"/{_q(name)}/_mapping", {"_meta": meta})
    engine.refresh(name)
    return InstallResult(name, action, len(taxonomy.topics), len(docs), int(gone.get("deleted", 0)))


def _get(doc: Any, key: str) -> Any:
    return doc.get(key) if isinstance(doc, dict) else getattr(doc, key, None)


def percolate_topics(engine: Engine, docs: list[Any], *, prefix: str = "rasd-articles",
                     batch: int = 50) -> list[list[str]]:
    """Topic slugs of each of ``docs`` (dicts or objects with ``title`` and ``text``), in
    taxonomy order, by the rules installed in ``<prefix>-topics`` and the evidence rule.

    Each document is percolated twice in one request: its title alone and title + text
    (``_percolator_document_slot`` 2i and 2i+1), which gives the title and total evidence.

    Raises:
        EngineUnavailable: no answer; EngineError: the topics index is missing
            (``rasd topics install``) or the engine refused.
    """
    name, out = topics_index(prefix), []
    for start in range(0, len(docs), batch):
        chunk = docs[start:start + batch]
        slots: list[dict] = []
        for doc in chunk:
            title, text = _get(doc, "title") or "", _get(doc, "text") or ""
            slots += [{"title": title}, {"title": title, "text": text}]
        answer = engine.search(name, {"size": 10000, "_source": ["rule_topic", "rule_order"],
                                      "query": {"percolate": {"field": "rule_query", "documents": slots}}})
        evidence: list[dict[tuple[int, str], list[int]]] = [{} for _ in chunk]
        for hit in answer["hits"]["hits"]:
            key = (hit["_source"]["rule_order"], hit["_source"]["rule_topic"])
            for slot in hit.get("fields", {}).get("_percolator_document_slot", []):
                evidence[slot // 2].setdefault(key, [0, 0])[slot % 2] += 1
        out += [[slug for (_, slug), (t, a) in sorted(ev.items()) if topic_applies(t, a)]
                for ev in evidence]
    return out


# --- retag ----------------------------------------------------------------------------------

Tagger = Callable[[list[dict]], list[list[str]]]


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def retag_archive(archive_dir: Path, tagger: Tagger, batch: int = 200) -> tuple[int, int]:
    """Re-tag every archived record; ``(records, changed)``.  Changed topics are appended to
    ``<archive>/amendments/topics.jsonl`` as ``{"id", "topics"}`` lines (whole lines, under the
    data directory's lock, see :mod:`rasd.pipelines.ledger`), which
    :func:`rasd.pipelines.archive.read_archive` applies and the index follower sends as updates; the
    day files are never rewritten."""
    from rasd.core.archive import ArchiveWriter, read_archive
    from rasd.core.durable import StateLock

    archive_dir = Path(archive_dir)
    total = changed = 0
    lock = StateLock(archive_dir.parent)
    writer = ArchiveWriter(archive_dir)
    try:
        for chunk in _batches(read_archive(archive_dir), batch):
            total += len(chunk)
            amendments = [{"id": rec["id"], "topics": topics} for rec, topics in zip(chunk, tagger(chunk))
                          if rec.get("id") and list(rec.get("topics") or []) != topics]
            if amendments:
                with lock:
                    lock.declare(["amendments/topics.jsonl"])
                    changed += writer.amend("topics", amendments)
    finally:
        writer.close()
        lock.close()
    return total, changed


def retag_index(engine: Engine, alias: str, tagger: Tagger, batch: int = 200) -> tuple[int, int]:
    """Re-tag every document behind ``alias``; ``(documents, changed)``.  Reads in ``id`` order
    (``search_after``), then sets ``topics`` with one ``_update_by_query`` per distinct new
    topic list (``ids`` query, painless ``ctx._source.topics = params.topics``); refreshed."""
    changes: dict[tuple[str, ...], list[str]] = {}
    total, after = 0, None
    while True:
        body: dict[str, Any] = {"size": batch, "sort": [{"id": "asc"}],
                                "_source": ["id", "title", "text", "topics"], "query": {"match_all": {}}}
        if after is not None:
            body["search_after"] = after
        hits = engine.search(alias, body)["hits"]["hits"]
        if not hits:
            break
        sources = [h["_source"] for h in hits]
        for hit, topics in zip(hits, tagger(sources)):
            if list(hit["_source"].get("topics") or []) != topics:
                changes.setdefault(tuple(topics), []).append(hit["_id"])
        total, after = total + len(hits), hits[-1]["sort"]
    for topics, ids in changes.items():
        for part in _batches(ids, 5000):
            engine.request("POST", f"/{_q(alias)}/_update_by_query", {
                "query": {"ids": {"values": part}},
                "script": {"lang": "painless", "source": "ctx._source.topics = params.topics",
                           "params": {"topics": list(topics)}}},
                params={"conflicts": "proceed", "refresh": "true"})
    return total, sum(len(v) for v in changes.values())
