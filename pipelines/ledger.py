"""The write path of a crawl: decide under the data directory's lock, archive first, derive after.

One :class:`Ledger` per data directory per process (:meth:`Ledger.shared`; two in one process
would deadlock on their own ``flock``).  For each article the stages run, without yielding to
the reactor between them (all are synchronous):

1. the dedup stage calls :meth:`Ledger.begin`: take the :class:`~rasd.core.durable.StateLock` and
   catch the seen-URL store and the story window up on the archive files the previous holder
   declared (lines a killed process wrote but did not apply);
2. dedup decides (``new``/``syndicated``/``duplicate``) and the stories stage decides the
   story, both from committed state only;
3. the archive stage calls :meth:`Ledger.commit`: declare the files about to grow, append the
   line (and link amendments) with fdatasync, then apply the same lines to the seen-URL store
   and the story window, each in one transaction with its checkpoint, and release the lock.

So nothing derived ever refers to an archive line that is not durable, and an archive line is
never left unapplied: a kill between (3)'s writes leaves a line the next holder applies.
The lock is also released when the item is dropped or fails (:meth:`abort`), and at the next
reactor turn at the latest (a safety net: the stages between begin and commit never yield).

Fail points (:mod:`rasd.core.failpoints`) mark every gap between two writes: ``before_archive_write``,
``after_archive_write``, ``after_seen_commit``, ``after_state_commit``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from rasd.pipelines.seenstore import SeenStore
from rasd.pipelines.storyindex import StoryIndex, StoryParams
from rasd.core.archive import ArchiveLine, ArchiveWriter, amendment_file, close_torn_tails, day_file
from rasd.core.article import Article, utcnow
from rasd.core.durable import StateLock, write_error
from rasd.core.failpoints import failpoint

log = logging.getLogger(__name__)

_SHARED: dict[str, "Ledger"] = {}
_SHARED_LOCK = threading.Lock()


class Ledger:
    """Archive-first commits for one data directory (see the module docstring).

    ``story_params``/``window``/``now`` configure the story window
    (:class:`rasd.pipelines.stories.StoryIndex`); ``sync`` fdatasyncs each archive line (off only in
    benchmarks that say so).  The stores open lazily, each caught up on the whole archive.

    Raises:
        rasd.core.durable.WriteFailed: the lock file or archive directory cannot be created.
    """

    def __init__(self, data_dir: Path | str, *, story_params=None, window: timedelta = timedelta(days=7),
                 now: Callable[[], datetime] = utcnow, sync: bool = True, redis_url: str | None = None,
                 worker: str | None = None, redis_prefix: str = "rasd:", redis_ttl_days: float = 90.0):
        self.data_dir = Path(data_dir)
        self.archive_dir = self.data_dir / "archive"
        self.redis = None
        if redis_url:  # a fleet: shared state on Redis, this worker's own archive shard
            from rasd.core.archive import shard_dir
            from rasd.core.shared import RedisLock, connect, worker_id

            self.redis, self.redis_prefix = connect(redis_url), redis_prefix
            self.redis_ttl_days = redis_ttl_days
            self.worker = worker or worker_id()
            self.lock = RedisLock(self.redis, name=f"{redis_prefix}lock:state")
            self.writer = ArchiveWriter(self.archive_dir, sync=sync, subdir=shard_dir(self.worker))
        else:
            self.worker = None
            self.lock = StateLock(self.data_dir)
            self.writer = ArchiveWriter(self.archive_dir, sync=sync)
        self._story_params, self._window, self._now = story_params, window, now
        self._seen = None
        self._stories = None
        self._tails_closed = False
        self._safety_armed = False

    @classmethod
    def shared(cls, data_dir: Path | str, **options) -> "Ledger":
        """The process's ledger for ``data_dir`` (created on first use with ``options``)."""
        key = str(Path(data_dir).resolve())
        with _SHARED_LOCK:
            ledger = _SHARED.get(key)
            if ledger is None:
                ledger = _SHARED[key] = cls(data_dir, **options)
            elif options:
                ledger.configure(**options)
            return ledger

    @staticmethod
    def all_shared() -> list["Ledger"]:
        """The process's open ledgers (one per data directory)."""
        with _SHARED_LOCK:
            return list(_SHARED.values())

    @staticmethod
    def is_shared(ledger: "Ledger") -> bool:
        """Whether ``ledger`` is still the process's ledger of its data directory (not closed)."""
        with _SHARED_LOCK:
            return any(l is ledger for l in _SHARED.values())

    def configure(self, *, story_params=None, window: timedelta | None = None,
                  now: Callable[[], datetime] | None = None, sync: bool | None = None) -> None:
        """Set the story-window options before the story store opens."""
        if self._stories is None:
            self._story_params = story_params or self._story_params
            self._window = window or self._window
            self._now = now or self._now
        if sync is not None:
            self.writer.sync = sync

    # ---- stores --------------------------------------------------------------------------
    @property
    def seen(self):
        """The seen-URL store (``<data-dir>/seen.sqlite``, or Redis in a fleet), caught up on
        the archive."""
        if self._seen is None:
            with self.lock:
                self._close_tails()
                if self.redis is not None:
                    from rasd.pipelines.redisstate import RedisSeenStore

                    store = RedisSeenStore(self.redis, archive_dir=self.archive_dir, prefix=self.redis_prefix,
                                           ttl_days=self.redis_ttl_days)
                    store.catch_up(extend=self.lock.extend)
                else:
                    store = SeenStore(self.data_dir / "seen.sqlite", archive_dir=self.archive_dir)
                    store.catch_up()
            self._seen = store
        return self._seen

    @property
    def stories(self):
        """The story window (``<data-dir>/stories.sqlite``, or Redis in a fleet), caught up on
        the archive."""
        if self._stories is None:
            with self.lock:
                self._close_tails()
                params = self._story_params or StoryParams()
                if self.redis is not None:
                    from rasd.pipelines.redisstate import RedisStoryIndex

                    index = RedisStoryIndex(self.redis, params, self._window, self._now,
                                            archive_dir=self.archive_dir, prefix=self.redis_prefix)
                    index.catch_up(extend=self.lock.extend)
                else:
                    index = StoryIndex(self.data_dir / "stories.sqlite", params, self._window, self._now,
                                       archive_dir=self.archive_dir)
                    index.catch_up()
            self._stories = index
        return self._stories

    def _close_tails(self) -> None:
        if not self._tails_closed:  # under the lock: nobody is writing
            close_torn_tails(self.archive_dir)
            self._tails_closed = True

    # ---- one article ---------------------------------------------------------------------
    def begin(self, blocking: bool = True) -> bool:
        """Take the lock for one article's decisions and catch the stores up on the files the
        previous holder declared; returns whether it is held (False only when not ``blocking``
        and another process holds it).  Re-entrant: a second call while held is a no-op."""
        if self.lock.held:
            return True
        intent = self.lock.acquire(blocking)
        if intent is None:
            return False
        self._arm_safety()
        try:
            if intent:
                self.seen.catch_up(intent)
                self.stories.catch_up(intent)
            else:  # open the stores now (under the lock), not in the middle of a decision
                self.seen, self.stories  # noqa: B018
        except BaseException:
            self.lock.release()
            raise
        return True

    def commit(self, article: Article) -> dict[str, int]:
        """Archive ``article`` (lock taken if not held), apply it to the seen-URL store and the
        story window, release the lock; returns ``{file: end offset}`` written.

        Raises:
            rasd.core.durable.DiskFull, rasd.core.durable.WriteFailed: the archive line could not be
                written (nothing was; the lock is released).  A failure to write the derived
                rows after the line is durable is raised the same way with ``archived = True``
                on the exception: the article *is* archived, and the next holder applies it.
        """
        self.begin()
        try:
            record = article.to_record()
            self.lock.declare(self.writer.files_for(article))
            failpoint("before_archive_write")
            self.writer.write(article, record)
            failpoint("after_archive_write")
            positions = dict(self.writer.positions)
            lines = self._lines(article, record, positions)
            try:
                self.seen.apply(lines, content_chars={article.id: article.content_chars}
                                if article.content_chars is not None else None)
                failpoint("after_seen_commit")
                self.stories.apply(lines, signatures={article.id: article.minhash}
                                   if article.minhash is not None else None)
            except sqlite3.Error as exc:  # the line is durable: the next holder applies it
                error = write_error(self.data_dir, exc)
                error.archived = True  # type: ignore[attr-defined]
                raise error from None
            failpoint("after_state_commit")
            return positions
        finally:
            self.lock.release()

    def _lines(self, article: Article, record: dict, positions: dict[str, int]) -> list[ArchiveLine]:
        day = day_file(article, self.writer.subdir)
        lines = [ArchiveLine(day, 0, positions[day], "record", record)]
        links = amendment_file("links", self.writer.subdir)
        for copy_id in article.relinked:
            lines.append(ArchiveLine(links, 0, positions[links], "links",
                                     {"id": copy_id, "duplicate_of": article.id}))
        return lines

    def abort(self) -> None:
        """Release the lock if held (an item dropped or failed between begin and commit)."""
        while self.lock.held:
            self.lock.release()

    def _arm_safety(self) -> None:
        """Release at the next reactor turn whatever happens between begin and commit (the
        stages in between never yield, so by then the item is done)."""
        if self._safety_armed:
            return
        try:
            from twisted.internet import reactor

            if not reactor.running:
                return
        except Exception:  # pragma: no cover
            return
        self._safety_armed = True

        def _release() -> None:
            self._safety_armed = False
            if self.lock.held:
                log.debug("ledger: lock released by the safety net")
                self.abort()

        reactor.callLater(0, _release)

    def close(self) -> None:
        """Close the stores and the archive files; the ledger leaves the shared registry."""
        self.abort()
        for store in (self._seen, self._stories):
            if store is not None:
                store.close()
        self._seen = self._stories = None
        self.writer.close()
        self.lock.close()
        with _SHARED_LOCK:
            for key, ledger in list(_SHARED.items()):
                if ledger is self:
                    del _SHARED[key]
