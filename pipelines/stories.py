"""Stories stage: near-duplicate detection with MinHash LSH over a sliding window.

Exact copies are :mod:`rasd.pipelines.dedup`'s job (content hash); this stage groups articles that
tell the same story in *nearly* the same words — a syndicated copy with a credit line and ads
appended, a lightly edited rewrite — into one story.

Method (Broder, "On the resemblance and containment of documents", 1997; datasketch's
``MinHash`` and ``MinHashLSH``, https://ekzhu.com/datasketch/lsh.html):

* :func:`shingles` — the set of ``shingle_size``-token word shingles (default 4) over
  :func:`rasd.core.arabic.tokens`, i.e. over the *folded* text, so hamza-seat and alef spelling
  variants (مسؤول / مسئول, أ / ا) give identical shingles and never split a story;
* :func:`signature` — a ``MinHash`` of those shingles: ``num_perm`` (default 128) uint32 hash
  values, datasketch's scheme ``affine32`` (computed by Rasd with numpy, bit for bit the same,
  without importing datasketch and scipy), fixed ``seed`` (default 1), so signatures stored in
  one run are comparable in the next;
* :class:`StoryIndex` — the LSH (candidate threshold ``threshold``) stored and queried in
  SQLite: every article's signature (``num_perm * 4`` bytes blob) with id, outlet, time and
  story id, and one row per LSH band key, so a lookup touches only its candidates and opening
  the store loads nothing; rows older than the window (default 7 days) are pruned.  It follows
  the archive like the seen-URL store (:mod:`rasd.pipelines.ledger`);
* :func:`decide_story` (the crawl's stage) and :func:`assign_story` (decide and record) — join the article to the story of its most similar earlier article
  when their estimated Jaccard similarity is ≥ ``threshold`` (LSH candidates are verified, so
  LSH false positives never join), else starts a new story with ``story_id = article.id``;
  when the similarity is ≥ ``duplicate_threshold`` the article is also marked
  ``duplicate_of`` the *first publisher* among its near-duplicates (every recorded article that
  similar, the earliest ``published_at``, else ``fetched_at``; not the closest, which may be a
  copy itself), unless exact dedup already set it — or, if it was *published* earlier than all
  of them, it is the original whatever the crawl order, and those crawled first are re-pointed
  to it (their ids in ``Article.relinked``: a ``links`` amendment in the archive, applied by the seen store, the
  index follower and :func:`rasd.core.archive.read_archive`, as for exact copies).  The story id
  stays the one the story was given first: ids already sent in notifications and linked from
  the web (``/story/<id>``) keep working; the alert store re-points the story to its first
  publisher (:mod:`rasd.alerts.outbox`) without a second notification.

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

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path


from rasd.pipelines.base import StagePipeline
from rasd.pipelines.storyindex import StoryIndex, StoryParams, _time, signature
from rasd.core.article import Article, isoformat_utc
from rasd.core.failpoints import failpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """Outcome of :func:`assign_story`: ``new`` (started a story) or ``joined``; ``similarity``
    is the estimated Jaccard with ``matched`` (the closest earlier article), if any;
    ``relinked``: the near-duplicate crawled earlier that this earlier-published article made
    its copy."""

    outcome: str
    story_id: str
    matched: str | None = None
    similarity: float = 0.0
    duplicate_of: str | None = None
    relinked: tuple[str, ...] = ()


def decide_story(article: Article, index: StoryIndex) -> StoryDecision:
    """Set ``article.story_id`` (and ``duplicate_of`` for near-identical copies, and
    ``article.minhash``) from what ``index`` holds, without recording the article (the crawl
    records it from its archive line: :meth:`StoryIndex.apply`).

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
    article.minhash = sig
    # one candidate query: the closest (the story to join) and the near-duplicates come from it
    found = index.near(sig, index.params.threshold) if sig is not None else []
    match = found[0] if found else None
    if match is None:
        decision = StoryDecision("new", article.id)
    else:
        matched, story_id, similarity = match
        # the near-duplicates (≥ duplicate_threshold), oldest first: the first publisher is the
        # earliest of them, not the closest, which may itself be a copy (a third copy used to
        # get duplicate_of the second copy, and a late copy could re-point the first one)
        near = [f for f in found if f[2] >= index.params.duplicate_threshold]
        times = {d: t for d, _, _ in near if (t := index.time_of(d)) is not None}
        dated = sorted((times[d], d) for d in times)
        mine = isoformat_utc(_time(article))
        if dated and not article.duplicate_of and mine < dated[0][0]:
            # published before every near-duplicate crawled earlier: this article is the
            # original, and they become its copies (``links`` amendments, as dedup re-points
            # exact copies)
            later = tuple(d for _, d in dated if d not in article.relinked)
            article.relinked = (*article.relinked, *later)
            decision = StoryDecision("joined", story_id, matched, similarity, None, tuple(d for _, d in dated))
        else:
            duplicate = dated[0][1] if dated else None
            decision = StoryDecision("joined", story_id, matched, similarity, duplicate)
            # an article dedup has just made the original of earlier copies is no copy itself
            if duplicate and not article.duplicate_of and not getattr(article, "relinked", ()):
                article.duplicate_of = duplicate
    article.story_id = decision.story_id
    return decision


