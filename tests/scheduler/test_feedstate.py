"""crawler/feedstate.py: validators, unchanged bodies, the liar guard, commit only when finished."""

from rasd.crawler.feedstate import FeedState

URL = "https://www.youm7.com/rss.xml"


def test_validators_are_sent_after_a_committed_200(tmp_path):
    fs = FeedState(tmp_path / "fs.sqlite")
    assert fs.conditional_headers(URL) == {}
    assert fs.observe(URL, 200, '"a"', "Sun, 29 Nov 2026 10:00:00 GMT", b"<rss>1</rss>") == "changed"
    fs.commit()
    again = FeedState(tmp_path / "fs.sqlite")
    assert again.conditional_headers(URL) == {"If-None-Match": '"a"',
                                              "If-Modified-Since": "Sun, 29 Nov 2026 10:00:00 GMT"}
    assert again.observe(URL, 304, None, None, b"") == "not_modified"


def test_same_body_without_validators_counts_as_unchanged(tmp_path):
    fs = FeedState(tmp_path / "fs.sqlite")
    fs.observe(URL, 200, None, None, b"<rss>1</rss>")
    assert fs.observe(URL, 200, None, None, b"<rss>1</rss>") == "unchanged"
    assert fs.observe(URL, 200, None, None, b"<rss>2</rss>") == "changed"


def test_an_unchanged_etag_on_a_changed_body_marks_a_liar(tmp_path):
    fs = FeedState(tmp_path / "fs.sqlite")
    fs.observe(URL, 200, '"same"', None, b"<rss>1</rss>")
    assert fs.observe(URL, 200, '"same"', None, b"<rss>2</rss>") == "changed"
    fs.commit()
    assert fs.get(URL).liar
    assert fs.conditional_headers(URL) == {}  # its 304s could hide new items


def test_an_unfinished_run_leaves_no_state(tmp_path):
    fs = FeedState(tmp_path / "fs.sqlite")
    fs.observe(URL, 200, '"a"', None, b"x")
    fs.set_children(URL, ["https://www.youm7.com/sitemap-news.xml"])
    fs.discard()
    assert fs.get(URL) is None
    fs.observe(URL, 200, '"a"', None, b"x")
    fs.set_children(URL, ["https://www.youm7.com/sitemap-news.xml"])
    assert fs.commit() == 1
    assert FeedState(tmp_path / "fs.sqlite").children(URL) == ("https://www.youm7.com/sitemap-news.xml",)
