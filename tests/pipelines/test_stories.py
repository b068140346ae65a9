"""Tests of pipelines/stories.py against a pair set built from real corpus texts.

Fixtures (tests/fixtures/stories/): the seed article, the texts of the two seed HTML pages
(Euronews original and the aggregator copy with ``[ads3]``, "(EURONEWS)" and reader comments),
two BBC Arabic JSON articles that carry the same story (paragraph blocks of
simorgh_articles_c8j91j2ljppo.json / clr0em3yzkmo.json), seven jawharafm ground-truth texts and
one CNN Arabic text (all different stories).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rasd.pipelines.storyindex import (StoryIndex, StoryIndexError, StoryParams, minhash, optimal_bands,
                                      shingles, signature)
from rasd.pipelines.stories import (StoryPipeline, assign_story)
from rasd.core.article import Article

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stories"
T0 = datetime(2024, 1, 27, 13, 5, tzinfo=timezone.utc)


def text(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")


def lead(name: str, paragraphs: int) -> str:
    """A lead-only copy: the first ``paragraphs`` lines (a common way outlets syndicate)."""
    return "\n".join(text(name).splitlines()[:paragraphs])


def syndicated(original: str) -> str:
    """The seed as republished: credit and ad marker appended, hamza/alef spellings changed."""
    copy = original.replace("مسؤول", "مسئول").replace("أولى", "اولى").replace("إنهاء", "انهاء")
    assert copy != original
    return copy.rstrip() + " (EURONEWS)[ads3]\n"


def article(aid: str, body: str, outlet: str = "example", at: datetime = T0) -> Article:
    return Article(url=f"https://{outlet}.test/{aid}", outlet=outlet, text=body, id=aid,
                   published_at=at, fetched_at=at)


def now_fn(at: datetime = T0 + timedelta(days=1)):
    return lambda: at


# (a, b) texts of the same story
SAME = [
    ("seed-article", lambda: text("seed-article"), lambda: text("seed_euronews-original")),
    ("seed html copy", lambda: text("seed_euronews-original"),
     lambda: text("seed_aggregator-republished")),
    ("seed syndicated", lambda: text("seed-article"), lambda: syndicated(text("seed-article"))),
    ("bbc pair", lambda: text("bbc_arabic_c8j91j2ljppo"), lambda: text("bbc_arabic_clr0em3yzkmo")),
    ("seed lead-only", lambda: text("seed_euronews-original"),
     lambda: lead("seed_euronews-original", 8)),
    ("bbc lead-only", lambda: text("bbc_arabic_c8j91j2ljppo"),
     lambda: lead("bbc_arabic_c8j91j2ljppo", 14)),
]
STORIES = ["seed-article", "bbc_arabic_c8j91j2ljppo", "newspaper4k_arabic_article",
           *sorted(p.stem for p in FIXTURES.glob("antcorpus_JA-*.txt"))]
DIFFERENT = list(itertools.combinations(STORIES, 2))


def joins(tmp_path: Path, a: str, b: str) -> tuple[bool, float]:
    path = tmp_path / f"pair-{abs(hash((a, b)))}.sqlite"
    with StoryIndex(path, now=now_fn()) as index:
        assign_story(article("a", a, "one"), index)
        decision = assign_story(article("b", b, "two", T0 + timedelta(hours=1)), index)
    return decision.story_id == "a", decision.similarity


def test_pair_set_size():
    assert len(STORIES) == 10 and len(DIFFERENT) == 45 and len(SAME) == 6


def test_precision_recall_on_pair_set(tmp_path, capsys):
    tp = fn = fp = 0
    for name, a, b in SAME:
        joined, sim = joins(tmp_path, a(), b())
        print(f"same {name}: joined={joined} similarity={sim:.2f}")
        tp, fn = tp + joined, fn + (not joined)
    for a, b in DIFFERENT:
        joined, _ = joins(tmp_path, text(a), text(b))
        fp += joined
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    print(f"precision={precision:.3f} recall={recall:.3f} same={len(SAME)} different={len(DIFFERENT)}")
    assert precision == 1.0 and recall == 1.0


def test_threshold_gap_on_true_jaccard():
    """The default thresholds sit in the gap of the pair set's true 4-shingle Jaccard."""
    def jaccard(x, y):
        a, b = shingles(x), shingles(y)
        return len(a & b) / len(a | b)
    same = [jaccard(a(), b()) for _, a, b in SAME]
    different = [jaccard(text(a), text(b)) for a, b in DIFFERENT]
    p = StoryParams()
    assert min(same) > p.threshold + 0.1 > max(different) + 0.2
    assert 0.55 < min(same) < 0.7 and max(different) < 0.1


