"""One connection policy for all of Rasd's SQLite files.

``seen.sqlite``, ``stories.sqlite``, ``followers.sqlite``, ``alerts.sqlite``, ``feedstate.sqlite``
and ``runs.sqlite`` (``jobs.sqlite`` is SQLAlchemy's, opened by APScheduler) are all opened with
:func:`connect`:

* **WAL journal, ``synchronous=NORMAL``**: readers (``rasd status``, ``rasd index status``) never
  wait for a writer, and a crawl, the CLI and the scheduler's runs can share a file.  A commit
  survives the process being killed; a power loss may undo the last commits but never corrupts
  the file (SQLite's documentation of WAL with ``synchronous=NORMAL``).  That is enough because
  the stores follow the archive from checkpoints (see :mod:`rasd.pipelines.ledger`): an undone
  commit is applied again from the archive; a lost feed validator costs one refetch, a lost run
  row one line of history.
* **Busy timeout** (default 5 s): a writer waits that long for another one before
  ``sqlite3.OperationalError: database is locked``.
* **Autocommit** (``isolation_level=None``): Python opens no implicit transactions; every write
  that must be atomic runs in :func:`transaction` (``BEGIN IMMEDIATE`` … ``COMMIT``), which takes
  the write lock up front, so two writers never deadlock upgrading a read lock.

A file that is not a SQLite database, or cannot be opened or created, raises a
:class:`~rasd.core.errors.RasdError` naming the file (one line for the CLI), not a bare
``sqlite3.DatabaseError``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rasd.core.errors import RasdError

#: the default busy timeout, seconds
BUSY_TIMEOUT_SECONDS = 5.0


class DatabaseFileError(RasdError):
    """A SQLite file cannot be opened: not a database, unreadable, or its directory is missing
    and cannot be created.  The message names the file."""


def connect(path: str | Path, *, what: str = "SQLite database",
            error: type[RasdError] = DatabaseFileError, threads: bool = False,
            busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    """Open ``path`` (created with its parent directory if missing; ``":memory:"`` for tests)
    with the policy of the module docstring.

    Args:
        what: what the file is, for the error message (``"seen store"``).
        error: the :class:`RasdError` subclass to raise (each store keeps its own).
        threads: allow use from other threads than the opening one (``check_same_thread=False``;
            the caller serialises access).
        busy_timeout_seconds: how long a write waits for another writer, seconds.

    Raises:
        ``error``: ``"<path>: cannot open <what>: <SQLite's reason>"`` (``file is not a database``,
            ``unable to open database file``, …).
    """
    memory = str(path) == ":memory:"
    read_only = not memory and _read_only_place(path)
    db = None
    try:
        if not memory and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if read_only and not Path(path).exists():
            raise sqlite3.OperationalError("the file system is read-only and the file does not exist yet")
        if read_only:
            # a backup or a read-only mount: readable as it is (``immutable``: SQLite takes no
            # locks and needs no -shm file, so it cannot see another process's writes; there
            # are none on a read-only file system); any write fails "readonly database"
            db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                 isolation_level=None, check_same_thread=not threads)
            db.execute("PRAGMA schema_version").fetchone()
            return db
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=not threads,
                             timeout=busy_timeout_seconds)
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_seconds * 1000)}")
        db.execute("PRAGMA schema_version").fetchone()  # reads the header: "file is not a database"
        if not memory:
            _use_wal(db, busy_timeout_seconds)
            db.execute("PRAGMA synchronous = NORMAL")
    except (sqlite3.Error, OSError) as exc:
        if db is not None:
            db.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise error(f"{path}: cannot open {what}: {reason}") from exc
    return db


def _read_only_place(path: str | Path) -> bool:
    """Whether ``path``'s directory is on a read-only file system (``statvfs``'s ``ST_RDONLY``)."""
    import os

    place = Path(path).parent
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        return bool(os.statvfs(place).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _use_wal(db: sqlite3.Connection, wait_seconds: float) -> None:
    """Put the file in WAL mode (persistent: only its first opener changes it).  Changing the
    journal mode needs the file to itself and SQLite answers ``database is locked`` at once,
    without its busy handler, while another process opens or writes it, so the change is
    retried for up to ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:  # still another mode: correct, only less concurrent
            return
        time.sleep(0.01)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on a :func:`connect` connection: ``BEGIN IMMEDIATE``, ``COMMIT`` at
    the end, ``ROLLBACK`` on any exception (re-raised).  Inside another transaction it joins it
    (the outer one commits)."""
    if db.in_transaction:
        yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def add_missing_columns(db: sqlite3.Connection, table: str, columns: dict[str, str]) -> list[str]:
    """Add to ``table`` those of ``columns`` (name → declaration, ``"TEXT"``,
    ``"INTEGER NOT NULL DEFAULT 0"``) it lacks, in one :func:`transaction`.

    The table's columns are read *after* the write lock is taken, so processes opening the same
    new or old file at once each see the others' additions: without that, two of them could
    both find a column missing and the second ``ALTER TABLE`` fail with ``duplicate column
    name`` (seen as a scheduled run failing when two outlets' first runs started together).

    Returns:
        the names added by this call (``[]`` when another process, or an earlier open, added
        them).

    Raises:
        sqlite3.Error: as :func:`transaction` (the caller words it for its file).
    """
    if {r[1] for r in db.execute(f"PRAGMA table_info({table})")} >= set(columns):
        return []  # nothing to add: no write lock taken (a read-only file opens too)
    added = []
    with transaction(db):
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns.items():
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
                added.append(name)
    return added
