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
* a word's *clitic forms* (:func:`clitic_forms`, the template's ``rasd_arabic_proclitics`` and
  ``rasd_arabic_proclitic`` filters): the word, and unless it is a stop word or a protected
  word (``config/arabic_protected.txt``: بلاد, كتاب, وزير …) the word without its leading
  proclitics و ف ب ل ك or a pair of them (3+ letters left) and without its first letter only:
  بغزة → {بغزة, غزة}, ولبنان → {ولبنان, لبنان, بنان};
* the stemmed fields index :func:`stem` of each clitic form that is not a stop word, Lucene's
  ``ArabicStemmer`` (Larkey et al. light stemming): one prefix of ال وال بال كال فال لل و
  (``و`` only on 4+ letter words; 2+ letters left), then each suffix of ها ان ات ون ين يه ه ي
  in turn that leaves 2+ letters (ة and ية are ه and يه after folding);
* the ``exact`` subfields index :func:`exact_forms`: the word, the word without the article and
  the proclitics fused with it (ال وال فال بال كال لل وبال فبال وكال فكال ولل فلل) and its clitic
  forms, all at the same position, then stop words removed (so the exact field of الذي holds
  ذي);
* at search time (the fields' ``search_analyzer``, the template's ``rasd_names`` synonym
  filter), a query word or phrase that is a spelling of a gazetteer entity
  (:func:`rasd.core.gazetteer.spelling_sets`) also matches every other spelling of it, a
  several-word spelling as a phrase (:func:`name_alternatives`: Lucene's synonym graph, longest
  match first, each path a phrase);
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
from itertools import product

from rasd.core.arabic import normalize
from rasd.core.gazetteer import spelling_sets
from rasd.core.paths import CONFIG_DIR
from rasd.core.query import (Group, Other, Phrase, QueryError, Term, has_wildcard, leaves, matches,
                             occurs, parse_query as parse_syntax)

__all__ = ["QueryError", "STOP_WORDS", "analysis_tokens", "Document", "Rule", "stem", "exact_forms", "stemmed_terms",
           "exact_terms", "parse_rule", "parse_query", "query_matches", "split_clauses",
           "evidence_groups", "is_null"]

_STEM_PREFIXES = ("ال", "وال", "بال", "كال", "فال", "لل", "و")
_STEM_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")
STOPWORDS_FILE = CONFIG_DIR / "arabic_stopwords.txt"
#: words no proclitic is stripped from (scripts/arabic-protected-words); the template's
#: ``rasd_arabic_protected`` filter
PROTECTED_FILE = CONFIG_DIR / "arabic_protected.txt"


def _word_list(path) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")}


@cache
def _template_filters() -> dict:
    from rasd.core.yamlio import safe_load

    template = safe_load((CONFIG_DIR / "index_template.yaml").read_text(encoding="utf-8"))
    return template["settings"]["analysis"]["filter"]


@cache
def _stop_words() -> frozenset[str]:
    return frozenset(_word_list(STOPWORDS_FILE) | set(_template_filters()["rasd_arabic_stop_folded"]["stopwords"]))


@cache
def protected_words() -> frozenset[str]:
    """The folded words of ``config/arabic_protected.txt`` (the template's
    ``rasd_arabic_protected`` list): no proclitic is stripped from them."""
    return frozenset(_word_list(PROTECTED_FILE))


class _PatternFilter:
    """One ``pattern_replace`` token filter of the template, run as Lucene runs it
    (``replaceAll`` on the token; the ``regex`` module reads ``\\p{L}`` as Java does)."""

    def __init__(self, name: str):
        import regex

        spec = _template_filters()[name]
        self.regex = regex.compile(spec["pattern"])
        self.replacement = re.sub(r"\$(\d)", r"\\\1", spec["replacement"])

    def __call__(self, word: str) -> str:
        return self.regex.sub(self.replacement, word)


@cache
def _filters() -> tuple[_PatternFilter, _PatternFilter, _PatternFilter]:
    return (_PatternFilter("rasd_arabic_article"), _PatternFilter("rasd_arabic_proclitics"),
            _PatternFilter("rasd_arabic_proclitic"))


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


