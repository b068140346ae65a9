"""The archive: the one durable record of every accepted article, and how others follow it.

Layout: ``<data-dir>/archive/<YYYY-MM-DD>.jsonl``, one file per UTC day of ``fetched_at``, one
JSON object per line (:meth:`rasd.core.article.Article.to_record`, with ``schema_version``).  Lines
are appended whole or not at all and fdatasync-ed one by one (:func:`rasd.core.durable.append_line`);
a torn last line left by a crash is closed off before the next append, and readers skip it and
count it (:class:`ArchiveReadStats`).

Links found later are *amendments*, not rewrites: when dedup learns that an article archived
earlier is a copy of one that arrived after it (an aggregator fetched before the outlet it
copied), ``archive/amendments/links.jsonl`` gets ``{"id": copy, "duplicate_of": original}``;
``rasd topics retag`` likewise appends ``amendments/topics.jsonl`` lines ``{"id", "topics"}``.
:func:`read_archive` applies them (the last one for an id wins), so every article keeps
exactly one archive line.

Everything else is derived from these files and *follows* them: the seen-URL store, the story
window, the search index and the alert matcher each keep a checkpoint (byte offset per archive
file, :class:`Checkpoints`) and apply the lines after it (:func:`follow`), so an article in the
archive always reaches each of them, exactly once (their writes are idempotent by article id),
whenever a process was killed.  :func:`follow` visits the day files in name order, then the
amendment files: an amendment is always written after the line it amends, so within one pass
a follower meets the line first.

The write path of a crawl is :class:`rasd.pipelines.ledger.Ledger`: dedup and stories decide under
the data directory's lock, this stage writes the line, then the seen-URL and story rows are
committed with their checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rasd.core.article import Article
from rasd.core.durable import append_line, close_torn_tail, read_lines, write_error

log = logging.getLogger(__name__)

AMENDMENTS = "amendments"
#: per-worker archive shards of a fleet (``rasd worker``): ``shards/<worker>/<day>.jsonl``
SHARDS = "shards"
#: amendment files and the record field each one sets
AMENDMENT_KINDS = {"links": "duplicate_of", "topics": "topics"}


def encode_line(record: dict) -> bytes:
    """One archive line: compact JSON (UTF-8, not ASCII-escaped) and a newline."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def day_file(article: Article, subdir: str = "") -> str:
    """The archive file (relative name) an article's line goes to: its ``fetched_at`` UTC day
    (in the shard ``subdir``, e.g. ``shards/w1/``, for a fleet's worker)."""
    return f"{subdir}{article.fetched_at:%Y-%m-%d}.jsonl"


def amendment_file(kind: str, subdir: str = "") -> str:
    """Relative name of the amendment file of ``kind`` (``links`` or ``topics``)."""
    if kind not in AMENDMENT_KINDS:
        raise ValueError(f"unknown amendment kind {kind!r}")
    return f"{subdir}{AMENDMENTS}/{kind}.jsonl"


def shard_dir(worker: str) -> str:
    """The relative directory (with its trailing slash) of a fleet worker's archive shard."""
    if not worker or "/" in worker or worker.startswith("."):
        raise ValueError(f"not a usable worker name for an archive shard: {worker!r}")
    return f"{SHARDS}/{worker}/"


