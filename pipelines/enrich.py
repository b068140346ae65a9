"""Topic tags and named entities: a local matcher for the search query syntax, and a gazetteer.

Topics (``config/topics.yaml``): the top level of IPTC Media Topics (https://iptc.org/standards/
media-topics/, ``medtop:…`` codes); each topic has a stable ``slug`` (what ``Article.topics``
holds), its IPTC ``id``, English and Arabic labels and ``rules`` in the syntax users type in
``rasd search`` and Kibana (Lucene ``query_string``, :func:`rasd.search.build_query`).  An article
gets a topic when any rule matches its title or text.  Entities (``config/entities.yaml``):
countries, cities, organisations and people, each a canonical Arabic name, English name, variants.

Local approximation of the index analyzers (``config/index_template.yaml``): words are
:func:`rasd.arabic.tokens` (the folding table the index's char filter is generated from);

* a rule term matches a word when their *stems* are equal, the stem of Lucene's
  ``ArabicStemmer`` (Larkey et al. light stemming): one prefix of ال وال بال كال فال لل و (``و``
  only on 4+ letter words; 2+ letters left), then each suffix of ها ان ات ون ين يه ه ي in turn
  that leaves 2+ letters (ة and ية are ه and يه after folding);
* or when their *exact* forms meet: the word, plus the word without the article and its fused
  prepositions (ال وال بال كال فال لل), as the ``exact`` subfield indexes it.  Lone ف/ب/ل/ك
  prefixes are not stripped because the index does not strip them: a rule must match what the
  same search shows (the gazetteer, below, does strip them);
* a trailing-wildcard term ``وزي*`` matches exact forms only (search uses the exact fields);
* not reproduced: stop-word removal (a rule naming a stop word requires it), scoring.

Syntax: terms, ``"phrases"``, trailing ``*``, ``AND``/``OR``/``NOT`` (``&&``/``||``/``!``),
parentheses; juxtaposition is AND (``default_operator: AND``); precedence NOT > AND > OR.  Terms
may match in different fields, a phrase within one, as ``query_string`` over several fields.
Refused with a reason: ``field:x``, ``+``/``-`` prefixes, ``~``/``^``, inner ``*`` and ``?``,
unbalanced parentheses or quotes.

Later step: store the rules as percolator queries run with the real index analyzer (issue 5);
until then this module is the crawl-time tagger and the rules' syntax check.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.base import StagePipeline
from rasd.arabic import tokens
from rasd.errors import ConfigError
from rasd.paths import CONFIG_DIR

TOPICS_FILE = CONFIG_DIR / "topics.yaml"
ENTITIES_FILE = CONFIG_DIR / "entities.yaml"
ENTITY_KINDS = ("countries", "cities", "organisations", "people")

_STEM_PREFIXES = ("ال", "وال", "بال", "كال", "فال", "لل", "و")
_STEM_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")
_ARTICLE = re.compile(r"^(?:ال|وال|بال|كال|فال|لل)([^\W\d_]{2,})$")


def stem(word: str) -> str:
    """Lucene ``ArabicStemmer`` on a folded word: ``المسءولون`` → ``مسءول``, ``وزير`` → ``زير``."""
    for p in _STEM_PREFIXES:
        if word.startswith(p) and len(word) >= len(p) + 2 and (len(p) > 1 or len(word) >= 4):
            word = word[len(p):]
            break
    for s in _STEM_SUFFIXES:
        if word.endswith(s) and len(word) >= len(s) + 2:
            word = word[: -len(s)]
    return word


def exact_forms(word: str) -> tuple[str, ...]:
    """The word and, when it has one, its form without the article: ``بالعراق`` → (…, ``عراق``)."""
    m = _ARTICLE.match(word)
    return (word, m.group(1)) if m else (word,)


# ---------------------------------------------------------------- query parsing and evaluation

class QueryError(ValueError):
    """A rule the matcher cannot parse; the message is the reason."""


_Term = NamedTuple("_Term", [("word", str), ("prefix", bool)])
_Phrase = NamedTuple("_Phrase", [("words", tuple)])
_Op = NamedTuple("_Op", [("op", str), ("args", tuple)])  # op: "and", "or", "not"


_LEX = re.compile(r'\s+|(?P<q>"(?:[^"\\]|\\.)*")|(?P<p>[()])|(?P<o>&&|\|\||!)|(?P<w>[^\s()"]+)|(?P<bad>")')
_OPS = {"AND": "and", "&&": "and", "OR": "or", "||": "or", "NOT": "not", "!": "not"}


def _lex(query: str) -> list[tuple[str, str]]:
    out = []
    for m in _LEX.finditer(query):
        kind = m.lastgroup
        if kind is None:
            continue
        text = m.group()
        if kind == "bad":
            raise QueryError("unbalanced quote")
        if kind == "w" and text in _OPS:
            kind = "o"
        out.append((kind, _OPS.get(text, text) if kind == "o" else text))
    return out


def _word(text: str) -> Any:
    if ":" in text:
        raise QueryError(f"{text!r}: field queries are not supported in rules (title and text are searched)")
    if text[0] in "+-":
        raise QueryError(f"{text!r}: +/- prefixes are not supported; write AND / NOT")
    if any(c in text for c in "~^?") or "*" in text[:-1]:
        raise QueryError(f"{text!r}: only plain terms and a trailing * wildcard are supported")
    prefix = text.endswith("*")
    words = tokens(text.rstrip("*"))
    if not words:
        raise QueryError(f"{text!r}: no searchable word")
    if prefix:
        if len(words) != 1:
            raise QueryError(f"{text!r}: a wildcard applies to one word")
        return _Term(words[0], True)
    return _Term(words[0], False) if len(words) == 1 else _Phrase(tuple(words))


def parse_query(query: str) -> Any:
    """Parse a rule into a tree of ``_Term``/``_Phrase``/``_Op``.

    Raises:
        QueryError: the reason the rule cannot be parsed (see the module docstring).
    """
    toks = _lex(query) + [("end", "")]
    pos = 0

    def take() -> tuple[str, str]:
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def or_expr() -> Any:
        args = [and_expr()]
        while toks[pos] == ("o", "or"):
            take()
            args.append(and_expr())
        return args[0] if len(args) == 1 else _Op("or", tuple(args))

    def and_expr() -> Any:
        args = [unary()]
        while toks[pos] not in (("o", "or"), ("p", ")"), ("end", "")):
            if toks[pos] == ("o", "and"):
                take()
            args.append(unary())
        return args[0] if len(args) == 1 else _Op("and", tuple(args))

    def unary() -> Any:
        if toks[pos] == ("o", "not"):
            take()
            return _Op("not", (unary(),))
        kind, text = take()
        if kind == "p" and text == "(":
            inner = or_expr()
            if take() != ("p", ")"):
                raise QueryError("unbalanced parenthesis: missing )")
            return inner
        if kind == "q":
            words = tokens(text[1:-1].replace('\\"', '"'))
            if not words:
                raise QueryError(f"{text}: empty phrase")
            return _Phrase(tuple(words)) if len(words) > 1 else _Term(words[0], False)
        if kind == "w":
            return _word(text)
        raise QueryError("the rule ends where a term was expected" if kind == "end" else
                         f"unexpected {text!r}" + (" (unbalanced parenthesis)" if text == ")" else ""))

    if len(toks) == 1:
        raise QueryError("empty rule")
    tree = or_expr()
    if toks[pos][0] != "end":
        raise QueryError(f"unexpected {toks[pos][1]!r} (unbalanced parenthesis)")
    return tree


class Document:
    """The searchable form of some fields (e.g. title and text): their words, stems, exact forms."""

    def __init__(self, *fields: str | None):
        self.fields = [tokens(f) for f in fields if f]
        self.stems = {stem(w) for words in self.fields for w in words}
        self.exact = {e for words in self.fields for w in words for e in exact_forms(w)}

    @staticmethod
    def _word_matches(word: str, q: str) -> bool:
        return stem(word) == stem(q) or bool(set(exact_forms(word)) & set(exact_forms(q)))

    def matches(self, node: Any) -> bool:
        """Whether ``node`` (from :func:`parse_query`) matches this document."""
        if isinstance(node, _Term):
            if node.prefix:
                return any(e.startswith(node.word) for e in self.exact)
            return stem(node.word) in self.stems or any(e in self.exact for e in exact_forms(node.word))
        if isinstance(node, _Phrase):
            n = len(node.words)
            return any(all(self._word_matches(words[i + j], q) for j, q in enumerate(node.words))
                       for words in self.fields for i in range(len(words) - n + 1))
        if node.op == "not":
            return not self.matches(node.args[0])
        if node.op == "and":
            return all(self.matches(a) for a in node.args)
        return any(self.matches(a) for a in node.args)


def query_matches(query: str, *fields: str | None) -> bool:
    """Whether ``query`` matches ``fields`` as ``rasd search`` would; raises ``QueryError``."""
    return Document(*fields).matches(parse_query(query))


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
    def compiled(self) -> list[Any]:
        return [parse_query(r) for r in self.rules]


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


def tag_topics(article: Any, taxonomy: Taxonomy) -> list[str]:
    """Slugs of the topics whose rules match ``article.title`` / ``article.text``, in taxonomy order."""
    doc = Document(getattr(article, "title", None), getattr(article, "text", ""))
    return [t.slug for t in taxonomy.topics if any(doc.matches(r) for r in t.compiled)]


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
    """Sets ``item.topics`` from the taxonomy and counts ``rasd/topics/<slug>`` (``rasd/topics/none``
    when no rule matches).  Never drops an item; not an outcome stage.

    Setting ``RASD_TOPICS_FILE`` (default ``config/topics.yaml``).
    """

    def __init__(self, stats: Any = None, taxonomy: Taxonomy | None = None):
        super().__init__(stats)
        self.taxonomy = taxonomy or load_taxonomy()

    @classmethod
    def options_from_settings(cls, settings) -> dict[str, Any]:
        return {"taxonomy": load_taxonomy(Path(settings.get("RASD_TOPICS_FILE") or TOPICS_FILE))}

    def process_item(self, item, spider=None):
        item.topics = tag_topics(item, self.taxonomy)
        for slug in item.topics or ["none"]:
            self.count(f"rasd/topics/{slug}")
        return item