@cache
def whole_words() -> frozenset[str]:
    """Folded words the stemmer leaves whole (the template's ``rasd_entity_whole`` keyword
    marker): the one-word spellings of gazetteer entities marked ``whole`` (طالبان), each also
    with the article (الطالبان)."""
    from rasd.core.gazetteer import whole_spellings

    out = set()
    for spelling in whole_spellings():
        words = analysis_tokens(spelling)
        if len(words) == 1:
            out |= {words[0], "ال" + words[0]}
    return frozenset(out)


def stem(word: str) -> str:
    """Lucene ``ArabicStemmer`` on a folded word: ``المسءولون`` → ``مسءول``, ``وزير`` → ``زير``;
    a word of :func:`whole_words` stays whole (the keyword marker before the stemmer)."""
    if word in whole_words():
        return word
    for p in _STEM_PREFIXES:
        if word.startswith(p) and len(word) >= len(p) + 2 and (len(p) > 1 or len(word) >= 4):
            word = word[len(p):]
            break
    for s in _STEM_SUFFIXES:
        if word.endswith(s) and len(word) >= len(s) + 2:
            word = word[: -len(s)]
    return word


@lru_cache(maxsize=65536)
def clitic_forms(word: str) -> tuple[str, ...]:
    """A folded word and its forms without proclitics (module docstring), as the template's
    ``rasd_arabic_clitic_forms`` multiplexer emits them: ``بغزه`` → (``بغزه``, ``غزه``);
    a stop word or a protected word → (word,)."""
    if word in STOP_WORDS or word in protected_words():
        return (word,)
    _, longest, one = _filters()
    return tuple(dict.fromkeys((word, longest(word), one(word))))


def article_form(word: str) -> str:
    """The word without the article and the proclitics fused with it (``rasd_arabic_article``):
    ``وبالعراق`` → ``عراق``; other words unchanged."""
    return _filters()[0](word)


@lru_cache(maxsize=65536)
def exact_forms(word: str) -> tuple[str, ...]:
    """The forms the ``exact`` analyzer puts at a folded word's position before removing stop
    words: the word, its form without the article (``بالعراق`` → ``عراق``) and its clitic
    forms (``بغزه`` → ``غزه``)."""
    return tuple(dict.fromkeys((word, article_form(word), *clitic_forms(word))))


@lru_cache(maxsize=65536)
def stemmed_terms(word: str) -> frozenset[str]:
    """What the stemmed analyzer keeps of one folded word at its position: the stems of its
    clitic forms that are not stop words (nothing for a stop word)."""
    return frozenset(stem(f) for f in clitic_forms(word) if f not in STOP_WORDS)


@lru_cache(maxsize=65536)
def exact_terms(word: str) -> frozenset[str]:
    """What the ``exact`` analyzer keeps of one folded word at its position: its exact forms
    that are not stop words (الذي → {ذي})."""
    return frozenset(f for f in exact_forms(word) if f not in STOP_WORDS)


# ---------------------------------------------------------------- name synonyms (search time)

#: most alternatives one query leaf expands to (each spelling of each name in it, combined)
MAX_ALTERNATIVES = 256


@cache
def name_synonyms() -> dict[str, tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...]]:
    """The search-time synonym rules as the index's ``rasd_names`` filter holds them:
    ``{first word: ((spelling, all spellings of its set), …)}``, spellings as folded word tuples
    (:func:`analysis_tokens`), longest first.  Spellings with a stop word are left out (the stop
    filter after a synonym graph would cut it), spellings that extend another of their set
    (:func:`synonym_sets`), and sets left with one spelling."""
    out: dict[str, list] = {}
    for spellings in synonym_sets():
        for key in spellings:
            out.setdefault(key[0], []).append((key, spellings))
    return {k: tuple(sorted(v, key=lambda e: -len(e[0]))) for k, v in out.items()}


