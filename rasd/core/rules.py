"""The local matcher: a query in the search syntax, run on text without the search engine.

Queries (topic rules, alerts' pre-analysis) are parsed by :mod:`rasd.core.query`, the one
parser, with Lucene's classic precedence, exactly as ``query_string`` reads them.  This module
adds what the engine would do with the words, reproducing the index analyzers
(``config/index_template.yaml``) on both sides, the query's words and the document's:

* words are :func:`analysis_tokens`: the text folded by :func:`rasd.core.arabic.normalize` (the
  table the index's char filter is generated from), lower-cased, cut as Lucene's standard
  tokenizer cuts it (Unicode word boundaries, UAX #29): runs of letters, digits and ``_``, kept
  whole across ZWNJ/ZWJ (Persian هسته‌ای) and across ``.`` or an apostrophe between two of them
  (``u.s.a``, ``3.5``);
* stop words (:data:`STOP_WORDS`: Lucene's Arabic list, ``config/arabic_stopwords.txt``, and
  the template's ``rasd_arabic_stop_folded`` words) are removed from both analyses but keep
  their position, so ``"قال في بغداد"`` needs one word, any word, between قال and بغداد; a
  query term removed entirely adds no clause (:func:`rasd.core.query.occurs`);
* the stemmed fields index :func:`stem` of a word, Lucene's ``ArabicStemmer`` (Larkey et al.
  light stemming): one prefix of ال وال بال كال فال لل و (``و`` only on 4+ letter words; 2+
  letters left), then each suffix of ها ان ات ون ين يه ه ي in turn that leaves 2+ letters (ة
  and ية are ه and يه after folding);
* the ``exact`` subfields index :func:`exact_forms`: the word, plus the word without the article
  and its fused prepositions (ال وال بال كال فال لل) at the same position, then stop words
  removed (so the exact field of الذي holds ذي).  Lone ف/ب/ل/ك prefixes are not stripped
  because the index does not strip them;
* a term matches when one field has it in either analysis (``most_fields`` over title, text
  and description and their ``exact`` subfields); a phrase, and a term the tokenizer splits
  (``الأمم-المتحدة``: both parts), within one field and one analysis;
* a query with a wildcard anywhere searches the ``exact`` fields only
  (:func:`rasd.core.query.has_wildcard`, as :func:`rasd.search.articles.build_query`); a
  trailing-wildcard term ``وزي*`` matches exact forms starting with an exact form of ``وزي``;
* not reproduced: scoring, and what :class:`rasd.core.query.Other` holds (field queries,
  fuzziness, boosts, ranges, inner wildcards): rules refuse those (:func:`parse_rule`).

``tests/search/test_query_syntax.py`` checks the whole against the engine: generated queries,
mixed AND/OR, NOT and stop words give the same documents here and through ``rasd search``.

Evidence (used by topic tagging, :mod:`rasd.pipelines.enrich` and :mod:`rasd.search.topics`): a
rule that is a pure disjunction ``a OR b OR "c d"`` is split into its *clauses*
(:func:`split_clauses`; a rule with a required or prohibited clause is one clause), and clauses
that one word would satisfy together are merged into one *evidence group*
(:func:`evidence_groups`): terms with the same stem (حرب / الحرب), a wildcard and the terms it
covers (سياسي* / السياسية), a phrase and a term matching one of its words ("رئيس الحكومة" /
الحكومة).  Counting matched groups, not clauses, means one word repeated in three spellings is
one piece of evidence, not three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from rasd.core.arabic import normalize
from rasd.core.paths import CONFIG_DIR
from rasd.core.query import (Group, Other, Phrase, QueryError, Term, has_wildcard, leaves, matches,
                             occurs, parse_query as parse_syntax)

__all__ = ["QueryError", "STOP_WORDS", "analysis_tokens", "Document", "Rule", "stem", "exact_forms", "stemmed_terms",
           "exact_terms", "parse_rule", "parse_query", "query_matches", "split_clauses",
           "evidence_groups", "is_null"]

_STEM_PREFIXES = ("ال", "وال", "بال", "كال", "فال", "لل", "و")
_STEM_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")
_ARTICLE = re.compile(r"^(?:ال|وال|بال|كال|فال|لل)([^\W\d_]{2,})$")
STOPWORDS_FILE = CONFIG_DIR / "arabic_stopwords.txt"


@cache
def _stop_words() -> frozenset[str]:
    import yaml

    words = {line.strip() for line in STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")}
    template = yaml.safe_load((CONFIG_DIR / "index_template.yaml").read_text(encoding="utf-8"))
    words |= set(template["settings"]["analysis"]["filter"]["rasd_arabic_stop_folded"]["stopwords"])
    return frozenset(words)


class _StopWords:
    """:data:`STOP_WORDS`, read on first use."""

    def __contains__(self, word: str) -> bool:
        return word in _stop_words()

    def __iter__(self):
        return iter(sorted(_stop_words()))

    def __len__(self) -> int:
        return len(_stop_words())


#: the words the index's analyzers remove (folded forms; ``word in STOP_WORDS``)
STOP_WORDS = _StopWords()


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


@lru_cache(maxsize=65536)
def stemmed_terms(word: str) -> frozenset[str]:
    """What the stemmed analyzer keeps of one folded word at its position: ``{stem}``, or
    nothing for a stop word."""
    return frozenset() if word in STOP_WORDS else frozenset((stem(word),))


@lru_cache(maxsize=65536)
def exact_terms(word: str) -> frozenset[str]:
    """What the ``exact`` analyzer keeps of one folded word at its position: its exact forms
    that are not stop words (الذي → {ذي})."""
    return frozenset(f for f in exact_forms(word) if f not in STOP_WORDS)


_ANALYSES = {"stemmed": stemmed_terms, "exact": exact_terms}
_WORD = re.compile(r"\w+(?:(?:[\u200c\u200d]+|[.'\u2019](?=\w))\w+)*")


def analysis_tokens(text: str) -> list[str]:
    """The words of ``text`` as the index's tokenizer sees them after the char filter (see
    the module docstring): ``"هسته‌ای U.S. 3.5"`` → ``['هسته\u200cاي', 'u.s', '3.5']``."""
    return _WORD.findall(normalize(text).lower())


def _positions(words: list[str], analysis: str) -> list[frozenset[str]] | None:
    """A query phrase's term sets per position under one analysis, gaps (stop words) kept
    inside and dropped at both ends; ``None`` when nothing is left."""
    out = [_ANALYSES[analysis](w) for w in words]
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return out or None


def _analyses(exact_only: bool) -> tuple[str, ...]:
    return ("exact",) if exact_only else ("stemmed", "exact")


def is_null(node, exact_only: bool = False) -> bool:
    """Whether a leaf is empty after analysis in every searched field (a stop word alone): the
    engine then adds no clause for it."""
    if isinstance(node, Term):
        words = analysis_tokens(node.text)
        if node.prefix:
            return not (len(words) == 1 and exact_terms(words[0]))
        return not any(_ANALYSES[a](w) for a in _analyses(exact_only) for w in words)
    if isinstance(node, Phrase):
        words = analysis_tokens(node.text)
        return all(_positions(words, a) is None for a in _analyses(exact_only))
    return False


@dataclass(frozen=True)
class Rule:
    """A parsed query the local matcher runs: its :class:`rasd.core.query.Group`, its text and
    whether it searches the ``exact`` fields only (it has a wildcard)."""

    text: str
    group: Group
    exact_only: bool


@lru_cache(maxsize=4096)
def parse_rule(text: str) -> Rule:
    """Parse ``text`` for the local matcher.

    Raises:
        QueryError: a syntax error, or something the local matcher does not run (field
            queries, fuzziness, boosts, ranges, regular expressions, inner wildcards), with the
            reason.
    """
    group = parse_syntax(text)
    for leaf in leaves(group):
        if isinstance(leaf, Other):
            if leaf.kind == "field":
                raise QueryError(f"{leaf.text!r}: field queries are not supported in rules "
                                 "(title and text are searched)")
            raise QueryError(f"{leaf.text!r}: only plain terms, \"phrases\" and a trailing * "
                             f"wildcard are supported ({leaf.kind})")
        if isinstance(leaf, Term) and leaf.prefix and len(analysis_tokens(leaf.text)) != 1:
            raise QueryError(f"{leaf.text}*: a wildcard applies to one word")
        if isinstance(leaf, (Term, Phrase)) and not analysis_tokens(leaf.text):
            raise QueryError(f"{leaf.text!r}: no searchable word")
    return Rule(text, group, has_wildcard(text))


#: the old name (topic rules and tests call it)
parse_query = parse_rule


class Document:
    """The searchable form of some fields (e.g. title and text): per field and analysis, the
    terms at each position; per analysis, every term of any field."""

    def __init__(self, *fields: str | None):
        self.fields = [analysis_tokens(f) for f in fields if f]
        self.positions = {a: [[fn(w) for w in words] for words in self.fields] for a, fn in _ANALYSES.items()}
        self.terms = {a: frozenset().union(*(t for field in self.positions[a] for t in field))
                      for a in _ANALYSES}

    def _phrase(self, words: list[str], analysis: str) -> bool:
        query = _positions(words, analysis)
        if query is None:
            return False
        n = len(query)
        for field in self.positions[analysis]:
            for i in range(len(field) - n + 1):
                if all(not q or (field[i + j] & q) for j, q in enumerate(query)):
                    return True
        return False

    def _leaf(self, node, exact_only: bool) -> bool:
        analyses = _analyses(exact_only)
        words = analysis_tokens(node.text)
        if isinstance(node, Phrase):
            return any(self._phrase(words, a) for a in analyses)
        if node.prefix:
            prefixes = exact_terms(words[0])
            return any(t.startswith(p) for t in self.terms["exact"] for p in prefixes)
        if len(words) == 1:
            return any(_ANALYSES[a](words[0]) & self.terms[a] for a in analyses)
        # a term the tokenizer splits: every part (that is not a stop word) in one field
        for a in analyses:
            parts = [_ANALYSES[a](w) for w in words if _ANALYSES[a](w)]
            if parts and any(all(any(p & t for t in field) for p in parts) for field in self.positions[a]):
                return True
        return False

    def matches(self, rule: Rule | str) -> bool:
        """Whether ``rule`` (a :class:`Rule` or query text) matches this document."""
        if isinstance(rule, str):
            rule = parse_rule(rule)
        exact_only = rule.exact_only
        return matches(rule.group, lambda n: self._leaf(n, exact_only), lambda n: is_null(n, exact_only))


def query_matches(query: str, *fields: str | None) -> bool:
    """Whether ``query`` matches ``fields`` as ``rasd search`` would; raises ``QueryError``."""
    return Document(*fields).matches(parse_rule(query))


# ---------------------------------------------------------------- clauses and evidence groups

def split_clauses(rule: str) -> list[str]:
    """The clauses of ``rule`` as query strings, whose disjunction is the rule: its top-level
    clauses when all are optional (``'a OR (b AND c) OR "d e"'`` → ``['a', '(b AND c)',
    '"d e"']``), else the rule itself (``a OR b AND c`` requires b and c; ``a OR b NOT c``
    prohibits c), Lucene's reading (:func:`rasd.core.query.occurs`).  Clauses the analyzers
    remove entirely (a stop word) are left out.

    Raises:
        QueryError: the rule does not parse.
    """
    parsed = parse_rule(rule)
    group = parsed.group
    null = lambda n: is_null(n, parsed.exact_only) if not isinstance(n, Group) else False  # noqa: E731
    clauses = occurs(group, null)
    if len(group.clauses) < 2 or any(o != "should" for o, _ in clauses):
        return [rule.strip()]
    return [c.text for c in group.clauses if not null(c.node)]


def _single(clause: str):
    """The clause's one leaf (a :class:`Term` or :class:`Phrase`), or ``None``."""
    group = parse_rule(clause).group
    if len(group.clauses) == 1 and group.clauses[0].modifier is None:
        node = group.clauses[0].node
        return node if isinstance(node, (Term, Phrase)) else None
    return None


