"""The crawl summary folds Rasd's stats counters per outlet."""

from rich.console import Console

from rasd.crawler.extensions import summarize, summary_table

STATS = {
    "rasd/outcome/bbc_arabic/archived": 5,
    "rasd/outcome/bbc_arabic/duplicate": 1,
    "rasd/outcome/bbc_arabic/skipped/too_little_text": 2,
    "rasd/outcome/dw_arabic/failed/http_404": 1,
    "rasd/outcome/dw_arabic/deferred/retry_after": 2,
    "rasd/listings/bbc_arabic/ok": 2,
    "rasd/listings/bbc_arabic/not_modified": 1,
    "rasd/listings/bbc_arabic/not_modified/not_modified": 1,
    "rasd/listings/dw_arabic/failed": 1,
    "rasd/listings/dw_arabic/failed/dns": 1,
    "rasd/links/bbc_arabic/listed": 9,
    "rasd/links/bbc_arabic/known": 1,
    "rasd/archived_syndicated/bbc_arabic": 1,
    "downloader/request_count": 12,
}


def test_summarize_per_outlet():
    s = summarize(STATS)
    assert list(s) == ["bbc_arabic", "dw_arabic"]
    bbc, dw = s["bbc_arabic"], s["dw_arabic"]
    assert (bbc.pages, bbc.outcomes["archived"], bbc.syndicated, bbc.links["listed"]) == (8, 5, 1, 9)
    assert (bbc.listings_ok, bbc.listings_not_modified, dw.listings_not_modified) == (2, 1, 0)
    assert bbc.grouped("skipped") == {"too_little_text": 2}
    assert (dw.listings_failed, dw.listing_failures["dns"], dw.grouped("failed")) == (1, 1, {"http_404": 1})


def test_table_shows_totals_and_reasons():
    console = Console(width=160, record=True)
    console.print(summary_table(summarize(STATS)))
    text = console.export_text()
    total = next(line for line in text.splitlines() if "total" in line)
    assert [cell.strip() for cell in total.split("│")[1:-1]] == ["total", "2", "1", "1", "9", "1", "11", "5", "1", "1", "2", "1", "2"]
    assert "skipped: too_little_text 2" in text and "failed: http_404 1" in text
    assert "deferred: retry_after 2" in text
    assert "feeds failed: dns 1" in text


def test_a_stage_bug_still_ends_the_page_in_one_counted_outcome():
    """Scrapy's item_error (a stage raised an unexpected exception) gives the page
    ``failed/stage_error``: a fleet worker's poll waits for every requested page's outcome, so a
    page without one kept the poll running until its deadline."""
    from scrapy import signals as scrapy_signals
    from scrapy.utils.test import get_crawler
    from twisted.python.failure import Failure

    from rasd.core.article import Article
    from rasd.crawler.extensions import OutcomeSummary

    crawler = get_crawler()
    extension = OutcomeSummary.from_crawler(crawler)  # noqa: F841 (signals hold weak references)
    item = Article(url="https://akhbar.example/a/1", outlet="akhbar", text="نص")
    try:
        raise AttributeError("'RedisStoryIndex' object has no attribute 'time_of'")
    except AttributeError:
        failure = Failure()
    results = crawler.signals.send_catch_log(scrapy_signals.item_error, item=item, response=None,
                                             spider=None, failure=failure)
    assert all(not isinstance(r, Failure) for _, r in results), results
    assert crawler.stats.get_value("rasd/outcome/akhbar/failed/stage_error") == 1


def test_links_refused_before_any_request_are_in_the_caption():
    """Off-domain, non-HTTP and unreadable listing entries have no column; the caption counts
    them (before: only in --json and the log)."""
    from rasd.crawler.extensions import OutletSummary, summary_table

    s = OutletSummary("x")
    s.links.update({"listed": 3, "off_domain": 2, "not_http": 1})
    assert summary_table({"x": s}).caption == "links refused: not_http 1, off_domain 2"
