"""Keyword alerts: definitions stored as percolator queries, matched against each new article.

An :class:`Alert` is a name, a query in the ``rasd search`` syntax (Lucene ``query_string``,
:func:`rasd.search.articles.build_query`), optional filters (outlets, languages, topics), a frequency
(``immediate``, ``daily`` or ``weekly`` digest) and its deliveries (webhook, email, Atom file;
:mod:`rasd.alerts.outbox` sends them).

Storage: one document per alert, ``_id`` = the alert name, in the percolator index
``<prefix>-alerts`` (``prefix`` = ``engine.index_prefix``).  That index has the article
index's analysis settings and field mappings (built by :func:`rasd.search.articles.build_template`,
so the folding table is the same) plus ``query: percolator`` and ``alert`` metadata; the stored
query is the ``query`` part of the body ``rasd search`` sends, so an alert matches exactly what
the same search shows.  For the plain shapes (words, "phrases", AND/OR, parentheses) its
``query_string`` is stored pre-analysed (:func:`stored_queries`): the same Lucene query built
from the index's own ``_analyze`` of each word and phrase by each searched field (``term``,
``terms`` for the exact analyzer's same-position forms, ``span_near`` for phrases), so the
percolator neither parses nor analyses it per candidate; the rest keep the ``query_string``.
A change of analysis rebuilds the index (:func:`init_alerts_index`) and so re-analyses them.  A second percolator field, ``candidates``, holds a necessary
condition on ``alert_keys`` (one stem key per required word, :func:`rasd.alerts.model.
key_prefilter`) that only narrows which alerts the percolator verifies (:func:`match_alerts`).  Percolator docs: OpenSearch
https://opensearch.org/docs/latest/query-dsl/specialized/percolate/ and Elasticsearch
https://www.elastic.co/guide/en/elasticsearch/reference/current/percolator.html (the query is
parsed with the index's analyzers; ``documents`` percolates several documents in one request and
``_percolator_document_slot`` says which ones matched; highlighting marks the matched words).

Matching (:func:`match_alerts`) percolates each article record (``Article.to_record()``,
projected on the mapped fields) in a ``size: 0`` request in filter context whose matches come
back as a terms aggregation on ``alert.ref`` (``<name>@<digest of the definition>``): no fetch
phase, no ``_source``; definitions come from a client-side cache keyed by name + digest (one
``_mget`` on a miss).  Highlighting (:func:`highlight_matches`) is a separate percolate request
restricted to the alerts to highlight.  :class:`AlertFollower` follows the archive (checkpoint
in ``<data-dir>/alerts.sqlite``), percolates new articles in batches, highlights only the
matches that start a story for their alert, and hands the matches to
:func:`rasd.alerts.outbox.handle_matches` (one notification per story, digests,
outbox) in the transaction that moves its checkpoint; :class:`AlertPipeline` runs it in a
background thread of the crawl.

Errors: :class:`AlertError` (a user mistake: bad name, invalid query with the engine's reason,
unknown alert); engine failures are :class:`~rasd.core.errors.EngineError`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from rasd.alerts.model import Alert, AlertError, compile_query, parse_alert, query_tree, tree_texts
from rasd.core.article import isoformat_utc, utcnow
from rasd.search.engine import Engine
from rasd.core.errors import EngineError
from rasd.core.rules import analysis_tokens, name_alternatives
from rasd.search.articles import HL_POST, HL_PRE, SEARCH_FIELDS, build_query, build_template, check_fields
from rasd.search.queryerrors import QuerySyntaxError, explain

log = logging.getLogger(__name__)

MAX_ALERTS = 10000
_META_VERSION = 7  # 2: alert_keys + candidates (Alert.candidate_query); 4: alert.digest, alert.ref;
#                    5: pre-analysed stored queries (stored_queries); 6: keys of the proclitic
#                    forms, name synonyms (queries with a name keep their query_string);
#                    7: names kept whole by the stemmer in the keys too (rasd_entity_whole)
#: the analyzer of ``alert_keys``: per word, the stems of it, of ال + it, of it without its
#: article and of its forms without proclitics (see :func:`rasd.alerts.model.key_prefilter`)
KEY_ANALYZER = "rasd_alert_keys"
KEY_SOURCES = ("title", "description", "text")

# --- the percolator index ---------------------------------------------------------------------


def alerts_index(prefix: str) -> str:
    return f"{prefix}-alerts"


def alerts_index_body(prefix: str) -> dict:
    """``PUT <prefix>-alerts`` body: the article template's settings and mappings (same
    analyzers, same fields) + ``query`` (percolator) + ``alert`` (name, frequency, created_at,
    ``spec``: the alert as JSON, not indexed)."""
    template = build_template(prefix)["template"]
    settings, mappings = copy.deepcopy(template["settings"]), copy.deepcopy(template["mappings"])
    settings["refresh_interval"] = "1s"
    settings["hidden"] = True  # not in Kibana's <prefix>* data view nor in <prefix>-* wildcards
    analysis = settings["analysis"]
    analysis["filter"]["rasd_alert_with_article"] = {
        "type": "pattern_replace", "pattern": "^(.+)$", "replacement": "ال$1"}
    analysis["filter"]["rasd_alert_key_forms"] = {
        "type": "multiplexer", "preserve_original": False,
        "filters": ["rasd_entity_whole, arabic_stem", "rasd_alert_with_article, rasd_entity_whole, arabic_stem",
                    "rasd_arabic_article, rasd_entity_whole, arabic_stem",
                    "rasd_arabic_stop, rasd_arabic_stop_folded, rasd_arabic_protected, rasd_arabic_proclitics, "
                    "rasd_entity_whole, arabic_stem",
                    "rasd_arabic_stop, rasd_arabic_stop_folded, rasd_arabic_protected, rasd_arabic_proclitic, "
                    "rasd_entity_whole, arabic_stem"]}
    analysis["analyzer"][KEY_ANALYZER] = {
        "type": "custom", "char_filter": ["rasd_arabic_fold"], "tokenizer": "standard",
        "filter": ["lowercase", "decimal_digit", "arabic_normalization", "rasd_alert_key_forms"]}
    mappings["properties"]["alert_keys"] = {"type": "text", "analyzer": KEY_ANALYZER,
                                            "index_options": "docs", "norms": False}
    mappings["properties"]["query"] = {"type": "percolator"}
    mappings["properties"]["candidates"] = {"type": "percolator"}
    mappings["properties"]["alert"] = {"properties": {
        "name": {"type": "keyword"}, "frequency": {"type": "keyword"}, "digest": {"type": "keyword"},
        "ref": {"type": "keyword"},
        "created_at": {"type": "date"}, "spec": {"type": "object", "enabled": False}}}
    mappings["_meta"]["rasd_alerts"] = _META_VERSION
    return {"settings": settings, "mappings": mappings}


def init_alerts_index(engine: Engine, prefix: str) -> str:
    """Create ``<prefix>-alerts`` if missing; rebuild it (alerts kept) when it was made with an
    older template or folding table.  Returns the index name."""
    name = alerts_index(prefix)
    mapping = engine.request("GET", f"/{name}/_mapping", missing_ok=True)
    if mapping is not None:
        meta = mapping.get(name, {}).get("mappings", {}).get("_meta", {})
        wanted = alerts_index_body(prefix)["mappings"]["_meta"]
        if all(meta.get(k) == wanted[k] for k in ("rasd_alerts", "folding", "rasd_template_version")):
            return name
        kept = list_alerts(engine, prefix)
        log.info("alerts index %s: analysis changed, rebuilding with %d alerts", name, len(kept))
        engine.delete_index(name)
    else:
        kept = []
    try:
        engine.create_index(name, alerts_index_body(prefix))
    except EngineError as exc:
        if "resource_already_exists" not in str(exc):
            raise
    for alert in kept:
        _put(engine, name, alert, replace=True)
    return name


def validate_query(engine: Engine, prefix: str, alert: Alert) -> None:
    """Ask the engine (``_validate/query?explain`` on the alerts index, whose analysis is the
    articles') whether the alert's query parses.  Raises :class:`AlertError` with the reason in
    plain words (:func:`rasd.search.queryerrors.explain`; ``.problem`` holds it)."""
    answer = engine.request("POST", f"/{alerts_index(prefix)}/_validate/query",
                            {"query": alert.search_query()}, params={"explain": "true"})
    if not answer.get("valid", False):
        reasons = [e.get("error", "") for e in answer.get("explanations", []) if e.get("error")]
        problem = explain(alert.query, reasons[0] if reasons else "")  # plain words, not Java text
        exc = AlertError(f"alert {alert.name}: invalid query {alert.query!r}: {problem.message}")
        exc.problem = problem  # type: ignore[attr-defined]
        raise exc


def spec_digest(spec: dict) -> str:
    """The ``alert.digest`` of an alert definition: a hash of its JSON (what the match cache,
    :class:`_Definitions`, keys the parsed alerts by)."""
    text = json.dumps(spec, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


_ANALYZE_BATCH = 500  # texts per _analyze request (index.analyze.max_token_count: 10,000 tokens)


def analyse_texts(engine: Engine, index: str, texts: Sequence[str],
                  fields: Sequence[str]) -> dict[str, dict[str, list[list[str]]]]:
    """``{field: {text: [[terms at position 0], [terms at 1], …]}}``: each text as ``index``'s
    ``field`` analyses it (``_analyze`` with ``field``, many texts per request, each token
    assigned to its text by offsets).  A text whose positions are not consecutive (a removed
    word) gets an empty position, which :func:`compile_query` refuses."""
    out: dict[str, dict[str, list[list[str]]]] = {}
    texts = list(texts)
    for field in fields:
        mine = out.setdefault(field, {})
        for start in range(0, len(texts), _ANALYZE_BATCH):
            chunk = texts[start:start + _ANALYZE_BATCH]
            answer = engine.request("POST", f"/{index}/_analyze", {"field": field, "text": chunk})
            bounds, at = [], 0
            for text in chunk:
                size = len(text.encode("utf-16-le")) // 2  # the engine's offsets: UTF-16 units
                bounds.append((at, at + size))
                at += size + 1  # the offset gap between values
            by_text: list[dict[int, list[str]]] = [{} for _ in chunk]
            i = 0
            for tok in answer.get("tokens", []):
                while i < len(chunk) and tok["start_offset"] >= bounds[i][1] + 1:
                    i += 1
                if i == len(chunk) or tok["end_offset"] > bounds[i][1]:
                    raise EngineError(f"_analyze on {index}: token {tok} outside the texts sent")
                by_text[i].setdefault(tok["position"], []).append(tok["token"])
            for text, positions in zip(chunk, by_text):
                if not positions:
                    mine[text] = []
                    continue
                first, last = min(positions), max(positions)
                mine[text] = [sorted(set(positions.get(p, []))) for p in range(first, last + 1)]
    return out


def stored_queries(engine: Engine, index: str, alerts: Sequence[Alert]) -> dict[str, dict]:
    """``{name: query}``: what the ``query`` percolator field stores for each of ``alerts``:
    :meth:`Alert.search_query` with its ``query_string`` replaced, when
    :func:`~rasd.alerts.model.query_tree` recognises the query, by the pre-analysed
    equivalent (:func:`~rasd.alerts.model.compile_query`: term, terms and span queries
    built from ``index``'s own analysis of each word and phrase, by each searched field), which
    the percolator runs without parsing or analysing anything; otherwise unchanged."""
    trees = {a.name: query_tree(a.query) for a in alerts}
    texts = sorted(set().union(*(tree_texts(t) for t in trees.values() if t is not None)))
    fields = [f.split("^")[0] for f in SEARCH_FIELDS]
    analysed = analyse_texts(engine, index, texts, fields) if texts else {}
    names = named_texts(texts)
    out = {}
    for alert in alerts:
        query = alert.search_query()
        tree = trees[alert.name]
        if tree is not None and tree_texts(tree) & names:
            tree = None  # a name's spellings: the search analyzer's synonym graph decides
        compiled = compile_query(tree, analysed, fields) if tree is not None else None
        if compiled is not None:
            query["bool"]["must"] = [compiled]
        out[alert.name] = query
    return out


def named_texts(texts: Sequence[str]) -> set[str]:
    """The words and phrases among ``texts`` that hold a spelling of a gazetteer name (the
    search analyzers' ``rasd_names`` synonyms, :func:`rasd.core.rules.name_alternatives`): an
    alert with one keeps its ``query_string``, which the percolator analyses with the fields'
    search analyzer, synonym graph included (the index analysis :func:`compile_query` is built
    from has no synonyms)."""
    return {t for t in texts if len(name_alternatives(analysis_tokens(t))) > 1}


def alert_document(alert: Alert, query: dict | None = None) -> dict:
    """The percolator index document of ``alert`` (``_id`` = its name); ``query``: what the
    ``query`` field stores (:func:`stored_queries`; default :meth:`Alert.search_query`)."""
    spec = alert.spec()
    digest = spec_digest(spec)
    return {"query": query or alert.search_query(), "candidates": alert.candidate_query(),
            "alert": {"name": alert.name, "frequency": alert.frequency, "digest": digest,
                      "ref": f"{alert.name}@{digest}",
                      "created_at": isoformat_utc(utcnow()), "spec": spec}}


def _put(engine: Engine, index: str, alert: Alert, replace: bool) -> None:
    doc = alert_document(alert, stored_queries(engine, index, [alert])[alert.name])
    params = {"refresh": "true"} | ({} if replace else {"op_type": "create"})
    try:
        engine.request("PUT", f"/{index}/_doc/{alert.name}", doc, params=params)
    except EngineError as exc:
        if getattr(exc, "status", None) == 409:
            raise AlertError(f"alert {alert.name} exists (remove it first)") from None
        if getattr(exc, "status", None) == 400:
            raise AlertError(f"alert {alert.name}: the engine refused it: {exc}") from None
        raise


def add_alert(engine: Engine, prefix: str, alert: Alert, replace: bool = False) -> None:
    """Validate ``alert``'s query with the engine and store it (refreshed: it matches at once).

    Raises:
        AlertError: invalid query (the engine's reason), the name exists and not ``replace``,
            or an Apprise URL Apprise cannot notify (:func:`check_deliveries`).
    """
    check_storable(alert)
    index = init_alerts_index(engine, prefix)
    validate_query(engine, prefix, alert)
    _put(engine, index, alert, replace)


def check_storable(alert) -> None:
    """What is refused before a query alert is stored, the engine not asked: an Apprise URL
    Apprise cannot notify, a query of stop words only, a field no article has.

    Raises:
        AlertError: naming the alert and the reason (``.problem`` for a field).
    """
    check_deliveries(alert)
    if only_stop_words(alert.query):
        raise AlertError(f"alert {alert.name}: the query {alert.query!r} is only stop words (و, في, من …), "
                         "which the analyzer drops: it could never match")
    try:
        check_fields(alert.query)  # a field no article has would never match, silently
    except QuerySyntaxError as bad:
        exc = AlertError(f"alert {alert.name}: invalid query {alert.query!r}: {bad.problem.message}")
        exc.problem = bad.problem  # type: ignore[attr-defined]
        raise exc from None


def only_stop_words(query: str) -> bool:
    """Whether every clause of ``query`` is words the analyzer removes (stop words), so that it
    matches no article at all; ``False`` for a query that does not parse (reported elsewhere)."""
    from rasd.core.query import Group, QueryError, group_is_null, parse_query
    from rasd.core.rules import is_null

    try:
        group = parse_query(query)
    except QueryError:
        return False

    def null(node) -> bool:
        return group_is_null(node, null) if isinstance(node, Group) else is_null(node)

    return group_is_null(group, null)


def atom_problem(path: str) -> str | None:
    """Why an Atom feed could never be written at ``path`` (a directory, a directory that
    does not exist or that this user cannot write, an existing file that is not XML), or
    ``None``."""
    import os
    import xml.etree.ElementTree as ET

    import tempfile

    p = Path(path).expanduser()
    if p.is_dir():
        return f"atom path {path} is a directory (give a file name, e.g. {p / 'alerts.atom'})"
    ancestor = p.parent  # the channel creates missing directories: where would it start?
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"atom path {path}: {ancestor} is not a directory"
    try:  # what the channel will do there, tried (a write check alone passes /proc for root)
        os.rmdir(tempfile.mkdtemp(prefix=".rasd-check-", dir=ancestor))
    except OSError as exc:
        return f"atom path {path}: cannot write in {ancestor} ({exc.strerror or exc})"
    if p.exists() and not os.access(p, os.W_OK):
        return f"atom path {path}: not writable by this user"
    if p.exists() and p.stat().st_size:
        try:
            ET.parse(p)
        except (ET.ParseError, OSError) as exc:
            return f"atom path {path}: an existing file that is not an Atom feed ({exc}); it would not be overwritten"
    return None


def check_deliveries(alert) -> None:
    """Refuse an alert (query or health) whose Apprise URLs Apprise cannot notify, or whose
    Atom feed could never be written (:func:`atom_problem`).

    Raises:
        AlertError: naming the refused URLs (redacted) or the Atom path.
    """
    atom = getattr(alert.deliveries, "atom", None)
    if atom is not None and (problem := atom_problem(atom.path)):
        raise AlertError(f"alert {alert.name}: {problem}")
    apprise = getattr(alert.deliveries, "apprise", None)
    if apprise is None:
        return
    from rasd.alerts.channels.apprise import unknown_urls

    bad = unknown_urls(apprise.urls)
    if bad:
        raise AlertError(f"alert {alert.name}: Apprise cannot notify {', '.join(bad)} "
                         "(unknown service or a URL missing its parts; see https://github.com/caronc/apprise/wiki)")


def get_alert(engine: Engine, prefix: str, name: str) -> Alert:
    """The stored alert ``name``; raises :class:`AlertError` if there is none."""
    doc = engine.request("GET", f"/{alerts_index(prefix)}/_doc/{name}", missing_ok=True)
    if not doc or not doc.get("found"):
        raise AlertError(f"no alert named {name!r} (rasd alerts list)")
    return parse_alert(doc["_source"]["alert"]["spec"], f"stored alert {name}")


def list_alerts(engine: Engine, prefix: str) -> list[Alert]:
    """Every stored alert, by name (at most :data:`MAX_ALERTS`); ``[]`` without an index."""
    answer = engine.request("POST", f"/{alerts_index(prefix)}/_search", missing_ok=True, body={
        "size": MAX_ALERTS, "query": {"match_all": {}}, "sort": [{"alert.name": "asc"}],
        "_source": ["alert.spec"]})
    if answer is None:
        return []
    return [parse_alert(h["_source"]["alert"]["spec"], f"stored alert {h['_id']}")
            for h in answer["hits"]["hits"]]


def remove_alert(engine: Engine, prefix: str, name: str) -> None:
    """Delete alert ``name``; raises :class:`AlertError` if there is none."""
    answer = engine.request("DELETE", f"/{alerts_index(prefix)}/_doc/{name}",
                            params={"refresh": "true"}, missing_ok=True)
    if answer is None or answer.get("result") == "not_found":
        raise AlertError(f"no alert named {name!r} (rasd alerts list)")


# --- matching ---------------------------------------------------------------------------------


def percolate_document(record: dict) -> dict:
    """The part of an archive record the percolator sees: the mapped fields (the mapping is
    strict), without ``None`` values."""
    fields = _document_fields()
    return {k: v for k, v in record.items() if k in fields and v is not None}


def key_document(record: dict) -> dict:
    """The document percolated against the ``candidates`` field: only ``alert_keys`` (title,
    description and text), few terms, so the percolator's candidate query keeps its
    minimum-should-match (it gives that up past ``indices.query.bool.max_clause_count``, 1024,
    distinct terms in the percolated document: a long article's six text fields pass that)."""
    return {"alert_keys": [record[k] for k in KEY_SOURCES if isinstance(record.get(k), str)]}


@functools.lru_cache(maxsize=1)
def _document_fields() -> frozenset[str]:
    from rasd.search.indexing import document_fields

    return document_fields()


_HL_FIELDS = {"title": {"number_of_fragments": 0}, "title.exact": {"number_of_fragments": 0},
              "text": {"fragment_size": 180, "number_of_fragments": 1},
              "text.exact": {"fragment_size": 180, "number_of_fragments": 1}}


class _Definitions:
    """The parsed alerts of each percolator index by name, with the ``alert.digest`` they were
    parsed from: a match returns only names and digests (no ``_source``, no fetch phase), and a
    name not cached or cached with another digest (added, replaced) is fetched with one
    ``_mget`` for all of them.  A stored alert without a digest (an index older than
    :data:`_META_VERSION`) is fetched every time."""

    def __init__(self) -> None:
        self._by_index: dict[str, dict[str, tuple[str, Alert]]] = {}

    def resolve(self, engine: Engine, index: str, refs: dict[str, str]) -> dict[str, Alert]:
        """``{name: Alert}`` for ``refs`` (``{name: digest}``); a name gone since is left out."""
        cache = self._by_index.setdefault(index, {})
        stale = [n for n, d in refs.items() if not d or cache.get(n, ("",))[0] != d]
        if stale:
            answer = engine.request("POST", f"/{index}/_mget", {"ids": stale},
                                    params={"_source_includes": "alert.spec,alert.digest"})
            for doc in answer.get("docs", []):
                if not doc.get("found"):
                    cache.pop(doc["_id"], None)
                    continue
                meta = doc["_source"]["alert"]
                alert = parse_alert(meta["spec"], f"stored alert {doc['_id']}")
                cache[doc["_id"]] = (meta.get("digest") or "", alert)
        return {n: cache[n][1] for n in refs if n in cache}

    def clear(self) -> None:
        self._by_index.clear()


_DEFINITIONS = _Definitions()


def _percolate(documents: Sequence[dict], docs: Sequence[dict]) -> list[dict]:
    """The two percolate clauses for ``documents`` (``docs``: their percolated projections).
    Both go in filter context (no scoring: the percolator then only checks that a stored query
    matches, instead of scoring it on the document), and Lucene intersects their candidate sets
    before it verifies anything, so the alert's search query (``query``) is only run on the
    alerts whose ``candidates`` condition (every required word's key in the article) holds."""
    return [{"percolate": {"field": "candidates", "name": "keys",
                           "documents": [key_document(d) for d in documents]}},
            {"percolate": {"field": "query", "name": "alert", "documents": list(docs)}}]


_NO_REF = "-"  # (never a ref: those hold an @) the terms aggregation's bucket for alerts stored without alert.ref


def _matching_refs(engine: Engine, index: str, document: dict, frequency: str | None) -> dict[str, str]:
    """``{alert name: digest}`` of the alerts matching one article: a ``size: 0`` percolate
    whose matches are read from a terms aggregation on ``alert.ref`` (``<name>@<digest>``), so
    the engine skips the fetch phase (which would re-run every matched alert's query on the
    document to report its slot).  Alerts stored without ``alert.ref`` (an index older than
    :data:`_META_VERSION`) are named by a second request (digest ``""``: fetched each time)."""
    filters = _percolate([document], [percolate_document(document)])
    if frequency:
        filters.append({"term": {"alert.frequency": frequency}})

    def names(field: str, extra: list[dict], missing: str | None) -> list[str]:
        terms: dict[str, Any] = {"field": field, "size": MAX_ALERTS}
        if missing is not None:
            terms["missing"] = missing
        body = {"size": 0, "track_total_hits": False, "query": {"bool": {"filter": filters + extra}},
                "aggs": {"names": {"terms": terms}}}
        return [b["key"] for b in engine.search(index, body)["aggregations"]["names"]["buckets"]]

    found = names("alert.ref", [], _NO_REF)
    refs = dict(r.rpartition("@")[::2] for r in found if r != _NO_REF)
    if _NO_REF in found:
        refs |= dict.fromkeys(names("alert.name", [{"bool": {"must_not": {"exists": {"field": "alert.ref"}}}}],
                                    None), "")
    return refs


def match_alerts(engine: Engine, prefix: str, documents: Sequence[dict], *,
                 highlight: bool = False, frequency: str | None = None) -> list[tuple[Alert, dict]]:
    """Which alerts match which of ``documents`` (article records): one percolate request per
    document, each returning only the matching alerts' names (definitions from a client-side
    cache, :class:`_Definitions`).

    Returns ``(alert, document)`` pairs, documents in input order, then alert names.  With
    ``highlight`` each returned document is a copy with ``highlight`` (see
    :func:`highlight_matches`; the crawl stage highlights only the pairs it will notify).
    ``frequency`` keeps only alerts of that frequency.  At most :data:`MAX_ALERTS` alerts per
    document.

    Raises:
        EngineError: the engine refused the request or is down (``EngineUnavailable``).
    """
    index = alerts_index(prefix)
    found: list[tuple[int, dict[str, str]]] = [
        (slot, _matching_refs(engine, index, doc, frequency)) for slot, doc in enumerate(documents)]
    refs: dict[str, str] = {}
    for _, names in found:
        refs.update(names)
    alerts = _DEFINITIONS.resolve(engine, index, refs) if refs else {}
    out = [(alerts[name], documents[slot]) for slot, names in found for name in sorted(names)
           if name in alerts]
    return highlight_matches(engine, prefix, out) if highlight else out


def highlight_matches(engine: Engine, prefix: str,
                      matches: Sequence[tuple[Alert, dict]]) -> list[tuple[Alert, dict]]:
    """``matches`` with each document copied and given ``highlight = {"title", "snippet"}``
    holding :data:`~rasd.search.articles.HL_PRE`/:data:`~rasd.search.articles.HL_POST` around the words its
    alert matched (the engine's highlighter on a percolate request restricted to those alerts,
    all the documents in one request)."""
    if not matches:
        return []
    docs: list[dict] = []
    slot_of: dict[int, int] = {}
    for _, doc in matches:
        if id(doc) not in slot_of:
            slot_of[id(doc)] = len(docs)
            docs.append(doc)
    names = sorted({alert.name for alert, _ in matches})
    body: dict[str, Any] = {
        "query": {"bool": {"must": [{"percolate": {"field": "query", "name": "alert",
                                                   "documents": [percolate_document(d) for d in docs]}}],
                           "filter": [{"ids": {"values": names}}]}},
        "size": len(names), "_source": False,
        "highlight": {"pre_tags": [HL_PRE], "post_tags": [HL_POST], "fields": _HL_FIELDS,
                      "require_field_match": False}}
    marked = {h["_id"]: h.get("highlight", {})
              for h in engine.search(alerts_index(prefix), body)["hits"]["hits"]}
    out = []
    for alert, doc in matches:
        slot = slot_of[id(doc)]
        hl = _slot_highlight(marked.get(alert.name, {}), slot, doc)
        out.append((alert, dict(doc, highlight=hl)))
    return out


def _slot_highlight(hl: dict, slot: int, doc: dict) -> dict:
    def get(field: str) -> str | None:
        # the highlighter's field names: <slot>_<field> (several documents) or <field> (one)
        # with one percolate clause; alert_<slot>_<field> / alert_<field> (named clause) with two
        frags = (hl.get(f"{slot}_{field}") or hl.get(f"alert_{slot}_{field}") or hl.get(f"alert_{field}")
                 or hl.get(field))
        return frags[0] if frags else None

    title = get("title") or get("title.exact") or doc.get("title") or ""
    snippet = get("text") or get("text.exact") or (doc.get("text") or "")[:180]
    return {"title": title, "snippet": snippet}


def alert_history(engine: Engine, articles: str, alert: Alert, since: str | None = None,
                  limit: int = 1000) -> list[dict]:
    """What ``alert`` would have matched in the articles index ``articles`` since ``since``
    (``7d``, ``12h``, ``2w``, ISO date or date math): one dict per story (``story_id``, the
    earliest article's ``title``/``url``/``outlet``/``published_at``, ``outlets``: sorted
    distinct outlets, ``articles``: count), oldest story first."""
    body = build_query(alert.query, outlets=alert.filters.outlets or None,
                       languages=alert.filters.languages or None, since=since, limit=limit)
    if alert.filters.topics:
        body["query"]["bool"]["filter"].append({"terms": {"topics": alert.filters.topics}})
    body["_source"] = ["id", "title", "url", "outlet", "published_at", "fetched_at", "story_id"]
    body.pop("highlight")
    stories: dict[str, dict] = {}
    for hit in engine.search(articles, body)["hits"]["hits"]:
        src = hit["_source"]
        at = src.get("published_at") or src.get("fetched_at") or ""
        key = src.get("story_id") or hit["_id"]
        story = stories.setdefault(key, {"story_id": key, "at": at, "outlets": set(), "articles": 0})
        story["outlets"].add(src.get("outlet", ""))
        story["articles"] += 1
        if at <= story["at"] or "title" not in story:
            story.update(at=at, title=src.get("title") or "", url=src.get("url", ""),
                         outlet=src.get("outlet", ""), published_at=src.get("published_at"))
    rows = sorted(stories.values(), key=lambda s: s["at"])
    for row in rows:
        row["outlets"] = sorted(row["outlets"])
        del row["at"]
    return rows