class ArchiveWriter:
    """Appends whole lines to the files under ``directory`` (created if missing).

    Callers that share the data directory with other processes hold its
    :class:`~rasd.core.durable.StateLock` (the crawl's :class:`~rasd.pipelines.ledger.Ledger` does).
    ``positions`` holds, after each :meth:`write`/:meth:`append`, ``{relative file: end offset}``
    of what that call wrote, for the followers' checkpoints.

    Raises:
        DiskFull: the disk is full (nothing of the line stays in the file).
        WriteFailed: any other write error.
    """

    def __init__(self, directory: Path, sync: bool = True, subdir: str = ""):
        self.directory = Path(directory)
        self.sync, self.subdir = sync, subdir
        try:
            (self.directory / subdir / AMENDMENTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.directory, exc) from None
        self._fds: dict[str, int] = {}
        self.positions: dict[str, int] = {}

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            path = self.directory / name
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)  # read: the torn-tail check
            except OSError as exc:
                raise write_error(path, exc) from None
            self._fds[name] = fd
        return fd

    def append(self, name: str, record: dict) -> tuple[int, int]:
        """Append ``record`` to the archive file ``name`` (relative); ``(start, end)`` offsets."""
        start, end = append_line(self._fd(name), encode_line(record), path=self.directory / name,
                                 sync=self.sync)
        self.positions[name] = end
        return start, end

    def files_for(self, article: Article) -> list[str]:
        """The files :meth:`write` will append to for ``article`` (for the lock's intent)."""
        return [day_file(article, self.subdir)] + (
            [amendment_file("links", self.subdir)] if article.relinked else [])

    def path_for(self, article: Article) -> Path:
        return self.directory / day_file(article, self.subdir)

    def write(self, article: Article, record: dict | None = None) -> Path:
        """Append one article as one line (``record``: its :meth:`~Article.to_record`, if
        already built), then a link amendment per id in ``article.relinked``; returns the day
        file written."""
        self.positions = {}
        name = day_file(article, self.subdir)
        self.append(name, record if record is not None else article.to_record())
        for copy_id in article.relinked:
            self.append(amendment_file("links", self.subdir), {"id": copy_id, "duplicate_of": article.id})
        return self.directory / name

    def amend(self, kind: str, amendments: Iterable[dict]) -> int:
        """Append amendment lines of ``kind`` (each ``{"id", <field>}``); returns how many."""
        self.positions = {}
        n = 0
        for amendment in amendments:
            self.append(amendment_file(kind, self.subdir), amendment)
            n += 1
        return n

    def close(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass
        self._fds.clear()


def archive_files(directory: Path) -> list[str]:
    """The archive's files as :func:`follow` visits them (relative names): every day file (the
    archive's own, then each fleet worker's shard, ``shards/<worker>/``), then every amendment
    file — so a pass meets a line before any amendment of it, whichever shard wrote which."""
    directory = Path(directory)
    roots = [""] + sorted(f"{SHARDS}/{p.name}/" for p in (directory / SHARDS).glob("*") if p.is_dir())
    days, amend = [], []
    for root in roots:
        days += sorted(f"{root}{p.name}" for p in (directory / root).glob("*.jsonl"))
        amend += sorted(f"{root}{AMENDMENTS}/{p.name}" for p in (directory / root / AMENDMENTS).glob("*.jsonl")
                        if p.stem in AMENDMENT_KINDS)
    return days + amend


def close_torn_tails(directory: Path) -> int:
    """Close off the torn last line of every archive file (under the data directory's lock, when
    no one is writing); returns how many there were."""
    torn = sum(close_torn_tail(Path(directory) / name) for name in archive_files(directory))
    if torn:
        log.warning("archive: closed off %d torn last line(s) in %s", torn, directory)
    return torn


@dataclass(frozen=True, slots=True)
class ArchiveLine:
    """One line met by :func:`follow`: its file (relative name), byte offsets, ``kind``
    (``record`` for a day-file line, else the amendment kind: ``links``, ``topics``) and the
    parsed object (``None`` for a line that is not a JSON object: torn or corrupt)."""

    file: str
    start: int
    end: int
    kind: str
    data: dict | None


def _kind(name: str) -> str:
    parts = name.split("/")
    return parts[-1].removesuffix(".jsonl") if len(parts) > 1 and parts[-2] == AMENDMENTS else "record"


def follow(directory: Path, checkpoints: dict[str, int], files: Iterable[str] | None = None,
           limit: int | None = None, tail: bool = False) -> Iterator[ArchiveLine]:
    """The complete lines after ``checkpoints`` (``{relative file: offset}``; a file not named
    starts at 0), in :func:`archive_files` order (``files``: only these).  At most ``limit``
    lines.  An unfinished last line is left for a later call (``tail``: yielded, as invalid
    unless it parses — for readers of the whole archive).

    Every file is read up to its size when the call began (a snapshot): an amendment is written
    after the line it amends, so an amendment inside the snapshot always comes after its
    target, which is inside it too and in an earlier file (day files before amendment files) —
    without the snapshot a day file read early could miss a line whose amendment, written
    later, is met by the same pass."""
    directory = Path(directory)
    names = archive_files(directory) if files is None else [f for f in archive_files(directory) if f in set(files)]
    snapshot = sizes(directory, names)
    n = 0
    for name in names:
        kind = _kind(name)
        if name not in snapshot:
            continue
        for start, end, raw in read_lines(directory / name, checkpoints.get(name, 0), snapshot[name], tail=tail):
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                data = None
            yield ArchiveLine(name, start, end, kind, data)
            n += 1
            if limit is not None and n >= limit:
                return


def sizes(directory: Path, files: Iterable[str] | None = None) -> dict[str, int]:
    """``{relative file: size in bytes}`` of the archive files (``files``: only these)."""
    directory = Path(directory)
    out = {}
    for name in (archive_files(directory) if files is None else files):
        try:
            out[name] = os.stat(directory / name).st_size
        except FileNotFoundError:
            pass
    return out


def archived_since(directory: Path, since: float) -> dict[str, int]:
    """``{outlet: records archived at or after since}`` (POSIX seconds, by ``fetched_at``),
    whoever archived them (``rasd crawl``, a scheduled run, a fleet worker's shard).  Only the
    day files from the day before ``since`` on are read (a day file holds the lines written that
    UTC day), so the cost is that of the last days, not of the archive."""
    from datetime import datetime, timedelta, timezone

    directory = Path(directory)
    first = (datetime.fromtimestamp(since, timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%d")
    cutoff = datetime.fromtimestamp(since, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    files = [f for f in archive_files(directory) if _kind(f) == "record"
             and Path(f).stem >= first] if directory.is_dir() else []
    out: dict[str, int] = {}
    for line in follow(directory, {}, files, tail=True):
        data = line.data
        if isinstance(data, dict) and str(data.get("fetched_at") or "")[:19] >= cutoff:
            outlet = str(data.get("outlet") or "")
            out[outlet] = out.get(outlet, 0) + 1
    return out


class Checkpoints:
    """A follower's positions in the archive, in a table of its own SQLite database:
    ``archive_checkpoints(follower, file, offset)``.  Written in the same transaction as what
    the follower derived from the lines, so the two never disagree."""

    SCHEMA = ("CREATE TABLE IF NOT EXISTS archive_checkpoints (follower TEXT NOT NULL, "
              "file TEXT NOT NULL, offset INTEGER NOT NULL, PRIMARY KEY (follower, file)) WITHOUT ROWID")

    def __init__(self, db: sqlite3.Connection, follower: str):
        self.db, self.follower = db, follower
        db.execute(self.SCHEMA)

    def load(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT file, offset FROM archive_checkpoints WHERE follower = ?",
                                    (self.follower,)))

    def save(self, positions: dict[str, int]) -> None:
        """Set the offsets of ``positions`` (call inside the caller's transaction)."""
        self.db.executemany(
            "INSERT INTO archive_checkpoints VALUES (?, ?, ?) ON CONFLICT (follower, file) "
            "DO UPDATE SET offset = max(offset, excluded.offset)",
            [(self.follower, f, o) for f, o in positions.items()])

    def reset(self, positions: dict[str, int] | None = None) -> None:
        """Forget every position (``positions``: start from these instead)."""
        self.db.execute("DELETE FROM archive_checkpoints WHERE follower = ?", (self.follower,))
        if positions:
            self.save(positions)


def lag(directory: Path, checkpoints: dict[str, int]) -> tuple[int, int]:
    """``(lines, bytes)`` of the archive a follower at ``checkpoints`` has not applied yet."""
    lines = nbytes = 0
    for name, size in sizes(directory).items():
        behind = size - checkpoints.get(name, 0)
        if behind > 0:
            nbytes += behind
            lines += sum(1 for _ in read_lines(Path(directory) / name, checkpoints.get(name, 0)))
    return lines, nbytes


@dataclass
class ArchiveReadStats:
    """Counts from :func:`read_archive`: good lines and torn/invalid lines skipped."""

    lines: int = 0
    invalid: int = 0
    invalid_where: list = field(default_factory=list)  # "file:offset" of the first few


def read_archive(directory: Path, stats: ArchiveReadStats | None = None) -> Iterator[dict]:
    """Yield every archived record under ``directory``, oldest file first, amendments applied.

    Lines that are not JSON objects (a torn line closed off after a crash) are skipped, counted
    in ``stats.invalid`` and logged once with where they are."""
    stats = stats if stats is not None else ArchiveReadStats()
    directory = Path(directory)
    amended: dict[str, dict[str, dict]] = {kind: {} for kind in AMENDMENT_KINDS}
    for line in follow(directory, {}, [f for f in archive_files(directory) if _kind(f) != "record"], tail=True):
        if line.data is None or "id" not in line.data or AMENDMENT_KINDS[line.kind] not in line.data:
            _invalid(stats, line)
            continue
        amended[line.kind][line.data["id"]] = line.data
    for line in follow(directory, {}, [f for f in archive_files(directory) if _kind(f) == "record"], tail=True):
        record = line.data
        if record is None:
            _invalid(stats, line)
            continue
        stats.lines += 1
        for kind, key in AMENDMENT_KINDS.items():
            amendment = amended[kind].get(record.get("id"))
            if amendment is not None:
                record[key] = amendment[key]
        yield record
    if stats.invalid:
        log.warning("archive %s: %d invalid line(s) skipped (torn by a crash?), first at %s",
                    directory, stats.invalid, ", ".join(stats.invalid_where))


def _invalid(stats: ArchiveReadStats, line: ArchiveLine) -> None:
    stats.invalid += 1
    if len(stats.invalid_where) < 3:
        stats.invalid_where.append(f"{line.file}:{line.start}")
