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


# --------------------------------------------------------------------------- stuck 304s (case 23)

FROZEN = "Sat, 16 Nov 2041 19:11:00 GMT"
A = FeedEntry("https://news.example/ar/a/1001", "A", datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc))
B = FeedEntry("https://news.example/ar/a/1002", "B", datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc))


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _poll(fs: FeedState, status: int, body: bytes, entries=None, etag='"x"', lm="Mon, 30 Nov 2026 07:00:00 GMT",
          date=None) -> tuple[dict, str]:
    headers = fs.conditional_headers(URL)
    verdict = fs.observe(URL, status, etag, lm, body, outlet="news", date=date)
    if verdict == "changed" and entries is not None:
        fs.set_entries(URL, entries)
    fs.commit()
    return headers, verdict


def test_case_23_a_validator_in_the_future_is_not_trusted(tmp_path):
    now = datetime(2026, 11, 30, 8, 30, tzinfo=timezone.utc).timestamp()
    fs = FeedState(tmp_path / "fs.sqlite", clock=Clock(now))
    _poll(fs, 200, b"<rss>A</rss>", [A], etag=f'"{FROZEN}"', lm=FROZEN, date="Mon, 30 Nov 2026 08:30:00 GMT")
    assert fs.get(URL).future
    assert fs.forced(URL) == "future_validator" and fs.conditional_headers(URL) == {}
    # the next poll is unconditional: the full answer shows B (same ETag, another body: distrusted too)
    fs.clock.t += 1800
    headers, verdict = _poll(fs, 200, b"<rss>B A</rss>", [B, A], etag=f'"{FROZEN}"', lm=FROZEN)
    assert headers == {} and verdict == "changed"
    assert fs.get(URL).liar and "same ETag" in fs.get(URL).distrust
    assert fs.entries(URL) == (B, A)


def test_after_n_304s_the_next_poll_is_unconditional_and_a_hider_is_marked(tmp_path):
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc).timestamp()
    fs = FeedState(tmp_path / "fs.sqlite", max_not_modified=2, clock=Clock(t0))
    body_a = b"<rss>" + b"A" * 1000 + b"</rss>"
    _poll(fs, 200, body_a, [A], etag=None)
    for _ in range(2):  # B is published at 09:00, the server keeps answering 304
        fs.clock.t += 3600
        headers, verdict = _poll(fs, 304, b"", etag=None)
        assert headers == {"If-Modified-Since": "Mon, 30 Nov 2026 07:00:00 GMT"} and verdict == "not_modified"
        assert fs.polls[URL].saved == len(body_a)
    assert fs.get(URL).streak == 2 and fs.get(URL).saved_bytes == 2 * len(body_a)
    assert fs.forced(URL) == "not_modified_streak"
    fs.clock.t += 3600
    body_ba = b"<rss>B" + b"A" * 1000 + b"</rss>"
    headers, verdict = _poll(fs, 200, body_ba, [B, A], etag=None)
    assert headers == {} and verdict == "changed"
    poll = fs.polls[URL]
    assert (poll.forced, poll.hidden, poll.spent) == ("not_modified_streak", 1, len(body_ba))
    rec = fs.get(URL)
    assert rec.liar and rec.distrust.startswith("a full answer listed 1 entries its 2 304")
    assert rec.streak == 0 and rec.spent_bytes == len(body_ba)
    assert fs.conditional_headers(URL) == {}  # from then on, unconditional


def test_an_honest_server_is_not_marked(tmp_path):
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc).timestamp()
    fs = FeedState(tmp_path / "fs.sqlite", max_not_modified=1, clock=Clock(t0))
    _poll(fs, 200, b"<rss>A</rss>", [A])
    fs.clock.t += 60
    _poll(fs, 304, b"")
    fs.clock.t += 60
    headers, verdict = _poll(fs, 200, b"<rss>A</rss>", [A])  # forced: the same body, the 304 was right
    assert headers == {} and verdict == "unchanged"
    assert not fs.get(URL).liar and fs.get(URL).streak == 0
    # an item published after the last 304 is news, not a hidden item
    fs.clock.t += 60
    _poll(fs, 304, b"")
    late = FeedEntry("https://news.example/ar/a/1003", "C", datetime.fromtimestamp(fs.clock.t + 30, timezone.utc))
    fs.clock.t += 60
    _poll(fs, 200, b"<rss>C A</rss>", [late, A], etag='"y"')
    assert not fs.get(URL).liar and fs.entries(URL) == (late, A)


def test_a_full_answer_too_long_ago_forces_an_unconditional_poll(tmp_path):
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc).timestamp()
    fs = FeedState(tmp_path / "fs.sqlite", max_not_modified=100, max_age_seconds=3600, clock=Clock(t0))
    _poll(fs, 200, b"<rss>A</rss>", [A])
    fs.clock.t += 1800
    assert fs.conditional_headers(URL)
    fs.clock.t += 1801
    assert fs.forced(URL) == "max_age" and fs.conditional_headers(URL) == {}
