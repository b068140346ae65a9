"""End-of-crawl summary built from ``crawler.stats`` (Scrapy's own pattern for reports).

:func:`summarize` folds the ``rasd/…`` counters into one :class:`OutletSummary` per outlet;
:func:`summary_table` renders them for people (rich); :class:`OutcomeSummary` logs the same
numbers as ``key=value`` lines for operators when the spider closes.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table
from scrapy import signals

from rasd.pipelines.base import OUTCOME_PREFIX, outcome_key

logger = logging.getLogger(__name__)


@dataclass
class OutletSummary:
    """One outlet's crawl, in counts. ``outcomes`` adds up to the article pages that entered."""

    outlet: str
    listings_ok: int = 0
    listings_failed: int = 0
    listings_not_modified: int = 0  # answered 304 or with the same body: their remembered links were followed
    links: Counter = field(default_factory=Counter)  # listed, known, off_domain, too_old, …
    outcomes: Counter = field(default_factory=Counter)  # archived, duplicate, skipped/…, failed/…, deferred/…
    syndicated: int = 0
    listing_failures: Counter = field(default_factory=Counter)  # dns, timeout, invalid_feed, …
    listings_skipped: int = 0  # refused as hostile, never parsed (unsafe_encoding, xml_entities)
    listing_refusals: Counter = field(default_factory=Counter)
    dates_refused: int = 0  # listing dates dropped as evidence (before 1990, a day ahead, bogus text)
    #: conditional GET: fetch/200, fetch/304, fetch/forced, fetch/failed, bytes_saved,
    #: bytes_spent, hidden_entries, validators_ignored, unconditional/<why>
    conditional: Counter = field(default_factory=Counter)

    @property
    def pages(self) -> int:
        return sum(self.outcomes.values())

    def grouped(self, kind: str) -> dict[str, int]:
        """Outcomes of one kind (``skipped``, ``failed`` or ``deferred``) by reason."""
        return {k.split("/", 1)[1]: v for k, v in self.outcomes.items() if k.startswith(kind + "/")}


def summarize(stats: dict[str, Any]) -> dict[str, OutletSummary]:
    """Per-outlet summaries from a stats dict (``crawler.stats.get_stats()``)."""
    out: dict[str, OutletSummary] = {}

    def get(slug: str) -> OutletSummary:
        return out.setdefault(slug, OutletSummary(slug))

    for key, value in stats.items():
        if not isinstance(value, int) or not key.startswith("rasd/"):
            continue
        if key.startswith(OUTCOME_PREFIX):
            slug, _, outcome = key[len(OUTCOME_PREFIX):].partition("/")
            get(slug).outcomes[outcome] += value
        elif key.startswith("rasd/listings/"):
            slug, _, what = key[len("rasd/listings/"):].partition("/")
            if what == "ok":
                get(slug).listings_ok += value
            elif what == "failed":
                get(slug).listings_failed += value
            elif what == "not_modified":
                get(slug).listings_not_modified += value
            elif what.startswith("failed/"):
                get(slug).listing_failures[what.split("/", 1)[1]] += value
            elif what == "skipped":
                get(slug).listings_skipped += value
            elif what.startswith(("fetch/", "unconditional/")) or what in (
                    "bytes_saved", "bytes_spent", "hidden_entries", "validators_ignored"):
                get(slug).conditional[what] += value
            elif what.startswith("skipped/"):
                get(slug).listing_refusals[what.split("/", 1)[1]] += value
        elif key.startswith("rasd/links/"):
            slug, _, what = key[len("rasd/links/"):].partition("/")
            get(slug).links[what] += value
        elif key.startswith("rasd/archived_syndicated/"):
            get(key.rsplit("/", 1)[1]).syndicated += value
        elif key.startswith("rasd/dates/") and key.endswith("/refused"):
            get(key[len("rasd/dates/"):-len("/refused")]).dates_refused += value
    return dict(sorted(out.items()))


def outlet_summary(stats: dict[str, Any], slug: str) -> dict:
    """One outlet's run as the one-line JSON summary a scheduled run reports (the scheduler's
    child, and a fleet worker per poll): ``{"listings_ok", "listings_failed",
    "listings_skipped", "listing_failures", "listing_refusals", "dates_refused", "conditional",
    "links", "outcomes", "syndicated", "not_modified", "pages", "finish_reason",
    "interrupted"}``."""
    s = summarize(stats).get(slug)
    out = {"listings_ok": 0, "listings_failed": 0, "listings_skipped": 0, "listing_failures": {},
           "listing_refusals": {}, "dates_refused": 0, "conditional": {}, "links": {}, "outcomes": {},
           "syndicated": 0}
    if s is not None:
        out = {"listings_ok": s.listings_ok, "listings_failed": s.listings_failed,
               "listings_skipped": s.listings_skipped, "listing_failures": dict(s.listing_failures),
               "listing_refusals": dict(s.listing_refusals), "dates_refused": s.dates_refused,
               "conditional": dict(s.conditional),
               "links": dict(s.links), "outcomes": dict(s.outcomes), "syndicated": s.syndicated}
    out["not_modified"] = int(stats.get(f"rasd/listings/{slug}/not_modified", 0))
    out["pages"] = sum(out["outcomes"].values())
    out["finish_reason"] = stats.get("finish_reason")
    out["interrupted"] = bool(stats.get("rasd/interrupted"))
    return out


