"""Shared helpers for the extraction/cleaning/dates tests: fixture paths, the manifest, and the
three stages run the way the crawl runs them (extract → clean → dates)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from rasd.pipelines.clean import CleaningRules, clean_article, load_cleaning_rules
from rasd.pipelines.dates import resolve_published_at
from rasd.pipelines.extract import extract_article
from rasd.core.article import Article

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORPUS = FIXTURES / "corpus"
CASES = FIXTURES / "cases"
#: A fixed crawl time, so "not in the future" checks do not depend on the test date.
FETCHED_AT = datetime(2025, 1, 1, tzinfo=timezone.utc)


def simorgh_text(path: Path, keys: tuple[str, ...] = ("text",)) -> str:
    """The string values under ``keys`` of a BBC simorgh JSON file (article text blocks, and
    captions with ``keys=("text", "caption")``), in document order, each once."""
    blocks: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in keys and isinstance(value, str):
                    blocks.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return "\n".join(dict.fromkeys(blocks))


@cache
def manifest() -> dict[str, str]:
    """Corpus file (relative path) → original URL."""
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as fh:
        return {row["file"]: row["url"] for row in csv.DictReader(fh, delimiter="\t")}


@cache
def rules() -> CleaningRules:
    return load_cleaning_rules()


def read_json(rel: str):
    return json.loads((CORPUS / rel).read_text(encoding="utf-8"))


def article_for(html: str, url: str = "https://news.example/a/1", **fields) -> Article:
    fields.setdefault("fetched_at", FETCHED_AT)
    return Article(url=url, outlet=fields.pop("outlet", "test"), html=html, **fields)


def run_stages(article: Article, hints=None) -> Article:
    """extract → clean → dates, as the Scrapy pipelines chain them."""
    extract_article(article, hints)
    clean_article(article, rules(), hints)
    return resolve_published_at(article)


def corpus_article(rel: str, **fields) -> Article:
    """The corpus page ``rel`` through all three stages, with its manifest URL."""
    html = (CORPUS / rel).read_text(encoding="utf-8")
    return run_stages(article_for(html, manifest()[rel] or "https://unknown.example/", **fields))


def case_html(case: str, name: str = "input.html") -> str:
    return (CASES / case / name).read_text(encoding="utf-8")


def words(text: str | None) -> str:
    """Whitespace-normalised text for comparisons with ground truth."""
    return " ".join((text or "").split())
