"""Generate realistic replay recordings: many Arabic news pages over many outlets.

The shared corpus (``../shared/corpus``) holds about twenty replayable Arabic article pages.
Fault, scale-out and scheduler tests and the benchmarks need more: hundreds of pages over a
dozen outlets, stories syndicated between outlets, an outlet that keeps publishing.
:func:`make_recording` writes such a recording in the layout ``rasd crawl --replay DIR``
reads (``MANIFEST.tsv`` + the files it names, see :mod:`rasd.replay.server`), plus its ground truth
(``expected.json``), and returns the same ground truth as a :class:`RecordingInfo`::

    info = make_recording(tmp / "rec", outlets=8, pages_per_outlet=20, syndicated_stories=10)
    # rasd crawl --replay tmp/rec --data-dir tmp/data

    python -m rasd.replay.recording OUT --outlets 12 --pages 50 --stories 20 --seed 3

**Text.**  Only real Arabic text from the corpus is used: the paragraphs of the Arabic
article pages, the ground-truth ``.txt`` files beside them, the seed story, and the BBC
Arabic simorgh JSON files (article blocks, front-page and most-read headlines and summaries).
Persian and Urdu are left out.  That is about 800 clauses, 10,000 words, and 600 pages need
about 200,000, so text must be reused; reusing whole paragraphs would make unrelated articles look
like near-duplicates to the stories stage (4-word shingles, Jaccard threshold 0.5).  So:

* paragraphs are cut into *clauses* (at ``.``, ``؟``, ``!``, ``،``, ``؛``; at least
  :data:`MIN_CLAUSE_WORDS` words) and articles are composed of clauses joined into sentences
  (``، `` within a sentence, ``.`` at its end) and paragraphs;
* clauses are chosen least-used first, and a clause is not taken when the article would then
  share more than 5 % of its words (at least 14) in reused clauses with any one earlier
  article (unless every candidate would; then the one exceeding least).  Shingles shared by
  two unrelated articles come only from such clauses, so their Jaccard similarity stays a few
  hundredths: the most similar unrelated pair measured 0.05–0.07 over 160 pages, 0.07–0.09
  over 600 and over 1,600 (seeds 0–2; :func:`similarity_report`, asserted < 0.12 in
  ``tests/rasd/test_recording.py``), against the stories stage's 0.5;
* per article, place names (countries and cities of ``config/entities.yaml``) are swapped
  consistently for others and numbers are redrawn, so reused clauses differ further;
* headlines are real ones (with their summary as the lead sentence) while they last, then
  the article's own lead clause; every title is unique in the recording.

**Syndicated stories.**  ``syndicated_stories`` stories are each published by 2–3 outlets:
the first publisher's page, then copies on other outlets, later, with another title wording and
one or two of: a wire credit closing the text («(أ ف ب)»), an "اقرأ أيضا" line, a changed
sentence, the last paragraph dropped.  Every copy keeps a 4-shingle Jaccard ≥
:data:`MIN_COPY_JACCARD` with its original (checked while generating).

**Pages** are whole news-site pages (``<html lang="ar" dir="rtl">``, title with the site name,
``og:`` and ``article:published_time`` meta tags, header and nav, an ``<article>`` with
``<h1>``, byline, visible date and 4–10 paragraphs, a "most read" sidebar, a footer) in one of
three site layouts, dated over the last ``days`` days before ``now``.

**Growth.**  :func:`publish` adds new pages to an outlet of a recording (on disk, and on a
running :class:`~rasd.replay.server.ReplaySite`, refreshing that outlet's feed and sitemaps);
:func:`load_recording_info` reopens a recording written earlier (it regenerates the text
state from the stored parameters and publish log, so later pages stay distinct).

Everything is deterministic for a given ``seed``, ``now`` and corpus (``expected.json``
records a digest of the text pool); 600 pages take about a second, writing included.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import itertools
import json
import os
import random
import re
import sys
import time
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import quote

import lxml.html
import yaml

from rasd.core.yamlio import safe_load

from rasd.core.errors import ConfigError
from rasd.core.paths import CONFIG_DIR, PROJECT_ROOT

#: Version of the generator; stored in ``expected.json`` (a recording reopened by another
#: version is refused rather than silently continued with different text).
GENERATOR_VERSION = 1
#: Name of the ground-truth file written into the recording.
EXPECTED_FILE = "expected.json"
#: Fewest words of a clause (shorter pieces are merged with their neighbour).
MIN_CLAUSE_WORDS = 4
#: Lowest 4-shingle Jaccard similarity between a planted copy and its original.
MIN_COPY_JACCARD = 0.7

_ARABIC = re.compile(r"[\u0600-\u06ff]")
_LETTER = re.compile(r"[^\W\d_]")
_TAG = re.compile(r"<[^>]+>")
_CLAUSE_SEP = re.compile(r"\s*[،؛;]\s*|(?<=[^\d])[.!؟?]+(?:\s+|$)")
_DIGITS = re.compile(r"[0-9\u0660-\u0669]+")
_TRAIL = re.compile(r"[\s.!؟?،؛:;,\-–—]+$")
_LEAD = re.compile(r"^[\s.!؟?،؛:;,\-–—]+")
#: Lines that are site furniture, not article text (looked for in corpus paragraphs).
_FURNITURE = re.compile(
    r"©|حقوق|http|www\.|@|تابع|تابعونا|انضم|اشترك|اضغط|حمّل|حمل تطبيق|للمزيد|اقرأ|إقرأ|شارك|"
    r"الأكثر قراءة|التعليقات|تعليق|إعلان|مصدر الصورة|Getty|reuters|afp", re.I)


# --------------------------------------------------------------------------------------------
# The corpus text


def find_corpus() -> Path:
    """The shared corpus directory: ``$RASD_CORPUS_DIR``, else the first ``shared/corpus``
    beside the checkout or one of its parents (``/work/main`` and ``/work/wt/<name>`` both
    find ``/work/shared/corpus``), else the subset in ``tests/fixtures/corpus``.

    Raises:
        ConfigError: none of these has a ``MANIFEST.tsv``.
    """
    env = os.environ.get("RASD_CORPUS_DIR")
    candidates = [Path(env)] if env else []
    candidates += [p / "shared" / "corpus" for p in PROJECT_ROOT.resolve().parents]
    candidates.append(PROJECT_ROOT / "tests" / "fixtures" / "corpus")
    for path in candidates:
        if (path / "MANIFEST.tsv").is_file():
            return path
    raise ConfigError("no corpus found (set RASD_CORPUS_DIR to a directory with MANIFEST.tsv)")


def _arabic_share(text: str) -> float:
    letters = _LETTER.findall(text)
    return sum(1 for c in letters if _ARABIC.match(c)) / len(letters) if letters else 0.0


def _is_arabic_text(line: str, min_chars: int = 30) -> bool:
    return len(line) >= min_chars and _arabic_share(line) >= 0.9 and not _FURNITURE.search(line)


#: WordPress shortcodes ("[ads3]") and Latin credits in parentheses ("(EURONEWS)") in the
#: corpus text: aggregator leftovers, not text to reuse.
_LEFTOVERS = re.compile(r"\[/?[a-z][a-z0-9_-]*[^\[\]]*\]|\(\s*[A-Za-z][A-Za-z .\-]*\)")

#: A short parenthesised credit closing a paragraph ("…إيجابية.--(بترا)").
_END_CREDIT = re.compile(r"[\s\-–—]*[(（][^()（）]{1,25}[)）][\s.]*$")


def _norm(text: str) -> str:
    """Text as read: HTML entities decoded (some ``.txt`` files keep ``&quot;``), leftovers
    removed, directional marks and runs of white space made single spaces."""
    text = _END_CREDIT.sub("", _LEFTOVERS.sub(" ", html.unescape(text)))
    return " ".join(text.replace("\u200f", " ").replace("\u200e", " ").split())


def _simorgh_strings(node, keys: tuple[str, ...]) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from _simorgh_strings(value, keys)
    elif isinstance(node, list):
        for value in node:
            yield from _simorgh_strings(value, keys)


def _promos(node) -> Iterable[tuple[str, str | None]]:
    """(headline, summary) pairs of a simorgh front-page or most-read JSON."""
    if isinstance(node, dict):
        head = node.get("headline")
        if not isinstance(head, str) and isinstance(node.get("headlines"), dict):
            head = node["headlines"].get("headline")
        if isinstance(head, str):
            summary = node.get("summary")
            yield head, summary if isinstance(summary, str) else None
        for value in node.values():
            yield from _promos(value)
    elif isinstance(node, list):
        for value in node:
            yield from _promos(value)


def _split_clauses(paragraph: str) -> list[str]:
    """Clauses of a paragraph: pieces between sentence and clause punctuation, without it,
    each of at least :data:`MIN_CLAUSE_WORDS` words (short pieces join the next one)."""
    pieces = [p.strip() for p in _CLAUSE_SEP.split(paragraph) if p and p.strip()]
    out: list[str] = []
    carry = ""
    for piece in pieces:
        # no clause ends in a parenthesis: closing an article, "(بريكست)" would read as a credit
        piece = _LEAD.sub("", _TRAIL.sub("", _END_CREDIT.sub("", piece)))
        if not piece:
            continue
        piece = (carry + "، " + piece) if carry else piece
        if len(piece.split()) < MIN_CLAUSE_WORDS:
            carry = piece
            continue
        carry = ""
        out.append(_balance_quotes(piece))
    if carry and out:
        out[-1] = out[-1] + "، " + _balance_quotes(carry)
    return [c for c in out if len(c.split()) >= MIN_CLAUSE_WORDS and _ARABIC.search(c)]


def _balance_quotes(text: str) -> str:
    """Drop quote marks that a clause cut left unpaired."""
    for mark in ('"',):
        if text.count(mark) % 2:
            text = text.replace(mark, "")
    if text.count("«") != text.count("»"):
        text = text.replace("«", "").replace("»", "")
    if text.count("“") != text.count("”"):
        text = text.replace("“", "").replace("”", "")
    if text.count("(") != text.count(")"):
        text = text.replace("(", "").replace(")", "")
    return " ".join(text.split())


@dataclass(frozen=True)
class TextPool:
    """Real Arabic text of the corpus, cut for composition.

    * ``clauses``: unique clauses (no final punctuation), with ``clause_words`` their word
      counts and ``clause_source`` the index in ``sources`` of the file they come from;
    * ``headlines``: unique real ``(headline, summary or None)`` pairs;
    * ``digest``: BLAKE2b of all of it (a recording records it: regenerating with another
      corpus would give other text).
    """

    corpus: Path
    sources: tuple[str, ...]
    clauses: tuple[str, ...]
    clause_source: tuple[int, ...]
    clause_words: tuple[int, ...]
    headlines: tuple[tuple[str, str | None], ...]
    digest: str

    @property
    def words(self) -> int:
        return sum(self.clause_words)


def _corpus_texts(corpus: Path) -> tuple[list[tuple[str, list[str]]], list[tuple[str, str | None]]]:
    """(source file, paragraphs) of every Arabic text in the corpus, and real headlines."""
    texts: list[tuple[str, list[str]]] = []
    headlines: list[tuple[str, str | None]] = []
    manifest = corpus / "MANIFEST.tsv"
    with manifest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in rows:
        rel, kind, lang = row.get("file", ""), row.get("kind", ""), row.get("language", "")
        path = corpus / rel
        if lang != "ar" or not path.is_file():
            continue
        if kind == "article" and rel.endswith((".html", ".htm")):
            try:
                doc = lxml.html.fromstring(path.read_bytes())
            except (ValueError, lxml.etree.ParserError):
                continue
            for bad in doc.xpath("//script|//style|//nav|//footer|//aside"):
                bad.drop_tree()
            paras = [_norm(p.text_content()) for p in doc.iter("p")]
            texts.append((rel, paras))
            heads = [_norm(h.text_content()) for h in doc.iter("h1")]
            headlines += [(h, None) for h in heads[:1]]
        elif rel.endswith(".txt") and kind in ("text", "other"):
            raw = path.read_text(encoding="utf-8", errors="replace")
            title = re.search(r"<TITLE>(.*?)</TITLE>", raw, re.S)
            abstract = re.search(r"<ABSTRACT>(.*?)</ABSTRACT>", raw, re.S)
            if title:
                headlines.append((_norm(title.group(1)), _norm(abstract.group(1)) if abstract else None))
            body = re.search(r"<TEXT>(.*?)</TEXT>", raw, re.S)
            lines = (body.group(1) if body else raw).splitlines()
            texts.append((rel, [_norm(_TAG.sub(" ", line)) for line in lines]))
        elif rel.endswith(".json") and kind in ("article", "listing"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeError):
                continue
            if kind == "article":
                blocks = list(dict.fromkeys(_norm(s) for s in _simorgh_strings(data, ("text",))))
                texts.append((rel, blocks))
            else:
                pairs = [(_norm(h), _norm(s) if s else None) for h, s in _promos(data)]
                headlines += pairs
                texts.append((rel, [s for _, s in pairs if s]))
    seed = corpus / "seed" / "seed-article.txt"
    if seed.is_file() and not any(rel == "seed/seed-article.txt" for rel, _ in texts):
        texts.append(("seed/seed-article.txt", seed.read_text(encoding="utf-8").splitlines()[1:]))
    return texts, headlines


@lru_cache(maxsize=4)
def load_text_pool(corpus: Path | None = None) -> TextPool:
    """The :class:`TextPool` of ``corpus`` (default :func:`find_corpus`); cached per path.

    Raises:
        ConfigError: no corpus, or fewer than 200 usable clauses in it.
    """
    corpus = (corpus or find_corpus()).resolve()
    if not (corpus / "MANIFEST.tsv").is_file():
        raise ConfigError(f"{corpus}: no MANIFEST.tsv (not a corpus directory)")
    texts, raw_heads = _corpus_texts(corpus)
    sources: list[str] = []
    clauses: list[str] = []
    clause_source: list[int] = []
    seen: set[str] = set()
    for rel, paragraphs in texts:
        index = len(sources)
        sources.append(rel)
        for paragraph in paragraphs:
            if not _is_arabic_text(paragraph):
                continue
            for clause in (c for whole in _split_clauses(paragraph) for c in _split_long(whole)):
                key = _fold_key(clause)
                if key in seen or _FURNITURE.search(clause):
                    continue
                seen.add(key)
                clauses.append(clause)
                clause_source.append(index)
    heads: list[tuple[str, str | None]] = []
    head_keys: set[str] = set()
    for head, summary in raw_heads:
        head = _LEAD.sub("", _TRAIL.sub("", _balance_quotes(head)))
        key = _fold_key(head)
        if (key in head_keys or not _is_arabic_text(head, 15) or len(head.split()) < 4
                or len(head.split()) > 16):
            continue
        head_keys.add(key)
        if summary and not (_is_arabic_text(summary) and len(summary.split()) >= 6):
            summary = None
        heads.append((head, _balance_quotes(summary) if summary else None))
    if len(clauses) < 200:
        raise ConfigError(f"{corpus}: only {len(clauses)} Arabic clauses found; "
                          "the generator needs the shared corpus (set RASD_CORPUS_DIR)")
    digest = hashlib.blake2b("\n".join(clauses + [h + "\t" + (s or "") for h, s in heads]).encode(),
                             digest_size=12).hexdigest()
    return TextPool(corpus, tuple(sources), tuple(clauses), tuple(clause_source),
                    tuple(len(c.split()) for c in clauses), tuple(heads), digest)


_FOLD_DROP = re.compile(r"[\u064b-\u065f\u0670\u0640]")
_FOLD_MAP = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه", "ى": "ي", "ؤ": "و", "ئ": "ي"})
_PUNCT = re.compile(r"[^\w\s]+")


def _fold_key(text: str) -> str:
    """A cheap comparison key (hamza/alef/ta-marbuta folded, no harakat or punctuation)."""
    return " ".join(_PUNCT.sub(" ", _FOLD_DROP.sub("", text).translate(_FOLD_MAP)).lower().split())


def _split_long(clause: str, limit: int = 28) -> list[str]:
    """A clause of more than ``limit`` words cut near its middle, before a word starting with
    a conjunction (و/ف) when there is one."""
    words = clause.split()
    if len(words) <= limit:
        return [clause]
    mid = len(words) // 2
    cuts = [i for i in range(6, len(words) - 5) if words[i][0] in "وف"]
    cut = min(cuts, key=lambda i: abs(i - mid)) if cuts else mid
    return _split_long(" ".join(words[:cut]), limit) + _split_long(" ".join(words[cut:]), limit)


# --------------------------------------------------------------------------------------------
# Composing article texts


#: Words that make a clause a poor first clause of an article (it continues something).
_NOT_LEAD = re.compile(r"^(?:و|ف|لكن|لكنه|إلا|الا|أما|اما|كما|حيث|بينما|غير|إذ|اذ|ثم|أو|او|أي|اي|التي|الذي|الذين)")


@dataclass
class _Composed:
    """One composed article: paragraphs → sentences → clause ids, its composer index, word
    count and the real headline it uses (index into ``TextPool.headlines``), if any."""

    index: int
    paragraphs: list[list[list[int]]]
    words: int
    headline: int | None = None  # index into TextPool.headlines


class _Overlap:
    """Words an article being composed shares with each earlier article (by index)."""

    __slots__ = ("words", "articles")

    def __init__(self) -> None:
        self.words: dict[int, int] = {}
        self.articles: set[int] = set()

    def add(self, articles: set[int], words: int) -> None:
        for a in articles:
            self.words[a] = self.words.get(a, 0) + words
        self.articles |= articles

    def most(self, articles: set[int]) -> int:
        """The largest overlap with any of ``articles`` (0 if none overlaps yet)."""
        common = articles & self.articles
        return max(map(self.words.__getitem__, common)) if common else 0


class _Composer:
    """Chooses clauses for article after article, keeping unrelated articles apart.

    State: how often each clause was used and by which articles, and which clauses started an
    article (never twice: a lead is also a title candidate).  Deterministic given the order
    of calls and the ``rng`` passed in.
    """

    #: Candidates drawn per clause slot (more: better balance, slower).
    CANDIDATES = 12
    #: Chance that a sentence continues with the clause that follows in the source.
    FOLLOW = 0.6

    def __init__(self, pool: TextPool, cap_ratio: float = 0.05, min_cap_words: int = 14):
        self.pool = pool
        n = len(pool.clauses)
        self.uses = [0] * n
        self.users: list[set[int]] = [set() for _ in range(n)]
        self.leads_used: set[int] = set()
        self.headlines_used: set[int] = set()
        self.cap_ratio, self.min_cap_words = cap_ratio, min_cap_words
        self.count = 0
        by_source: dict[int, list[int]] = {}
        for cid, src in enumerate(pool.clause_source):
            by_source.setdefault(src, []).append(cid)
        self.by_source = [by_source.get(i, []) for i in range(len(pool.sources))]
        self.leadable = [cid for cid, c in enumerate(pool.clauses)
                         if not _NOT_LEAD.match(c) and 5 <= pool.clause_words[cid] <= 24]
        self._clause_ids = {_fold_key(c): i for i, c in enumerate(pool.clauses)}

    def clause_ids(self, text: str) -> list[int]:
        """Pool ids of the clauses of ``text`` (a headline summary), or [] if one is unknown."""
        ids = [self._clause_ids.get(_fold_key(c)) for whole in _split_clauses(text)
               for c in _split_long(whole)]
        return [] if not ids or None in ids else ids  # type: ignore[return-value]

    def compose(self, rng: random.Random, paragraphs: int) -> _Composed:
        """A new article of ``paragraphs`` paragraphs (1–3 sentences of 1–3 clauses each,
        25–70 words a paragraph), recorded in the state."""
        index = self.count
        self.count += 1
        pool = self.pool
        theme = rng.randrange(len(self.by_source))
        while not self.by_source[theme]:
            theme = rng.randrange(len(self.by_source))
        targets = [rng.randint(25, 70) for _ in range(paragraphs)]
        cap = max(self.min_cap_words, int(self.cap_ratio * sum(targets)))
        shared = _Overlap()
        taken: set[int] = set()
        out: list[list[list[int]]] = []
        words = 0
        headline = None
        lead: list[int] = []
        free = [h for h in range(len(pool.headlines)) if h not in self.headlines_used]
        if free and rng.random() < 0.6:
            h = rng.choice(free)
            summary = pool.headlines[h][1]
            lead = self.clause_ids(summary) if summary else []
            if not summary or lead:
                headline = h
                self.headlines_used.add(h)
        for p, para_target in enumerate(targets):
            para: list[list[int]] = []
            para_words = 0
            while para_words < para_target and len(para) < 3:
                sentence: list[int] = []
                n_clauses = rng.choice((1, 2, 2, 2, 3))
                if p == 0 and not para and lead:
                    sentence = list(lead)
                    for cid in sentence:
                        self._take(cid, index, shared, taken)
                else:
                    first = p == 0 and not para and headline is None
                    while len(sentence) < n_clauses:
                        follow = sentence[-1] + 1 if sentence else None
                        if follow is not None and (follow >= len(self.uses) or rng.random() > self.FOLLOW
                                                   or pool.clause_source[follow] != pool.clause_source[follow - 1]):
                            follow = None
                        cid = self._choose(rng, theme if p < 2 else None, shared, taken, cap, lead=first,
                                           follow=follow)
                        first = False
                        self._take(cid, index, shared, taken)
                        sentence.append(cid)
                        if sum(pool.clause_words[c] for c in sentence) >= 30:
                            break
                w = sum(pool.clause_words[c] for c in sentence)
                para.append(sentence)
                para_words += w
            out.append(para)
            words += para_words
        return _Composed(index, out, words, headline)

    def sentence(self, rng: random.Random, index: int, avoid: set[int]) -> list[int]:
        """One more sentence (1–2 clauses) for article ``index`` (a copy's changed sentence),
        avoiding the clauses in ``avoid``."""
        taken = set(avoid)
        out = []
        for _ in range(rng.choice((1, 2))):
            cid = self._choose(rng, None, _Overlap(), taken, 10 ** 6)
            self._take(cid, index, _Overlap(), taken)
            out.append(cid)
        return out

    def _take(self, cid: int, index: int, shared: "_Overlap", taken: set[int]) -> None:
        shared.add(self.users[cid], self.pool.clause_words[cid])
        self.uses[cid] += 1
        self.users[cid].add(index)
        taken.add(cid)

    def _choose(self, rng: random.Random, theme: int | None, shared: "_Overlap",
                taken: set[int], cap: int, lead: bool = False, follow: int | None = None) -> int:
        rnd, k = rng.random, self.CANDIDATES
        if lead:
            fresh = [c for c in self.leadable if c not in self.leads_used]
            source = fresh or self.leadable
            cands = [source[int(rnd() * len(source))] for _ in range(k)]
        else:
            n = len(self.uses)
            cands = [int(rnd() * n) for _ in range(k)]
            themed = self.by_source[theme] if theme is not None else ()
            if themed:
                cands[: k // 2] = [themed[int(rnd() * len(themed))] for _ in range(k // 2)]
        uses = self.uses
        cands = [c for c in dict.fromkeys(cands) if c not in taken] or \
            [c for c in range(len(uses)) if c not in taken][:1]
        cands.sort(key=uses.__getitem__)
        if follow is not None and follow not in taken and uses[follow] <= uses[cands[0]] + 1:
            cands.insert(0, follow)  # the clause that follows in the source: a real sentence
        best, best_excess = cands[0], None
        words = self.pool.clause_words
        for cid in cands:
            users = self.users[cid]
            if not users:
                best = cid
                break
            excess = shared.most(users) + words[cid] - cap
            if excess <= 0:
                best = cid
                break
            if best_excess is None or excess < best_excess:
                best, best_excess = cid, excess
        if lead:
            self.leads_used.add(best)
        return best


class _Variation:
    """Per-article word-level variation: place names swapped consistently for others of the
    same kind (countries, cities), numbers redrawn (years stay plausible years)."""

    def __init__(self, rng: random.Random, places: dict[str, list[str]], pattern: re.Pattern | None,
                 lookup: dict[str, tuple[str, str]]):
        self.rng = rng
        self.pattern, self.lookup = pattern, lookup
        self.mapping: dict[str, str] = {}
        for kind, names in places.items():
            shuffled = list(names)
            rng.shuffle(shuffled)
            self.mapping.update(zip(names, shuffled))
        self.numbers: dict[str, str] = {}

    def apply(self, text: str) -> str:
        if self.pattern is not None:
            text = self.pattern.sub(self._place, text)
        return _DIGITS.sub(self._number, text)

    def _place(self, m: re.Match) -> str:
        prefix, name = m.group(1), m.group(2)
        canonical = self.lookup.get(name, (name, ""))[0]
        return prefix + self.mapping.get(canonical, name)

    def _number(self, m: re.Match) -> str:
        raw = m.group(0)
        if raw not in self.numbers:
            digits = raw.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789"))
            value = int(digits)
            if len(digits) == 4 and 1900 <= value <= 2030:
                new = str(self.rng.randint(2012, 2024))
            elif len(digits) == 1:
                new = str(self.rng.randint(2, 9))
            else:
                new = str(self.rng.randint(10 ** (len(digits) - 1), 10 ** len(digits) - 1))
            self.numbers[raw] = new
        return self.numbers[raw]


@lru_cache(maxsize=1)
def _places() -> tuple[dict[str, list[str]], re.Pattern | None, dict[str, tuple[str, str]]]:
    """Countries and cities of ``config/entities.yaml``: names by kind, a pattern matching any
    Arabic spelling (with a fused و/ف/ب), and spelling → (canonical name, kind)."""
    path = CONFIG_DIR / "entities.yaml"
    try:
        data = safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}, None, {}
    names: dict[str, list[str]] = {}
    lookup: dict[str, tuple[str, str]] = {}
    for kind in ("countries", "cities"):
        for entry in data.get(kind) or []:
            canonical = entry.get("name_ar")
            if not canonical:
                continue
            names.setdefault(kind, []).append(canonical)
            for spelling in [canonical, *(entry.get("variants") or [])]:
                if _ARABIC.search(spelling) and len(spelling.split()) <= 2:
                    lookup.setdefault(spelling, (canonical, kind))
    if not lookup:
        return names, None, lookup
    alternatives = "|".join(re.escape(s) for s in sorted(lookup, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\u0600-\u06ff])([وفب]?)({alternatives})(?![\u0600-\u06ff])")
    return names, pattern, lookup


# --------------------------------------------------------------------------------------------
# Outlets and pages

#: (Latin host stem, Arabic site name) of the synthetic outlets, in order; more outlets than
#: these reuse them with a number ("akhbar-17.example", "أخبار الضفتين 2").
_SITES = (
    ("akhbar", "أخبار الضفتين"), ("sada", "صدى الوادي"), ("nabd", "نبض العاصمة"),
    ("marsad", "مرصد الساحل"), ("bawaba", "بوابة الرمال"), ("minbar", "منبر الخليج الرقمي"),
    ("risala", "رسالة المساء"), ("mirat", "مرآة الجنوب"), ("anbaa", "أنباء الواحة"),
    ("jisr", "جسر الأخبار"), ("manara", "منارة الشمال"), ("hadath", "حدث اليوم نت"),
    ("raed", "الرائد الإخباري"), ("sahel", "ساحل نيوز"), ("nakhla", "النخلة برس"),
    ("ufuq", "أفق عربي"),
)
_FIRST_NAMES = ("محمد", "أحمد", "سارة", "ليلى", "يوسف", "خالد", "مريم", "عمر", "هدى", "كريم", "نور",
                "رانيا", "سامي", "عبد الله", "فاطمة", "حسن", "إيمان", "طارق", "سلمى", "ياسر", "دينا",
                "مصطفى", "رشا", "وليد")
_LAST_NAMES = ("العلي", "الحسيني", "بن علي", "الخطيب", "المصري", "حداد", "منصور", "الزين", "الشامي",
               "العمري", "سليمان", "البدري", "القاسم", "الراشد", "عيسى", "النجار", "الفاسي", "التونسي",
               "الحلبي", "يعقوب")
_SECTIONS = (("politics", "سياسة"), ("economy", "اقتصاد"), ("sports", "رياضة"),
             ("culture", "ثقافة وفنون"), ("world", "عربي ودولي"), ("society", "مجتمع"),
             ("tech", "علوم وتكنولوجيا"), ("health", "صحة"))
_WEEKDAYS = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")
_MONTHS = {
    "egypt": ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
              "أكتوبر", "نوفمبر", "ديسمبر"),
    "levant": ("كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران", "تموز", "آب", "أيلول",
               "تشرين الأول", "تشرين الثاني", "كانون الأول"),
    "maghreb": ("جانفي", "فيفري", "مارس", "أفريل", "ماي", "جوان", "جويلية", "أوت", "سبتمبر",
                "أكتوبر", "نوفمبر", "ديسمبر"),
}
#: Wire credits a copy may close with: (as written, canonical name of config/cleaning.yaml).
_CREDITS = (("أ ف ب", "AFP"), ("رويترز", "Reuters"), ("الأناضول", "Anadolu"), ("د ب أ", "dpa"),
            ("أ ش أ", "MENA"))
#: How a copy rewords its title.
_TITLE_REWORDS = ("بالفيديو.. {t}", "بالصور.. {t}", "{t} (تفاصيل)", "تقرير: {t}", "{place}.. {t}",
                  "مصادر: {t}", "{t} (فيديو)")
#: The ways a copy differs from its original; the first two leave the cleaned text identical.
COPY_VARIANTS = ("credit", "read_also", "changed_sentence", "dropped_paragraph")
_COPY_RECIPES = (("credit",), ("read_also",), ("credit", "read_also"), ("changed_sentence",),
                 ("credit", "changed_sentence"), ("read_also", "changed_sentence"),
                 ("dropped_paragraph",), ("credit", "dropped_paragraph"))


@dataclass(frozen=True)
class OutletInfo:
    """A synthetic outlet: one host, its site name, page layout (0–2) and UTC offset.

    ``slug`` is the outlet's name in a replay crawl (what :func:`rasd.replay.server.replay_outlets`
    makes of the host: ``akhbar-01.example`` → ``akhbar_01_example``); ``root`` is
    ``https://host``, whose ``/rss.xml`` and ``/sitemap_index.xml`` the replay serves.
    """

    slug: str
    host: str
    name: str
    layout: int
    utc_offset_minutes: int
    authors: tuple[str, ...]

    @property
    def root(self) -> str:
        return f"https://{self.host}"

    def as_dict(self) -> dict:
        return {"slug": self.slug, "host": self.host, "name": self.name, "layout": self.layout,
                "utc_offset_minutes": self.utc_offset_minutes, "authors": list(self.authors)}


@dataclass(frozen=True)
class PageInfo:
    """Ground truth of one generated page.

    * ``url``: the page's address (as in ``MANIFEST.tsv``); ``file``: its path relative to
      the recording directory; ``outlet``: the outlet slug;
    * ``title``, ``author``, ``section`` (Arabic), ``published_at`` (aware UTC datetime);
    * ``story``: story key, shared by the pages of one planted syndicated story, unique
      otherwise; ``original``: URL of the story's first publisher (the page itself for
      originals and unsyndicated pages); ``role``: ``"single"``, ``"original"`` or ``"copy"``;
    * ``variants``: how a copy differs from its original (see :data:`COPY_VARIANTS`);
      ``credit``: canonical wire credit closing a copy (``"AFP"``…), or None;
      ``same_clean_text``: True when the copy's text equals the original's once the
      cleaning stage has removed the credit and the "اقرأ أيضا" line (exact-dedup material);
    * ``paragraphs``: the body paragraphs as on the page (credit and "اقرأ أيضا" included).
    """

    url: str
    file: str
    outlet: str
    title: str
    author: str
    section: str
    published_at: datetime
    story: str
    original: str
    role: str
    paragraphs: tuple[str, ...]
    variants: tuple[str, ...] = ()
    credit: str | None = None
    same_clean_text: bool = False
    language: str = "ar"

    @property
    def text(self) -> str:
        """The body text, paragraphs separated by ``\\n``."""
        return "\n".join(self.paragraphs)

    def as_dict(self) -> dict:
        return {"file": self.file, "outlet": self.outlet, "title": self.title, "author": self.author,
                "section": self.section, "published_at": _iso_z(self.published_at),
                "story": self.story, "original": self.original, "role": self.role,
                "variants": list(self.variants), "credit": self.credit,
                "same_clean_text": self.same_clean_text, "language": self.language,
                "paragraphs": list(self.paragraphs)}

    @classmethod
    def from_dict(cls, url: str, d: dict) -> "PageInfo":
        return cls(url=url, file=d["file"], outlet=d["outlet"], title=d["title"], author=d["author"],
                   section=d["section"], published_at=_parse_z(d["published_at"]), story=d["story"],
                   original=d["original"], role=d["role"], paragraphs=tuple(d["paragraphs"]),
                   variants=tuple(d.get("variants", ())), credit=d.get("credit"),
                   same_clean_text=bool(d.get("same_clean_text")), language=d.get("language", "ar"))


def _iso_z(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_z(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def _slug_of(host: str) -> str:
    from rasd.replay.server import replay_slug

    return replay_slug(host)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _local(value: datetime, outlet: OutletInfo) -> datetime:
    return value.astimezone(timezone(timedelta(minutes=outlet.utc_offset_minutes)))


def _visible_date(local: datetime, layout: int) -> str:
    day = _WEEKDAYS[local.weekday()]
    if layout == 0:
        month = _MONTHS["egypt"][local.month - 1]
        return f"{day} {local.day} {month} {local.year} - {local:%H:%M}"
    if layout == 1:
        month = _MONTHS["levant"][local.month - 1]
        egypt = _MONTHS["egypt"][local.month - 1]
        return f"نشر في {local.day} {month}/{egypt} {local.year}، الساعة {local:%H:%M}"
    month = _MONTHS["maghreb"][local.month - 1]
    return f"{day}، {local.day} {month} {local.year} على الساعة {local:%H:%M}"


def _header(outlet: OutletInfo, sections: Sequence[tuple[str, str]]) -> str:
    links = "".join(f'<li><a href="/{slug}/">{_e(name)}</a></li>' for slug, name in sections)
    return (f'<header class="site-header"><div class="logo"><a href="/">{_e(outlet.name)}</a></div>'
            f'<nav class="main-menu"><ul><li><a href="/">الرئيسية</a></li>{links}</ul></nav></header>')


def _footer(outlet: OutletInfo, year: int) -> str:
    return ('<footer class="site-footer"><nav class="footer-links">'
            '<a href="/about">من نحن</a> <a href="/contact">اتصل بنا</a> '
            '<a href="/privacy-policy">سياسة الخصوصية</a> <a href="/rss.xml">RSS</a></nav>'
            f'<p>جميع الحقوق محفوظة © {year} {_e(outlet.name)}</p></footer>')


def _sidebar(related: Sequence[tuple[str, str]]) -> str:
    if not related:
        return ""
    items = "".join(f'<li><a href="{_e(u)}">{_e(t)}</a></li>' for u, t in related)
    return f'<aside class="sidebar widget-most-read"><h3>الأكثر قراءة</h3><ul>{items}</ul></aside>'


def render_page(page: PageInfo, outlet: OutletInfo, related: Sequence[tuple[str, str]] = (),
                image: str | None = None) -> str:
    """The HTML of ``page`` on ``outlet``'s site (its :attr:`OutletInfo.layout`, 0–2).

    Every layout has ``<html lang="ar" dir="rtl">``, a ``<title>`` with the site name, ``og:``
    and ``article:published_time`` meta tags (local time with the outlet's UTC offset), a
    header with the section menu, an ``<article>`` with ``<h1>``, byline, visible date and the
    paragraphs, a "most read" sidebar listing ``related`` ``(url, title)`` pairs, a footer.
    """
    local = _local(page.published_at, outlet)
    iso = local.isoformat()
    section_slug = next((s for s, name in _SECTIONS if name == page.section), "news")
    lead = page.paragraphs[0]
    description = lead if len(lead) <= 160 else lead[:157].rsplit(" ", 1)[0] + "…"
    image = image or f"{outlet.root}/uploads/{local:%Y/%m}/{hashlib.blake2b(page.url.encode(), digest_size=6).hexdigest()}.jpg"
    layout = outlet.layout
    site_title = (f"{page.title} - {outlet.name}" if layout == 0 else
                  f"{page.title} | {outlet.name}" if layout == 1 else f"{outlet.name} :: {page.title}")
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(site_title)}</title>",
        f'<meta name="description" content="{_e(description)}">',
        f'<link rel="canonical" href="{_e(page.url)}">',
        '<meta property="og:type" content="article">',
        f'<meta property="og:site_name" content="{_e(outlet.name)}">',
        f'<meta property="og:title" content="{_e(page.title)}">',
        f'<meta property="og:description" content="{_e(description)}">',
        f'<meta property="og:url" content="{_e(page.url)}">',
        f'<meta property="og:image" content="{_e(image)}">',
        '<meta property="og:locale" content="ar_AR">',
        f'<meta property="article:published_time" content="{iso}">',
        f'<meta property="article:section" content="{_e(page.section)}">',
        f'<link rel="alternate" type="application/rss+xml" title="{_e(outlet.name)}" href="{outlet.root}/rss.xml">',
        f'<link rel="stylesheet" href="{outlet.root}/assets/style.css">',
    ]
    if layout == 1:
        ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": page.title,
              "datePublished": iso, "dateModified": iso, "inLanguage": "ar",
              "author": {"@type": "Person", "name": page.author},
              "publisher": {"@type": "Organization", "name": outlet.name,
                            "logo": {"@type": "ImageObject", "url": f"{outlet.root}/logo.png"}},
              "image": [image], "mainEntityOfPage": page.url, "articleSection": page.section}
        head.append('<script type="application/ld+json">'
                    + json.dumps(ld, ensure_ascii=False).replace("</", "<\\/") + "</script>")
        head.append(f'<meta name="author" content="{_e(page.author)}">')
    else:
        head.append(f'<meta property="article:modified_time" content="{iso}">')
    sections = _SECTIONS[:6]
    paras = "\n".join(f"<p>{_e(p)}</p>" for p in page.paragraphs)
    date = _visible_date(local, layout)
    if layout == 0:
        article = (
            f'<article class="post type-post">'
            f'<div class="breadcrumbs"><a href="/">الرئيسية</a> » <a href="/{section_slug}/">{_e(page.section)}</a></div>'
            f'<h1 class="entry-title">{_e(page.title)}</h1>'
            f'<div class="entry-meta"><span class="author">بقلم: {_e(page.author)}</span> '
            f'<time class="entry-date" datetime="{iso}">{_e(date)}</time></div>'
            f'<figure class="post-thumbnail"><img src="{_e(image)}" alt=""></figure>'
            f'<div class="entry-content">\n{paras}\n</div>'
            f'<div class="share-buttons">شارك: <a href="#">فيسبوك</a> | <a href="#">تويتر</a></div>'
            f"</article>")
    elif layout == 1:
        article = (
            f'<article class="news-article" itemscope itemtype="https://schema.org/NewsArticle">'
            f'<h1 itemprop="headline">{_e(page.title)}</h1>'
            f'<div class="article-info"><a rel="author" class="byline" href="/author/">{_e(page.author)}</a>'
            f' <span class="publish-date">{_e(date)}</span></div>'
            f'<div class="article-body" itemprop="articleBody">\n{paras}\n</div>'
            f'<div class="article-tags">الوسوم: <a href="/tag/1">{_e(page.section)}</a></div>'
            f"</article>")
    else:
        article = (
            f'<div class="content"><article id="story">'
            f'<span class="kicker"><a href="/{section_slug}/">{_e(page.section)}</a></span>'
            f'<h1>{_e(page.title)}</h1>'
            f'<div class="story-meta"><div class="writer">كتب: {_e(page.author)}</div>'
            f'<div class="dates">{_e(date)}</div></div>'
            f'<div class="story-text">\n{paras}\n</div>'
            f"</article></div>")
    body = (f'<body class="single">{_header(outlet, sections)}<main class="container">{article}'
            f"{_sidebar(related)}</main>{_footer(outlet, local.year)}</body>")
    return ('<!DOCTYPE html>\n<html lang="ar" dir="rtl">\n<head>\n' + "\n".join(head)
            + "\n</head>\n" + body + "\n</html>\n")


# --------------------------------------------------------------------------------------------
# The generator


@dataclass
class _Draft:
    """A page being generated: ground truth plus the sentence structure a copy needs."""

    outlet: OutletInfo
    number: int
    published_at: datetime
    role: str
    story: str
    sentences: list[list[str]] = field(default_factory=list)  # paragraphs → sentence texts
    section: str = ""
    composed: int | None = None  # composer index (originals and singles)
    clause_ids: frozenset[int] = frozenset()
    original: "_Draft | None" = None
    page: PageInfo | None = None
    variants: tuple[str, ...] = ()


def _shingles(text: str, size: int = 4) -> set[str]:
    """4-word shingles over the folded text, as :func:`rasd.pipelines.stories.shingles` makes them."""
    from rasd.core.arabic import tokens

    words = tokens(text)
    return {" ".join(words[i:i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: str, b: str) -> float:
    """4-shingle Jaccard similarity of two texts (0.0 when either has fewer than 4 words)."""
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


class _Generator:
    """All the state of one recording's generation; :meth:`build` makes the initial pages,
    :meth:`publish` more.  Same parameters, same calls → same pages."""

    def __init__(self, *, outlets: int, pages_per_outlet: int, syndicated_stories: int, seed: int,
                 now: datetime, days: float, corpus: Path | None):
        self.params = {"outlets": outlets, "pages_per_outlet": pages_per_outlet,
                       "syndicated_stories": syndicated_stories, "seed": seed,
                       "now": _iso_z(now), "days": days}
        self.seed, self.now, self.days = seed, now, days
        self.pool = load_text_pool(corpus)
        self.composer = _Composer(self.pool)
        self.text_rng = self._rng("text")
        self.places = _places()
        self.outlets = self._outlets(outlets)
        self.drafts: list[_Draft] = []
        self.titles: set[str] = set()
        self.numbers: dict[str, int] = {}
        self.story_count = 0
        self.published: list[dict] = []
        self._numbered: tuple[int, dict[str, list[_Draft]]] | None = None  # related()'s index

    def _rng(self, *purpose) -> random.Random:
        return random.Random(":".join(["rasd.replay.recording", str(GENERATOR_VERSION), str(self.seed), *map(str, purpose)]))

    def _outlets(self, count: int) -> list[OutletInfo]:
        rng = self._rng("outlets")
        offsets = (180, 120, 60, 240, 180, 0, 120, 60)
        out = []
        for i in range(count):
            stem, name = _SITES[i % len(_SITES)]
            if i >= len(_SITES):
                name = f"{name} {i // len(_SITES) + 1}"
            host = f"{stem}-{i + 1:02d}.example"
            authors = tuple(dict.fromkeys(f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
                                          for _ in range(5)))
            out.append(OutletInfo(_slug_of(host), host, name, i % 3, offsets[i % len(offsets)], authors))
        return out

    # ---- planning -------------------------------------------------------------------------
    def build(self) -> None:
        """Plan, compose and render the initial pages."""
        p = self.params
        rng = self._rng("plan")
        now, span = self.now, timedelta(days=self.days)
        free = {o.slug: p["pages_per_outlet"] for o in self.outlets}
        by_slug = {o.slug: o for o in self.outlets}
        plan: list[tuple[OutletInfo, datetime, str, str, int | None]] = []  # outlet, time, role, story, of
        for s in range(p["syndicated_stories"]):
            k = 3 if len(self.outlets) >= 3 and rng.random() < 0.4 else 2
            open_slugs = [slug for slug, n in free.items() if n > 0]
            if len(open_slugs) < 2:
                raise ValueError(f"syndicated_stories={p['syndicated_stories']} needs more pages: "
                                 f"{p['outlets']} outlets × {p['pages_per_outlet']} pages run out "
                                 f"at story {s + 1}")
            rng.shuffle(open_slugs)
            open_slugs.sort(key=lambda slug: -free[slug])
            chosen = open_slugs[:min(k, len(open_slugs))]
            rng.shuffle(chosen)
            story = self._story_key()
            t0 = now - span + (span - timedelta(hours=6)) * rng.random()
            t0 = t0.replace(second=0, microsecond=0)
            first = len(plan)
            plan.append((by_slug[chosen[0]], t0, "original", story, None))
            delays = sorted(rng.sample(range(15, 300), len(chosen) - 1))
            for slug, delay in zip(chosen[1:], delays):
                plan.append((by_slug[slug], t0 + timedelta(minutes=delay), "copy", story, first))
            for slug in chosen:
                free[slug] -= 1
        for outlet in self.outlets:
            for _ in range(free[outlet.slug]):
                t = now - span + (span - timedelta(minutes=10)) * rng.random()
                plan.append((outlet, t.replace(second=0, microsecond=0), "single", self._story_key(), None))
        drafts = [_Draft(o, 0, t, role, story) for o, t, role, story, _ in plan]
        for draft, (_, _, _, _, of) in zip(drafts, plan):
            if of is not None:
                draft.original = drafts[of]
        # article numbers grow with publication time on each site
        for outlet in self.outlets:
            own = sorted((d for d in drafts if d.outlet is outlet), key=lambda d: d.published_at)
            for d in own:
                d.number = self._next_number(outlet)
        self.drafts.extend(drafts)
        self._fill(sorted(drafts, key=lambda d: (d.published_at, d.outlet.slug, d.number)))

    def _story_key(self) -> str:
        self.story_count += 1
        return f"s{self.story_count:04d}"

    def _next_number(self, outlet: OutletInfo) -> int:
        rng = self._rng("number", outlet.slug, self.numbers.get(outlet.slug, 0))
        last = self.numbers.get(outlet.slug) or (10_000 * (1 + outlet.layout) + rng.randrange(50_000))
        self.numbers[outlet.slug] = last + rng.randint(1, 23)
        return self.numbers[outlet.slug]

    def _fill(self, drafts: list[_Draft]) -> None:
        """Compose originals and singles (in time order), then the copies, then render."""
        for d in drafts:
            if d.role != "copy":
                self._compose(d)
        for d in drafts:
            if d.role == "copy":
                self._copy(d)

    # ---- texts ----------------------------------------------------------------------------
    def _url(self, d: _Draft, title: str) -> str:
        o = d.outlet
        local = _local(d.published_at, o)
        if o.layout == 0:
            section = next((s for s, name in _SECTIONS if name == d.section), "news")
            return f"{o.root}/{section}/{local:%Y/%m/%d}/{d.number}/"
        if o.layout == 1:
            return f"{o.root}/news/{d.number}.html"
        words = [w for w in _PUNCT.sub(" ", title).split() if _ARABIC.search(w) or w.isdigit()][:6]
        return f"{o.root}/article/{d.number}/" + quote("-".join(words) or "خبر", safe="")

    def _unique_title(self, title: str, rng: random.Random) -> str:
        """``title``, or when the recording has it already (compared folded) the title with
        a place ("… في دبي"), or as a last resort a number "(2)"; recorded as taken."""
        title = " ".join(title.split())
        cities = self.places[0].get("cities") or ["غزة"]
        places = [f"{title} في {city}" for city in rng.sample(cities, min(3, len(cities)))]
        numbered = (f"{title} ({n})" for n in itertools.count(2))
        candidate = next(c for c in itertools.chain([title], places, numbered) if _fold_key(c) not in self.titles)
        self.titles.add(_fold_key(candidate))
        return candidate

    def _compose(self, d: _Draft) -> None:
        rng = self._rng("page", d.outlet.slug, d.number)
        composed = self.composer.compose(self.text_rng, rng.randint(4, 10))
        d.composed = composed.index
        d.clause_ids = frozenset(c for para in composed.paragraphs for sentence in para for c in sentence)
        variation = _Variation(rng, *self.places)
        clauses = self.pool.clauses
        d.sentences = [[variation.apply("، ".join(clauses[c] for c in sentence)) + "." for sentence in para]
                       for para in composed.paragraphs]
        if composed.headline is not None:
            title = variation.apply(self.pool.headlines[composed.headline][0])
        else:
            lead = variation.apply(clauses[composed.paragraphs[0][0][0]]).split()
            title = " ".join(lead[: rng.randint(8, 12)] if len(lead) > 12 else lead)
        title = self._unique_title(_TRAIL.sub("", title), rng)
        d.section = rng.choice(_SECTIONS)[1]
        author = rng.choice(d.outlet.authors)
        self._finish(d, title, author, [" ".join(s) for s in d.sentences])

    def _copy(self, d: _Draft) -> None:
        src = d.original
        assert src is not None and src.page is not None
        rng = self._rng("copy", d.outlet.slug, d.number)
        d.section = src.page.section
        for _ in range(20):
            recipe = rng.choice(_COPY_RECIPES)
            sentences = [list(p) for p in src.sentences]
            if "dropped_paragraph" in recipe and len(sentences) < 5:
                continue
            if "changed_sentence" in recipe:
                k = rng.randrange(1, len(sentences)) if len(sentences) > 1 else 0
                j = rng.randrange(len(sentences[k]))
                new = self.composer.sentence(self.text_rng, src.composed or 0, set(src.clause_ids))
                variation = _Variation(rng, *self.places)
                sentences[k][j] = variation.apply("، ".join(self.pool.clauses[c] for c in new)) + "."
            if "dropped_paragraph" in recipe:
                sentences.pop()
            paragraphs = [" ".join(s) for s in sentences]
            credit = None
            if "credit" in recipe:
                alias, credit = rng.choice(_CREDITS)
                paragraphs[-1] = paragraphs[-1].rstrip() + f" ({alias})"
            if "read_also" in recipe:
                others = [x.page for x in self.drafts if x.outlet is d.outlet and x.page is not None
                          and x.published_at <= d.published_at]
                if not others:
                    continue
                other = rng.choice(others)
                paragraphs.insert(min(2, len(paragraphs) - 1), f"اقرأ أيضا: {other.title}")
            if jaccard(src.page.text, "\n".join(paragraphs)) >= MIN_COPY_JACCARD:
                break
        else:  # nothing kept the copy close enough: the plainest copy, credit only
            recipe, credit, paragraphs = ("credit",), "AFP", list(src.page.paragraphs)
            sentences = [list(p) for p in src.sentences]
            paragraphs[-1] += " (أ ف ب)"
        d.sentences = sentences
        d.variants = tuple(v for v in COPY_VARIANTS if v in recipe)
        cities = self.places[0].get("cities") or ["غزة"]
        title = rng.choice(_TITLE_REWORDS).format(t=src.page.title, place=rng.choice(cities))
        title = self._unique_title(title, rng)
        self._finish(d, title, rng.choice(d.outlet.authors), paragraphs, credit)

    def _finish(self, d: _Draft, title: str, author: str, paragraphs: list[str],
                credit: str | None = None) -> None:
        url = self._url(d, title)
        original = d.original.page.url if d.original is not None and d.original.page else url
        d.page = PageInfo(
            url=url, file=f"pages/{d.outlet.host}/{d.number}.html", outlet=d.outlet.slug, title=title,
            author=author, section=d.section, published_at=d.published_at, story=d.story,
            original=original, role=d.role, paragraphs=tuple(paragraphs), variants=d.variants,
            credit=credit, same_clean_text=d.role == "copy" and set(d.variants) <= {"credit", "read_also"})

    # ---- growth ---------------------------------------------------------------------------
    def publish(self, outlet: str, n: int, now: datetime, copy_of: str | None = None) -> list[_Draft]:
        """``n`` new pages on ``outlet`` published just before ``now`` (one minute apart), or
        one copy of the page ``copy_of`` (a planted syndicated copy, story of that page)."""
        o = next((x for x in self.outlets if x.slug == outlet), None)
        if o is None:
            raise ValueError(f"unknown outlet {outlet!r} (outlets: {', '.join(x.slug for x in self.outlets)})")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.published.append({"outlet": outlet, "n": n, "now": _iso_z(now), "copy_of": copy_of})
        now = now.astimezone(timezone.utc).replace(second=0, microsecond=0)
        new: list[_Draft] = []
        if copy_of is not None:
            src = next((x for x in self.drafts if x.page is not None and x.page.url == copy_of), None)
            if src is None:
                raise ValueError(f"copy_of={copy_of!r}: no such page in the recording")
            while src.original is not None:
                src = src.original
            if any(x.story == src.story and x.outlet is o for x in self.drafts):
                raise ValueError(f"{outlet} already has a page of story {src.story}: a second copy on "
                                 "the same outlet would be dropped as a duplicate")
            if n != 1:
                raise ValueError("copy_of publishes exactly one page (n=1)")
            d = _Draft(o, self._next_number(o), max(now - timedelta(minutes=1), src.published_at + timedelta(minutes=1)),
                       "copy", src.story, original=src)
            if src.role == "single":
                src.role = "original"
                src.page = replace(src.page, role="original")
            new.append(d)
        else:
            for i in range(n):
                new.append(_Draft(o, self._next_number(o), now - timedelta(minutes=n - i), "single",
                                  self._story_key()))
        self.drafts.extend(new)
        self._fill(new)
        return new

    # ---- output ---------------------------------------------------------------------------
    def related(self, d: _Draft, k: int = 4) -> list[tuple[str, str]]:
        """The "most read" sidebar of ``d``: the ``k`` latest earlier pages of its outlet
        (by article number, so a page's sidebar never changes when pages are added)."""
        if self._numbered is None or self._numbered[0] != len(self.drafts):
            by_outlet: dict[str, list[_Draft]] = {}
            for x in sorted(self.drafts, key=lambda x: x.number):
                by_outlet.setdefault(x.outlet.slug, []).append(x)
            self._numbered = (len(self.drafts), by_outlet)
        own = self._numbered[1][d.outlet.slug]
        i = bisect_left([x.number for x in own], d.number)
        return [(x.page.url, x.page.title) for x in reversed(own[max(0, i - k):i]) if x.page]

    def info(self, directory: Path) -> "RecordingInfo":
        order = {o.slug: i for i, o in enumerate(self.outlets)}
        drafts = sorted((d for d in self.drafts if d.page), key=lambda d: (order[d.outlet.slug], -d.number))
        pages = [d.page for d in drafts]
        stories: dict[str, list[str]] = {}
        for d in sorted(drafts, key=lambda d: (d.published_at, d.number)):
            if d.role in ("original", "copy"):
                stories.setdefault(d.story, []).append(d.page.url)
        for key, urls in stories.items():  # first publisher first
            first = next(d.page.url for d in drafts if d.story == key and d.role == "original")
            urls.sort(key=lambda u: u != first)
        return RecordingInfo(directory=directory, params=dict(self.params),
                             outlets={o.slug: o for o in self.outlets}, pages=pages,
                             stories=dict(sorted(stories.items())), corpus_digest=self.pool.digest,
                             published=list(self.published), _gen=self)

    def write(self, directory: Path, drafts: Iterable[_Draft]) -> "RecordingInfo":
        """Write the pages of ``drafts`` and (re)write MANIFEST.tsv, expected.json, README.md."""
        for d in drafts:
            path = directory / d.page.file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_page(d.page, d.outlet, self.related(d)), encoding="utf-8")
        info = self.info(directory)
        _write_manifest(directory, info)
        (directory / EXPECTED_FILE).write_text(json.dumps(info.to_json(), ensure_ascii=False, indent=1) + "\n",
                                               encoding="utf-8")
        (directory / "README.md").write_text(_README.format(**self.params, pages=len(info.pages),
                                                            stories=len(info.stories)), encoding="utf-8")
        return info


_README = """# Synthetic replay recording

Generated by `rasd.replay.recording` (seed {seed}, now {now}): {pages} Arabic article pages on
{outlets} synthetic outlets, {stories} planted syndicated stories.  Crawl it with

    rasd crawl --replay THIS_DIR --data-dir DATA

`expected.json` is the ground truth (every page's outlet, title, author, published_at, story
and first publisher); `MANIFEST.tsv` lists the pages as `rasd.replay.server` reads them.  The text is
recombined from real corpus text (../shared/corpus): it reads like news, but is no real article.
"""


def _write_manifest(directory: Path, info: "RecordingInfo") -> None:
    with (directory / "MANIFEST.tsv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        writer.writerow(["file", "url", "outlet", "kind", "language", "charset", "notes", "source"])
        for page in info.pages:
            outlet = info.outlets[page.outlet]
            note = f"synthetic; story {page.story}; {page.role}"
            if page.role == "copy":
                note += f" of {page.original} ({', '.join(page.variants)})"
            writer.writerow([page.file, page.url, outlet.name, "article", page.language, "utf-8", note,
                             f"rasd.replay.recording seed={info.params['seed']}"])


@dataclass
class RecordingInfo:
    """A generated recording and its ground truth (also in ``directory/expected.json``).

    * ``params``: the :func:`make_recording` arguments (``now`` as an ISO string);
    * ``outlets``: slug → :class:`OutletInfo`; ``pages``: every :class:`PageInfo`, by outlet
      (in ``outlets`` order), newest first, as in ``MANIFEST.tsv`` and the replay feeds;
    * ``stories``: the planted syndicated stories, story key → page URLs, first publisher
      first, then the copies in publication order;
    * ``published``: the :func:`publish` calls made since generation (replayed by
      :func:`load_recording_info`).
    """

    directory: Path
    params: dict
    outlets: dict[str, OutletInfo]
    pages: list[PageInfo]
    stories: dict[str, list[str]]
    corpus_digest: str
    published: list[dict] = field(default_factory=list)
    _gen: _Generator | None = field(default=None, repr=False, compare=False)

    @property
    def seed(self) -> int:
        return self.params["seed"]

    @property
    def now(self) -> datetime:
        return _parse_z(self.params["now"])

    def page(self, url: str) -> PageInfo:
        """The page at ``url`` (as written in the manifest). Raises KeyError."""
        for page in self.pages:
            if page.url == url:
                return page
        raise KeyError(url)

    def pages_of(self, outlet: str) -> list[PageInfo]:
        """``outlet``'s pages, newest first."""
        return [p for p in self.pages if p.outlet == outlet]

    def to_json(self) -> dict:
        """The content of ``expected.json``."""
        return {
            "generator": {"module": "rasd.replay.recording", "version": GENERATOR_VERSION},
            "params": self.params,
            "corpus_digest": self.corpus_digest,
            "published": self.published,
            "outlets": [o.as_dict() for o in self.outlets.values()],
            "stories": self.stories,
            "pages": {p.url: p.as_dict() for p in self.pages},
        }


def _utcnow_minute() -> datetime:
    return datetime.now(timezone.utc).replace(second=0, microsecond=0)


def make_recording(directory: str | Path, *, outlets: int = 8, pages_per_outlet: int = 20,
                   syndicated_stories: int = 10, seed: int = 0, now: datetime | None = None,
                   days: float = 3.0, corpus: str | Path | None = None,
                   overwrite: bool = False) -> RecordingInfo:
    """Write a replay recording of ``outlets × pages_per_outlet`` Arabic article pages.

    Args:
        directory: created if missing; gets ``MANIFEST.tsv``, ``pages/<host>/<n>.html``,
            ``expected.json`` (ground truth, :meth:`RecordingInfo.to_json`) and ``README.md``.
        outlets: number of synthetic outlets, one host each (``akhbar-01.example`` …).
        pages_per_outlet: pages on every outlet, planted copies included.
        syndicated_stories: stories published by 2–3 outlets each (the first publisher plus
            1–2 copies); they use ``sum(publishers)`` of the pages.
        seed: the same seed, ``now``, parameters and corpus give byte-identical output.
        now: the generation time (aware; default: the current minute).  Pages are dated over
            the ``days`` days before it, planted originals at least 6 hours before it.
        corpus: the corpus directory (default :func:`find_corpus`).
        overwrite: replace an existing recording in ``directory``.

    Raises:
        ValueError: impossible parameters (fewer than 1 outlet or page, stories that need
            more pages than there are, a naive ``now``, ``days`` not in (0.3, 7)).
        FileExistsError: ``directory`` already holds a recording and ``overwrite`` is False.
        ConfigError: no corpus found, or too little Arabic text in it.
    """
    if outlets < 1 or pages_per_outlet < 1:
        raise ValueError("a recording needs at least one outlet and one page per outlet")
    if syndicated_stories < 0 or (syndicated_stories and outlets < 2):
        raise ValueError("syndicated stories need at least two outlets")
    if not 0.3 <= days < 7:
        raise ValueError(f"days must be in [0.3, 7) (the crawl's story window is 7 days), got {days}")
    now = now or _utcnow_minute()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    directory = Path(directory)
    if (directory / "MANIFEST.tsv").exists():
        if not overwrite:
            raise FileExistsError(f"{directory}: already holds a recording (overwrite=True replaces it)")
        _remove_recording(directory)
    gen = _Generator(outlets=outlets, pages_per_outlet=pages_per_outlet,
                     syndicated_stories=syndicated_stories, seed=seed,
                     now=now.astimezone(timezone.utc).replace(microsecond=0), days=days,
                     corpus=Path(corpus) if corpus else None)
    gen.build()
    directory.mkdir(parents=True, exist_ok=True)
    return gen.write(directory, gen.drafts)


def _remove_recording(directory: Path) -> None:
    """Delete what :func:`make_recording` writes (and nothing else)."""
    import shutil

    expected = directory / EXPECTED_FILE
    if not expected.is_file():
        raise FileExistsError(f"{directory}: has a MANIFEST.tsv but no {EXPECTED_FILE}: "
                              "not a generated recording, not touching it")
    if (directory / "pages").is_dir():
        shutil.rmtree(directory / "pages")
    for name in ("MANIFEST.tsv", EXPECTED_FILE, "README.md"):
        (directory / name).unlink(missing_ok=True)


def load_recording_info(directory: str | Path, corpus: str | Path | None = None) -> RecordingInfo:
    """Reopen a recording written by :func:`make_recording` (and grown by :func:`publish`).

    The text state is rebuilt by generating again from the parameters and publish log stored
    in ``expected.json`` (deterministic), so pages published next stay distinct from the
    earlier ones.

    Raises:
        ConfigError: no ``expected.json``, written by another generator version, with
            another corpus, or pages that regeneration does not reproduce.
    """
    directory = Path(directory)
    try:
        data = json.loads((directory / EXPECTED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{directory / EXPECTED_FILE}: cannot read the recording's ground truth: {exc}") from exc
    version = (data.get("generator") or {}).get("version")
    if version != GENERATOR_VERSION:
        raise ConfigError(f"{directory}: written by recording generator version {version}, "
                          f"this is version {GENERATOR_VERSION}")
    p = data["params"]
    gen = _Generator(outlets=p["outlets"], pages_per_outlet=p["pages_per_outlet"],
                     syndicated_stories=p["syndicated_stories"], seed=p["seed"], now=_parse_z(p["now"]),
                     days=p["days"], corpus=Path(corpus) if corpus else None)
    if gen.pool.digest != data.get("corpus_digest"):
        raise ConfigError(f"{directory}: generated from another corpus (digest {data.get('corpus_digest')}, "
                          f"this one {gen.pool.digest})")
    gen.build()
    for op in data.get("published", []):
        gen.publish(op["outlet"], op["n"], _parse_z(op["now"]), op.get("copy_of"))
    info = gen.info(directory)
    if {u: d for u, d in data["pages"].items()} != {pg.url: pg.as_dict() for pg in info.pages}:
        raise ConfigError(f"{directory}: regenerating does not give the recorded pages")
    return info


def publish(info: RecordingInfo, outlet: str, n: int = 1, *, site=None, now: datetime | None = None,
            copy_of: str | None = None, write: bool = True) -> list[PageInfo]:
    """Publish ``n`` new pages on ``outlet`` (or one planted copy of the page ``copy_of``).

    The pages are dated one minute apart up to one minute before ``now`` (default: the current
    minute) and added to ``info`` (updated in place).  With ``write``, their files are written
    and ``MANIFEST.tsv``/``expected.json`` rewritten.  With ``site`` (a running
    :class:`rasd.replay.server.ReplaySite`), the pages are served and the outlet's robots.txt, RSS
    feed and sitemaps are republished to list them (newest first), as a live site would.

    Returns the new pages.

    Raises:
        ValueError: unknown outlet, ``n`` < 1, a ``copy_of`` that is unknown or whose story
            ``outlet`` already carries.
    """
    gen = info._gen
    if gen is None:
        gen = load_recording_info(info.directory)._gen
    assert gen is not None
    new = gen.publish(outlet, n, now or _utcnow_minute(), copy_of)
    if write:
        fresh = gen.write(info.directory, new)
    else:
        fresh = gen.info(info.directory)
    info.params, info.pages, info.stories = fresh.params, fresh.pages, fresh.stories
    info.published, info._gen = fresh.published, gen
    if site is not None:
        from rasd.replay.server import Resource, publish_listings

        for d in new:
            site.put(d.page.url, Resource(render_page(d.page, d.outlet, gen.related(d)).encode("utf-8"),
                                          "text/html; charset=utf-8"))
        o = info.outlets[outlet]
        publish_listings(site, o.root, [p.url for p in info.pages_of(outlet)])
    return [d.page for d in new]


def similarity_report(info: RecordingInfo) -> dict:
    """4-shingle Jaccard similarities of the recording's texts (as the stories stage sees
    them, before cleaning): ``max_unrelated`` over every pair of pages of different stories
    (with ``max_unrelated_pair``, two URLs), ``min_planted`` over every copy and its first
    publisher (with ``min_planted_pair``), ``pairs_sharing`` (unrelated pairs with any
    shingle in common) and ``pages``.  Pairs that share no shingle are not enumerated, so
    600 pages take about a second."""
    shingle_sets = [_shingles(p.text) for p in info.pages]
    stories = [p.story for p in info.pages]
    index: dict[str, list[int]] = {}
    for i, sh in enumerate(shingle_sets):
        for g in sh:
            index.setdefault(g, []).append(i)
    common: dict[tuple[int, int], int] = {}
    for members in index.values():
        if len(members) > 1:
            for x in range(len(members)):
                a = members[x]
                for b in members[x + 1:]:
                    if stories[a] != stories[b]:
                        common[a, b] = common.get((a, b), 0) + 1
    best, best_pair = 0.0, None
    for (a, b), k in common.items():
        j = k / (len(shingle_sets[a]) + len(shingle_sets[b]) - k)
        if j > best:
            best, best_pair = j, (info.pages[a].url, info.pages[b].url)
    by_url = {p.url: i for i, p in enumerate(info.pages)}
    worst, worst_pair = None, None
    for p in info.pages:
        if p.role == "copy":
            a, b = shingle_sets[by_url[p.url]], shingle_sets[by_url[p.original]]
            j = len(a & b) / len(a | b)
            if worst is None or j < worst:
                worst, worst_pair = j, (p.original, p.url)
    return {"pages": len(info.pages), "pairs_sharing": len(common), "max_unrelated": best,
            "max_unrelated_pair": best_pair, "min_planted": worst, "min_planted_pair": worst_pair}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rasd.replay.recording OUT [--outlets N] [--pages N] [--stories N] [--seed N]
    [--now ISO] [--days D] [--overwrite] [--check]``; or, on an existing recording,
    ``python -m rasd.replay.recording OUT --publish SLUG [--n N] [--now ISO]``."""
    ap = argparse.ArgumentParser(prog="python -m rasd.replay.recording",
                                 description="Write a synthetic Arabic news recording for `rasd crawl --replay`.")
    ap.add_argument("out", type=Path, help="recording directory to write")
    ap.add_argument("--outlets", type=int, default=8)
    ap.add_argument("--pages", type=int, default=20, help="pages per outlet (planted copies included)")
    ap.add_argument("--stories", type=int, default=10, help="planted syndicated stories")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--now", help="generation time, ISO 8601 with offset (default: now)")
    ap.add_argument("--days", type=float, default=3.0, help="pages are dated over this many days before now")
    ap.add_argument("--corpus", type=Path, help="corpus directory (default: ../shared/corpus)")
    ap.add_argument("--overwrite", action="store_true", help="replace a recording already in OUT")
    ap.add_argument("--check", action="store_true", help="also print the Jaccard similarity report")
    ap.add_argument("--publish", metavar="SLUG", help="add pages to outlet SLUG of the recording in OUT")
    ap.add_argument("--n", type=int, default=1, help="with --publish: how many pages")
    args = ap.parse_args(argv)
    now = None
    try:
        if args.now:
            now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        start = time.perf_counter()
        if args.publish:
            info = load_recording_info(args.out, args.corpus)
            new = publish(info, args.publish, args.n, now=now)
            print(f"{args.out}: published {len(new)} page(s) on {args.publish}: "
                  + ", ".join(p.url for p in new))
        else:
            info = make_recording(args.out, outlets=args.outlets, pages_per_outlet=args.pages,
                                  syndicated_stories=args.stories, seed=args.seed, now=now, days=args.days,
                                  corpus=args.corpus, overwrite=args.overwrite)
            copies = sum(len(u) - 1 for u in info.stories.values())
            print(f"{args.out}: {len(info.pages)} pages on {len(info.outlets)} outlets, "
                  f"{len(info.stories)} planted stories ({copies} copies) in {time.perf_counter() - start:.2f} s")
        if args.check:
            print(json.dumps(similarity_report(info), ensure_ascii=False, indent=1))
    except (ValueError, FileExistsError, ConfigError) as exc:
        print(f"rasd.replay.recording: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