def _reasons(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items()))


def _total(summaries: dict[str, OutletSummary]) -> OutletSummary:
    total = OutletSummary("total")
    for s in summaries.values():
        total.listings_ok += s.listings_ok
        total.listings_failed += s.listings_failed
        total.listings_not_modified += s.listings_not_modified
        total.links.update(s.links)
        total.outcomes.update(s.outcomes)
        total.syndicated += s.syndicated
        total.listing_failures.update(s.listing_failures)
        total.listings_skipped += s.listings_skipped
        total.listing_refusals.update(s.listing_refusals)
        total.dates_refused += s.dates_refused
        total.conditional.update(s.conditional)
    return total


def _row(s: OutletSummary) -> list[str]:
    return [s.outlet, str(s.listings_ok), str(s.listings_not_modified), str(s.listings_failed + s.listings_skipped),
            str(s.links["listed"]), str(s.links["known"]), str(s.pages), str(s.outcomes["archived"]),
            str(s.syndicated), str(s.outcomes["duplicate"]), str(sum(s.grouped("skipped").values())),
            str(sum(s.grouped("failed").values())), str(sum(s.grouped("deferred").values()))]


#: listing entries refused before any request (crawler.feeds.filter_entries), shown in the caption
REFUSED_LINKS = ("off_domain", "not_http", "bad_url")


def summary_table(summaries: dict[str, OutletSummary], title: str = "Crawl summary") -> Table:
    """A rich table: one row per outlet plus a total row; the caption gives skip/fail reasons.

    Columns: feeds and sitemaps read, those unchanged since the last crawl (a 304 or the same
    body: their remembered links are listed again), those that failed or were refused (caption:
    ``feeds refused (skipped): unsafe_encoding 1``), links listed, links already
    known (not refetched), article pages requested (each ends in one of the outcome columns),
    archived, syndicated copies linked, duplicates dropped, skipped, failed, deferred (left
    for a later run by a server's ``Retry-After``).
    """
    table = Table(title=title, show_lines=False)
    table.add_column("outlet", no_wrap=True)
    for name in ("feeds", "unchanged", "feed errors", "links", "known", "pages", "archived", "copies", "dup",
                 "skipped", "failed", "deferred"):
        table.add_column(name, justify="right")
    for s in summaries.values():
        table.add_row(*_row(s))
    total = _total(summaries)
    table.add_section()
    table.add_row(*_row(total), style="bold")
    notes = [f"{kind}: {_reasons(total.grouped(kind))}" for kind in ("skipped", "failed", "deferred")
             if total.grouped(kind)]
    if total.listing_failures:
        notes.append(f"feeds failed: {_reasons(dict(total.listing_failures))}")
    if total.listing_refusals:
        notes.append(f"feeds refused (skipped): {_reasons(dict(total.listing_refusals))}")
    refused = {k: total.links[k] for k in REFUSED_LINKS if total.links.get(k)}
    if refused:  # listed by a feed or sitemap but not the outlet's page to fetch (not in a column)
        notes.append(f"links refused: {_reasons(refused)}")
    if total.dates_refused:
        notes.append(f"listing dates refused: {total.dates_refused}")
    c = total.conditional
    if c["bytes_saved"] or c["bytes_spent"] or c["fetch/forced"]:
        notes.append(f"conditional GET: {c['bytes_saved']:,} bytes saved by 304s, {c['bytes_spent']:,} spent "
                     f"on {c['fetch/forced']} forced and distrusted full fetches")
    if c["validators_ignored"]:
        notes.append(f"listings newly found hiding items behind 304s: {c['validators_ignored']} "
                     "(polled unconditionally from now on)")
    table.caption = "; ".join(notes) or None
    return table


class OutcomeSummary:
    """Scrapy extension: logs one ``crawl_summary outlet=… archived=…`` line per outlet, and
    gives a page whose item a stage failed on with an unexpected exception (a bug, not bad
    input: Scrapy's ``item_error``) its outcome, ``failed/stage_error``, so every page still
    ends in one counted outcome (the URL is not remembered: the next run fetches it again)."""

    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler.stats)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.item_error, signal=signals.item_error)
        return ext

    def item_error(self, item, response=None, spider=None, failure=None, **kwargs) -> None:
        outlet = getattr(item, "outlet", None) or "?"
        self.stats.inc_value(outcome_key(outlet, "failed/stage_error"))
        error = failure.value if failure is not None else None
        logger.error("stage_error outlet=%s url=%s error=%s: %s", outlet,
                     str(getattr(item, "url", ""))[:300], type(error).__name__, error)

    def spider_closed(self, spider, reason):
        for s in summarize(self.stats.get_stats()).values():
            parts = " ".join(f"{k.replace('/', '.')}={v}" for k, v in sorted(s.outcomes.items()))
            logger.info("crawl_summary outlet=%s listings_ok=%d listings_not_modified=%d "
                        "listings_failed=%d listed=%d known=%d pages=%d %s", s.outlet, s.listings_ok,
                        s.listings_not_modified, s.listings_failed, s.links["listed"],
                        s.links["known"], s.pages, parts)
