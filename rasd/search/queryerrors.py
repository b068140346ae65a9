"""Why a query in the search syntax was refused, in plain words (never Lucene's Java text).

The engine's parser (Lucene's classic ``query_string``) answers a bad query with text such as
``QueryShardException[Failed to parse query [...]]; nested: ParseException[Cannot parse '...':
Encountered "<EOF>" at line 1, column 20. Was expecting one of: <AND> ... ]``.  Users need to
know *what* is wrong and *where*; :func:`explain` looks at the query itself first (unbalanced
quotes or parentheses, an operator with nothing on one side, a field with no value, a range
left open), then reads only the column out of the engine's text.

A :class:`QueryProblem` has a ``code`` (stable, for translations: the web app shows Arabic),
``position`` (0-based character index or ``None``) and ``message`` (one English sentence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rasd.core.errors import RasdError

_OPERATORS = ("AND", "OR", "NOT")
_COLUMN = re.compile(r"(?:Encountered .*? at line \d+, column (\d+))|(?:Lexical error at line \d+, column (\d+))")
#: what the engine's message may hold that marks it as a parse failure
_PARSE_MARKERS = ("ParseException", "Failed to parse query", "TokenMgrError", "Cannot parse")
#: … and that it parsed the query but could not build it
_BUILD_MARKERS = ("failed to create query", "Determinizing", "too_complex_to_determinize",
                  "maxClauseCount", "too_many_clauses", "too_many_nested_clauses")


@dataclass(frozen=True)
class QueryProblem:
    """What is wrong with a query: see the module docstring."""

    code: str
    message: str
    position: int | None = None


class QuerySyntaxError(RasdError):
    """The engine cannot read the query; ``problem`` says why (``str()`` is its message)."""

    def __init__(self, problem: QueryProblem):
        super().__init__(problem.message)
        self.problem = problem


def _near(query: str, pos: int | None) -> str:
    if pos is None:
        return ""
    pos = max(0, min(pos, len(query)))
    if pos >= len(query.rstrip()):
        return " (at the end of the query)"
    start = query.rfind(" ", 0, pos) + 1
    end = query.find(" ", pos)
    word = query[start:end if end != -1 else len(query)]
    return f" (near «{word}», character {pos + 1})"


def local_problem(query: str) -> QueryProblem | None:
    """A problem :func:`explain` can name from the query alone, or ``None``."""
    text = query
    # quotes first: inside a phrase nothing else counts
    quotes = [m.start() for m in re.finditer(r'(?<!\\)"', text)]
    if len(quotes) % 2:
        return QueryProblem("unclosed_quote", "a phrase is not closed: a quotation mark \" has no partner"
                            + _near(query, quotes[-1]), quotes[-1])
    bare = re.sub(r'"[^"]*"', lambda m: " " * len(m.group()), text)
    depth, opened = 0, []
    for i, ch in enumerate(bare):
        if ch == "(":
            depth += 1
            opened.append(i)
        elif ch == ")":
            if depth == 0:
                return QueryProblem("unopened_parenthesis",
                                    "a closing parenthesis ) has no opening one" + _near(query, i), i)
            depth -= 1
            start = opened.pop()
            if not bare[start + 1:i].strip():
                return QueryProblem("empty_group", "a pair of parentheses has nothing inside"
                                    + _near(query, start), start)
    if depth:
        return QueryProblem("unclosed_parenthesis", "an opening parenthesis ( is not closed"
                            + _near(query, opened[-1]), opened[-1])
    tokens = [(m.group(), m.start()) for m in re.finditer(r"\(|\)|[^\s()]+", bare)]
    prev = None
    for n, (tok, pos) in enumerate(tokens):
        nxt = tokens[n + 1][0] if n + 1 < len(tokens) else None
        if tok in ("AND", "OR"):
            if prev is None or prev in ("AND", "OR", "NOT", "("):
                return QueryProblem("operator_without_left", f"{tok} needs a word before it"
                                    + _near(query, pos), pos)
            if nxt is None or nxt in ("AND", "OR", ")"):
                return QueryProblem("operator_without_right", f"{tok} needs a word after it"
                                    + _near(query, pos), pos)
        if tok == "NOT" and (nxt is None or nxt in ("AND", "OR", ")")):
            return QueryProblem("operator_without_right", "NOT needs a word after it" + _near(query, pos), pos)
        if re.fullmatch(r"[\w.]+:", tok) and (nxt is None or nxt in ("AND", "OR", ")")):
            return QueryProblem("field_without_value", f"the field {tok[:-1]} has no value after the colon"
                                + _near(query, pos), pos)
        if tok.startswith(("[", "{")) or re.match(r"[\w.]+:[\[{]", tok):
            rest = bare[pos:]
            if not re.search(r"[\]}]", rest):
                return QueryProblem("open_range", "a range [from TO to] is not closed with ] or }"
                                    + _near(query, pos), pos)
        prev = tok
    return None


def explain(query: str, engine_reason: str = "") -> QueryProblem:
    """The plain-words :class:`QueryProblem` of a ``query`` the engine refused with
    ``engine_reason`` (its error text, any length; only a column number is taken from it)."""
    found = local_problem(query)
    if found is not None:
        return found
    m = _COLUMN.search(engine_reason or "")
    pos = int(m.group(1) or m.group(2)) if m else None
    if pos is not None and m.group(2):
        pos -= 1  # lexical errors count columns from 1
    reason = engine_reason or ""
    if "Determinizing" in reason or "too_complex_to_determinize" in reason:
        return QueryProblem("regex_too_complex", "a regular expression /…/ in the query is too complex for "
                            "the search engine (a large repeat such as {99999}); make it simpler"
                            + _near(query, query.find("/") if "/" in query else None),
                            query.find("/") if "/" in query else None)
    if "maxClauseCount" in reason or "too_many" in reason:
        return QueryProblem("too_many_terms", "the query matches too many different words (a short prefix "
                            "such as a* or a broad regular expression); make it more specific", None)
    if "/" in query and re.search(r"(?<!\\)/", query):
        return QueryProblem("slash", "a / starts a regular expression; write \\/ for a slash, or put "
                            "the words in quotes" + _near(query, query.find("/")), query.find("/"))
    if "~" in query or "^" in query:
        return QueryProblem("bad_modifier", "~ (fuzzy) or ^ (boost) must follow a word and a number, "
                            "as in word~1 or word^2" + _near(query, pos), pos)
    return QueryProblem("unreadable", "the search engine cannot read this query" + _near(query, pos)
                        + "; check AND / OR / NOT, quotes and parentheses", pos)


def is_parse_failure(engine_reason: str) -> bool:
    """Whether an engine error text is a query the engine could not read or build (a parse
    failure, a regular expression it cannot compile or that is too complex, too many expanded
    terms) — not a connection, index or mapping error."""
    return any(marker in (engine_reason or "") for marker in (*_PARSE_MARKERS, *_BUILD_MARKERS))
