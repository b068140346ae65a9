"""The query syntax of ``rasd search``, alerts and topic rules, parsed once, as the engine does.

Searches, alerts and topic rules are Lucene ``query_string`` queries (``default_operator:
AND``, :func:`rasd.search.articles.build_query`), which Elasticsearch and OpenSearch parse with
Lucene's *classic* query parser.  Rasd reads the same text here, for what it does without the
engine: the local topic matcher (:mod:`rasd.core.rules`), the alerts' candidate pre-filter and
pre-analysed stored queries (:mod:`rasd.alerts.model`), and the choice of fields for a wildcard
query.  One parser, so these readings cannot disagree with each other or with the percolator.

Syntax (luqum, https://github.com/jurismarches/luqum, reads it): terms, ``"phrases"``,
``AND``/``OR``/``NOT`` (upper case; lower-case ``and`` is a word, as in Lucene), ``+``/``-``
prefixes, parentheses, juxtaposition, and — kept as :class:`Other`, for the engine only —
``field:value``, wildcards other than one trailing ``*``, ``~`` fuzziness/proximity, ``^``
boosts, ranges and regular expressions.

Precedence: the classic parser has none.  A group is a flat list of clauses, and each clause's
occurrence (``must``/``should``/``must_not``) is set by the conjunctions next to it
(``QueryParserBase.addClause`` with the AND default operator, :func:`occurs`): a clause after
``AND`` makes itself and the clause before it required, one after ``OR`` makes itself and the
clause before it optional (a ``+`` after ``OR`` too), a juxtaposed clause is required and
``NOT``/``-`` prohibits (a prohibited clause stays prohibited).  So ``a OR b AND c`` is ``a +b +c`` — it matches what ``b AND c`` matches (``a``
only scores) — and ``a AND b OR c`` is ``+a b c``, i.e. ``a``.  luqum parses with boolean
precedence (``a OR (b AND c)``) but keeps the operands in order, so the operator before each
operand, and with it Lucene's reading, is recovered from its tree (:func:`parse_query`).
Measured on OpenSearch 2.19 with ``_validate/query?explain`` (tests/search/test_query_syntax.py):
``a OR b AND c`` → ``a +b +c``; ``NOT a`` → ``-a #*:*``; ``aa OR في AND bb`` → ``+aa +bb`` (a
term the analyzer removes, a stop word, adds no clause, but its conjunction still acts).

Matching (:func:`matches`), Lucene's ``BooleanQuery``: every ``must`` clause and no
``must_not`` clause, and when there is no ``must`` clause at least one ``should`` clause; a group
of ``must_not`` clauses only matches everything else (Elasticsearch adds ``match_all``); a
group whose clauses are all empty (stop words) is itself empty: it adds no clause, and a whole
query that is empty matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Union

from rasd.core.errors import RasdError

Occur = Literal["must", "should", "must_not"]


class QueryError(RasdError, ValueError):
    """A query the parser refuses (or a rule the local matcher cannot run); the message is the
    reason."""


@dataclass(frozen=True, slots=True)
class Term:
    """An unquoted term, unescaped (``\\:`` → ``:``); ``prefix``: it ends with one ``*``, the
    only wildcard (``وزي*``), and ``text`` is without it."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Phrase:
    """A ``"quoted phrase"``: ``text`` between the quotes, unescaped."""

    text: str


@dataclass(frozen=True, slots=True)
class Other:
    """What the engine runs but Rasd does not evaluate: ``kind`` is ``field``, ``wildcard``,
    ``fuzzy``, ``boost``, ``range``, ``regex`` or ``operator`` (``&&``, ``||``, ``!``);
    ``text`` as written."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause of a group: the conjunction before it (``"and"``, ``"or"`` or ``None`` for
    the first clause and juxtaposition), its modifier (``"+"``, ``"-"`` for ``-`` and ``NOT``,
    or ``None``), its node and its text as written."""

    conj: str | None
    modifier: str | None
    node: "Node"
    text: str


@dataclass(frozen=True, slots=True)
class Group:
    """A query or a parenthesised group: its clauses in order."""

    clauses: tuple[Clause, ...]


Node = Union[Term, Phrase, Other, Group]

_ESCAPED = re.compile(r"\\(.)", re.S)
_WILDCARD = re.compile(r"(?<!\\)[*?]")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def has_wildcard(text: str) -> bool:
    """Whether ``text`` has an unescaped ``*`` or ``?`` outside quotes (such a query searches
    the unstemmed ``exact`` fields only: a stemmed prefix is no prefix)."""
    return bool(_WILDCARD.search(_QUOTED.sub("", text)))


def _unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def _leaf(node) -> Node:
    from luqum import tree as t

    if isinstance(node, t.Group):
        return _group(node.expr)
    if isinstance(node, t.Phrase):
        return Phrase(_unescape(node.value[1:-1]))
    if isinstance(node, t.Word):
        raw = node.value
        if raw in ("&&", "||") or raw.startswith("!"):
            return Other("operator", raw)
        wild = [m.start() for m in _WILDCARD.finditer(raw)]
        if not wild:
            return Term(_unescape(raw))
        if wild == [len(raw) - 1] and raw.endswith("*") and len(raw) > 1:
            return Term(_unescape(raw[:-1]), prefix=True)
        return Other("wildcard", raw)
    kinds = {t.SearchField: "field", t.Fuzzy: "fuzzy", t.Proximity: "fuzzy", t.Boost: "boost",
             t.Range: "range", t.From: "range", t.To: "range", t.Regex: "regex"}
    for cls, kind in kinds.items():
        if isinstance(node, cls):
            return Other(kind, str(node).strip())
    raise QueryError(f"{str(node).strip()!r}: not a query")


