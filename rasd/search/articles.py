"""The article index: its template, its indices and alias, and the search query.

Naming (``prefix`` = ``engine.index_prefix``, default ``rasd-articles``):

* indices ``<prefix>-000001``, ``<prefix>-000002``, … (rollover-style generations), all created
  from the composable index template ``<prefix>`` (``config/index_template.yaml``);
* the alias ``<prefix>`` over them; exactly one carries ``is_write_index: true`` and receives
  every write, searches and Kibana (data view ``<prefix>*``) read all of them.

A new generation comes from ``rasd index --reindex`` (template or folding changed: build
``-00000N+1`` from the archive, then swap the alias atomically and delete the old ones) or from an
operator's ``POST <prefix>/_rollover`` when an index grows too big.  Document ids are unique per
index only, so while the alias spans several indices the indexing path checks ids across the
alias before writing (``pipelines/index.py``).

Search (:func:`build_query`): Lucene ``query_string`` syntax, as typed in Kibana (AND/OR/NOT,
"phrases", wildcards, ``field:value``; Lucene's classic precedence, :mod:`rasd.core.query`), over the stemmed fields and their ``exact`` subfields
with ``most_fields`` scoring, so a document that also matches unstemmed ranks higher.  Why both
(case 16): the light stemmer turns وزير into زير but الوزير into وزير; the ``exact`` analyzer
keeps وزير and indexes الوزير as الوزير + وزير, so the query وزير finds both forms.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from datetime import date, datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rasd.core.yamlio import safe_load

from rasd.core.arabic import Folding, default_folding
from rasd.search.engine import Engine
from rasd.core.errors import ConfigError, EngineError
from rasd.core.query import has_wildcard
from rasd.core.rules import protected_words, synonym_sets, whole_words
from rasd.core.paths import CONFIG_DIR

TEMPLATE_FILE = CONFIG_DIR / "index_template.yaml"
FOLDING_PLACEHOLDER = "@arabic_folding"
PROTECTED_PLACEHOLDER = "@arabic_protected"
SYNONYMS_PLACEHOLDER = "@entity_synonyms"
WHOLE_PLACEHOLDER = "@entity_whole"
#: char filters generated from the folding table's ``breaks`` are named with this prefix
BREAK_FILTER_PREFIX = "rasd_arabic_break_"
#: highlight markers (Unicode private use): never in news text, turned into markup by the CLI
HL_PRE, HL_POST = "\ue000", "\ue001"
#: fields searched by default, with boosts (Kibana users get the same with a saved query)
SEARCH_FIELDS = ["title^3", "title.exact^3", "text", "text.exact", "description", "description.exact"]
#: fields for queries with wildcards: a stemmed prefix is no prefix (وزي* would become وز*)
WILDCARD_FIELDS = ["title.exact^3", "text.exact", "description.exact"]
_GENERATION = re.compile(r"-(\d{6})$")
_BAD_PREFIX = re.compile(r'[A-Z\\/*?"<>| ,#:]|^[-_+.]')
_DATE_MATH = re.compile(r"^now(?:[-+]\d+[smhdwMy])*(?:/[smhdwMy])?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")


def load_template(path: Path = TEMPLATE_FILE) -> dict:
    """The YAML template as a dict (placeholders not yet filled).

    Raises:
        ConfigError: unreadable, not a mapping, missing keys, or the char filter is not the
            ``@arabic_folding`` placeholder (it must be generated from the folding table).
    """
    try:
        data = safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read index template: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the index template must be a mapping")
    for key in ("template_version", "index_patterns", "settings", "mappings"):
        if key not in data:
            raise ConfigError(f"{path}: {key}: missing")
    unknown = set(data) - {"template_version", "index_patterns", "priority", "settings", "mappings"}
    if unknown:
        raise ConfigError(f"{path}: {sorted(unknown)[0]}: unknown key")
    try:
        fold = data["settings"]["analysis"]["char_filter"]["rasd_arabic_fold"]["mappings"]
    except (KeyError, TypeError):
        raise ConfigError(f"{path}: settings.analysis.char_filter.rasd_arabic_fold.mappings: missing") from None
    if fold != FOLDING_PLACEHOLDER:
        raise ConfigError(f"{path}: settings.analysis.char_filter.rasd_arabic_fold.mappings: must be "
                          f"{FOLDING_PLACEHOLDER!r} (generated from config/arabic_folding.yaml)")
    return data


def folding_digest(folding: Folding | None = None) -> str:
    """SHA-256 (first 16 hex digits) of the char-filter rules, the break patterns, the protected
    words and the name synonyms: tells an index built with an older folding table (or word
    lists) apart."""
    folding = folding or default_folding()
    rules = folding.char_filter_mappings() + [json.dumps(b, sort_keys=True) for b in folding.char_filter_breaks()]
    rules += sorted(protected_words()) + synonym_rules() + [f"whole:{w}" for w in sorted(whole_words())]
    return hashlib.sha256("\n".join(rules).encode("utf-8")).hexdigest()[:16]


def synonym_rules() -> list[str]:
    """The ``rasd_names`` synonym filter's rules: one ``a, b c, d`` line per gazetteer entity
    with several spellings (:func:`rasd.core.rules.synonym_sets`, folded words)."""
    return [", ".join(" ".join(words) for words in spellings) for spellings in synonym_sets()]


def build_template(prefix: str, path: Path = TEMPLATE_FILE, folding: Folding | None = None) -> dict:
    """The body of ``PUT _index_template/<prefix>``: index patterns, priority, ``version``,
    ``_meta`` (template version, folding digest) and ``template`` (settings + mappings).

    Raises:
        ConfigError: bad template file or an index prefix that is not a valid index name.
    """
    check_prefix(prefix)
    data = load_template(path)
    folding = folding or default_folding()
    settings = copy.deepcopy(data["settings"])
    analysis = settings["analysis"]
    analysis["char_filter"]["rasd_arabic_fold"]["mappings"] = folding.char_filter_mappings()
    breaks = {}
    for rule, spec in zip(folding.breaks, folding.char_filter_breaks()):
        breaks[BREAK_FILTER_PREFIX + rule.name] = spec
    analysis["char_filter"].update(breaks)
    for analyzer in analysis.get("analyzer", {}).values():
        chars = analyzer.get("char_filter", [])
        if "rasd_arabic_fold" in chars:
            at = chars.index("rasd_arabic_fold")
            analyzer["char_filter"] = chars[:at] + list(breaks) + chars[at:]
    for spec in analysis.get("filter", {}).values():
        if spec.get("stopwords") == PROTECTED_PLACEHOLDER:
            spec["stopwords"] = sorted(protected_words())
        if spec.get("synonyms") == SYNONYMS_PLACEHOLDER:
            spec["synonyms"] = synonym_rules()
        if spec.get("keywords") == WHOLE_PLACEHOLDER:  # never empty: the filter refuses no keywords
            spec["keywords"] = sorted(whole_words()) or ["\ue000"]
    mappings = copy.deepcopy(data["mappings"])
    meta = {"rasd_template_version": data["template_version"], "folding": folding_digest(folding)}
    mappings["_meta"] = meta
    return {
        "index_patterns": [p.replace("{prefix}", prefix) for p in data["index_patterns"]],
        "priority": data.get("priority", 200),
        "version": data["template_version"],
        "_meta": meta,
        "template": {"settings": settings, "mappings": mappings},
    }


def check_prefix(prefix: str) -> None:
    """Raises ``ConfigError`` unless ``prefix`` can name an index and an alias."""
    if not prefix or _BAD_PREFIX.search(prefix) or len(prefix) > 200:
        raise ConfigError(f"engine.index_prefix: {prefix!r} is not a valid index name "
                          "(lower case, no spaces or \\/*?\"<>|,#:)")


def mapped_fields(mappings: dict) -> set[str]:
    """Every field path in ``mappings`` (``title``, ``title.exact``, …), for the tests and the
    indexing path's projection."""
    out: set[str] = set()

    def walk(props: dict, base: str) -> None:
        for name, spec in props.items():
            path = f"{base}{name}"
            out.add(path)
            walk(spec.get("properties", {}), f"{path}.")
            walk(spec.get("fields", {}), f"{path}.")

    walk(mappings.get("properties", {}), "")
    return out


