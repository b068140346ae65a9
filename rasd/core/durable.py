"""Writes that are whole or absent, readers that never take half a line, and the data-dir lock.

Rasd's archive (``<data-dir>/archive``) is the one durable record; the seen-URL store, the
story window, the search index and the alert matcher are derived from it and follow it from
checkpoints (byte offsets per archive file, see :mod:`rasd.pipelines.archive`).  This module holds
the three mechanisms that make that safe:

* :func:`append_line` — one JSON Lines record appended as a whole: short writes are continued,
  an error (a full disk) truncates the file back to where the line began and raises
  :class:`DiskFull` / :class:`WriteFailed`, and a torn last line left by a crash is closed off
  with a newline before the next append (readers then skip it and count it).  Each line is
  ``fdatasync``-ed before :func:`append_line` returns (**fsync policy**: a line is durable
  before anything derived from it is written; measured at ~0.2 ms a line here).
* :func:`read_lines` — the complete lines of a file between two offsets: an unfinished last
  line (a writer mid-write, or a torn one not yet closed off) is left for later.
* :class:`StateLock` — an exclusive ``flock`` on ``<data-dir>/locks/state.lock`` held while a
  process decides about one article and writes it (dedup, stories, archive, then the derived
  rows).  The kernel drops it when a process dies, even by ``kill -9``.  Before writing, the
  holder records which archive files it is about to append to (:meth:`StateLock.declare`); the
  next holder reads that note (:meth:`StateLock.acquire`) and catches the derived stores up on
  those files, so lines written by a process killed before it updated the stores are applied
  by the very next writer, not lost.

Sources: the write-ahead rule of database recovery (ARIES: the log record is forced before
the page it describes), and "fail points" for fault injection (:mod:`rasd.core.failpoints`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from rasd.core.errors import RasdError

#: errno values meaning "no space": disk full, quota exceeded.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class WriteFailed(RasdError):
    """A durable write failed (I/O error, permissions); the file was left without a partial
    line.  ``path`` names the file."""

    def __init__(self, path: Path | str, message: str):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class DiskFull(WriteFailed):
    """The disk (or quota) is full: nothing more can be written until space is freed."""


def write_error(path: Path | str, exc: BaseException) -> WriteFailed:
    """The :class:`WriteFailed` (or :class:`DiskFull`) for an ``OSError`` or
    ``sqlite3`` error met while writing ``path``."""
    if isinstance(exc, OSError):
        cls = DiskFull if exc.errno in NO_SPACE else WriteFailed
        return cls(path, exc.strerror or str(exc))
    text = str(exc)
    if "full" in text.lower():  # sqlite3: "database or disk is full"
        return DiskFull(path, text)
    return WriteFailed(path, text)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - write(2) returns ≥ 1 or raises
            raise OSError(errno.EIO, "write returned 0")
        view = view[n:]


def append_line(fd: int, line: bytes, *, path: Path | str = "?", sync: bool = True) -> tuple[int, int]:
    """Append ``line`` (one record, ending in ``\\n``) to the file open as ``fd`` (``O_APPEND``);
    returns ``(start, end)``: the byte offsets of the line.

    The caller holds the file's only writer lock (:class:`StateLock`).  A last line without its
    newline (torn by a crash) is first closed off with ``\\n`` so the new line is never glued to
    it; ``sync`` fdatasyncs before returning.

    Raises:
        DiskFull: no space; the file is truncated back to ``start`` (whole or absent).
        WriteFailed: any other write error, likewise.
        ValueError: ``line`` does not end in exactly one newline.
    """
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise ValueError("append_line takes exactly one line ending in a newline")
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        if start and os.pread(fd, 1, start - 1) != b"\n":
            _write_all(fd, b"\n")  # close off a torn line; readers count it as invalid
            start += 1
        _write_all(fd, line)
        if sync:
            os.fdatasync(fd)
    except OSError as exc:
        try:
            os.ftruncate(fd, start)
        except OSError:  # pragma: no cover - the next append closes the line off instead
            pass
        raise write_error(path, exc) from None
    return start, start + len(line)


def close_torn_tail(path: Path) -> bool:
    """Close off a torn last line of ``path`` (append ``\\n``); True if there was one.  The
    caller holds the :class:`StateLock` (nobody is writing).

    Raises:
        DiskFull, WriteFailed: the newline cannot be written.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            try:
                _write_all(fd, b"\n")
                os.fdatasync(fd)
            except OSError as exc:
                raise write_error(path, exc) from None
            return True
        return False
    finally:
        os.close(fd)


