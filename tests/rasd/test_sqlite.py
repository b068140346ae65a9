"""Tests for rasd/core/sqlite.py: one connection policy (WAL, synchronous=NORMAL, busy timeout,
autocommit with BEGIN IMMEDIATE transactions, one clear error naming the file) used by every one
of Rasd's SQLite files."""

from __future__ import annotations

import ast
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rasd.core.errors import RasdError
from rasd.core.sqlite import DatabaseFileError, connect, transaction

ROOT = Path(__file__).resolve().parents[2]
NOT_A_DATABASE = "رصد: this is a text file, not SQLite\n" * 40


def test_connect_applies_the_policy(tmp_path):
    path = tmp_path / "new" / "dir" / "x.sqlite"
    db = connect(path)
    assert path.exists() and db.isolation_level is None
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert db.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    assert not db.in_transaction  # autocommit: no implicit transaction left open
    other = sqlite3.connect(path)
    assert other.execute("SELECT x FROM t").fetchall() == [(1,)]
    other.close()
    db.close()
    assert connect(":memory:", busy_timeout_seconds=30).execute("PRAGMA busy_timeout").fetchone() == (30000,)


def test_transaction_commits_rolls_back_and_joins(tmp_path):
    db = connect(tmp_path / "x.sqlite")
    db.execute("CREATE TABLE t (x)")
    with transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
        with transaction(db):  # nested: joins the outer one
            db.execute("INSERT INTO t VALUES (2)")
        assert db.in_transaction
    with pytest.raises(ZeroDivisionError):
        with transaction(db):
            db.execute("INSERT INTO t VALUES (3)")
            1 / 0
    assert [r[0] for r in db.execute("SELECT x FROM t ORDER BY x")] == [1, 2] and not db.in_transaction


def test_begin_immediate_takes_the_write_lock_and_a_writer_waits_the_busy_timeout(tmp_path):
    path = tmp_path / "x.sqlite"
    first, second = connect(path), connect(path, busy_timeout_seconds=0.3)
    first.execute("CREATE TABLE t (x)")
    assert second.execute("SELECT count(*) FROM t").fetchone() == (0,)  # WAL: readers go on
    with transaction(first):
        first.execute("INSERT INTO t VALUES (1)")
        assert second.execute("SELECT count(*) FROM t").fetchone() == (0,)
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            with transaction(second):
                pass
        assert 0.25 < time.monotonic() - started < 5
    assert second.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_file_that_is_not_a_database_is_one_error_naming_it(tmp_path):
    bad = tmp_path / "seen.sqlite"
    bad.write_text(NOT_A_DATABASE, encoding="utf-8")
    with pytest.raises(DatabaseFileError) as exc:
        connect(bad, what="the thing")
    assert str(exc.value) == f"{bad}: cannot open the thing: file is not a database"
    assert bad.read_text(encoding="utf-8") == NOT_A_DATABASE  # left as it was
    with pytest.raises(DatabaseFileError, match="unable to open database file"):
        connect(tmp_path)  # a directory
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseFileError, match=f"^{blocker / 'sub' / 'x.sqlite'}: cannot open"):
        connect(blocker / "sub" / "x.sqlite")  # its directory cannot be created


def _stores(data: Path):
    """Every SQLite file of a data directory, opened by the component that owns it."""
    from rasd.alerts.outbox import AlertStore
    from rasd.crawler.feedstate import FeedState
    from rasd.pipelines.seenstore import SeenStore
    from rasd.pipelines.storyindex import StoryIndex
    from rasd.scheduler.history import RunHistory
    from rasd.search.indexing import open_followers_db

    return {"seen.sqlite": lambda: SeenStore(data / "seen.sqlite").close(),
            "stories.sqlite": lambda: StoryIndex(data / "stories.sqlite").db.close(),
            "followers.sqlite": lambda: open_followers_db(data).close(),
            "alerts.sqlite": lambda: AlertStore(data / "alerts.sqlite").close(),
            "feedstate.sqlite": lambda: FeedState(data / "feedstate.sqlite"),
            "runs.sqlite": lambda: RunHistory(data / "runs.sqlite")}


def test_every_store_uses_the_policy(tmp_path):
    for name, open_store in _stores(tmp_path).items():
        open_store()
        db = sqlite3.connect(tmp_path / name)  # WAL is recorded in the file itself
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",), name
        db.close()