def test_syndicated_seed_joins_with_two_outlets_and_is_near_duplicate(tmp_path):
    with StoryIndex(tmp_path / "s.sqlite", now=now_fn()) as index:
        first = article("euronews-1", text("seed-article"), "euronews")
        copy = article("agg-1", syndicated(text("seed-article")), "aggregator",
                       T0 + timedelta(hours=17))
        assert assign_story(first, index).outcome == "new"
        decision = assign_story(copy, index)
        assert decision.outcome == "joined" and decision.similarity >= 0.8
        assert copy.story_id == first.story_id == "euronews-1"
        assert copy.duplicate_of == "euronews-1"
        story = index.story("euronews-1")
        assert (story.first_outlet, story.first_published_at, story.outlets, story.articles) == \
            ("euronews", T0, 2, 2)


def test_spelling_variants_give_identical_signature():
    original = text("seed-article")
    assert shingles(original) == shingles(original.replace("مسؤول", "مسئول").replace("أ", "ا"))
    assert signature(original).jaccard(signature(original.replace("أ", "ا"))) == 1.0


@pytest.mark.parametrize("name", ["seed-article", "seed_aggregator-republished", "bbc_arabic_c8j91j2ljppo",
                                  "newspaper4k_arabic_article"])
def test_signature_equals_datasketch_minhash(name):
    """Rasd's MinHash is datasketch's affine32 MinHash bit for bit (stores written with it stay
    valid), for the corpus texts and for seeds and sizes other than the defaults."""
    from datasketch import MinHash

    grams = shingles(text(name))
    for num_perm, seed in ((128, 1), (64, 7), (256, 1)):
        reference = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
        reference.update_batch(list(grams))
        assert minhash(grams, num_perm, seed).hashvalues.tolist() == reference.hashvalues.tolist()
    assert signature(text(name)).hashvalues.tolist() == minhash(grams).hashvalues.tolist()
    empty = MinHash(num_perm=16, seed=1, scheme="affine32")
    assert minhash(set(), 16).hashvalues.tolist() == empty.hashvalues.tolist() == [2 ** 32 - 1] * 16


