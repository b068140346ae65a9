"""The main job end to end: ``rasd crawl --replay`` over real recorded pages, twice.

Each crawl runs in a child process, as users and the scheduler run it (Scrapy's reactor cannot
restart within one process), against the real loopback replay server.  Expected values come
from the corpus's own ground truth (``fixtures/corpus/expected_crawl.json``, built by
``make_expected.py`` from the recording's ground-truth files, never from Rasd's output).
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
import subprocess
import sys
from pathlib import Path

import pytest

from rasd.core.archive import read_archive
from rasd.core.urls import canonicalize_url
from rasd.core.arabic import normalize

pytestmark = pytest.mark.integration

REPLAY = Path(__file__).resolve().parent / "fixtures" / "corpus"
EXPECTED = {canonicalize_url(url): exp for url, exp in
            json.loads((REPLAY / "expected_crawl.json").read_text(encoding="utf-8")).items()}


def _crawl(data_dir: Path) -> dict:
    env = dict(os.environ, RASD_LOG_LEVEL="INFO")
    proc = subprocess.run(
        [sys.executable, "-m", "rasd.cli.main", "crawl", "--replay", str(REPLAY), "--data-dir", str(data_dir), "--json"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _loose(title: str) -> str:
    """Titles compared without punctuation, spacing and spelling variants."""
    return "".join(ch for ch in normalize(title) if ch.isalnum())


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("replay-data")
    first = _crawl(data_dir)
    records = list(read_archive(data_dir / "archive"))
    second = _crawl(data_dir)
    return first, records, second, data_dir


def test_every_recorded_article_is_archived_once(crawled):
    first, records, _, _ = crawled
    urls = [canonicalize_url(r["url"]) for r in records]
    assert len(urls) == len(set(urls)) == len(EXPECTED) == 20
    assert set(urls) == set(EXPECTED)
    archived = sum(s["outcomes"].get("archived", 0) for s in first.values())
    pages = sum(sum(s["outcomes"].values()) for s in first.values())
    assert archived == pages == 20  # every page that entered ended archived


def test_titles_dates_and_languages_match_ground_truth(crawled):
    _, records, _, _ = crawled
    by_url = {canonicalize_url(r["url"]): r for r in records}
    for url, exp in EXPECTED.items():
        rec = by_url[url]
        assert rec["language"] == exp["language"], (exp["file"], rec["language"])
        if exp.get("title"):
            assert _loose(rec["title"]) == _loose(exp["title"]), (exp["file"], rec["title"])
        if exp.get("published_at"):
            assert rec["published_at"] == exp["published_at"].replace("+00:00", "Z"), exp["file"]
        elif exp.get("date"):
            assert rec["published_at"], exp["file"]
            got = datetime.fromisoformat(rec["published_at"].replace("Z", "+00:00"))
            want = date.fromisoformat(exp["date"])
            # a local calendar day of an outlet east of UTC (UTC+0..+5) starts the evening before in UTC
            same_local_day = got.date() == want or (
                exp.get("date_is_local") and got.date() == want - timedelta(days=1) and got.hour >= 19)
            assert same_local_day, (exp["file"], rec["published_at"], exp["date"])
    assert sorted(r["language"] for r in records).count("fa") == 3


def test_seed_copy_is_syndicated_with_credit(crawled):
    _, records, _, _ = crawled
    by_file = {EXPECTED[canonicalize_url(r["url"])]["file"]: r for r in records}
    original = by_file["seed/euronews-original.html"]
    copy = by_file["seed/aggregator-republished.html"]
    assert original["outlet"] == "euronews_arabic" and original["duplicate_of"] is None
    assert copy["duplicate_of"] == original["id"]
    assert copy["source_credit"] == "Euronews" and original["source_credit"] is None
    for rec in (original, copy):
        assert rec["text"].endswith("وأصيب العشرات من الجنود الامريكيين.")
        assert "[ads3]" not in rec["text"] and "EURONEWS" not in rec["text"]


def test_second_run_fetches_no_article_again(crawled):
    first, _, second, data_dir = crawled
    pages = sum(sum(s["outcomes"].values()) for s in second.values())
    known = sum(s["links"].get("known", 0) for s in second.values())
    assert pages == 0
    assert known == 20  # the links of the 304 listings, remembered from the first run, all known
    read = sum(s["listings_ok"] for s in first.values())
    assert read > 0 and sum(s["listings_not_modified"] for s in second.values()) == read
    assert sum(s["listings_ok"] + s["listings_failed"] for s in second.values()) == 0
    assert len(list(read_archive(data_dir / "archive"))) == 20
