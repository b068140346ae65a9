"""Topic tags and named entities: the taxonomy, the evidence rule, the gazetteer, EnrichPipeline.

Topics (``config/topics.yaml``): the top level of IPTC Media Topics (https://iptc.org/standards/
media-topics/, ``medtop:…`` codes); each topic has a stable ``slug`` (what ``Article.topics``
holds), its IPTC ``id``, English and Arabic labels and ``rules`` in the syntax users type in
``rasd search`` and Kibana (:mod:`pipelines.rules`).  Entities (``config/entities.yaml``):
countries, cities, organisations and people, each a canonical Arabic name, English name, variants.

Evidence rule (:func:`topic_applies`): a topic applies when one of its evidence groups
(:func:`pipelines.rules.evidence_groups`: clauses one word could satisfy together count once)
matches the *title*, or at least :data:`MIN_TEXT_EVIDENCE` = 2 distinct groups match title and
text together.  Why: one word anywhere used to be enough, and news text is full of incidental
words (a culture page about a Ramadan TV series said الصحة, الاجتماعي, الديني and got health,
society, culture and religion).  The headline states what the article is about, so one match
there is enough; in the body, two independent signals are (الملعب + "الرابطة المحترفة" is sport,
فنان alone is not culture).  Measured on the recorded corpus in ``tests/pipelines/test_enrich.py``.

Two matchers apply the same rule and the same groups (see :mod:`rasd.topics`):

* the local matcher here (:func:`tag_topics`), an approximation of the index analyzers, used by
  the crawl when the search engine is off or unreachable and by ``rasd topics retag --offline``;
* the percolator (:func:`rasd.topics.percolate_topics`): each group stored as a percolator query
  and run with the index's own Arabic analyzer, so a rule matches what the same search shows.
  The crawl uses it when indexing is on and the engine answers; ``rasd topics retag`` always.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.base import StagePipeline
from pipelines.rules import (QueryError, _ARTICLE, Document, evidence_groups, exact_forms,
                            parse_query, query_matches, split_clauses, stem)
from rasd.arabic import tokens
from rasd.errors import ConfigError
from rasd.failpoints import failpoint
from rasd.paths import CONFIG_DIR

TOPICS_FILE = CONFIG_DIR / "topics.yaml"
ENTITIES_FILE = CONFIG_DIR / "entities.yaml"
ENTITY_KINDS = ("countries", "cities", "organisations", "people")
#: distinct evidence groups needed in title + text when none matches the title
MIN_TEXT_EVIDENCE = 2
__all__ = ["QueryError", "Document", "exact_forms", "parse_query", "query_matches", "split_clauses",
           "stem", "load_taxonomy", "load_gazetteer", "tag_topics", "match_entities", "EnrichPipeline"]
log = logging.getLogger(__name__)

# ---------------------------------------------------------------- configuration

def _load_yaml(path: Path, model: type[BaseModel]) -> Any:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {loc}: {err['msg']}") from None


class Topic(BaseModel):
    """One topic: ``slug`` (stored on articles), IPTC ``id`` (``medtop:11000000``), labels, rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    slug: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    id: str = Field(pattern=r"^medtop:\d{8}$")
    label_en: str = Field(min_length=1)
    label_ar: str = Field(min_length=1)
    rules: list[str] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _parse(cls, rules: list[str]) -> list[str]:
        for i, rule in enumerate(rules):
            try:
                parse_query(rule)
            except QueryError as exc:
                raise ValueError(f"rule {i} {rule!r}: {exc}") from None
        return rules

    @cached_property
    def groups(self) -> list[list[str]]:
        """Evidence groups of the rules (:func:`pipelines.rules.evidence_groups`)."""
        return evidence_groups(self.rules)

    @cached_property
    def compiled_groups(self) -> list[list[Any]]:
        return [[parse_query(c) for c in group] for group in self.groups]


