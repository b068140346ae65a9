"""Archive stage: one JSON line per article, whole lines only, counted outcome."""

import json
from datetime import datetime, timezone

from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from rasd.pipelines.archive import ArchivePipeline
from rasd.core.archive import ArchiveReadStats, ArchiveWriter, read_archive
from rasd.core.article import SCHEMA_VERSION, Article


def _article(n: int) -> Article:
    return Article(url=f"https://news.example/a/{n}", outlet="news_example", html="<html/>",
                   fetched_at=datetime(2024, 1, 28, 6, 0, tzinfo=timezone.utc),
                   title=f"عنوان {n}", text="نص الخبر",
                   published_at=datetime(2024, 1, 27, 13, 5, tzinfo=timezone.utc), language="ar")


def test_lines_are_whole_records_without_transient_fields(tmp_path):
    writer = ArchiveWriter(tmp_path)
    path = writer.write(_article(1))
    writer.write(_article(2))
    writer.close()
    assert path.name == "2024-01-28.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[0])
    assert rec["title"] == "عنوان 1" and rec["published_at"] == "2024-01-27T13:05:00Z"
    assert rec["schema_version"] == SCHEMA_VERSION
    assert "html" not in rec and "feed_title" not in rec
    assert Article.from_record(rec).published_at == datetime(2024, 1, 27, 13, 5, tzinfo=timezone.utc)


def test_torn_last_line_is_skipped_and_counted(tmp_path):
    writer = ArchiveWriter(tmp_path)
    path = writer.write(_article(1))
    writer.close()
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "half-writ')
    stats = ArchiveReadStats()
    records = list(read_archive(tmp_path, stats))
    assert [r["url"] for r in records] == ["https://news.example/a/1"]
    assert (stats.lines, stats.invalid) == (1, 1)


def test_pipeline_counts_archived_outcome(tmp_path):
    crawler = get_crawler()
    stats = MemoryStatsCollector(crawler)
    stage = ArchivePipeline(stats=stats, data_dir=str(tmp_path))
    item = _article(3)
    item.duplicate_of = "abc"
    assert stage.process_item(item) is item
    stage.close_spider()
    assert stats.get_value("rasd/outcome/news_example/archived") == 1
    assert stats.get_value("rasd/archived_syndicated/news_example") == 1
    assert len(list(read_archive(tmp_path / "archive"))) == 1


def test_relinked_copies_are_amended_not_rewritten(tmp_path):
    writer = ArchiveWriter(tmp_path)
    copy = _article(1)
    copy.id = "copy"
    writer.write(copy)
    original = _article(2)
    original.id, original.relinked = "orig", ("copy",)
    writer.write(original)
    writer.close()
    assert len((tmp_path / "2024-01-28.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    by_id = {r["id"]: r for r in read_archive(tmp_path)}
    assert by_id["copy"]["duplicate_of"] == "orig"
    assert by_id["orig"]["duplicate_of"] is None
    assert "relinked" not in by_id["orig"]


def test_a_pass_never_meets_an_amendment_before_its_target(tmp_path):
    """A follower reads day files, then amendment files.  A line and its amendment written
    while a pass is in the day files must both wait for the next pass (the pass reads up to the
    sizes it saw when it began), or the amendment would reach the index before its document."""
    from rasd.core.archive import follow

    writer = ArchiveWriter(tmp_path)
    writer.write(_article(1))
    writer.amend("links", [{"id": "other", "duplicate_of": "y"}])
    passing = follow(tmp_path, {})
    first = next(passing)
    late = _article(2)
    late.id = "late"
    writer.write(late)
    writer.amend("links", [{"id": "late", "duplicate_of": "x"}])
    rest = [(ln.kind, ln.data.get("id")) for ln in passing]
    assert first.data["url"] == "https://news.example/a/1" and rest == [("links", "other")]
    again = [(ln.kind, ln.data.get("id")) for ln in follow(tmp_path, {first.file: first.end})]
    assert again == [("record", "late"), ("links", "other"), ("links", "late")]
    writer.close()


def test_archived_since_counts_the_last_day_of_every_writer(tmp_path):
    """``rasd status``'s "archived 24h" comes from the archive, so `rasd crawl` and fleet
    workers count (it showed 0 for outlets a one-off crawl had just archived)."""
    import json as _json
    from datetime import datetime, timezone

    from rasd.core.archive import archived_since

    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc).timestamp()
    archive = tmp_path / "archive"
    (archive / "shards" / "w1").mkdir(parents=True)
    (archive / "amendments").mkdir()

    def put(name, *records):
        with open(archive / name, "a", encoding="utf-8") as f:
            for outlet, at in records:
                f.write(_json.dumps({"id": f"{outlet}{at}", "outlet": outlet, "fetched_at": at}) + "\n")

    put("2026-11-28.jsonl", ("a", "2026-11-28T12:00:00Z"))  # days old: that file is not even read
    put("2026-11-30.jsonl", ("a", "2026-11-30T11:59:59Z"), ("a", "2026-11-30T12:00:00Z"), ("b", "2026-11-30T23:00:00Z"))
    put("2026-12-01.jsonl", ("a", "2026-12-01T08:00:00Z"))
    put("shards/w1/2026-12-01.jsonl", ("b", "2026-12-01T09:00:00Z"))
    (archive / "amendments" / "links.jsonl").write_text(_json.dumps({"id": "a1", "duplicate_of": "b1"}) + "\n")
    with open(archive / "2026-12-01.jsonl", "a") as f:
        f.write('{"torn line\n')
    assert archived_since(archive, now - 86400) == {"a": 2, "b": 2}
    assert archived_since(tmp_path / "none", now) == {}