def index_name(prefix: str, generation: int) -> str:
    return f"{prefix}-{generation:06d}"


def generations(engine: Engine, prefix: str) -> list[str]:
    """Existing ``<prefix>-NNNNNN`` indices, oldest first."""
    doc = engine.request("GET", f"/{prefix}-*/_settings/index.creation_date", missing_ok=True) or {}
    return sorted(name for name in doc if _GENERATION.search(name) and name.startswith(prefix + "-"))


def next_index(engine: Engine, prefix: str) -> str:
    existing = generations(engine, prefix)
    last = int(_GENERATION.search(existing[-1]).group(1)) if existing else 0
    return index_name(prefix, last + 1)


@dataclass
class InitResult:
    """What :func:`init_index` did: the template version installed, the write index, and
    whether that index was created now."""

    template_version: int
    write_index: str
    created: bool


def init_index(engine: Engine, prefix: str, template_path: Path = TEMPLATE_FILE) -> InitResult:
    """Install the template (idempotent) and, if the alias ``prefix`` does not exist yet, create
    ``<prefix>-000001`` as its write index.

    Raises:
        EngineError: a concrete index named ``prefix`` is in the way, or the engine refused.
    """
    body = build_template(prefix, template_path)
    engine.put_index_template(prefix, body)
    behind = engine.alias_indices(prefix)
    if behind:
        writes = [i for i, w in behind.items() if w] or sorted(behind)[-1:]
        return InitResult(body["version"], writes[0], False)
    if engine.exists(prefix):
        raise EngineError(f"an index named {prefix!r} exists where Rasd wants its alias; "
                          "reindex it elsewhere and delete it, or choose another engine.index_prefix")
    name = next_index(engine, prefix)
    try:
        engine.create_index(name, {"aliases": {prefix: {"is_write_index": True}}})
    except EngineError as exc:
        if "resource_already_exists" not in str(exc):
            raise
        return InitResult(body["version"], name, False)  # a concurrent init won the race
    return InitResult(body["version"], name, True)