def _group(node) -> Group:
    from luqum import tree as t

    operands: list[tuple[str | None, object]] = []

    def flatten(n, conj: str | None) -> None:
        op = {t.AndOperation: "and", t.OrOperation: "or", t.UnknownOperation: None}.get(type(n), "leaf")
        if op == "leaf":
            operands.append((conj, n))
            return
        for i, child in enumerate(n.children):
            flatten(child, conj if i == 0 else op)

    flatten(node, None)
    clauses = []
    for conj, operand in operands:
        modifier, inner = None, operand
        if isinstance(operand, (t.Not, t.Prohibit, t.Plus)):
            modifier, inner = ("+" if isinstance(operand, t.Plus) else "-"), operand.a
            if isinstance(inner, (t.Not, t.Prohibit, t.Plus)):
                raise QueryError(f"{str(operand).strip()!r}: one NOT, + or - per clause")
        clauses.append(Clause(conj, modifier, _leaf(inner), str(operand).strip()))
    return Group(tuple(clauses))


_SEGMENT = re.compile(r'"(?:[^"\\]|\\.)*"|\\.|(?<!\S)&&(?!\S)|(?<!\S)\|\|(?!\S)|!|[^"\\!&|]+|.', re.S)


def _spell_operators(text: str) -> str:
    """Lucene's other spellings of the operators, ``&&``, ``||`` and ``!``, as luqum reads
    them (``AND``, ``OR``, ``NOT``); quoted and escaped text is left alone."""
    out = []
    for m in _SEGMENT.finditer(text):
        tok = m.group()
        out.append({"&&": " AND ", "||": " OR ", "!": " NOT "}.get(tok, tok))
    return "".join(out)


def _check_balance(text: str) -> None:
    depth, quoted, escaped = 0, False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
            if depth < 0:
                raise QueryError("unbalanced parenthesis: a ) without its (")
    if quoted:
        raise QueryError("unbalanced quote")
    if depth:
        raise QueryError("unbalanced parenthesis: missing )")


@lru_cache(maxsize=4096)
def parse_query(text: str) -> Group:
    """``text`` as a :class:`Group` of clauses (see the module docstring).

    Raises:
        QueryError: empty, or a syntax error (unbalanced parentheses or quotes, an operator at
            either end, ``NOT NOT``…), with luqum's reason.
    """
    from luqum.exceptions import ParseError
    from luqum.thread import parse

    if not text.strip():
        raise QueryError("empty query")
    _check_balance(text)
    try:
        tree = parse(_spell_operators(text))
    except ParseError as exc:
        reason = str(exc).replace("Syntax error in input : ", "")
        if "unexpected end of expression" in reason:  # parentheses were checked above
            reason = "the query ends where a term was expected"
        raise QueryError(reason) from None
    except Exception as exc:  # luqum's lexer raises plain errors for some bytes
        raise QueryError(f"cannot parse: {exc}") from None
    return _group(tree)


def occurs(group: Group, is_null: Callable[[Node], bool] = lambda node: False) -> list[tuple[Occur, Node]]:
    """The group's clauses as Lucene's classic parser adds them (default operator AND):
    ``[(occur, node)]`` in order, without the clauses whose node ``is_null`` (a term the
    analyzer removes entirely; their conjunction still changes the clause before them)."""
    out: list[list] = []
    for clause in group.clauses:
        if out and clause.conj == "and" and out[-1][0] != "must_not":
            out[-1][0] = "must"
        if out and clause.conj == "or" and out[-1][0] != "must_not":
            out[-1][0] = "should"
        if is_null(clause.node):
            continue
        if clause.modifier == "-":
            occur = "must_not"
        else:  # with the AND default a clause after OR is optional, + or not (as Lucene's)
            occur = "should" if clause.conj == "or" else "must"
        out.append([occur, clause.node])
    return [(occur, node) for occur, node in out]


def group_is_null(group: Group, is_null: Callable[[Node], bool]) -> bool:
    """Whether every clause of ``group`` is null (the group adds no clause to its parent)."""
    return not occurs(group, is_null)


def matches(group: Group, leaf: Callable[[Node], bool], is_null: Callable[[Node], bool]) -> bool:
    """Whether a document matches ``group``: ``leaf(node)`` says whether it matches a term,
    phrase or other leaf, ``is_null(leaf)`` whether that leaf is empty after analysis (see the
    module docstring for the boolean rules)."""

    def null(node: Node) -> bool:
        return group_is_null(node, null) if isinstance(node, Group) else is_null(node)

    def match(node: Node) -> bool:
        if not isinstance(node, Group):
            return leaf(node)
        clauses = occurs(node, null)
        if any(match(n) for o, n in clauses if o == "must_not"):
            return False
        must = [n for o, n in clauses if o == "must"]
        if must:
            return all(match(n) for n in must)
        should = [n for o, n in clauses if o == "should"]
        return any(match(n) for n in should) if should else True

    return not null(group) and match(group)


def leaves(node: Node):
    """Every leaf (:class:`Term`, :class:`Phrase`, :class:`Other`) of ``node``, in order."""
    if isinstance(node, Group):
        for clause in node.clauses:
            yield from leaves(clause.node)
    else:
        yield node