def assign_story(article: Article, index: StoryIndex) -> StoryDecision:
    """:func:`decide_story`, then record the article in ``index`` at once — for tools and
    tests; a crawl records it from its archive line.  Idempotent: an article id already
    recorded gets its recorded story back.

    Raises:
        ValueError: ``article.id`` is not set (the dedup stage sets it).
    """
    known = index.get(article.id) if article.id else None
    decision = decide_story(article, index)
    if known is None:
        index.add(article, decision.story_id, article.minhash)
    return decision


class StoryPipeline(StagePipeline):
    """Scrapy wrapper of :func:`decide_story` over the data directory's story window
    (``<RASD_DATA_DIR>/stories.sqlite``, opened through the :class:`~rasd.pipelines.ledger.Ledger`;
    the archive stage records the article once its line is durable).

    Counts ``rasd/stories/new`` or ``rasd/stories/joined`` (and ``rasd/stories/near_duplicate``
    when it set ``duplicate_of``, ``rasd/stories/relinked`` when the article, published
    earlier, made the copy crawled before it its near-duplicate); never drops an item.  Settings: ``RASD_STORIES_THRESHOLD``,
    ``RASD_STORIES_DUPLICATE_THRESHOLD``, ``RASD_STORIES_NUM_PERM``, ``RASD_STORIES_WINDOW_DAYS``.
    """

    def __init__(self, stats=None, store_path: str | Path = "data/stories.sqlite",
                 params: StoryParams = StoryParams(), window: timedelta = timedelta(days=7),
                 ledger=None):
        super().__init__(stats)
        self.store_path, self.params, self.window = Path(store_path), params, window
        self._ledger = ledger

    @property
    def ledger(self):
        if self._ledger is None:
            from rasd.pipelines.ledger import Ledger

            self._ledger = Ledger.shared(self.store_path.parent, story_params=self.params,
                                         window=self.window)
        return self._ledger

    @property
    def index(self) -> StoryIndex:
        return self.ledger.stories

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
        self.index  # noqa: B018  (open and catch up before the first page)

    def close_spider(self, spider=None) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def process_item(self, item: Article, spider=None) -> Article:
        ledger = self.ledger
        ledger.begin()  # held already when the dedup stage ran (re-entrant no-op)
        had_duplicate = item.duplicate_of
        decision = decide_story(item, ledger.stories)
        failpoint("in_stories")
        self.count(f"rasd/stories/{decision.outcome}")
        if decision.duplicate_of and not had_duplicate:
            self.count("rasd/stories/near_duplicate")
        if decision.relinked:
            self.count("rasd/stories/relinked")  # an earlier publisher re-pointed a copy
        return item