def test_optimal_bands_equal_datasketch():
    from datasketch.lsh import _optimal_param

    assert optimal_bands(0.5, 128) == (25, 5)
    for threshold in (0.1, 0.3, 0.5, 0.7, 0.9):
        for num_perm in (64, 128, 256):
            assert optimal_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_making_signatures_imports_neither_datasketch_nor_scipy(tmp_path):
    """A crawl process that groups stories pays no import of datasketch or scipy (0.6–0.7 CPU-s)."""
    import subprocess
    import sys

    code = ("import sys; from rasd.pipelines.storyindex import StoryIndex, signature; "
            f"i = StoryIndex({str(tmp_path / 's.sqlite')!r}); s = signature('word ' * 50); i.best_match(s); "
            "print(sorted(m for m in ('datasketch', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lead_only_copy_joins_without_duplicate_of(tmp_path):
    with StoryIndex(tmp_path / "s.sqlite", now=now_fn()) as index:
        assign_story(article("bbc-1", text("bbc_arabic_c8j91j2ljppo"), "bbc"), index)
        short = article("x-1", lead("bbc_arabic_c8j91j2ljppo", 14), "x")
        decision = assign_story(short, index)
        assert decision.outcome == "joined" and short.story_id == "bbc-1"
        assert short.duplicate_of is None


def test_exact_dedup_duplicate_of_is_kept(tmp_path):
    with StoryIndex(tmp_path / "s.sqlite", now=now_fn()) as index:
        assign_story(article("a", text("seed-article"), "one"), index)
        copy = article("b", text("seed-article"), "two")
        copy.duplicate_of = "set-by-dedup"
        assign_story(copy, index)
        assert copy.story_id == "a" and copy.duplicate_of == "set-by-dedup"


@pytest.mark.parametrize("body", ["", "عاجل", "عاجل: انفجار في بغداد الآن والتفاصيل لاحقا"])
def test_tiny_texts_never_match(tmp_path, body):
    with StoryIndex(tmp_path / "s.sqlite", now=now_fn()) as index:
        one, two = article("t1", body), article("t2", body, "other")
        assert assign_story(one, index).outcome == "new"
        decision = assign_story(two, index)
        assert decision.outcome == "new" and two.story_id == "t2" and two.duplicate_of is None
        assert index.story("t2").articles == 1


def test_persistence_across_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    with StoryIndex(path, now=now_fn()) as index:
        assign_story(article("euronews-1", text("seed-article"), "euronews"), index)
    with StoryIndex(path, now=now_fn()) as index:
        assert len(index) == 1
        copy = article("agg-1", syndicated(text("seed-article")), "aggregator")
        assert assign_story(copy, index).outcome == "joined"
        assert copy.story_id == "euronews-1" and index.story("euronews-1").outlets == 2
        # reprocessing a recorded id is idempotent
        again = article("agg-1", syndicated(text("seed-article")), "aggregator")
        assert assign_story(again, index).story_id == "euronews-1"
        assert index.story("euronews-1").articles == 2


def test_window_pruning(tmp_path):
    path = tmp_path / "s.sqlite"
    with StoryIndex(path, now=now_fn()) as index:
        assign_story(article("old", text("seed-article"), "euronews"), index)
        assign_story(article("bbc", text("bbc_arabic_c8j91j2ljppo"), "bbc", T0 + timedelta(days=6)),
                     index)
    later = now_fn(T0 + timedelta(days=8))  # "old" is 8 days old, "bbc" 2 days
    with StoryIndex(path, now=later) as index:
        assert len(index) == 1 and index.story("old") is None
        copy = article("agg", syndicated(text("seed-article")), "aggregator", T0 + timedelta(days=8))
        assert assign_story(copy, index).outcome == "new"  # the original left the window
        bbc2 = article("bbc2", text("bbc_arabic_clr0em3yzkmo"), "bbc-mirror", T0 + timedelta(days=8))
        assert assign_story(bbc2, index).story_id == "bbc"


def test_other_parameters_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    StoryIndex(path, now=now_fn()).close()
    with pytest.raises(StoryIndexError, match="num_perm"):
        StoryIndex(path, StoryParams(num_perm=64), now=now_fn())


def test_article_without_id_refused(tmp_path):
    with StoryIndex(tmp_path / "s.sqlite", now=now_fn()) as index:
        with pytest.raises(ValueError, match="no id"):
            assign_story(Article(url="https://x.test/1", outlet="x", text="نص"), index)


class Stats:
    def __init__(self):
        self.values = {}

    def inc_value(self, key, n=1):
        self.values[key] = self.values.get(key, 0) + n


def test_pipeline_counts_and_settings(tmp_path):
    from scrapy.settings import Settings

    from rasd.pipelines.archive import ArchivePipeline
    options = StoryPipeline.options_from_settings(
        Settings({"RASD_DATA_DIR": str(tmp_path), "RASD_STORIES_THRESHOLD": "0.6"}))
    assert options["store_path"] == tmp_path / "stories.sqlite"
    assert options["params"].threshold == 0.6 and options["window"] == timedelta(days=7)
    stats = Stats()
    pipeline = StoryPipeline(stats=stats, **options)
    archive = ArchivePipeline(data_dir=str(tmp_path))  # records the story once archived
    recent = datetime.now(timezone.utc)
    archive.process_item(pipeline.process_item(article("a", text("seed-article"), "euronews", recent)))
    item = archive.process_item(pipeline.process_item(article("b", syndicated(text("seed-article")), "agg", recent)))
    assert pipeline.index.params.threshold == 0.6
    archive.close_spider()
    pipeline.close_spider()
    assert item.story_id == "a" and item.duplicate_of == "a"
    assert stats.values == {"rasd/stories/new": 1, "rasd/stories/joined": 1,
                            "rasd/stories/near_duplicate": 1}


def _copies():
    """An original, its syndicated copy, and a copy of that copy (one more line changed): the
    third is closer to the second than to the first, and near-identical to both."""
    original = text("seed-article")
    copy = syndicated(original)
    lines = copy.splitlines()
    copy_of_copy = "\n".join(lines[:-1] + ["— نقلًا عن وكالة أخرى —", lines[-1]]) + "\n"
    return original, copy, copy_of_copy


def test_a_copy_of_a_copy_points_at_the_first_publisher(tmp_path):
    """duplicate_of names the first publisher, not the closest copy: a third outlet's copy of
    story s0004 was archived with duplicate_of the *other copy* (found by a fresh-user trial)."""
    original, copy, copy_of_copy = _copies()
    index = StoryIndex(tmp_path / "s.sqlite", now=now_fn())
    o = article("orig", original, "first", T0)
    assign_story(o, index)
    c = article("copy", copy, "second", T0 + timedelta(hours=1))
    assign_story(c, index)
    assert c.duplicate_of == "orig"
    cc = article("copy2", copy_of_copy, "third", T0 + timedelta(hours=2))
    sig = signature(cc.text, index.params)
    closest = index.best_match(sig)
    assert closest[0] == "copy"  # the closest is the copy …
    assert dict((i, s) for i, _, s in index.near(sig, index.params.duplicate_threshold)).keys() == {"orig", "copy"}
    decision = assign_story(cc, index)
    assert (cc.duplicate_of, cc.story_id, decision.relinked) == ("orig", "orig", ())  # … the original is named


def test_a_late_copy_never_re_points_copies_of_an_earlier_original(tmp_path):
    """Crawl order: a copy (09:00), then the original (08:00, which re-points the copy), then
    another copy published at 08:47.  The 08:47 copy is a copy of the 08:00 original; it used
    to compare itself only with the closest article (the 09:00 copy), find itself earlier, and
    re-point that copy to itself."""
    original, copy, copy_of_copy = _copies()
    index = StoryIndex(tmp_path / "s.sqlite", now=now_fn())
    first_crawled = article("copy", copy, "second", T0 + timedelta(hours=1))
    assign_story(first_crawled, index)
    o = article("orig", original, "first", T0)
    decision = assign_story(o, index)
    assert o.duplicate_of is None and decision.relinked == ("copy",) and o.relinked == ("copy",)
    late = article("copy2", copy_of_copy, "third", T0 + timedelta(minutes=47))
    decision = assign_story(late, index)
    assert (late.duplicate_of, decision.relinked, late.relinked) == ("orig", (), ())


def test_an_earlier_original_re_points_every_near_duplicate_crawled_before_it(tmp_path):
    original, copy, copy_of_copy = _copies()
    index = StoryIndex(tmp_path / "s.sqlite", now=now_fn())
    assign_story(article("copy", copy, "second", T0 + timedelta(hours=1)), index)
    c2 = article("copy2", copy_of_copy, "third", T0 + timedelta(hours=2))
    assign_story(c2, index)
    assert c2.duplicate_of == "copy"  # the earliest known then
    o = article("orig", original, "first", T0)
    decision = assign_story(o, index)
    assert o.duplicate_of is None and set(o.relinked) == set(decision.relinked) == {"copy", "copy2"}