def swap_alias(engine: Engine, prefix: str, new_index: str) -> list[str]:
    """Point the alias at ``new_index`` only (atomic), as write index; returns the indices it
    left (the caller deletes them)."""
    old = [i for i in engine.alias_indices(prefix) if i != new_index]
    actions: list[dict] = [{"remove": {"index": i, "alias": prefix}} for i in old]
    actions.append({"add": {"index": new_index, "alias": prefix, "is_write_index": True}})
    engine.update_aliases(actions)
    return old


@dataclass
class RolloverResult:
    """What :func:`rollover` did: ``rolled_over`` (a new write index was made), the ``old`` and
    ``new`` write index, and the conditions the engine evaluated (``{condition: met}``)."""

    rolled_over: bool
    old: str
    new: str
    conditions: dict[str, bool] = field(default_factory=dict)


def rollover(engine: Engine, prefix: str, *, max_age: str | None = "30d", max_docs: int | None = None,
             max_size: str | None = None, force: bool = False) -> RolloverResult:
    """Roll the alias ``prefix`` over to a new generation ``<prefix>-00000N+1`` (same template,
    so the same analysis) when a condition holds (``max_age`` "30d" — monthly indices by default;
    ``max_docs``; ``max_size`` "50gb": the primary shard size on Elasticsearch,
    ``max_primary_shard_size``, the index size on OpenSearch, ``max_size``) or when ``force``d.  Reads go on over every
    generation through the alias; writes go to the new write index; documents of older
    generations still get their amendments (the index follower finds their index by id).

    Why not data streams: they are append-only, and Rasd's documents get updates (re-links,
    re-tags); the alias-with-write-index pattern is what both engines' rollover API and their
    lifecycle policies (ILM, ISM; ``config/lifecycle/``) are built on.

    Raises:
        EngineError: the alias is missing or the engine refused.
    """
    if not engine.alias_indices(prefix):
        raise EngineError(f"alias {prefix} is missing (`rasd index init` makes it)")
    conditions: dict[str, Any] = {}
    if max_age:
        conditions["max_age"] = max_age
    if max_docs:
        conditions["max_docs"] = int(max_docs)
    if max_size:
        conditions["max_size" if engine.info.kind == "opensearch" else "max_primary_shard_size"] = max_size
    body = {} if force or not conditions else {"conditions": conditions}
    answer = engine.request("POST", f"/{prefix}/_rollover", body)
    return RolloverResult(bool(answer.get("rolled_over")), answer.get("old_index", ""),
                          answer.get("new_index", ""), dict(answer.get("conditions") or {}))


