"""The rule language of topics (and alerts): the search query syntax, matched locally.

Rules are written in the syntax users type in ``rasd search`` and Kibana (Lucene
``query_string``, :func:`rasd.search.articles.build_query`).  This module parses them and matches them
against text *without* the search engine, approximating the index analyzers
(``config/index_template.yaml``): words are :func:`rasd.core.arabic.tokens` (the folding table the
index's char filter is generated from);

* a rule term matches a word when their *stems* are equal, the stem of Lucene's
  ``ArabicStemmer`` (Larkey et al. light stemming): one prefix of ال وال بال كال فال لل و (``و``
  only on 4+ letter words; 2+ letters left), then each suffix of ها ان ات ون ين يه ه ي in turn
  that leaves 2+ letters (ة and ية are ه and يه after folding);
* or when their *exact* forms meet: the word, plus the word without the article and its fused
  prepositions (ال وال بال كال فال لل), as the ``exact`` subfield indexes it.  Lone ف/ب/ل/ك
  prefixes are not stripped because the index does not strip them: a rule must match what the
  same search shows;
* a trailing-wildcard term ``وزي*`` matches exact forms only (search uses the exact fields);
* not reproduced: stop-word removal (a rule naming a stop word requires it), scoring.

Syntax: terms, ``"phrases"``, trailing ``*``, ``AND``/``OR``/``NOT`` (``&&``/``||``/``!``),
parentheses; juxtaposition is AND (``default_operator: AND``); precedence NOT > AND > OR.  Terms
may match in different fields, a phrase within one, as ``query_string`` over several fields.
Refused with a reason: ``field:x``, ``+``/``-`` prefixes, ``~``/``^``, inner ``*`` and ``?``,
unbalanced parentheses or quotes.

Evidence (used by topic tagging, :mod:`rasd.pipelines.enrich` and :mod:`rasd.search.topics`): a rule
``a OR b OR "c d"`` is split into its top-level *clauses* (:func:`split_clauses`), and clauses
that one word would satisfy together are merged into one *evidence group*
(:func:`evidence_groups`): terms with the same stem (حرب / الحرب), a wildcard and the terms it
covers (سياسي* / السياسية), a phrase and a term matching one of its words ("رئيس الحكومة" /
الحكومة).  Counting matched groups, not clauses, means one word repeated in three spellings is
one piece of evidence, not three.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from rasd.core.arabic import tokens

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



# ---------------------------------------------------------------- clauses and evidence groups

_CANON = {"and": "AND", "or": "OR", "not": "NOT"}


def split_clauses(rule: str) -> list[str]:
    """The top-level OR alternatives of ``rule`` as query strings (OR binds loosest, so this
    keeps the meaning): ``'a OR (b AND c) OR "d e"'`` → ``['a', '( b AND c )', '"d e"']``.

    Raises:
        QueryError: the rule does not parse.
    """
    parse_query(rule)
    out: list[list[str]] = [[]]
    depth = 0
    for kind, text in _lex(rule):
        if kind == "p":
            depth += 1 if text == "(" else -1
        if kind == "o" and text == "or" and depth == 0:
            out.append([])
            continue
        out[-1].append(_CANON[text] if kind == "o" else text)
    return [" ".join(parts) for parts in out if parts]


def _related(a: Any, b: Any) -> bool:
    """Whether one word could satisfy both clauses (terms and phrases only)."""
    if isinstance(a, _Phrase) and isinstance(b, _Term):
        a, b = b, a
    if isinstance(a, _Term) and isinstance(b, _Phrase):
        return any(_Term(w, False) == a or Document(w).matches(a) for w in b.words)
    if not (isinstance(a, _Term) and isinstance(b, _Term)):
        return False
    if a.prefix and b.prefix:
        return a.word.startswith(b.word) or b.word.startswith(a.word)
    if a.prefix or b.prefix:
        p, t = (a, b) if a.prefix else (b, a)
        return any(e.startswith(p.word) for e in exact_forms(t.word))
    return Document._word_matches(a.word, b.word)


def evidence_groups(rules: list[str]) -> list[list[str]]:
    """The clauses of ``rules`` merged into evidence groups (see the module docstring), in
    order of first clause; each group is a list of clause query strings.

    Shape: ``['حرب OR الحرب OR "قوات التحالف"', 'قوات']`` → ``[['حرب', 'الحرب'],
    ['"قوات التحالف"', 'قوات']]``.  Raises ``QueryError`` for a rule that does not parse.
    """
    clauses = [c for rule in rules for c in split_clauses(rule)]
    trees = [parse_query(c) for c in clauses]
    parent = list(range(len(clauses)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(trees)):
        for j in range(i):
            if find(i) != find(j) and _related(trees[i], trees[j]):
                parent[find(i)] = find(j)
    groups: dict[int, list[str]] = {}
    for i, clause in enumerate(clauses):
        groups.setdefault(find(i), [])
        if clause not in groups[find(i)]:
            groups[find(i)].append(clause)
    return list(groups.values())
