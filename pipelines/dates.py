"""Dates stage: choose an article's ``published_at`` among its candidates
(:func:`resolve_published_at`); one date string is read by :func:`rasd.core.datetext.parse_date_text`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from lxml import etree

from rasd.pipelines.base import StagePipeline
from rasd.core.article import Article
from rasd.core.datetext import _HAS_YEAR, _gregorian_candidates, fold, parse_date_text  # noqa: F401  (fold: extract's)


# --------------------------------------------------------------------------------------------
# Choosing an article's publication date

#: Candidate sources, most trusted first.  ``feed``/``sitemap`` come from the listing entry
#: (``Article.feed_published_at``); the others from the page (``Article.date_candidates``).
SOURCES = ("feed", "sitemap", "jsonld", "meta", "page_text", "htmldate")
_RANK = {s: i for i, s in enumerate(SOURCES)}
MIN_PUBLISHED = datetime(1995, 1, 1, tzinfo=timezone.utc)
#: Tolerance for clocks and zones: a date up to this far after ``fetched_at`` is accepted.
FUTURE_TOLERANCE = timedelta(days=1)


def is_plausible(value: datetime, fetched_at: datetime) -> bool:
    """A publication date is kept only between 1995-01-01 and ``fetched_at`` + 1 day."""
    return MIN_PUBLISHED <= value <= fetched_at + FUTURE_TOLERANCE


def _feed_source(article: Article) -> str:
    return "sitemap" if article.feed_url and "sitemap" in article.feed_url.lower() else "feed"


def resolve_published_at(article: Article, candidates: Iterable[tuple[str, str]] | None = None,
                         zone=None) -> Article:
    """Set ``published_at``/``published_at_source``/``published_at_reason`` on ``article``.

    Args:
        article: an :class:`rasd.core.article.Article`; its ``feed_published_at`` (the feed's or
            sitemap's date) wins over anything on the page.
        candidates: ``(source, raw_text)`` pairs with ``source`` in :data:`SOURCES`; default
            ``article.date_candidates`` (collected by ``rasd.pipelines.extract`` from the one parse
            of the page).  Tried in :data:`SOURCES` order, then in the given order.
        zone: a ``tzinfo`` for times written without a zone (the outlet's seed ``timezone``);
            default UTC.

    Returns:
        The same article.  ``published_at`` is an aware UTC datetime between 1995 and
        ``fetched_at`` + 1 day, or ``None`` with ``published_at_reason`` one of
        ``no_date_found``, ``only_year_found`` (a year but no complete date, e.g. htmldate's
        1 January guess was rejected) or ``date_out_of_range`` (only future/pre-1995 dates).
    """
    fetched_at = article.fetched_at
    found: list[tuple[int, str, datetime | None, str]] = []
    if article.feed_published_at is not None:
        feed = article.feed_published_at
        feed = feed if feed.tzinfo else feed.replace(tzinfo=zone or timezone.utc)
        found.append((0, _feed_source(article), feed.astimezone(timezone.utc), ""))
    pairs = article.date_candidates if candidates is None else candidates
    for i, (source, text) in enumerate(pairs):
        found.append((_RANK.get(source, len(SOURCES)) * 1000 + i, source, None, text))
    saw_year = saw_out_of_range = False
    for _, source, value, text in sorted(found, key=lambda c: c[0]):
        if value is None:
            value = parse_date_text(text, fallback=source != "htmldate", zone=zone)
        if value is None:
            saw_year = saw_year or bool(_HAS_YEAR.search(fold(text)))
        elif not is_plausible(value, fetched_at):
            saw_out_of_range = True
        else:
            article.published_at, article.published_at_source, article.published_at_reason = value, source, None
            return article
    article.published_at = article.published_at_source = None
    article.published_at_reason = (
        "only_year_found" if saw_year else "date_out_of_range" if saw_out_of_range else "no_date_found"
    )
    return article


def has_plausible_date(candidates: Iterable[tuple[str, str]], fetched_at: datetime) -> bool:
    """True when one of the ``(source, text)`` candidates parses to a plausible date (used by
    ``rasd.pipelines.extract`` to decide whether the costly htmldate search is needed)."""
    for _, text in candidates:
        value = parse_date_text(text, fallback=False)
        if value is not None and is_plausible(value, fetched_at):
            return True
    return False


#: Removed before htmldate looks at a page: scripts, lists, navigation and sidebar-like blocks
#: (plain contains() on lower-case class/id: EXSLT regex in XPath calls Python per element).
_BOILERPLATE = etree.XPath(
    "//script|//style|//noscript|//ul|//ol|//aside|//nav|//footer|//header|//*[" + " or ".join(
        f"contains(@class,'{w}') or contains(@id,'{w}')"
        for w in ("sidebar", "widget", "related", "popular", "most", "tab", "menu", "comment", "ticker", "top")
    ) + "]"
)


_MARKUP_VALUES = etree.XPath("//meta[@content]|//time[@datetime]|//abbr[@title]|//*[@itemprop][@content]")


def htmldate_candidate(tree, url: str | None, fetched_at: datetime) -> tuple[str, str] | None:
    """Last resort: htmldate on the parsed page stripped of scripts, lists and boilerplate.

    The stripping happens *in place*: call this last, when nothing else needs ``tree``.
    htmldate's extensive text search takes dates from "most read" lists, podcast titles and
    script literals (case 05; the Jawhara FM pages), so it runs in markup-only mode
    (``extensive_search=False``, ``original_date=True``, the URL as a source).  Its result is
    kept only when the page or URL writes that day in full: htmldate turns "2023" into
    2023-01-01 (cases 05 B, 07) and "2023-01" into a day of its choosing.  Otherwise only the
    year is returned, which :func:`resolve_published_at` reports as ``only_year_found``.

    Returns ``("htmldate", "YYYY-MM-DD")``, ``("htmldate", "YYYY")`` or ``None``.
    """
    for el in _BOILERPLATE(tree):
        if el.getparent() is not None:
            el.drop_tree()
    try:
        from htmldate import find_date  # only for pages without a cheaper date (in a worker)

        found = find_date(tree, url=url, original_date=True, extensive_search=False,
                          min_date=MIN_PUBLISHED.date().isoformat(),
                          max_date=(fetched_at + FUTURE_TOLERANCE).date().isoformat())
    except Exception:  # htmldate raises assorted errors on odd pages; a date is optional
        return None
    if not found:
        return None
    day = datetime.fromisoformat(found).date()
    marked = " ".join(v for el in _MARKUP_VALUES(tree) for v in el.values())
    evidence = f"{url or ''} {marked} {tree.text_content()}"
    written = {day.strftime(f) for f in ("%Y%m%d", "%Y/%m/%d", "%Y-%m-%d")} | {f"{day.year}/{day.month}/{day.day}"}
    if any(w in evidence for w in written) or any(d.date() == day for _, d in _gregorian_candidates(fold(evidence))):
        return ("htmldate", found)
    return ("htmldate", found[:4])


class DatesPipeline(StagePipeline):
    """Scrapy wrapper of :func:`resolve_published_at`.

    Never drops: an undated article is archived with ``published_at_reason``.  Counts
    ``rasd/dates/source/<source>`` (``none`` when undated) and ``rasd/dates/reason/<reason>``;
    these are stage counters, not outcomes.  Times written without a zone are read in the
    outlet's ``timezone`` (its seed; ``spider.outlets[item.outlet]``), else UTC.
    """

    def process_item(self, item, spider=None):
        outlet = (getattr(spider, "outlets", None) or {}).get(getattr(item, "outlet", None))
        resolve_published_at(item, zone=outlet.zone() if outlet is not None else None)
        self.count(f"rasd/dates/source/{item.published_at_source or 'none'}")
        if item.published_at is None:
            self.count(f"rasd/dates/reason/{item.published_at_reason}")
        return item