def index_status(engine: Engine, prefix: str) -> dict[str, Any]:
    """``{"alias", "indices": {name: {"docs", "write", "template_version", "folding"}},
    "documents", "folding_current", "needs_reindex"}`` for ``rasd index status``."""
    behind = engine.alias_indices(prefix)
    indices: dict[str, dict] = {}
    for name, write in sorted(behind.items()):
        meta = engine.request("GET", f"/{name}/_mapping")[name]["mappings"].get("_meta", {})
        indices[name] = {"docs": engine.count(name), "write": write,
                         "template_version": meta.get("rasd_template_version"),
                         "folding": meta.get("folding")}
    current = folding_digest()
    version = load_template()["template_version"]
    stale = [n for n, i in indices.items() if i["folding"] != current or i["template_version"] != version]
    return {"alias": prefix, "indices": indices, "documents": engine.count(prefix) if behind else 0,
            "folding_current": current, "template_version": version, "needs_reindex": stale}


# --- search ---------------------------------------------------------------------------------


class DateOptionError(ConfigError):
    """A ``since``/``until`` value that is not a date: ``option`` (``"since"``/``"until"``) and
    ``value`` for callers that word it their own way (the web app's form); the message names
    the CLI option (``--since: 'yesterday' is not a date …``)."""

    def __init__(self, option: str, value: str, reason: str):
        super().__init__(f"--{option}: {reason}")
        self.option, self.value = option, value


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400, "y": 365 * 86400}
_MAX_SPAN_SECONDS = 1000 * 365 * 86400  # a thousand years: beyond it the engine's date math overflows


def _check_span(name: str, value: str, steps: str) -> None:
    """Refuse date math whose steps (``-7d+12h``, ``7d``) add up to more than a thousand years
    (``9999999999d`` is a Java integer overflow in the engine, not a date)."""
    total = sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)([smhdwMy])", steps))
    if total > _MAX_SPAN_SECONDS:
        raise DateOptionError(name, value, f"{value!r} reaches more than 1,000 years from now")


def _check_date(name: str, value: str) -> str:
    """A ``--since``/``--until`` value as the engine takes it: an ISO date that exists on the
    calendar, date math (``now-7d``), or the shorthand ``7d``/``12h``/``2w`` for ``now-7d`` ….

    Raises:
        ConfigError: anything else, before it reaches the engine.
    """
    if re.fullmatch(r"\d+[smhdw]", value):
        _check_span(name, value, value)
        return f"now-{value}"
    if _DATE_MATH.match(value):
        _check_span(name, value, value[3:].split("/")[0])
        return value
    if _ISO_DATE.match(value):
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            raise DateOptionError(name, value, f"{value!r} is not a calendar date") from None
        try:
            datetime.fromisoformat(value.replace(" ", "T"))
        except ValueError:
            raise DateOptionError(name, value, f"{value!r} is not a time of day that exists "
                              "(2024-01-31T12:00Z, 2024-01-31T12:00+03:00)") from None
        return value
    raise DateOptionError(name, value, f"{value!r} is not a date (2024-01-31, 2024-01-31T12:00Z, now-7d, 7d)")


