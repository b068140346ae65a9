"""The seen-URL store's deferred pages: a page a server told to come back much later
(``Retry-After``) is kept with its not-before time for the next runs (pipelines/dedup.py)."""

from rasd.pipelines.seenstore import (SeenStore)


def test_seen_store_keeps_deferred_pages(tmp_path):
    path = tmp_path / "seen.sqlite"
    with SeenStore(path) as store:
        store.defer_url("https://news.example/a", "http://news.example/a", "news", 2000.0, "retry_after")
        store.defer_url("https://news.example/b", "http://news.example/b", "news", 1000.0, "backoff")
        store.defer_url("https://other.example/c", "http://other.example/c", "other", 10.0, "retry_after")
    with SeenStore(path) as store:  # persisted, soonest first, per outlet
        assert store.deferred_urls("news") == [
            ("https://news.example/b", "http://news.example/b", 1000.0, "backoff"),
            ("https://news.example/a", "http://news.example/a", 2000.0, "retry_after")]
        store.defer_url("https://news.example/b", "http://news.example/b", "news", 3000.0, "retry_after")
        assert store.deferred_urls("news")[-1] == ("https://news.example/b", "http://news.example/b",
                                                   3000.0, "retry_after")
        attempts = store._db.execute("SELECT attempts FROM deferred WHERE url = ?",
                                     ("https://news.example/b",)).fetchone()[0]
        assert attempts == 2
        store.clear_deferred("https://news.example/a")
        store.clear_deferred("https://never.example/deferred")
        assert [r[0] for r in store.deferred_urls("news")] == ["https://news.example/b"]
        assert not store.seen_url("https://news.example/b")  # deferred is not seen
