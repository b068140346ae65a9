"""The alert definition: :class:`Alert` (pydantic, strict, unknown fields refused).

An alert is a ``name`` (slug), a ``query`` in the ``rasd search`` syntax, ``filters`` (outlets,
languages, topics: exact keyword filters), a ``frequency`` (``immediate`` | ``daily`` |
``weekly``, with ``digest_hour``/``timezone``/``digest_weekday``), ``paused``, ``owner`` and
``deliveries`` (webhook, email, Atom file, Apprise URLs).  Example:
``config/alerts.example.yaml``.  Stored and matched by :mod:`rasd.pipelines.alerts`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml

from rasd.core.yamlio import safe_load
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rasd.core.errors import ConfigError, RasdError
from rasd.core.query import Group, Node, Phrase, QueryError, Term, group_is_null, has_wildcard, occurs, parse_query
from rasd.core.rules import analysis_tokens, is_null, name_alternatives
from rasd.search.articles import build_query

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class AlertError(RasdError):
    """An alert definition the engine or the model refuses; the message says why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class WebhookDelivery(_Strict):
    """POST to ``url``: ``json`` (the message as JSON) or ``slack`` (``{"text": …}``), waiting
    at most ``timeout_seconds`` for the answer (then the delivery is retried later with the same
    notification id)."""

    url: str
    format: Literal["json", "slack"] = "json"
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v


class EmailDelivery(_Strict):
    """Mail over SMTP to ``to``; ``password_env`` names the environment variable holding the
    SMTP password (never the password itself)."""

    to: list[str] = Field(min_length=1)
    sender: str = Field("rasd@localhost", alias="from")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not re.match(r"^[^@\s]+@[^@\s]+$", a)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an email address")
        return v


class AtomDelivery(_Strict):
    """An Atom feed file at ``path`` keeping the newest ``keep`` entries."""

    path: str
    keep: int = Field(50, ge=1, le=10000)