def build_query(query: str, *, outlets: list[str] | None = None, languages: list[str] | None = None,
                since: str | None = None, until: str | None = None, limit: int = 20,
                sort: str = "relevance", topics: list[str] | None = None, offset: int = 0,
                by_story: bool = False) -> dict:
    """The ``_search`` body of ``rasd search``.

    ``query``: Lucene syntax (``مسئول AND (العراق OR سوريا) NOT "قوات التحالف"``, ``وزي*``,
    ``outlet:bbc_arabic``), every term required unless OR is written; ``*`` or empty matches all.
    A query with a wildcard searches the unstemmed ``exact`` subfields only (the stemmer would
    cut the prefix: وزي → وز).
    Filters are exact (keyword) and do not affect scoring; ``since``/``until`` are inclusive on
    ``published_at`` (ISO dates or date math like ``now-7d``).  ``sort``: ``relevance`` or
    ``newest``.  ``topics``: topic slugs (any of them).  ``offset``: hits (or stories) to skip,
    for paging (``offset + limit`` ≤ 10,000, the engine's result window).  ``by_story``: one hit
    per ``story_id`` (the engine's field collapsing), the story's articles as inner hits
    ``copies`` (oldest first, at most 100) and the count of stories as the ``stories``
    aggregation.

    Raises:
        ConfigError: a malformed date, limit or offset.
    """
    if not 1 <= limit <= 10000:
        raise ConfigError(f"--limit: {limit} is not between 1 and 10000")
    if not 0 <= offset <= 10000 - limit:
        raise ConfigError(f"--offset: {offset} is not between 0 and {10000 - limit} (10000 - limit)")
    text = query.strip()
    fields = WILDCARD_FIELDS if has_wildcard(text) else SEARCH_FIELDS
    must: dict = ({"match_all": {}} if text in ("", "*") else
                  {"query_string": {"query": text, "fields": fields, "default_operator": "AND",
                                    "type": "most_fields", "analyze_wildcard": True}})
    filters: list[dict] = []
    if outlets:
        filters.append({"terms": {"outlet": outlets}})
    if languages:
        filters.append({"terms": {"language": languages}})
    if topics:
        filters.append({"terms": {"topics": topics}})
    if since or until:
        rng: dict[str, str] = {}
        if since:
            rng["gte"] = _check_date("since", since)
        if until:
            rng["lte"] = _check_date("until", until)
        filters.append({"range": {"published_at": rng}})
    body: dict[str, Any] = {
        "query": {"bool": {"must": [must], "filter": filters}},
        "size": limit,
        "track_total_hits": True,
        "_source": ["id", "title", "url", "outlet", "language", "published_at", "fetched_at",
                    "source_credit", "story_id", "duplicate_of", "topics"],
        "highlight": {
            "pre_tags": [HL_PRE], "post_tags": [HL_POST], "encoder": "default",
            "require_field_match": False,
            "fields": {"title": {"number_of_fragments": 0}, "title.exact": {"number_of_fragments": 0},
                       "text": {"fragment_size": 180, "number_of_fragments": 1, "no_match_size": 180},
                       "text.exact": {"fragment_size": 180, "number_of_fragments": 1}},
        },
    }
    if offset:
        body["from"] = offset
    if sort == "newest":
        body["sort"] = [{"published_at": {"order": "desc", "missing": "_last"}}, "_score"]
    elif sort != "relevance":
        raise ConfigError(f"--sort: {sort!r} is not relevance or newest")
    if by_story:
        body["collapse"] = {"field": "story_id", "inner_hits": {
            "name": "copies", "size": 100, "_source": body["_source"],
            "sort": [{"published_at": {"order": "asc", "missing": "_last"}}, {"fetched_at": "asc"}]}}
        body["aggs"] = {"stories": {"cardinality": {"field": "story_id", "precision_threshold": 10000}}}
    return body


