"""The alert matcher as a follower of the archive (see :class:`AlertFollower`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from rasd.alerts.match import highlight_matches, match_alerts
from rasd.core.article import isoformat_utc, utcnow
from rasd.search.engine import Engine
from rasd.core.errors import EngineError, RasdError
from rasd.core.failpoints import failpoint


class AlertFollower:
    """The alert matcher as a follower of ``<data-dir>/archive``: the record lines after the
    checkpoint (in ``<data-dir>/alerts.sqlite``, follower ``alerts``) are percolated in batches
    of ``batch_size``; the matches, their outbox rows and the new checkpoint are written in one
    transaction (:meth:`run`), so every archived article is matched exactly once whatever is
    killed when.  Deliveries are made by :meth:`deliver` (the outbox: at least once, each with
    the notification's stable id).  A new store starts at the archive's end: alerts are for
    articles archived from then on, not for the history.  One follower at a time per data
    directory (``flock`` on ``locks/alerts.lock``).

    Fail points: ``before_alert_commit`` (percolated, nothing recorded),
    ``after_alert_commit``, ``after_delivery`` (sent, not yet marked delivered).
    """

    def __init__(self, data_dir: Path | str, connect: Callable[[], Engine], prefix: str, *,
                 batch_size: int = 20, senders: dict | None = None, store=None):
        from rasd.alerts.outbox import AlertStore
        from rasd.core.archive import sizes

        self.data_dir = Path(data_dir)
        self.archive_dir = self.data_dir / "archive"
        self.prefix, self.batch_size, self._senders = prefix, batch_size, senders
        self._connect, self._engine = connect, None
        self.store = store or AlertStore(self.data_dir / "alerts.sqlite")
        lock_path = self.data_dir / "locks" / "alerts.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._thread_lock = threading.Lock()
        with self._locked(None):
            if not self.store.db.execute("SELECT 1 FROM meta_alerts WHERE key = 'started'").fetchone():
                with self.store.transaction():
                    self.store.checkpoints.save(sizes(self.archive_dir))
                    self.store.db.execute("INSERT INTO meta_alerts VALUES ('started', ?)",
                                          (isoformat_utc(utcnow()),))

    @contextlib.contextmanager
    def _locked(self, wait: float | None):
        with self._thread_lock:
            deadline = None if wait is None else time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise AlertFollowerBusy(f"another process is matching alerts for {self.data_dir}")
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._connect()
        return self._engine

    def lag(self) -> int:
        """Archive lines not yet matched."""
        from rasd.core.archive import lag

        return lag(self.archive_dir, self.store.checkpoints.load())[0]

    def run(self, wait: float | None = 0.0, max_seconds: float | None = None) -> Counter:
        """Match the archive lines after the checkpoint until none are left; returns counts
        (``checked``, ``matched``, ``notified``, ``story_copy``, ``digest_queued``,
        ``already_seen``).

        Raises:
            AlertFollowerBusy: another process holds the follower after ``wait`` seconds.
            EngineError: the engine refused or went away (the checkpoint stays where it was).
        """
        from rasd.alerts.outbox import handle_matches
        from rasd.core.archive import follow

        counts: Counter = Counter()
        t0 = time.monotonic()
        with self._locked(wait):
            while True:
                lines = list(follow(self.archive_dir, self.store.checkpoints.load(), limit=self.batch_size))
                if not lines:
                    break
                docs = [ln.data for ln in lines if ln.kind == "record" and ln.data and ln.data.get("id")]
                matches: list = []
                if docs:
                    try:
                        matches = match_alerts(self.engine, self.prefix, docs)
                        # highlight only the pairs that will start a story (others store none)
                        fresh = [i for i, (a, d) in enumerate(matches) if self.store.is_new_story(a.name, d)]
                        for i, pair in zip(fresh, highlight_matches(self.engine, self.prefix,
                                                                    [matches[i] for i in fresh])):
                            matches[i] = pair
                    except EngineError:
                        self._engine = None
                        raise
                failpoint("before_alert_commit")
                positions: dict[str, int] = {}
                for ln in lines:
                    positions[ln.file] = max(positions.get(ln.file, 0), ln.end)
                with self.store.transaction():
                    counts.update(handle_matches(self.store, matches))
                    self.store.checkpoints.save(positions)
                failpoint("after_alert_commit")
                counts["checked"] += len(docs)
                counts["matched"] += len(matches)
                if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                    break
        return counts

    def deliver(self, force: bool = False):
        """Try the due outbox rows once (``force``: all pending); the
        :class:`~rasd.alerts.outbox.DeliveryReport`.  Rows of alerts removed since are dropped
        and those of paused alerts held (all are attempted when the engine cannot list them)."""
        from rasd.alerts.match import list_alerts
        from rasd.alerts.outbox import deliver_pending

        try:  # the alerts that exist now: rows of removed alerts are dropped, of paused ones held
            alerts = {a.name: a for a in list_alerts(self.engine, self.prefix)}
        except RasdError:  # engine down, or a stored alert no longer parses
            self._engine, alerts = None, None
        return deliver_pending(self.store, senders=self._senders, force=force, alerts=alerts)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self.store.close()
        os.close(self._lock_fd)


class AlertFollowerBusy(EngineError):
    """Another process is running the alert matcher of this data directory now."""