@cache
def synonym_sets() -> tuple[tuple[tuple[str, ...], ...], ...]:
    """Per gazetteer entity, its spellings usable as synonyms (see :func:`name_synonyms`), as
    folded word tuples; what :func:`rasd.search.articles.build_template` writes into the
    ``rasd_names`` filter (one rule ``a, b, c`` per set)."""
    sets = []
    for spellings in spelling_sets():
        words = [tuple(analysis_tokens(s)) for s in spellings]
        kept = tuple(dict.fromkeys(w for w in words if w and not any(x in STOP_WORDS for x in w)))
        # a spelling that extends another of its set (تنظيم الدولة الإسلامية after تنظيم الدولة)
        # is left out: the multiplexer after the synonym graph keeps only the longest of two
        # paths that share a start, so تنظيم الدولة would be lost (measured on OpenSearch 2.19);
        # a document with the longer spelling holds the shorter one anyway
        kept = tuple(w for w in kept if not any(o != w and w[:len(o)] == o for o in kept))
        if len(kept) > 1:
            sets.append(kept)
    return tuple(sets)


def name_alternatives(words: list[str] | tuple[str, ...]) -> list[tuple[str, ...]]:
    """The word sequences a query's words stand for at search time: the words themselves when
    no name occurs in them, else one sequence per combination of the spellings of the names in
    them (longest match first from the left, as Lucene's ``SynonymGraphFilter``; at most
    :data:`MAX_ALTERNATIVES`).  ``("قال", "نتنياهو")`` → ``[("قال", "نتنياهو"), ("قال",
    "نتانياهو"), ("قال", "بنيامين", "نتنياهو"), …]``."""
    table = name_synonyms()
    if not any(w in table for w in words):
        return [tuple(words)]
    parts: list[tuple[tuple[str, ...], ...]] = []
    i = 0
    while i < len(words):
        found = next((e for e in table.get(words[i], ()) if tuple(words[i:i + len(e[0])]) == e[0]), None)
        if found is None:
            parts.append(((words[i],),))
            i += 1
        else:
            parts.append(found[1])
            i += len(found[0])
    out = []
    for combo in product(*parts):
        out.append(tuple(w for part in combo for w in part))
        if len(out) >= MAX_ALTERNATIVES:
            break
    return out


_ANALYSES = {"stemmed": stemmed_terms, "exact": exact_terms}
_WORD = re.compile(r"\w+(?:(?:[\u200c\u200d]+|[.'\u2019](?=\w))\w+)*")


def analysis_tokens(text: str) -> list[str]:
    """The words of ``text`` as the index's tokenizer sees them after the char filter (see
    the module docstring): ``"هسته‌ای U.S. 3.5"`` → ``['هسته\u200cاي', 'u.s', '3.5']``.
    Query texts (short) are analysed once per process (a rule's leaves are asked again for
    every document)."""
    if len(text) <= 200:
        return list(_short_tokens(text))
    return _WORD.findall(normalize(text).lower())


@lru_cache(maxsize=65536)
def _short_tokens(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(normalize(text).lower()))


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


@lru_cache(maxsize=65536)
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