@dataclass
class Hit:
    """One search result; ``title``/``snippet`` carry :data:`HL_PRE`/:data:`HL_POST` around
    matched words."""

    id: str
    score: float | None
    outlet: str
    language: str | None
    published_at: str | None
    url: str
    title: str
    snippet: str
    source_credit: str | None = None
    story_id: str | None = None
    duplicate_of: str | None = None
    topics: list[str] = field(default_factory=list)
    fetched_at: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def is_copy(self) -> bool:
        """A syndicated or republished copy: ``duplicate_of`` names the article it copies."""
        return bool(self.duplicate_of)

    def as_json(self) -> dict:
        plain = {k: v for k, v in self.__dict__.items() if k != "extra"}
        for key in ("title", "snippet"):
            plain[key] = plain[key].replace(HL_PRE, "").replace(HL_POST, "")
        plain["highlight"] = {"title": self.title, "snippet": self.snippet}
        return json.loads(json.dumps(plain, ensure_ascii=False))


def _hit(h: dict) -> Hit:
    src, hl = h.get("_source", {}), h.get("highlight", {})
    title = (hl.get("title") or hl.get("title.exact") or [src.get("title") or ""])[0]
    snippet = (hl.get("text.exact") if HL_PRE in "".join(hl.get("text.exact", [])) and
               HL_PRE not in "".join(hl.get("text", [])) else hl.get("text")) or [""]
    return Hit(id=h["_id"], score=h.get("_score"), outlet=src.get("outlet", ""),
               language=src.get("language"), published_at=src.get("published_at"),
               url=src.get("url", ""), title=title, snippet=snippet[0],
               source_credit=src.get("source_credit"), story_id=src.get("story_id"),
               duplicate_of=src.get("duplicate_of"), topics=list(src.get("topics") or []),
               fetched_at=src.get("fetched_at"))


class NoIndexError(EngineError):
    """The engine is up but has no index (or alias) of that name: nothing was indexed yet."""

    def __init__(self, message: str):
        super().__init__(message)
        self.status = 404


#: Fields a query names that are not in the article mapping but that Lucene's syntax knows.
_SYNTAX_FIELDS = frozenset({"_exists_", "_id", "_index"})
#: The fields users search by name, in the order an error lists them.
_NAMED_FIELDS = ("title", "text", "description", "outlet", "language", "topics", "author", "source_credit",
                 "published_at", "story_id", "entities_people", "entities_organisations",
                 "entities_countries", "entities_cities")


@functools.cache
def known_fields() -> frozenset[str]:
    """Every field a query may name: the article mapping's fields and their subfields
    (``title.exact``), from ``config/index_template.yaml``."""
    props = load_template()["mappings"]["properties"]
    return frozenset({*props, *(f"{k}.{sub}" for k, v in props.items() for sub in v.get("fields", {})),
                      *_SYNTAX_FIELDS})


def unknown_fields(query: str) -> list[str]:
    """The field names of ``query`` (``nosuchfield:x``, ``titel:(a b)``) no article has, in
    order; ``[]`` for a query that does not parse (its error is reported elsewhere).  The
    engine runs such a clause and matches nothing, silently; Rasd refuses it instead."""
    from rasd.core.query import Other, QueryError, leaves, parse_query

    try:
        group = parse_query(query)
    except QueryError:
        return []
    names = [m.group(1) for leaf in leaves(group) if isinstance(leaf, Other) and leaf.kind == "field"
             for m in [re.match(r"([^\s:()]+):", leaf.text)] if m]
    known = known_fields()
    return list(dict.fromkeys(n for n in names if n not in known and "*" not in n))