def test_every_store_names_a_file_that_is_not_a_database(tmp_path):
    for name, open_store in _stores(tmp_path).items():
        (tmp_path / name).write_text(NOT_A_DATABASE, encoding="utf-8")
        with pytest.raises(RasdError) as exc:
            open_store()
        message = str(exc.value)
        assert message.startswith(f"{tmp_path / name}: cannot open ") and message.endswith(
            ": file is not a database") and "\n" not in message, message


def test_rasd_status_on_a_broken_run_history_is_one_line(tmp_path):
    (tmp_path / "runs.sqlite").write_text(NOT_A_DATABASE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RASD_")}
    proc = subprocess.run([sys.executable, "-m", "rasd.cli.main", "status", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"rasd: {tmp_path / 'runs.sqlite'}: cannot open the run history: file is not a database"]


def test_no_other_module_opens_sqlite_itself():
    """jobs.sqlite is SQLAlchemy's (APScheduler); every other file goes through connect()."""
    offenders = []
    for folder in ("rasd", "crawler", "pipelines", "scheduler"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "rasd" / "core" / "sqlite.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "connect" and \
                        isinstance(node.value, ast.Name) and node.value.id == "sqlite3":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


# ---- opening one file from many processes at once ------------------------------------------
_OPENERS = {  # store → (import, open ``path``)
    "feeds": ("from crawler.feedstate import FeedState", "FeedState(path)"),
    "runs": ("from scheduler.history import RunHistory", "RunHistory(path)"),
    "outbox": ("from rasd.alerts.outbox import AlertStore", "AlertStore(path).close()"),
    "urls": ("from pipelines.seenstore import SeenStore", "SeenStore(path)"),
    "sigs": ("from pipelines.storyindex import StoryIndex", "StoryIndex(path)"),
    "rejected": ("from rasd.search.indexing import open_followers_db",
                    "open_followers_db(path.parent / path.stem).close()"),
}
_RACER = """
import sys, time, traceback
from pathlib import Path
{imports}
directory, start = Path(sys.argv[1]), float(sys.argv[2])
for k, (store, opener) in enumerate({openers!r}):
    path = directory / (store + ".sqlite")
    while time.time() < start + 0.4 * k:  # every process opens this store at the same moment
        time.sleep(0.001)
    try:
        exec(opener)
        print(store, "opened")
    except Exception as exc:
        print(store, "failed:", type(exc).__name__, exc)
"""


def test_processes_opening_one_new_file_at_once_all_succeed(tmp_path):
    """A scheduler starts every outlet's first run together, and each child opens the same new
    SQLite files.  Adding the columns newer than a file's first layout was a check and then an
    ``ALTER TABLE``, so two children both added ``feeds.streak`` and one failed its run with
    ``duplicate column name``; switching a new file to WAL answered ``database is locked`` at
    once.  Six processes open each store at the same instant, three times over."""
    script = _RACER.format(imports="\n".join(i for i, _ in _OPENERS.values()),
                           openers=[(store, o) for store, (_, o) in _OPENERS.items()])
    lines = []
    for trial in range(3):
        directory = tmp_path / str(trial)
        directory.mkdir()
        start = time.time() + 2.0  # after every process has imported Rasd
        procs = [subprocess.Popen([sys.executable, "-c", script, str(directory), str(start)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            lines += out.splitlines()
    failed = [line for line in lines if not line.endswith(" opened")]
    assert failed == [] and len(lines) == 3 * 6 * len(_OPENERS)
    for store in _OPENERS:  # each file has its table
        path = tmp_path / "0" / ("rejected/followers" if store == "rejected" else store)
        names = {r[0] for r in sqlite3.connect(path.with_suffix(".sqlite")).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert store in names, (store, names)


def test_add_missing_columns_adds_each_once(tmp_path):
    from rasd.core.sqlite import add_missing_columns

    db = connect(tmp_path / "t.sqlite")
    db.execute("CREATE TABLE t (a TEXT)")
    assert add_missing_columns(db, "t", {"a": "TEXT", "b": "INTEGER NOT NULL DEFAULT 0", "c": "TEXT"}) == ["b", "c"]
    assert add_missing_columns(db, "t", {"b": "INTEGER NOT NULL DEFAULT 0", "c": "TEXT"}) == []
    assert [r[1] for r in db.execute("PRAGMA table_info(t)")] == ["a", "b", "c"]
    assert not db.in_transaction