@lru_cache(maxsize=16384)
def _plan(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """A leaf's words and the word sequences it stands for (:func:`name_alternatives`)."""
    words = tuple(analysis_tokens(text))
    return words, tuple(name_alternatives(words))


class Document:
    """The searchable form of some fields (e.g. title and text): per field and analysis, the
    terms at each position; per analysis, every term of any field and where it occurs (an
    inverted index built in one pass, so a term costs one lookup and a phrase a few, whatever
    the document's length)."""

    def __init__(self, *fields: str | None):
        self.fields = [analysis_tokens(f) for f in fields if f]
        self.positions = {a: [[fn(w) for w in words] for words in self.fields] for a, fn in _ANALYSES.items()}
        self.where: dict[str, dict[str, list[tuple[int, int]]]] = {}
        for a, fields_ in self.positions.items():
            where: dict[str, list[tuple[int, int]]] = {}
            for f, field in enumerate(fields_):
                for i, terms in enumerate(field):
                    for t in terms:
                        where.setdefault(t, []).append((f, i))
            self.where[a] = where
        self.terms = {a: self.where[a].keys() for a in _ANALYSES}
        self._sorted_exact: list[str] | None = None

    def _phrase(self, words, analysis: str) -> bool:
        query = _positions(list(words), analysis)
        if query is None:
            return False
        where, fields = self.where[analysis], self.positions[analysis]
        starts = {fi for t in query[0] for fi in where.get(t, ())}
        n = len(query)
        for f, i in starts:
            field = fields[f]
            if i + n <= len(field) and all(not q or (field[i + j] & q) for j, q in enumerate(query)):
                return True
        return False

    def _has_prefix(self, prefix: str) -> bool:
        from bisect import bisect_left

        if self._sorted_exact is None:
            self._sorted_exact = sorted(self.terms["exact"])
        i = bisect_left(self._sorted_exact, prefix)
        return i < len(self._sorted_exact) and self._sorted_exact[i].startswith(prefix)

    def _term(self, word: str, analyses) -> bool:
        for a in analyses:
            where = self.where[a]
            if any(t in where for t in _ANALYSES[a](word)):  # hash lookups, not a scan of the document
                return True
        return False

    def _split_term(self, words, analyses) -> bool:
        # a term the tokenizer splits: every part (that is not a stop word) in one field
        for a in analyses:
            parts = [_ANALYSES[a](w) for w in words if _ANALYSES[a](w)]
            if not parts:
                continue
            fields = [set().union(*(self.where[a].get(t, ()) for t in p)) for p in parts]
            common = set.intersection(*({f for f, _ in hits} for hits in fields))
            if common:
                return True
        return False

    def _leaf(self, node, exact_only: bool) -> bool:
        analyses = _analyses(exact_only)
        if isinstance(node, Term) and node.prefix:
            words = analysis_tokens(node.text)
            return any(self._has_prefix(p) for p in exact_terms(words[0]))
        words, alternatives = _plan(node.text)
        for alt in alternatives:
            if isinstance(node, Phrase) or (alt != words and len(alt) > 1):
                if any(self._phrase(alt, a) for a in analyses):  # a phrase, or a name's spelling
                    return True
            elif len(alt) == 1:
                if self._term(alt[0], analyses):
                    return True
            elif self._split_term(alt, analyses):
                return True
        return False

    def matches(self, rule: Rule | str) -> bool:
        """Whether ``rule`` (a :class:`Rule` or query text) matches this document."""
        if isinstance(rule, str):
            rule = parse_rule(rule)
        exact_only = rule.exact_only
        keys = rule_keys(rule)
        if keys is not None and not any(t in self.where[a] for a, t in keys):
            return False  # none of its words here, and it needs one: no evaluation
        return matches(rule.group, lambda n: self._leaf(n, exact_only), lambda n: is_null(n, exact_only))


@lru_cache(maxsize=16384)
def rule_keys(rule: Rule) -> frozenset[tuple[str, str]] | None:
    """The terms one of which a document must hold for ``rule`` to match it, as ``(analysis,
    term)``: every analysed form of every word of every leaf (a name's other spellings
    included), built once per rule — or ``None`` when the rule can match without any (``NOT x``
    alone) or has a prefix term.  What lets :meth:`Document.matches` skip most rules of a
    taxonomy with a few hash lookups (a superset: never changes a result)."""
    if matches(rule.group, lambda n: False, lambda n: is_null(n, rule.exact_only)):
        return None
    keys = set()
    for leaf in leaves(rule.group):
        if not isinstance(leaf, (Term, Phrase)) or (isinstance(leaf, Term) and leaf.prefix):
            return None
        for alt in _plan(leaf.text)[1]:
            for w in alt:
                for a in _analyses(rule.exact_only):
                    keys.update((a, t) for t in _ANALYSES[a](w))
    return frozenset(keys)


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
    if not (isinstance(a, Term) and a.prefix) and not (isinstance(b, Term) and b.prefix):
        if set(_plan(a.text)[1]) & set(_plan(b.text)[1]) - {()}:
            return True  # spellings of one name (داعش / "تنظيم الدولة"), or the same words
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
