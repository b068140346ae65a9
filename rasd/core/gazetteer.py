"""The gazetteer file (``config/entities.yaml``) as typed models, and its spellings.

Each entity has a canonical Arabic name (``name_ar``, what ``Article.entities_*`` store), an
English name, ``variants`` (other spellings of the same name, any script: نتنياهو / نتانياهو,
داعش / تنظيم الدولة) and ``entity_only`` spellings: names that point to the entity in text but
are no spelling of it (a capital for its country, واشنطن; a title, ولي العهد السعودي) or are
ambiguous words in another language (WHO, UN).  Both are used to recognise entities in text
(:mod:`rasd.pipelines.enrich`); only ``name_ar``, ``name_en`` and ``variants`` are *search
synonyms* (:func:`spelling_sets`: the index's ``rasd_names`` synonym filter and the local
matcher, :mod:`rasd.core.rules`), so searching one spelling finds the others.

Kept apart from :mod:`rasd.core.taxonomy` (which re-exports the models) because the local
matcher needs the spellings and the taxonomy needs the matcher.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from rasd.core.yamlio import safe_load
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rasd.core.errors import ConfigError
from rasd.core.paths import CONFIG_DIR

ENTITIES_FILE = CONFIG_DIR / "entities.yaml"
ENTITY_KINDS = ("countries", "cities", "organisations", "people")


def load_yaml_model(path: Path, model: type[BaseModel]) -> Any:
    """``model`` validated from the YAML file ``path``.

    Raises:
        ConfigError: unreadable file or invalid content, naming the file and the field.
    """
    try:
        data = safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {loc}: {err['msg']}") from None


class Entity(BaseModel):
    """One gazetteer entry: canonical Arabic name, English name, other spellings
    (``variants``, search synonyms too) and ``entity_only`` names (recognition only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name_ar: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    variants: list[str] = []
    entity_only: list[str] = []
    #: the light stemmer would cut the name into a common word (طالبان → طالب, "student"):
    #: its one-word spellings are indexed and matched whole (the template's keyword marker)
    whole: bool = False

    @property
    def spellings(self) -> list[str]:
        """The spellings of the name (search synonyms of each other), canonical first."""
        return [self.name_ar, self.name_en, *self.variants]


class GazetteerFile(BaseModel):
    """``config/entities.yaml``: ``schema_version: 1`` and the entities by kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    countries: list[Entity] = []
    cities: list[Entity] = []
    organisations: list[Entity] = []
    people: list[Entity] = []

    def entities(self):
        """``(kind, index, entity)`` for every entry, in file order."""
        for kind in ENTITY_KINDS:
            for i, ent in enumerate(getattr(self, kind)):
                yield kind, i, ent


def load_gazetteer_file(path: Path = ENTITIES_FILE) -> GazetteerFile:
    """The validated file; ``ConfigError`` (file and field) on any invalid entry."""
    return load_yaml_model(path, GazetteerFile)


@cache
def whole_spellings(path: Path = ENTITIES_FILE) -> tuple[str, ...]:
    """The one-word spellings (as written) of the entities marked ``whole``."""
    data = load_gazetteer_file(path)
    return tuple(dict.fromkeys(s for _, _, e in data.entities() if e.whole
                               for s in (e.name_ar, *e.variants) if len(s.split()) == 1))


@cache
def spelling_sets(path: Path = ENTITIES_FILE) -> tuple[tuple[str, ...], ...]:
    """Per entity with two spellings or more, its spellings (``name_ar``, ``name_en``,
    ``variants``) as written; the default file is read once per process.

    Raises:
        ConfigError: the file is invalid.
    """
    data = load_gazetteer_file(path)
    return tuple(tuple(dict.fromkeys(e.spellings)) for _, _, e in data.entities() if len(set(e.spellings)) > 1)
