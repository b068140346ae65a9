"""Arabic orthographic folding: one table for Python and for the search index.

Arabic news sites spell the same word several ways (مسؤول / مسئول, أحمد / احمد, مصطفى / مصطفي,
مدرسة / مدرسه, ٢٠٢٤ / 2024).  Dedup, alerts, topics, near-duplicates and search must agree on
which spellings are one word, so the folding is *data* (``config/arabic_folding.yaml``) with two
consumers:

* :func:`normalize` applies it to a string: one ``str.replace`` per folded code point that
  occurs in the text (each a C-speed scan; about 20 µs for a 3 KB article, where ``str.translate``
  with a table takes about 250 µs because it looks up every non-ASCII code point in Python),
  plus one regular expression for the few two-code-point decomposed sequences, run only when the
  text contains a combining hamza or madda;
* :func:`char_filter_mappings` emits the same pairs as the rules of a Lucene ``mapping`` char
  filter for the Elasticsearch/OpenSearch index template.

Pairs folded by the default table (code points in ``config/arabic_folding.yaml``):

* hamza seats: ؤ (U+0624), ئ (U+0626) → ء (U+0621); standalone ء stays ء.  Decomposed
  و/ي/ی/ى + U+0654 → ء as well.  So مسؤول, مسئول and مسءول all become مسءول.
* alef forms: أ (U+0623), إ (U+0625), آ (U+0622), ٱ (U+0671) → ا (U+0627), and
  ا + U+0654/U+0655/U+0653 → ا.
* alef maksura: ى (U+0649) → ي (U+064A).
* ta marbuta: ة (U+0629) and Persian ۀ (U+06C0) → ه (U+0647).
* Persian letters: ی (U+06CC) → ي (U+064A), ک (U+06A9) → ك (U+0643).
* removed: tashkeel U+064B–U+065F (tanwin, harakat, shadda, sukun, maddah, hamza above/below …)
  and superscript alef U+0670; tatweel ـ (U+0640); invisible format characters U+200B,
  U+200C (ZWNJ), U+200D (ZWJ), U+200E, U+200F, U+061C, U+FEFF, U+00AD, U+202A–U+202E,
  U+2066–U+2069.
* presentation forms U+FB50–U+FDFF and U+FE70–U+FEFC (glyph codes and ligatures from PDF
  text: ﺑﻐﺰﺓ, ﻻ, ﷲ) → their NFKC base letters, then folded like them.
* digits: Arabic-Indic ٠–٩ (U+0660–U+0669) and Persian ۰–۹ (U+06F0–U+06F9) → 0–9.

Before the folds, the table's ``breaks`` run (regular expressions, also the index's
``pattern_replace`` char filters, :meth:`Folding.char_filter_breaks`): a ZWNJ between two words
(الأمم‌المتحدة, typed on a Persian keyboard layout in place of a space) becomes a space; inside
a Persian/Urdu word (before a suffix, after می/نمی/بی: هسته‌ای, می‌روم) it is removed with the
other invisible characters, so the word stays one.  Case 27.

The Unicode policy (:func:`clean_text`): the breaks (ZWNJ between words → space, tatweel
between two letters removed) and the groups marked ``text: true`` (invisible characters,
presentation forms) are applied to the stored title and text
too, once, by the extraction and cleaning stages, so the body and title the archive holds, the
index, queries, alerts and near-duplicate shingles all see one text; the other folds (hamza
seats, alef forms …) are for matching only, and stored text keeps the outlet's spelling.

Why ء for the hamza seats: it is the one form that is not also a plain letter, so folding keeps
words apart that ي or و would merge (فئة → فيه "in it", بؤس → بوس).  The alef, ya and ta marbuta
folds are those of Lucene's ``ArabicNormalizer`` (Larkey, Ballesteros & Connell, "Light
Stemming for Arabic Information Retrieval", 2007) and the Persian letters those of Lucene's
``PersianNormalizer``; Lucene leaves ؤ/ئ apart, which is why the index needs this char filter
(case 15).  Not folded: Latin case (``tokens`` lower-cases; the index's lowercase filter does the
same).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

import yaml

from rasd.core.yamlio import safe_load
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rasd.core.errors import ConfigError
from rasd.core.paths import CONFIG_DIR

#: The default folding table.
FOLDING_FILE = CONFIG_DIR / "arabic_folding.yaml"

_POINT = r"U\+([0-9A-Fa-f]{4,6})"
_ITEM = re.compile(rf"^{_POINT}(?:\.\.{_POINT}|(?:\s+{_POINT})+)?$")
_SEQUENCE_PART = re.compile(_POINT)
_TOKEN = re.compile(r"[^\W_]+")
# characters written as \uXXXX in char-filter rules: marks, format/control characters, spaces
_ESCAPED_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Cf", "Cc", "Zs", "Zl", "Zp"})


def _expand(item: str) -> list[str]:
    """``"U+0624"`` → ``["ؤ"]``; ``"U+0660..U+0669"`` → 10 strings; ``"U+0648 U+0654"`` → one
    two-character string.  Raises ``ValueError`` on any other shape."""
    m = _ITEM.match(item.strip())
    if not m:
        raise ValueError(f"{item!r}: expected U+XXXX, U+XXXX..U+YYYY or U+XXXX U+YYYY")
    if ".." in item:
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        if lo > hi:
            raise ValueError(f"{item!r}: range runs backwards")
        return [chr(c) for c in range(lo, hi + 1)]
    return ["".join(chr(int(p, 16)) for p in _SEQUENCE_PART.findall(item))]


class FoldGroup(BaseModel):
    """One named group of folds in the YAML table (see the file's header for the format).
    ``text``: the group is part of the Unicode policy applied to stored text too
    (:meth:`Folding.clean_text`); ``to: NFKC``: each source becomes its compatibility
    decomposition."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    why: str = ""
    text: bool = False
    sources: list[str] = Field(alias="from", min_length=1)
    to: list[str] | Literal["NFKC"]

    @field_validator("sources", "to")
    @classmethod
    def _code_points(cls, items: list[str] | str) -> list[str] | str:
        if isinstance(items, str):
            return items
        for item in items:
            _expand(item)
        return items

    def pairs(self) -> list[tuple[str, str]]:
        """``(source, replacement)`` pairs; replacement ``""`` means removal.  For ``to: NFKC``
        the replacement is the source's NFKC form without surrounding spaces (a spacing
        harakah such as U+FE70 is the bare mark); sources without a decomposition are left out.

        Raises ``ValueError`` when ``to`` has neither 0, 1 nor as many items as ``from``.
        """
        sources = [s for item in self.sources for s in _expand(item)]
        if self.to == "NFKC":
            return [(s, unicodedata.normalize("NFKC", s).strip()) for s in sources
                    if unicodedata.normalize("NFKC", s) != s]
        targets = [t for item in self.to for t in _expand(item)]
        if not targets:
            return [(s, "") for s in sources]
        if len(targets) == 1:
            return [(s, targets[0]) for s in sources]
        if len(targets) == len(sources):
            return list(zip(sources, targets))
        raise ValueError(f"group {self.name!r}: 'to' has {len(targets)} items; "
                         f"give 0, 1 or {len(sources)} (one per 'from' character)")


class BreakRule(BaseModel):
    """One rule of ``breaks``: a regular expression (``{L}``-style names of ``classes``
    substituted) and its replacement (``$1`` for a group), applied before the folds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    why: str = ""
    pattern: str = Field(min_length=1)
    replacement: str = ""


class FoldingTable(BaseModel):
    """The whole YAML file: a schema version, character classes, break rules and the groups, in
    order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(ge=1, le=2)
    classes: dict[str, str] = {}
    breaks: list[BreakRule] = []
    groups: list[FoldGroup] = Field(min_length=1)


_CLASS_NAME = re.compile(r"\{([A-Za-z]\w*)\}")
_GROUP_REF = re.compile(r"\$(\d)")


@dataclass(frozen=True)
class Break:
    """A compiled break rule: ``pattern`` as the engine reads it (Java regex; Python's ``re``
    reads the same text), ``replacement`` in Java's ``$1`` form, and the compiled Python
    pattern."""

    name: str
    pattern: str
    replacement: str

    @cached_property
    def regex(self) -> re.Pattern:
        return re.compile(self.pattern)

    @cached_property
    def python_replacement(self) -> str:
        return _GROUP_REF.sub(r"\\g<\1>", self.replacement.replace("\\", "\\\\"))

    @cached_property
    def triggers(self) -> str:
        """Characters one of which any match contains: the ``\\uXXXX`` escapes written outside
        brackets and look-arounds (for the ZWNJ rule: U+200C), or ``""`` (always run)."""
        depth, out, i, p = 0, [], 0, self.pattern
        while i < len(p):
            if p.startswith("(?", i) and p[i + 2:i + 3] in "=!<":
                depth += 1
            elif p[i] == "[":
                depth += 1
            elif p[i] == "]" or (p[i] == ")" and depth):
                depth = max(0, depth - 1)
            elif p.startswith("\\u", i) and depth == 0:
                out.append(chr(int(p[i + 2:i + 6], 16)))
                i += 6
                continue
            i += 1
        return "".join(out)

    def apply(self, text: str) -> str:
        if self.triggers and not any(t in text for t in self.triggers):
            return text
        return self.regex.sub(self.python_replacement, text)


class Folding:
    """A compiled folding table.

    ``rules`` maps a source string (one code point, or a short decomposed sequence) to its
    replacement (``""`` = remove).  Build it from YAML with :meth:`from_yaml`.

    Raises:
        ValueError: a source is empty, or a replacement is itself folded again (the table must
            be idempotent: ``normalize(normalize(x)) == normalize(x)``, as a char filter is
            applied once).
    """

    def __init__(self, rules: dict[str, str], breaks: list[Break] | None = None,
                 text_rules: dict[str, str] | None = None):
        self.breaks = list(breaks or [])
        #: the Unicode policy for stored text: source → replacement (:meth:`clean_text`)
        self.text_rules = dict(text_rules or {})
        self._text_singles = [(s, t) for s, t in self.text_rules.items() if len(s) == 1]
        self._text_any = re.compile("[" + "".join(re.escape(s) for s, _ in self._text_singles) + "]") \
            if self._text_singles else None
        for source, target in rules.items():
            if not source:
                raise ValueError("empty source in folding rules")
            if any(ch in rules for ch in target):
                raise ValueError(f"replacement {target!r} of {source!r} is folded again")
        self.rules = dict(rules)
        # Replacing one code point at a time gives the same result as a simultaneous mapping
        # because no replacement is folded again (checked above).
        self._singles = [(s, t) for s, t in rules.items() if len(s) == 1]
        #: the same as one ``str.translate`` table: one pass in C instead of one scan per rule
        #: (the presentation forms alone are some 700 rules)
        self._table = str.maketrans({s: t for s, t in self._singles})
        self._text_table = str.maketrans({s: t for s, t in self._text_singles})
        sequences = {s: t for s, t in rules.items() if len(s) > 1}
        self._sequences = sequences
        # a decomposed sequence can only occur where its second code point (a mark) occurs
        self._triggers = sorted({s[1] for s in sequences})
        self._sequence_re = (re.compile("|".join(map(re.escape, sorted(sequences, key=len, reverse=True))))
                             if sequences else None)

    @classmethod
    def from_yaml(cls, path: Path) -> "Folding":
        """Load and check a folding table.

        Raises:
            ConfigError: unreadable file, unknown field, malformed code point, or a character
                folded by two groups; the message names the file and the field.
        """
        try:
            data = safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read folding table: {exc}") from exc
        try:
            table = FoldingTable.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            raise ConfigError(f"{path}: {loc}: {err['msg']}") from None
        rules: dict[str, str] = {}
        text_rules: dict[str, str] = {}
        decomposed: list[tuple[str, str]] = []  # NFKC pairs, folded by the whole table below
        for i, group in enumerate(table.groups):
            try:
                pairs = group.pairs()
            except ValueError as exc:
                raise ConfigError(f"{path}: groups.{i}.to: {exc}") from None
            for source, target in pairs:
                if source in rules:
                    raise ConfigError(f"{path}: groups.{i}.from: U+{ord(source[0]):04X} "
                                      f"is already folded by an earlier group")
                rules[source] = target
                if group.text:
                    text_rules[source] = target
                if group.to == "NFKC":
                    decomposed.append((source, target))
        breaks = []
        for i, rule in enumerate(table.breaks):
            def klass(m: re.Match, i=i) -> str:
                if m.group(1) not in table.classes:
                    raise ConfigError(f"{path}: breaks.{i}.pattern: no class {m.group(1)!r} in classes")
                return table.classes[m.group(1)]
            pattern = _CLASS_NAME.sub(klass, rule.pattern)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{path}: breaks.{i}.pattern: {exc}") from None
            breaks.append(Break(rule.name, pattern, rule.replacement))
        if decomposed:
            composed = {s for s, _ in decomposed}
            plain = cls({s: t for s, t in rules.items() if s not in composed})
            text_plain = cls({s: t for s, t in text_rules.items() if s not in composed})
            for source, target in decomposed:
                rules[source] = plain.normalize(target)
                if source in text_rules:
                    text_rules[source] = text_plain.normalize(target)
        try:
            return cls(rules, breaks, text_rules)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def apply_breaks(self, text: str) -> str:
        """The ``breaks`` rules alone (a ZWNJ between two words → a space); what
        :mod:`rasd.pipelines.extract` applies to a page before extraction deletes the ZWNJ."""
        for rule in self.breaks:
            text = rule.apply(text)
        return text

    def clean_text(self, text: str) -> str:
        """The Unicode policy for stored text: the ``breaks``, then the ``text: true`` groups
        (invisible characters out, presentation forms → base letters), tatweel out between letters
        (``لـ«الصباح»`` keeps its typographic one); spellings
        are kept (``clean_text(x)`` still has its hamza seats and ة).  ``normalize(clean_text(x))
        == normalize(x)``."""
        text = self.apply_breaks(text)
        if self._text_any is None or not self._text_any.search(text):
            return text
        return text.translate(self._text_table)

    def normalize(self, text: str) -> str:
        """Fold ``text`` (any length; non-Arabic characters pass through unchanged): the
        ``breaks``, then every fold."""
        text = self.apply_breaks(text)
        if self._sequence_re is not None and any(t in text for t in self._triggers):
            text = self._sequence_re.sub(lambda m: self._sequences[m.group()], text)
        return text.translate(self._table)

    def tokens(self, text: str) -> list[str]:
        """Words of the folded, lower-cased text: runs of letters and digits (``_`` and
        punctuation separate words; so does ZWNJ)."""
        return _TOKEN.findall(self.normalize(text).lower())

    def char_filter_breaks(self) -> list[dict[str, str]]:
        """The ``breaks`` as Elasticsearch/OpenSearch ``pattern_replace`` char filters, in order:
        ``[{"type": "pattern_replace", "pattern": …, "replacement": …}]`` (run before the
        ``mapping`` char filter of :meth:`char_filter_mappings`)."""
        return [{"type": "pattern_replace", "pattern": b.pattern, "replacement": b.replacement}
                for b in self.breaks]

    def char_filter_mappings(self) -> list[str]:
        """The rules of a Lucene/Elasticsearch ``mapping`` char filter, one per fold.

        Shape: ``"ؤ => ء"``, ``"٣ => 3"``, ``"\\u064b =>"`` (removal: empty right-hand side).
        Visible letters and digits are written as themselves; combining marks, format
        characters and spaces as ``\\uXXXX`` escapes, which Lucene's ``MappingCharFilterFactory``
        rule parser decodes (it also trims each side, so a bare mark or space would be lost or
        unreadable).  Multi-code-point sources are matched longest-first by the char filter, like
        :meth:`normalize`.
        """
        return [f"{_lucene_escape(s)} => {_lucene_escape(t)}".rstrip() for s, t in self.rules.items()]


def _lucene_escape(text: str) -> str:
    out = []
    for ch in text:
        if ord(ch) > 0xFFFF:
            raise ValueError(f"U+{ord(ch):X} is outside the BMP; Lucene rules need a surrogate pair")
        if ch in '\\"=>' or unicodedata.category(ch) in _ESCAPED_CATEGORIES:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


@cache
def default_folding() -> Folding:
    """The table in ``config/arabic_folding.yaml``, loaded once per process.

    Raises:
        ConfigError: the file is missing or invalid.
    """
    return Folding.from_yaml(FOLDING_FILE)


def normalize(text: str) -> str:
    """Fold ``text`` with the default table (see the module docstring for the pairs).

    >>> normalize("المسؤولين و المسئولين") == normalize("المسئولين و المسؤولين")
    True
    """
    return default_folding().normalize(text)


def tokens(text: str) -> list[str]:
    """Words of ``normalize(text).lower()`` (see :meth:`Folding.tokens`)."""
    return default_folding().tokens(text)


def clean_text(text: str) -> str:
    """The Unicode policy for stored text with the default table (see
    :meth:`Folding.clean_text`)."""
    return default_folding().clean_text(text)


def apply_breaks(text: str) -> str:
    """The default table's word-break rules alone (see :meth:`Folding.apply_breaks`)."""
    return default_folding().apply_breaks(text)


def char_filter_mappings() -> list[str]:
    """Default table as Lucene ``mapping`` char-filter rules (see
    :meth:`Folding.char_filter_mappings`)."""
    return default_folding().char_filter_mappings()
