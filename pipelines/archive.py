"""Archive stage: append every accepted article to JSON Lines files.

Layout: ``<data-dir>/archive/<YYYY-MM-DD>.jsonl``, one file per UTC day of ``fetched_at``, one
JSON object per line (:meth:`rasd.article.Article.to_record`, with ``schema_version``).  Each
line is written with a single ``write(2)`` on a file opened with ``O_APPEND``, so a crash or a
signal leaves whole lines only; :func:`read_archive` still skips (and counts) a torn last line.

Links found later are *amendments*, not rewrites: when dedup learns that an article archived
earlier is a copy of one that arrived after it (an aggregator fetched before the outlet it
copied), ``archive/amendments/links.jsonl`` gets ``{"id": copy, "duplicate_of": original}``
and :func:`read_archive` applies it, so every article keeps exactly one archive line.
``rasd topics retag`` likewise appends ``amendments/topics.jsonl`` lines ``{"id", "topics"}``
(:func:`rasd.topics.retag_archive`); the last one for an id wins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.base import StagePipeline
from rasd.article import Article


class ArchiveWriter:
    """Appends articles to the day files under ``directory`` (created if missing).

    Raises:
        OSError: the directory cannot be created or a file cannot be written.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fds: dict[str, int] = {}

    def _append(self, path: Path, record: dict) -> None:
        fd = self._fds.get(str(path))
        if fd is None:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._fds[str(path)] = fd
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        os.write(fd, line.encode("utf-8"))

    def path_for(self, article: Article) -> Path:
        return self.directory / f"{article.fetched_at:%Y-%m-%d}.jsonl"

    def write(self, article: Article) -> Path:
        """Append one article as one line; returns the file written."""
        path = self.path_for(article)
        self._append(path, article.to_record())
        if article.relinked:
            amendments = self.directory / "amendments"
            amendments.mkdir(exist_ok=True)
            for copy_id in article.relinked:
                self._append(amendments / "links.jsonl", {"id": copy_id, "duplicate_of": article.id})
        return path

    def close(self) -> None:
        for fd in self._fds.values():
            os.fsync(fd)
            os.close(fd)
        self._fds.clear()


@dataclass
class ArchiveReadStats:
    """Counts from :func:`read_archive`: good lines and torn/invalid lines skipped."""

    lines: int = 0
    invalid: int = 0


def read_archive(directory: Path, stats: ArchiveReadStats | None = None) -> Iterator[dict]:
    """Yield every archived record under ``directory``, oldest file first.

    Amendments (``amendments/links.jsonl`` and ``topics.jsonl``, see the module docstring)
    are applied.  Lines that
    are not valid JSON objects (a torn last line after a crash) are skipped and counted in
    ``stats.invalid``.
    """
    stats = stats if stats is not None else ArchiveReadStats()
    links = _amendments(Path(directory) / "amendments" / "links.jsonl", "duplicate_of", stats)
    topics = _amendments(Path(directory) / "amendments" / "topics.jsonl", "topics", stats)
    for path in sorted(Path(directory).glob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    stats.invalid += 1
                    continue
                if not isinstance(record, dict):
                    stats.invalid += 1
                    continue
                stats.lines += 1
                if record.get("id") in links:
                    record["duplicate_of"] = links[record["id"]]
                if record.get("id") in topics:
                    record["topics"] = topics[record["id"]]
                yield record


def _amendments(path: Path, key: str, stats: ArchiveReadStats) -> dict:
    """``{id: value of key}`` from an amendments file (a later line for an id wins)."""
    out: dict = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                amendment = json.loads(line)
                out[amendment["id"]] = amendment[key]
            except (json.JSONDecodeError, KeyError, TypeError):
                stats.invalid += 1
    return out


class ArchivePipeline(StagePipeline):
    """Writes each item to the archive under ``RASD_DATA_DIR``/archive and counts ``archived``.

    A write error is counted as ``failed/archive_write`` and the item dropped (the crawl goes on).
    """

    def __init__(self, stats=None, data_dir: str = "data"):
        super().__init__(stats)
        self.writer = ArchiveWriter(Path(data_dir) / "archive")

    @classmethod
    def options_from_settings(cls, settings):
        return {"data_dir": settings.get("RASD_DATA_DIR", "data")}

    def process_item(self, item: Article, spider=None) -> Article:
        try:
            self.writer.write(item)
        except OSError as exc:
            raise self.drop(item, "failed/archive_write", str(exc)) from exc
        self.count_outcome(item.outlet, "archived")
        if item.duplicate_of:
            self.count(f"rasd/archived_syndicated/{item.outlet}")
        if item.relinked:  # copies archived earlier, now linked to this original
            self.count(f"rasd/archived_syndicated/{item.outlet}", len(item.relinked))
        return item

    def close_spider(self, spider=None) -> None:
        self.writer.close()