def check_fields(query: str) -> None:
    """Raises :class:`~rasd.search.queryerrors.QuerySyntaxError` (code ``unknown_field``) when
    ``query`` names a field no article has (:func:`unknown_fields`)."""
    from rasd.search.queryerrors import QueryProblem, QuerySyntaxError

    bad = unknown_fields(query)
    if bad:
        raise QuerySyntaxError(QueryProblem(
            "unknown_field", f"there is no field {bad[0]!r} (fields: {', '.join(_NAMED_FIELDS)})",
            query.find(bad[0] + ":")))


def _run(engine: Engine, index: str, query: str, body: dict) -> dict:
    from rasd.search.queryerrors import QuerySyntaxError, explain, is_parse_failure

    check_fields(query)
    try:
        return engine.search(index, body)
    except EngineError as exc:
        if getattr(exc, "status", None) == 400 and is_parse_failure(str(exc)):
            raise QuerySyntaxError(explain(query, str(exc))) from None
        if getattr(exc, "status", None) == 404 and "index_not_found" in str(exc):
            raise NoIndexError(f"no index {index!r} in the search engine yet: `rasd index init` makes it "
                               "and `rasd index` fills it from the archive") from None
        raise


def search_articles(engine: Engine, index: str, query: str, **options: Any) -> tuple[int, list[Hit]]:
    """Run :func:`build_query` on ``index`` → ``(total hits, hits)``.

    Raises:
        QuerySyntaxError: the engine cannot read the query (the reason in plain words,
            :mod:`rasd.search.queryerrors`).
        EngineError: the engine refused otherwise, or is down.
    """
    answer = _run(engine, index, query, build_query(query, **options))
    hits = [_hit(h) for h in answer["hits"]["hits"]]
    total = answer["hits"]["total"]
    return (total["value"] if isinstance(total, dict) else int(total)), hits


@dataclass
class Story:
    """One search result row grouped by story: ``hit`` (the best-ranked article of the story),
    ``copies`` (every matching article of the story, oldest first, ``hit`` among them) and
    ``outlets`` (their distinct outlets, in order of first publication)."""

    hit: Hit
    copies: list[Hit]

    @property
    def outlets(self) -> list[str]:
        return list(dict.fromkeys(c.outlet for c in self.copies))

    @property
    def first(self) -> Hit:
        """The first publisher's article (earliest ``published_at``)."""
        return self.copies[0] if self.copies else self.hit

    @property
    def also_reported_by(self) -> int:
        """Outlets other than the first publisher's that carried the story."""
        return max(0, len(self.outlets) - 1)


def search_stories(engine: Engine, index: str, query: str, **options: Any) -> tuple[int, int, list[Story]]:
    """:func:`build_query` with ``by_story`` → ``(matching articles, matching stories, stories)``:
    one :class:`Story` per ``story_id``, ``limit``/``offset`` counting stories.

    Raises: as :func:`search_articles`.
    """
    answer = _run(engine, index, query, build_query(query, by_story=True, **options))
    total = answer["hits"]["total"]
    articles = total["value"] if isinstance(total, dict) else int(total)
    stories = []
    for h in answer["hits"]["hits"]:
        copies = [_hit(c) for c in h.get("inner_hits", {}).get("copies", {}).get("hits", {}).get("hits", [])]
        stories.append(Story(hit=_hit(h), copies=copies))
    return articles, int(answer.get("aggregations", {}).get("stories", {}).get("value", len(stories))), stories


def story_articles(engine: Engine, index: str, story_id: str, limit: int = 200) -> list[dict]:
    """Every indexed article of ``story_id``, oldest first, with its whole ``_source`` (text
    included): what the web app's story page compares."""
    body = {"query": {"term": {"story_id": story_id}}, "size": limit,
            "sort": [{"published_at": {"order": "asc", "missing": "_last"}}, {"fetched_at": "asc"}]}
    return [dict(h["_source"], id=h["_id"]) for h in engine.search(index, body)["hits"]["hits"]]
