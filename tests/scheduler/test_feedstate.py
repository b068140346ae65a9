"""crawler/feedstate.py: validators, unchanged bodies, remembered entries, the liar guard,
commit only when finished."""

import sqlite3
from datetime import datetime, timezone

from rasd.crawler.feeds import FeedEntry
from rasd.crawler.feedstate import FeedState

URL = "https://www.youm7.com/rss.xml"
ENTRIES = (FeedEntry("https://www.youm7.com/story/1", "عنوان أول",
                     datetime(2026, 11, 29, 9, 30, tzinfo=timezone.utc), "Sun, 29 Nov 2026 09:30:00 GMT"),
           FeedEntry("https://www.youm7.com/story/2", source="news_sitemap"))


def test_validators_are_sent_after_a_committed_200(tmp_path):
    fs = FeedState(tmp_path / "fs.sqlite")
    assert fs.conditional_headers(URL) == {}
    assert fs.observe(URL, 200, '"a"', "Sun, 29 Nov 2026 10:00:00 GMT", b"<rss>1</rss>") == "changed"
    fs.set_entries(URL, ENTRIES)
    fs.commit()
    again = FeedState(tmp_path / "fs.sqlite")
    assert again.conditional_headers(URL) == {"If-None-Match": '"a"',
                                              "If-Modified-Since": "Sun, 29 Nov 2026 10:00:00 GMT"}
    assert again.observe(URL, 304, None, None, b"") == "not_modified"
    assert again.entries(URL) == ENTRIES  # what the 304 stands for, dates and all


def test_no_validators_without_remembered_entries(tmp_path):
    fs = FeedState(tmp_path / "fs.sqlite")
    fs.observe(URL, 200, '"a"', None, b"<rss>not parsable")  # the parse failed: no set_entries
    fs.commit()
    assert fs.conditional_headers(URL) == {}  # fetched whole next time
    assert fs.observe(URL, 200, '"a"', None, b"<rss>not parsable") == "changed"  # and parsed again
    assert fs.entries(URL) is None


def test_same_body_without_validators_counts_as_unchanged(tmp_path):
    fs = FeedState(tmp_path / "fs.sqlite")
    fs.observe(URL, 200, None, None, b"<rss>1</rss>")
    fs.set_entries(URL, ENTRIES[:1])
    assert fs.observe(URL, 200, None, None, b"<rss>1</rss>") == "unchanged"
    assert fs.entries(URL) == ENTRIES[:1]
    assert fs.observe(URL, 200, None, None, b"<rss>2</rss>") == "changed"
    assert fs.entries(URL) is None  # until the new body's entries are set


def test_an_unchanged_etag_on_a_changed_body_marks_a_liar(tmp_path):
    fs = FeedState(tmp_path / "fs.sqlite")
    fs.observe(URL, 200, '"same"', None, b"<rss>1</rss>")
    fs.set_entries(URL, ENTRIES)
    assert fs.observe(URL, 200, '"same"', None, b"<rss>2</rss>") == "changed"
    fs.set_entries(URL, ENTRIES)
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
    fs.set_entries(URL, ())
    assert fs.commit() == 1
    again = FeedState(tmp_path / "fs.sqlite")
    assert again.children(URL) == ("https://www.youm7.com/sitemap-news.xml",)
    assert again.entries(URL) == () and again.conditional_headers(URL) == {"If-None-Match": '"a"'}


def test_a_file_from_before_entries_gets_the_column_and_no_304s(tmp_path):
    path = tmp_path / "fs.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE feeds (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, "
                   "body_hash TEXT, children TEXT NOT NULL DEFAULT '[]', liar INTEGER NOT NULL "
                   "DEFAULT 0, updated_at REAL)")
        db.execute("INSERT INTO feeds (url, etag) VALUES (?, ?)", (URL, '"old"'))
    fs = FeedState(path)
    assert fs.get(URL).etag == '"old"' and fs.entries(URL) is None
    assert fs.conditional_headers(URL) == {}