class AppriseDelivery(_Strict):
    """Any service Apprise speaks, by URL (``tgram://bottoken/ChatID``, ``slack://…``,
    ``msteams://…``, ``discord://…``, ``ntfy://…``, ``matrix://…``, ``json://host/path``; list:
    https://github.com/caronc/apprise/wiki).  The URLs may hold secrets: they are stored with
    the alert (in the engine) and never shown in full by the CLI or the web app."""

    urls: list[str] = Field(min_length=1, max_length=20)

    @field_validator("urls")
    @classmethod
    def _schema(cls, v: list[str]) -> list[str]:
        bad = [u for u in v if not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", u)]
        if bad:
            raise ValueError(f"{bad[0][:40]!r} is not an Apprise URL (scheme://…)")
        return v


class Deliveries(_Strict):
    webhook: WebhookDelivery | None = None
    email: EmailDelivery | None = None
    atom: AtomDelivery | None = None
    apprise: AppriseDelivery | None = None

    def configured(self) -> dict[str, dict]:
        """``{channel: target settings as JSON}`` of the deliveries that are set."""
        return {name: getattr(self, name).model_dump(mode="json", by_alias=True)
                for name in type(self).model_fields if getattr(self, name) is not None}


class AlertFilters(_Strict):
    """Exact (keyword) filters; an empty list means any."""

    outlets: list[str] = []
    languages: list[str] = []
    topics: list[str] = []


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Alert(_Strict):
    """One alert.  ``name``: a slug (``[a-z0-9][a-z0-9_-]*``, ≤ 64 chars); ``query``: the search
    syntax (``مسئولون AND التحالف``); ``frequency``: ``immediate`` (one notification per story
    as it arrives) or a ``daily``/``weekly`` digest, sent at ``digest_hour`` (0–23, local time)
    in ``timezone`` (IANA name, ``Asia/Baghdad``), weekly ones on ``digest_weekday``.
    ``paused``: matches are still recorded, nothing is sent (its outbox rows are held).
    ``owner``: the web user who made it (``None``: made with the CLI or a file)."""

    name: str
    query: str = Field(min_length=1)
    filters: AlertFilters = AlertFilters()
    frequency: Literal["immediate", "daily", "weekly"] = "immediate"
    deliveries: Deliveries = Deliveries()
    digest_hour: int = Field(8, ge=0, le=23)
    digest_weekday: Literal[WEEKDAYS] = "monday"  # type: ignore[valid-type]
    timezone: str = "UTC"
    paused: bool = False
    owner: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone (IANA names such as Asia/Baghdad, UTC)") from None
        return v

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError(f"{v!r} is not a slug (lower-case letters, digits, - and _)")
        return v

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if v.strip() in ("", "*"):
            raise ValueError("an alert needs a query (not empty, not *)")
        return v.strip()

    def search_query(self) -> dict:
        """The ``query`` of :func:`rasd.search.articles.build_query` for this alert plus a topics
        filter: what is stored in the percolator field."""
        body = build_query(self.query, outlets=self.filters.outlets or None,
                           languages=self.filters.languages or None)
        query = body["query"]
        if self.filters.topics:
            query["bool"]["filter"].append({"terms": {"topics": self.filters.topics}})
        return query

    def candidate_query(self) -> dict:
        """What is stored in the percolator index's second percolator field ``candidates``: a
        condition on ``alert_keys`` that every article matching :meth:`search_query` meets
        (:func:`key_prefilter`; ``match_all`` when the query's shape is not recognised).  It
        only narrows which alerts the percolator verifies; :meth:`search_query` alone decides
        what matches (see :func:`rasd.pipelines.alerts.match_alerts`)."""
        return key_prefilter(self.query) or {"match_all": {}}

    def spec(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- the percolator's candidate selection ------------------------------------------------------

#: the stemmed search analyzer of the articles' text fields (config/index_template.yaml): the
#: stems of a word's proclitic forms and of the other spellings of a name it is part of
KEY_QUERY_ANALYZER = "rasd_arabic_search"


def _key(word: str) -> dict:
    # any of the analysed tokens (a word's forms, or the words of a name's other spellings: a
    # document matching through a synonym has the keys of that spelling); alert_keys has no
    # positions, so no phrase queries for several-word synonyms
    return {"match": {"alert_keys": {"query": word, "analyzer": KEY_QUERY_ANALYZER,
                                     "operator": "or", "zero_terms_query": "all",
                                     "auto_generate_synonyms_phrase_query": False}}}


def _parsed(text: str) -> tuple[Group, bool] | None:
    """``(group, exact_only)`` of the alert query (:func:`rasd.core.query.parse_query`, the one
    parser), or ``None`` when it does not parse there (the engine may still take it)."""
    try:
        return parse_query(text), has_wildcard(text)
    except QueryError:
        return None


def key_prefilter(text: str) -> dict | None:
    """A condition on ``alert_keys`` that every document matching the ``rasd search`` query
    ``text`` meets (a necessary condition, never a sufficient one), or ``None`` when there is
    none to give (then the percolator selects candidates as before).

    ``alert_keys`` (percolator index only, filled by :func:`rasd.pipelines.alerts.
    percolate_document` from title, description and text) indexes for each word *d* the
    stems of *d*, of ال+*d* and of *d* without its article; the query side is the stem of each
    word.  A query word *w* matches a document by the stemmed fields (a word with *w*'s stem)
    or the ``exact`` ones (the word, or it and *w* equal up to the article): in every case the
    stem of *w* is among that word's keys.  The query is read as the engine reads it
    (:mod:`rasd.core.query`: Lucene's classic precedence, stop words adding no clause): words
    and "phrases" (each word required) give conditions; a group keeps those of its required
    clauses, or, with none, needs one from every optional clause; prohibited clauses,
    ``field:value``, wildcards and the like give none."""
    parsed = _parsed(text)
    return None if parsed is None else _condition(parsed[0], parsed[1])


def _condition(node: Node, exact_only: bool) -> dict | None:
    if isinstance(node, Term):
        return None if node.prefix else _key(node.text)
    if isinstance(node, Phrase):
        words = node.text.split()
        if len(words) > 1 and len(name_alternatives(analysis_tokens(node.text))) > 1:
            return _key(node.text)  # a name in it: any word of any of its spellings
        return {"bool": {"filter": [_key(w) for w in words]}} if len(words) > 1 else _key(words[0])
    if not isinstance(node, Group):
        return None

    def null(n: Node) -> bool:
        return group_is_null(n, null) if isinstance(n, Group) else is_null(n, exact_only)

    clauses = occurs(node, null)
    must = [_condition(n, exact_only) for o, n in clauses if o == "must"]
    if any(o == "must" for o, _ in clauses):
        conds = [c for c in must if c is not None]
        return None if not conds else conds[0] if len(conds) == 1 else {"bool": {"filter": conds}}
    should = [_condition(n, exact_only) for o, n in clauses if o == "should"]
    if not should or any(c is None for c in should):
        return None
    return should[0] if len(should) == 1 else {"bool": {"should": should, "minimum_should_match": 1}}


HEALTH_STATES = ("ok", "degraded", "stale", "failing", "dark")



class HealthFilters(_Strict):
    outlets: list[str] = []


class HealthAlert(_Strict):
    """One health alert (:mod:`rasd.alerts.health`): ``name`` (slug), ``filters.outlets`` (empty: every outlet), ``states``
    (notify only changes *into* these; empty: every change, recoveries to ``ok`` included),
    ``deliveries`` (as a keyword alert's), ``paused``."""

    kind: Literal["health"] = "health"
    name: str
    filters: HealthFilters = HealthFilters()
    states: list[Literal[HEALTH_STATES]] = []  # type: ignore[valid-type]
    deliveries: Deliveries = Deliveries()
    paused: bool = False
    owner: str | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError(f"{v!r} is not a slug (lower-case letters, digits, - and _)")
        return v

    @property
    def frequency(self) -> str:  # the outbox's digest pass skips it (not a digest alert)
        return "immediate"

    @property
    def query(self) -> str:
        return "health"

    def covers(self, outlet: str, state: str) -> bool:
        return ((not self.filters.outlets or outlet in self.filters.outlets)
                and (not self.states or state in self.states))

    def spec(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _validation_message(exc: ValidationError) -> str:
    """``field: reason; …`` of a pydantic error, without its ``Value error, `` prefix."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                     for e in exc.errors())


def parse_health_alert(data: Any, where: str = "health alert") -> HealthAlert:
    """A :class:`HealthAlert` from a dict; raises :class:`AlertError` naming the field, or when
    it has no delivery."""
    try:
        alert = HealthAlert.model_validate(data)
    except ValidationError as exc:
        msg = _validation_message(exc)
        raise AlertError(f"{where}: {msg}") from None
    if not alert.deliveries.configured():
        raise AlertError(f"{where}: a health alert needs a delivery (webhook, email, atom or apprise)")
    return alert


def parse_alert(data: Any, where: str = "alert") -> Alert:
    """Build an :class:`Alert` from a dict; raises :class:`AlertError` naming the field."""
    try:
        return Alert.model_validate(data)
    except ValidationError as exc:
        msg = _validation_message(exc)
        raise AlertError(f"{where}: {msg}") from None


def load_alerts_file(path: Path) -> list:
    """Alerts from a YAML file ``{alerts: [...]}`` (``config/alerts.example.yaml``): an
    :class:`Alert` per entry, a :class:`rasd.alerts.health.HealthAlert` per ``kind: health`` one.

    Raises:
        ConfigError: unreadable file (not UTF-8 too), an invalid alert (the message names file
            and field), or two alerts of one name.
    """
    try:
        data = safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read alerts: {exc}") from exc
    if not isinstance(data, dict) or set(data) - {"alerts"} or not isinstance(data.get("alerts", []), list):
        raise ConfigError(f"{path}: expected a mapping with one key, alerts: [...]")
    def one(a, where):
        if isinstance(a, dict) and a.get("kind") == "health":
            return parse_health_alert(a, where)
        return parse_alert(a, where)

    try:
        found = [one(a, f"{path}: alerts.{i}") for i, a in enumerate(data.get("alerts", []))]
    except AlertError as exc:
        raise ConfigError(str(exc)) from None
    first: dict[str, int] = {}
    for i, a in enumerate(found):
        if a.name in first:
            raise ConfigError(f"{path}: alerts.{i}: the name {a.name!r} is also alerts.{first[a.name]}'s "
                              "(names are unique)")
        first[a.name] = i
    return found


# --- the pre-analysed stored query -------------------------------------------------------------

#: one analysed text: per position, the terms at it (a field's search analyzer, ``_analyze``)
Analysed = list[list[str]]
_PLAIN_WORD = re.compile(r"[^\W_]+")


def query_tree(text: str) -> Group | None:
    """The alert query ``text`` as parsed by :func:`rasd.core.query.parse_query` when it has
    only the shapes :func:`compile_query` turns into term queries: plain words (letters and
    digits), "phrases" of plain words, groups of them joined by AND, OR, juxtaposition or ``+``
    in any mix (Lucene's classic reading), parentheses.  ``None`` for anything else (NOT/``-``,
    field names, wildcards, fuzziness, boosts, escapes): such alerts keep the
    ``query_string``."""
    parsed = _parsed(text)
    return parsed[0] if parsed is not None and _plain(parsed[0]) else None


def _plain(node: Node) -> bool:
    if isinstance(node, Term):
        return not node.prefix and bool(_PLAIN_WORD.fullmatch(node.text))
    if isinstance(node, Phrase):
        words = node.text.split()
        return bool(words) and all(_PLAIN_WORD.fullmatch(w) for w in words)
    if isinstance(node, Group):
        return all(c.modifier != "-" and _plain(c.node) for c in node.clauses)
    return False


def tree_texts(tree: Node) -> set[str]:
    """The word and phrase texts of a :func:`query_tree` (what has to be analysed)."""
    if isinstance(tree, (Term, Phrase)):
        return {tree.text}
    if not isinstance(tree, Group):
        return set()  # a field, a range …: no words of the text fields
    return set().union(*(tree_texts(c.node) for c in tree.clauses))


def _field_name(field: str) -> str:
    return field.split("^")[0]


def compile_query(tree: Node, analysed: dict[str, dict[str, Analysed]], fields: list[str]) -> dict | None:
    """The query that matches exactly what ``query_string`` (``default_operator: AND``,
    ``most_fields`` over ``fields``) matches for :func:`query_tree` ``tree``, built from the
    engine's analysis of every word and phrase by each field (``analysed[field][text]``):
    per word, a ``bool`` ``should`` over the fields of a ``term`` (one term) or ``terms`` (the
    terms the analyzer put at one position: ``query_string``'s synonym query); per phrase, a
    ``span_near`` (slop 0, in order) of ``span_term``/``span_or`` per position (its phrase or
    multi-phrase query); per group, its required clauses (``must``; its optional ones only
    score) or, with none, any optional one (:func:`rasd.core.query.occurs`).  Nothing is
    analysed when it runs.  ``None`` when the analysis is not one this reproduces (a word giving
    several positions or none, a phrase with a removed or split word): the alert keeps its
    ``query_string``."""
    if isinstance(tree, (Term, Phrase)):
        value = tree.text
        size = len(value.split())
        clauses = []
        for field in map(_field_name, fields):
            positions = analysed.get(field, {}).get(value)
            if positions is None or len(positions) != size or not all(positions):
                return None
            if isinstance(tree, Term):
                terms = positions[0]
                clauses.append({"term": {field: terms[0]}} if len(terms) == 1
                               else {"terms": {field: sorted(terms)}})
                continue
            spans = [{"span_term": {field: t[0]}} if len(t) == 1 else
                     {"span_or": {"clauses": [{"span_term": {field: x}} for x in sorted(t)]}}
                     for t in positions]
            clauses.append(spans[0] if len(spans) == 1 else
                           {"span_near": {"clauses": spans, "slop": 0, "in_order": True}})
        return {"bool": {"should": clauses, "minimum_should_match": 1}}
    clauses = occurs(tree)  # no clause is empty: an empty analysis returned None above
    must = [n for o, n in clauses if o == "must"]
    parts = [compile_query(n, analysed, fields) for n in (must or [n for o, n in clauses if o == "should"])]
    if not parts or any(p is None for p in parts):
        return None
    if len(parts) == 1:
        return parts[0]
    if must:
        return {"bool": {"must": parts}}
    return {"bool": {"should": parts, "minimum_should_match": 1}}