class Taxonomy(BaseModel):
    """``config/topics.yaml``: ``schema_version: 1`` and the list of topics (unique slugs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    topics: list[Topic] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _unique(cls, topics: list[Topic]) -> list[Topic]:
        for field in ("slug", "id"):
            if len({getattr(t, field) for t in topics}) != len(topics):
                raise ValueError(f"two topics have the same {field}")
        return topics


def load_taxonomy(path: Path = TOPICS_FILE) -> Taxonomy:
    """Load and check the topic taxonomy.

    Raises:
        ConfigError: unreadable file, unknown or missing field, bad IPTC id, a rule that does
            not parse (with the reason); the message names the file and the field
            (``config/topics.yaml: topics.3.rules: Value error, rule 0 'a:b': field queries…``).
    """
    return _load_yaml(path, Taxonomy)


def topic_applies(title_groups: int, all_groups: int) -> bool:
    """The evidence rule (module docstring): a group matching the title, or at least
    :data:`MIN_TEXT_EVIDENCE` distinct groups matching title and text together."""
    return title_groups >= 1 or all_groups >= MIN_TEXT_EVIDENCE


def topic_evidence(article: Any, taxonomy: Taxonomy) -> dict[str, tuple[int, int]]:
    """``{slug: (groups matching the title, groups matching title + text)}`` for the topics
    with any evidence (the local matcher)."""
    title = getattr(article, "title", None)
    in_title, in_all = Document(title), Document(title, getattr(article, "text", ""))
    out = {}
    for topic in taxonomy.topics:
        hits = [g for g in topic.compiled_groups if any(in_all.matches(c) for c in g)]
        if hits:
            out[topic.slug] = (sum(any(in_title.matches(c) for c in g) for g in hits), len(hits))
    return out


def tag_topics(article: Any, taxonomy: Taxonomy) -> list[str]:
    """Slugs of the topics that apply to ``article.title`` / ``article.text`` by the evidence rule,
    in taxonomy order (the local matcher)."""
    evidence = topic_evidence(article, taxonomy)
    return [t.slug for t in taxonomy.topics if t.slug in evidence and topic_applies(*evidence[t.slug])]


class Entity(BaseModel):
    """One gazetteer entry: canonical Arabic name, English name, other spellings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name_ar: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    variants: list[str] = []


class GazetteerFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    countries: list[Entity] = []
    cities: list[Entity] = []
    organisations: list[Entity] = []
    people: list[Entity] = []


class Gazetteer:
    """Folded word sequences → (kind, canonical name); ``ConfigError`` if a spelling is claimed twice."""

    def __init__(self, data: GazetteerFile, source: str = "gazetteer"):
        self.by_first: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        owner: dict[tuple[str, ...], tuple[str, str]] = {}
        for kind in ENTITY_KINDS:
            for i, ent in enumerate(getattr(data, kind)):
                for spelling in (ent.name_ar, ent.name_en, *ent.variants):
                    key = tuple(tokens(spelling))
                    if not key:
                        raise ConfigError(f"{source}: {kind}.{i}: {spelling!r} has no word")
                    if owner.setdefault(key, (kind, ent.name_ar)) != (kind, ent.name_ar):
                        raise ConfigError(f"{source}: {kind}.{i}.variants: {spelling!r} already "
                                          f"names {owner[key][1]!r}")
                    entry = (key, kind, ent.name_ar)
                    if entry not in self.by_first.setdefault(key[0], []):
                        self.by_first[key[0]].append(entry)
        for entries in self.by_first.values():
            entries.sort(key=lambda e: -len(e[0]))


def load_gazetteer(path: Path = ENTITIES_FILE) -> Gazetteer:
    """Load ``config/entities.yaml``; ``ConfigError`` (file and field) on any invalid entry."""
    return Gazetteer(_load_yaml(path, GazetteerFile), str(path))


def _readings(word: str) -> set[str]:
    """A text word and its readings without fused clitics: والعراق → العراق, لبغداد → بغداد."""
    out = {word}
    m = _ARTICLE.match(word)
    if m:
        out.add("ال" + m.group(1))
    for p in ("وب", "ول", "وك", "فب", "فل", "و", "ف", "ب", "ل", "ك"):
        if word.startswith(p) and len(word) - len(p) >= 3:
            out.add(word[len(p):])
    return out


