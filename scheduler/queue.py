"""The scheduler's side of a fleet (``rasd schedule --queue redis://…``).

APScheduler 3 stays the single scheduler (its job store cannot be shared by two schedulers);
instead of starting a child process per run, :meth:`QueueDispatcher.dispatch` pushes the
outlet's poll onto the Redis queue that ``rasd worker`` processes take from
(:class:`rasd.core.shared.ReliableQueue`), and a results thread records each finished poll in
the run history as a child's run would be (outcome, counts, the adapted interval), so
``rasd status`` works the same in both modes.

* At most one poll of an outlet is in flight: ``rasd:inflight:<slug>`` (``SET NX`` with the
  run's time limit as its expiry; the worker deletes it when the poll is done); a trigger that
  finds it is recorded ``skipped`` ("the previous poll is still running"), as ``max_instances``
  does for child runs.
* A run without a result past its deadline (plus :data:`GRACE_SECONDS`) is recorded
  ``timeout``; a late result still updates it.
* Polls of workers whose heartbeat expired are moved back to the queue (every
  :data:`RECLAIM_SECONDS`), so a fleet with one dead worker loses no poll even before another
  worker notices.
* ``followers`` (a callable, from ``rasd schedule``): the index and alert followers over every
  worker's archive shard, called every ``followers_seconds``.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable

from rasd.core.seeds import Outlet
from rasd.core.shared import ReliableQueue, connect

log = logging.getLogger("rasd.scheduler")

GRACE_SECONDS = 30.0
RECLAIM_SECONDS = 5.0


class QueueDispatcher:
    """Pushes polls and reads results for a :class:`rasd.scheduler.runner.Daemon` (see the module
    docstring).  ``record(run_id, slug, outcome, summary, errors)`` writes a finished run.

    Raises:
        rasd.core.shared.SharedStateError: Redis is unreachable.
    """

    def __init__(self, redis_url: str, record: Callable[..., None], *, prefix: str = "rasd:",
                 followers: Callable[[], object] | None = None, followers_seconds: float = 2.0):
        self.client = connect(redis_url)
        self.prefix = prefix
        self.queue = ReliableQueue(self.client, f"{prefix}polls", f"scheduler-{socket.gethostname()}")
        self.results_key = f"{prefix}results"
        self._record = record
        self._followers, self._followers_seconds = followers, followers_seconds
        self._outstanding: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def dispatch(self, slug: str, outlet: Outlet, run_id: int, timeout: float,
                 scheduled_at: float | None = None) -> str:
        """Queue one poll of ``outlet`` for run ``run_id``; ``"queued"``, or ``"skipped"`` when
        the outlet's previous poll is still in flight."""
        deadline = time.time() + timeout
        if not self.client.set(f"{self.prefix}inflight:{slug}", run_id, nx=True,
                               ex=int(timeout + GRACE_SECONDS)):
            return "skipped"
        with self._lock:
            self._outstanding[run_id] = (slug, deadline)
        self.queue.push({"run_id": run_id, "slug": slug, "outlet": outlet.model_dump(mode="json"),
                         "deadline": deadline, "scheduled_at": scheduled_at, "queued_at": time.time()})
        log.info("poll_queued outlet=%s run=%d", slug, run_id)
        return "queued"

    def start(self) -> "QueueDispatcher":
        for target, name in ((self._results, "rasd-results"), (self._follow, "rasd-followers")):
            if target is self._follow and self._followers is None:
                continue
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _results(self) -> None:
        last_reclaim = 0.0
        while not self._stop.is_set():
            try:
                item = self.client.brpop(self.results_key, timeout=1)
                if item is not None:
                    self._handle(json.loads(item[1]))
                now = time.time()
                if now - last_reclaim > RECLAIM_SECONDS:
                    last_reclaim = now
                    for dead, n in self.queue.reclaim().items():
                        log.warning("polls_reclaimed from=%s n=%d", dead, n)
                    self._timeouts(now)
            except Exception as exc:  # Redis away for a moment, a bad message: go on
                log.warning("results_loop error=%s", exc)
                self._stop.wait(1.0)

    def _handle(self, result: dict) -> None:
        run_id, slug = result.get("run_id"), result.get("slug")
        if run_id is None or slug is None:
            return
        with self._lock:
            self._outstanding.pop(run_id, None)
        errors = None if result.get("outcome") == "ok" else f"worker={result.get('worker')} outcome={result.get('outcome')}"
        self._record(int(run_id), slug, result.get("outcome", "failed"), result.get("summary"), errors,
                     cpu_seconds=result.get("cpu_seconds"))

    def _timeouts(self, now: float) -> None:
        with self._lock:
            late = [(r, s) for r, (s, d) in self._outstanding.items() if now > d + GRACE_SECONDS]
            for run_id, _ in late:
                self._outstanding.pop(run_id, None)
        for run_id, slug in late:
            log.warning("poll_timeout outlet=%s run=%d (no result from any worker)", slug, run_id)
            self._record(run_id, slug, "timeout", None, "no worker finished the poll in time")

    def _follow(self) -> None:
        while not self._stop.wait(self._followers_seconds):
            try:
                self._followers()
            except Exception as exc:
                log.warning("followers error=%s", exc)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
