"""The taxonomy and the gazetteer: topics (``config/topics.yaml``, IPTC Media Topics with rules in
the search syntax) and named entities (``config/entities.yaml``), as typed models.

See :mod:`rasd.pipelines.enrich` for how they tag articles and :mod:`rasd.search.topics` for the
percolator that runs the same rules with the index's analyzer.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rasd.core.errors import ConfigError
from rasd.core.paths import CONFIG_DIR
from rasd.core.arabic import tokens
from rasd.core.gazetteer import (ENTITIES_FILE, ENTITY_KINDS, Entity, GazetteerFile,  # noqa: F401
                                 load_yaml_model)
from rasd.core.rules import QueryError, evidence_groups, parse_query

TOPICS_FILE = CONFIG_DIR / "topics.yaml"
#: distinct evidence groups needed in title + text when none matches the title
MIN_TEXT_EVIDENCE = 2


_load_yaml = load_yaml_model


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
        """Evidence groups of the rules (:func:`rasd.core.rules.evidence_groups`)."""
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


class Gazetteer:
    """Folded word sequences → (kind, canonical name); ``ConfigError`` if a spelling is claimed twice."""

    def __init__(self, data: GazetteerFile, source: str = "gazetteer"):
        self.by_first: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        owner: dict[tuple[str, ...], tuple[str, str]] = {}
        for kind in ENTITY_KINDS:
            for i, ent in enumerate(getattr(data, kind)):
                for spelling in (*ent.spellings, *ent.entity_only):
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