def _related(a, b) -> bool:
    """Whether one word could satisfy both clauses (terms and phrases only)."""
    if a is None or b is None:
        return False
    if isinstance(a, Phrase) and isinstance(b, Term):
        a, b = b, a
    if isinstance(a, Term) and isinstance(b, Phrase):
        return any(Document(w).matches(_term_rule(a)) for w in analysis_tokens(b.text))
    if not (isinstance(a, Term) and isinstance(b, Term)):
        return False
    wa, wb = analysis_tokens(a.text), analysis_tokens(b.text)
    if len(wa) != 1 or len(wb) != 1:
        return False
    if a.prefix and b.prefix:
        return wa[0].startswith(wb[0]) or wb[0].startswith(wa[0])
    if a.prefix or b.prefix:
        (p, _), (t, _) = ((wa[0], a), (wb[0], b)) if a.prefix else ((wb[0], b), (wa[0], a))
        return any(e.startswith(p) for e in exact_forms(t))
    return stem(wa[0]) == stem(wb[0]) or bool(set(exact_forms(wa[0])) & set(exact_forms(wb[0])))


def _term_rule(term: Term) -> Rule:
    return parse_rule(term.text + ("*" if term.prefix else ""))


def evidence_groups(rules: list[str]) -> list[list[str]]:
    """The clauses of ``rules`` merged into evidence groups (see the module docstring), in
    order of first clause; each group is a list of clause query strings.

    Shape: ``['حرب OR الحرب OR "قوات التحالف"', 'قوات']`` → ``[['حرب', 'الحرب'],
    ['"قوات التحالف"', 'قوات']]``.  Raises ``QueryError`` for a rule that does not parse.
    """
    clauses = [c for rule in rules for c in split_clauses(rule)]
    singles = [_single(c) for c in clauses]
    parent = list(range(len(clauses)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(clauses)):
        for j in range(i):
            if find(i) != find(j) and _related(singles[i], singles[j]):
                parent[find(i)] = find(j)
    groups: dict[int, list[str]] = {}
    for i, clause in enumerate(clauses):
        groups.setdefault(find(i), [])
        if clause not in groups[find(i)]:
            groups[find(i)].append(clause)
    return list(groups.values())