_CHUNK = 1 << 20


def read_lines(path: Path, start: int = 0, end: int | None = None,
               tail: bool = False) -> Iterator[tuple[int, int, bytes]]:
    """``(line_start, line_end, line)`` for each complete line of ``path`` from byte ``start``
    (a line boundary) up to ``end`` (default: the file's size now); ``line`` keeps no newline.
    Text after the last newline (unfinished, or torn and not yet closed off) is yielded only
    with ``tail`` (a reader of the whole file, which counts it as torn); a follower leaves it
    for later.  A missing file yields nothing."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        if end is None:
            end = os.fstat(fh.fileno()).st_size
        fh.seek(start)
        pos, rest = start, b""
        while pos + len(rest) < end:
            chunk = fh.read(min(_CHUNK, end - pos - len(rest)))
            if not chunk:
                break
            buf = rest + chunk
            i = 0
            while True:
                j = buf.find(b"\n", i)
                if j < 0:
                    break
                yield pos + i, pos + j + 1, buf[i:j]
                i = j + 1
            pos, rest = pos + i, buf[i:]
        if tail and rest:
            yield pos, pos + len(rest), rest


class StateLock:
    """The exclusive writer lock of one data directory (``<data-dir>/locks/state.lock``).

    Re-entrant within a process (a depth counter; all holders are on one thread, the crawl's
    reactor).  The lock file's content is the *intent* of the last holder: the archive files it
    declared it would append to (JSON list).  ``acquire`` returns the previous holder's intent
    so the caller can catch its derived stores up on those files.

    Raises:
        WriteFailed: the lock file cannot be created.
    """

    def __init__(self, data_dir: Path | str):
        self.path = Path(data_dir) / "locks" / "state.lock"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(self.path, exc) from None
        self._depth = 0
        self.waited_seconds = 0.0  # total time spent waiting for other processes

    @property
    def held(self) -> bool:
        return self._depth > 0

    def acquire(self, blocking: bool = True) -> list[str] | None:
        """Take the lock; returns the files named by the previous holder's intent (``[]`` when
        re-entered or when there is none), or None when ``blocking`` is false and another
        process holds it."""
        if self._depth:
            self._depth += 1
            return []
        t0 = time.monotonic()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        self.waited_seconds += time.monotonic() - t0
        self._depth = 1
        try:
            raw = os.pread(self._fd, 65536, 0)
            intent = json.loads(raw) if raw.strip() else []
            return [str(f) for f in intent] if isinstance(intent, list) else []
        except (OSError, ValueError):
            return []

    def declare(self, files: list[str]) -> None:
        """Record (in the lock file) the archive files about to be appended to.  Needs no
        fsync: the note must survive the process (a kill), not the machine (after a power
        loss the stores catch up on every file when they open)."""
        data = json.dumps(sorted(set(files))).encode("utf-8")
        try:
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def release(self) -> None:
        """Release one level; the flock goes with the last."""
        if not self._depth:
            return
        self._depth -= 1
        if not self._depth:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # drops the flock too
            self._fd, self._depth = -1, 0

    def __enter__(self) -> list[str]:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class OutletBusy(RasdError):
    """Another process is crawling one of these outlets in the same data directory."""


class OutletLocks:
    """Exclusive ``flock`` per outlet on ``<data-dir>/locks/<slug>.lock``, held for a whole
    crawl so two crawls of one outlet never overlap (``rasd crawl`` and the scheduler's runs
    take the same locks).  ``wait=False`` refuses at once with :class:`OutletBusy` naming the
    busy outlets; ``wait=True`` waits (a scheduled run behind an orphaned one).

    Raises:
        OutletBusy: an outlet is locked by another process and ``wait`` is false.
        WriteFailed: the lock directory cannot be created.
    """

    def __init__(self, data_dir: Path | str, slugs, wait: bool = False):
        self.dir = Path(data_dir) / "locks"
        self.slugs, self.wait = list(slugs), wait
        self._fds: list[int] = []

    def __enter__(self) -> "OutletLocks":
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.dir, exc) from None
        busy = []
        for slug in self.slugs:
            fd = os.open(self.dir / f"{slug}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                busy.append(slug)
                continue
            self._fds.append(fd)
        if busy:
            self.__exit__()
            raise OutletBusy(f"{', '.join(busy)}: being crawled by another process in {self.dir.parent} "
                             "(rasd schedule or another rasd crawl); try again when it ends")
        return self

    def __exit__(self, *exc) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
