"""scheduler/history.py: run rows, missed runs, dangling runs and the status view."""

from rasd.scheduler.history import RunHistory, counts_from_summary

SUMMARY = {"listings_ok": 3, "not_modified": 0, "pages": 9,
           "links": {"listed": 10, "listed_twice": 4, "known": 1},  # listed: each link once
           "outcomes": {"archived": 6, "duplicate": 1, "skipped/too_short": 1, "failed/http_404": 1}}


def test_counts_from_a_child_summary():
    c = counts_from_summary(SUMMARY)
    assert (c.pages, c.archived, c.duplicates, c.listed, c.new) == (9, 6, 1, 10, 9)
    assert c.skips == {"too_short": 1} and c.failures == {"http_404": 1}


def test_runs_status_and_dangling(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite")
    run = h.start("youm7", scheduled_at=100.0)
    h.finish(run, "ok", counts_from_summary(SUMMARY), interval_after=60.0)
    h.set_outlet_state("youm7", 60.0, 0)
    h.missed("youm7", 200.0)
    h.start("cnn_arabic")  # left running by a killed daemon
    h.set_outlet_state("cnn_arabic", 120.0, 2)
    assert h.close_dangling() == 1
    rows = h.runs()
    assert [r["outcome"] for r in rows] == ["ok", "missed", "interrupted"]
    assert rows[0]["skips"] == {"too_short": 1} and rows[0]["scheduled_at"] == 100.0
    st = h.status()
    assert st["youm7"]["last_run"]["outcome"] == "missed"
    assert st["youm7"]["archived_24h"] == 6 and st["youm7"]["health"] == "ok"
    assert st["cnn_arabic"]["health"] == "failing 2"
    assert st["cnn_arabic"]["interval_seconds"] == 120.0
