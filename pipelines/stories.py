"""Stories stage: near-duplicate detection with MinHash LSH over a sliding window.

Exact copies are :mod:`pipelines.dedup`'s job (content hash); this stage groups articles that
tell the same story in *nearly* the same words — a syndicated copy with a credit line and ads
appended, a lightly edited rewrite — into one story.

Method (Broder, "On the resemblance and containment of documents", 1997; datasketch's
``MinHash`` and ``MinHashLSH``, https://ekzhu.com/datasketch/lsh.html):

* :func:`shingles` — the set of ``shingle_size``-token word shingles (default 4) over
  :func:`rasd.arabic.tokens`, i.e. over the *folded* text, so hamza-seat and alef spelling
  variants (مسؤول / مسئول, أ / ا) give identical shingles and never split a story;
* :func:`signature` — a ``MinHash`` of those shingles: ``num_perm`` (default 128) uint32 hash
  values, scheme ``affine32``, fixed ``seed`` (default 1), so signatures stored in one run are
  comparable in the next;
* :class:`StoryIndex` — a ``MinHashLSH`` (candidate threshold ``threshold``) kept in memory
  and persisted in SQLite: every article's signature (``num_perm * 4`` bytes blob) with id,
  outlet, time and story id; on open the LSH is rebuilt from the rows inside the window
  (default 7 days) and older rows are deleted;
* :func:`assign_story` — joins the article to the story of its most similar earlier article
  when their estimated Jaccard similarity is ≥ ``threshold`` (LSH candidates are verified, so
  LSH false positives never join), else starts a new story with ``story_id = article.id``;
  when the similarity is ≥ ``duplicate_threshold`` the article is also marked
  ``duplicate_of`` that article (unless exact dedup already set it).

Thresholds (justified by the real pairs in ``tests/fixtures/stories``, see
``tests/pipelines/test_stories.py``): same-story pairs there have a 4-shingle Jaccard of
0.69–0.94 (the seed article vs. its aggregator copy with reader comments appended is the
lowest), different-story pairs ≤ 0.01.  ``threshold = 0.5`` sits in that gap with margin for
MinHash estimation error (standard deviation ≈ sqrt(J(1-J)/128) ≈ 0.04 at J = 0.5);
``duplicate_threshold = 0.8`` keeps ``duplicate_of`` for near-verbatim copies (credit line,
ads, a sentence changed) and not for rewrites.

Texts with fewer than ``min_tokens`` tokens (default 20) get no signature: they are their own
story and never match anything (two empty pages are not one story).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from pipelines.base import StagePipeline
from rasd.arabic import tokens
from rasd.article import Article, isoformat_utc, utcnow
from rasd.errors import RasdError

SCHEME = "affine32"
_DTYPE = np.uint32


class StoryIndexError(RasdError):
    """The story store is unreadable, or was written with other MinHash parameters."""


def shingles(text: str, size: int = 4) -> set[bytes]:
    """Word ``size``-grams of the folded, lower-cased text, UTF-8 encoded.

    A text of n tokens gives at most ``n - size + 1`` shingles; fewer than ``size`` tokens give
    the empty set.
    """
    words = tokens(text)
    return {" ".join(words[i:i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


@dataclass(frozen=True, slots=True)
class StoryParams:
    """MinHash/LSH parameters; all must match between runs sharing a store."""

    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 4
    min_tokens: int = 20
    threshold: float = 0.5
    duplicate_threshold: float = 0.8


_TEMPLATES: dict[tuple[int, int], MinHash] = {}


def signature(text: str, params: StoryParams = StoryParams()) -> LeanMinHash | None:
    """MinHash of :func:`shingles` of ``text``; ``None`` when the text has fewer than
    ``params.min_tokens`` tokens (such texts must never match)."""
    if len(tokens(text)) < params.min_tokens:
        return None
    key = (params.num_perm, params.seed)
    if key not in _TEMPLATES:  # permutations are costly to draw; reuse them
        _TEMPLATES[key] = MinHash(num_perm=params.num_perm, seed=params.seed, scheme=SCHEME)
    m = MinHash(num_perm=params.num_perm, seed=params.seed, scheme=SCHEME,
                permutations=_TEMPLATES[key].permutations)
    m.update_batch(list(shingles(text, params.shingle_size)))
    return LeanMinHash(m)


def _lean(hashvalues: bytes | np.ndarray, seed: int) -> LeanMinHash:
    values = np.frombuffer(hashvalues, dtype=_DTYPE) if isinstance(hashvalues, bytes) else hashvalues
    return LeanMinHash(seed=seed, hashvalues=values, scheme=SCHEME)


@dataclass(frozen=True, slots=True)
class Story:
    """What the index knows of one story (within the window).

    ``first_published_at`` is the earliest article time seen (``published_at``, else
    ``fetched_at``); ``outlets`` the number of distinct outlets; ``articles`` the number of
    articles.
    """

    story_id: str
    first_outlet: str
    first_published_at: datetime
    outlets: int
    articles: int


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """Outcome of :func:`assign_story`: ``new`` (started a story) or ``joined``; ``similarity``
    is the estimated Jaccard with ``matched`` (the closest earlier article), if any."""

    outcome: str
    story_id: str
    matched: str | None = None
    similarity: float = 0.0
    duplicate_of: str | None = None


def _time(article: Article) -> datetime:
    return article.published_at or article.fetched_at


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class StoryIndex:
    """Persistent MinHash LSH over the last ``window`` of articles (a SQLite file).

    ``now`` returns the current UTC time (injectable for tests); rows whose article time is
    older than ``now() - window`` are pruned on open and by :meth:`prune`.

    Raises:
        StoryIndexError: the file cannot be opened, or stores signatures made with other
            ``num_perm``/``seed``/``shingle_size``/scheme (mixing them would silently give wrong
            similarities; delete the file to rebuild).
    """

    def __init__(self, path: str | Path, params: StoryParams = StoryParams(),
                 window: timedelta = timedelta(days=7),
                 now: Callable[[], datetime] = utcnow):
        self.params, self.window, self.now = params, window, now
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path))
            self.db.executescript(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
                "CREATE TABLE IF NOT EXISTS articles (id TEXT PRIMARY KEY, outlet TEXT NOT NULL,"
                " at TEXT NOT NULL, story_id TEXT NOT NULL, hashvalues BLOB);"
                "CREATE INDEX IF NOT EXISTS articles_story ON articles(story_id);"
                "CREATE INDEX IF NOT EXISTS articles_at ON articles(at);")
        except (sqlite3.Error, OSError) as exc:
            raise StoryIndexError(f"{path}: cannot open story store: {exc}") from exc
        self._check_meta(path)
        self.lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm)
        self.prune()
        rows = self.db.execute("SELECT id, hashvalues FROM articles WHERE hashvalues IS NOT NULL")
        with self.lsh.insertion_session() as session:
            for article_id, blob in rows:
                session.insert(article_id, _lean(blob, params.seed), check_duplication=False)

    def _check_meta(self, path) -> None:
        p = self.params
        wanted = {"num_perm": str(p.num_perm), "seed": str(p.seed),
                  "shingle_size": str(p.shingle_size), "scheme": SCHEME}
        stored = dict(self.db.execute("SELECT key, value FROM meta"))
        if not stored:
            with self.db:
                self.db.executemany("INSERT INTO meta VALUES (?, ?)", wanted.items())
        elif stored != wanted:
            raise StoryIndexError(f"{path}: written with {stored}, opened with {wanted}; "
                                  "delete the file to rebuild the story index")

    def prune(self) -> int:
        """Delete rows older than the window (and drop them from the LSH); returns how many."""
        cutoff = isoformat_utc(self.now() - self.window)
        old = [r[0] for r in self.db.execute("SELECT id FROM articles WHERE at < ?", (cutoff,))]
        for article_id in old:
            if article_id in self.lsh:
                self.lsh.remove(article_id)
        with self.db:
            self.db.execute("DELETE FROM articles WHERE at < ?", (cutoff,))
        return len(old)

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]

    def get(self, article_id: str) -> tuple[str, LeanMinHash | None] | None:
        """``(story_id, signature)`` of a recorded article, or ``None``."""
        row = self.db.execute("SELECT story_id, hashvalues FROM articles WHERE id = ?",
                              (article_id,)).fetchone()
        if row is None:
            return None
        return row[0], (_lean(row[1], self.params.seed) if row[1] is not None else None)

    def best_match(self, sig: LeanMinHash) -> tuple[str, str, float] | None:
        """Closest recorded article by estimated Jaccard: ``(id, story_id, similarity)``, or
        ``None`` when no LSH candidate reaches ``threshold``."""
        best = None
        for candidate in self.lsh.query(sig):
            story_id, other = self.get(candidate)
            similarity = float(sig.jaccard(other))
            if similarity >= self.params.threshold and (best is None or similarity > best[2]):
                best = (candidate, story_id, similarity)
        return best

    def add(self, article: Article, story_id: str, sig: LeanMinHash | None) -> None:
        """Record ``article`` (needs ``id``) in ``story_id``; its signature joins the LSH."""
        blob = sig.hashvalues.astype(_DTYPE).tobytes() if sig is not None else None
        with self.db:
            self.db.execute("INSERT INTO articles VALUES (?, ?, ?, ?, ?)",
                            (article.id, article.outlet, isoformat_utc(_time(article)),
                             story_id, blob))
        if sig is not None:
            self.lsh.insert(article.id, sig, check_duplication=False)

    def story(self, story_id: str) -> Story | None:
        """The story's first outlet and time and its outlet/article counts (``None`` if
        unknown or pruned)."""
        rows = self.db.execute("SELECT outlet, at FROM articles WHERE story_id = ? ORDER BY at, rowid",
                               (story_id,)).fetchall()
        if not rows:
            return None
        return Story(story_id, rows[0][0], _parse(rows[0][1]),
                     len({r[0] for r in rows}), len(rows))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "StoryIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def assign_story(article: Article, index: StoryIndex) -> StoryDecision:
    """Set ``article.story_id`` (and ``duplicate_of`` for near-identical copies) and record it.

    Idempotent: an article id already recorded gets its recorded story back.

    Raises:
        ValueError: ``article.id`` is not set (the dedup stage sets it).
    """
    if not article.id:
        raise ValueError(f"{article.url}: article has no id; run the dedup stage first")
    known = index.get(article.id)
    if known is not None:
        article.story_id = known[0]
        return StoryDecision("joined" if known[0] != article.id else "new", known[0])
    sig = signature(article.text, index.params)
    match = index.best_match(sig) if sig is not None else None
    if match is None:
        decision = StoryDecision("new", article.id)
    else:
        matched, story_id, similarity = match
        duplicate = matched if similarity >= index.params.duplicate_threshold else None
        decision = StoryDecision("joined", story_id, matched, similarity, duplicate)
        # an article dedup has just made the original of earlier copies is no copy itself
        if duplicate and not article.duplicate_of and not getattr(article, "relinked", ()):
            article.duplicate_of = duplicate
    article.story_id = decision.story_id
    index.add(article, decision.story_id, sig)
    return decision


class StoryPipeline(StagePipeline):
    """Scrapy wrapper of :func:`assign_story` over ``<RASD_DATA_DIR>/stories.sqlite``.

    Counts ``rasd/stories/new`` or ``rasd/stories/joined`` (and ``rasd/stories/near_duplicate``
    when it set ``duplicate_of``); never drops an item.  Settings: ``RASD_STORIES_THRESHOLD``,
    ``RASD_STORIES_DUPLICATE_THRESHOLD``, ``RASD_STORIES_NUM_PERM``, ``RASD_STORIES_WINDOW_DAYS``.
    """

    def __init__(self, stats=None, store_path: str | Path = "data/stories.sqlite",
                 params: StoryParams = StoryParams(), window: timedelta = timedelta(days=7)):
        super().__init__(stats)
        self.store_path, self.params, self.window = store_path, params, window
        self.index: StoryIndex | None = None

    @classmethod
    def options_from_settings(cls, settings):
        d = StoryParams()
        params = StoryParams(
            num_perm=settings.getint("RASD_STORIES_NUM_PERM", d.num_perm),
            threshold=settings.getfloat("RASD_STORIES_THRESHOLD", d.threshold),
            duplicate_threshold=settings.getfloat("RASD_STORIES_DUPLICATE_THRESHOLD",
                                                  d.duplicate_threshold))
        return {"store_path": Path(settings.get("RASD_DATA_DIR", "data")) / "stories.sqlite",
                "params": params,
                "window": timedelta(days=settings.getfloat("RASD_STORIES_WINDOW_DAYS", 7))}

    def open_spider(self, spider=None) -> None:
        if self.index is None:
            self.index = StoryIndex(self.store_path, self.params, self.window)

    def close_spider(self, spider=None) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None

    def process_item(self, item: Article, spider=None) -> Article:
        self.open_spider()
        had_duplicate = item.duplicate_of
        decision = assign_story(item, self.index)
        self.count(f"rasd/stories/{decision.outcome}")
        if decision.duplicate_of and not had_duplicate:
            self.count("rasd/stories/near_duplicate")
        return item