def match_entities(text: str, gazetteer: Gazetteer) -> dict[str, list[str]]:
    """Canonical names of the gazetteer entities named in ``text``, by kind.

    Shape: ``{"countries": ["العراق", "الولايات المتحدة"], "cities": ["بغداد"],
    "organisations": ["داعش"], "people": []}``: every kind present, names in order of first
    mention, each once.  Matching is on folded words (so أمريكا = امريكا, مسؤول = مسئول), the
    longest spelling first (الولايات المتحدة الأمريكية before الولايات المتحدة); a word may
    carry a fused article or preposition (والعراق, بالعراق, لبغداد, وداعش).
    """
    out: dict[str, list[str]] = {k: [] for k in ENTITY_KINDS}
    words = tokens(text)
    readings = [_readings(w) for w in words]
    i = 0
    while i < len(words):
        found = None
        for first in readings[i]:
            for key, kind, name in gazetteer.by_first.get(first, ()):
                n = len(key)
                if ((found is None or n > len(found[0])) and i + n <= len(words)
                        and all(key[j] in readings[i + j] for j in range(1, n))):
                    found = (key, kind, name)
        if found and found[2] not in out[found[1]]:
            out[found[1]].append(found[2])
        i += len(found[0]) if found else 1
    return out


# ---------------------------------------------------------------- Scrapy wrapper

class EnrichPipeline(StagePipeline):
    """Sets ``item.topics`` and the ``entities_*`` fields; counts ``rasd/topics/<slug>``
    (``rasd/topics/none`` when no topic applies) and ``rasd/topics/matcher/<percolator|local>``.
    Never drops an item; not an outcome stage.

    Topics come from ``percolator`` (a :class:`rasd.topics.TopicPercolator`) when one is given
    and the engine answers; otherwise, and for the rest of the crawl once the engine stops
    answering, from the local matcher.  ``from_crawler`` builds a percolator only when indexing
    is on (``RASD_INDEX_ENABLED``) and ``RASD_TOPICS_PERCOLATE`` is not false: a crawl without
    the engine tags locally, and ``rasd topics retag`` realigns the archive and index later.

    Settings: ``RASD_TOPICS_FILE`` (default ``config/topics.yaml``), ``RASD_ENTITIES_FILE``
    (default ``config/entities.yaml``), ``RASD_TOPICS_PERCOLATE`` (default true).
    """

    def __init__(self, stats: Any = None, taxonomy: Taxonomy | None = None,
                 gazetteer: Gazetteer | None = None, percolator: Any = None):
        super().__init__(stats)
        self.taxonomy = taxonomy or load_taxonomy()
        self.gazetteer = gazetteer or load_gazetteer()
        self.percolator = percolator

    @classmethod
    def options_from_settings(cls, settings) -> dict[str, Any]:
        taxonomy = load_taxonomy(Path(settings.get("RASD_TOPICS_FILE") or TOPICS_FILE))
        options = {"taxonomy": taxonomy,
                   "gazetteer": load_gazetteer(Path(settings.get("RASD_ENTITIES_FILE") or ENTITIES_FILE))}
        from rasd.topics import percolator_from_settings

        options["percolator"] = percolator_from_settings(settings, taxonomy)
        return options

    def _topics(self, item) -> list[str]:
        if self.percolator is not None:
            from rasd.engine import EngineUnavailable

            try:
                topics = self.percolator.tag([item])[0]
                self.count("rasd/topics/matcher/percolator")
                return topics
            except EngineUnavailable as exc:
                log.warning("topics matcher=local reason=%r (engine unavailable for the rest "
                            "of the crawl; `rasd topics retag` realigns)", str(exc))
                self.percolator = None
        self.count("rasd/topics/matcher/local")
        return tag_topics(item, self.taxonomy)

    def process_item(self, item, spider=None):
        failpoint("in_enrich")
        item.topics = self._topics(item)
        for slug in item.topics or ["none"]:
            self.count(f"rasd/topics/{slug}")
        entities = match_entities(f"{item.title or ''}\n{item.text or ''}", self.gazetteer)
        for kind in ENTITY_KINDS:
            setattr(item, f"entities_{kind}", entities[kind])
        return item
