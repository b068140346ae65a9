"""A pool of worker processes for CPU-heavy per-page work, with a time and memory budget.

Why processes: trafilatura holds the GIL for the whole of an extraction and its cost grows
quadratically on some pages (see :mod:`rasd.pipelines.extract`), so a thread cannot be stopped and
a page in Scrapy's reactor thread stalls every outlet of the crawl.  A worker process can be
killed when its page runs past the budget, and a new one takes its place.

The pool is `pebble <https://pypi.org/project/Pebble/>`_'s ``ProcessPool``, chosen over
``concurrent.futures.ProcessPoolExecutor`` (no per-task timeout; one dead worker breaks the
whole executor) and ``multiprocessing.Pool`` (a timed-out task keeps its worker busy; a killed
worker loses its task silently).  pebble's ``schedule(..., timeout=)`` terminates the worker of a
task past its timeout (SIGTERM, SIGKILL three seconds later), fails that task's future with
``TimeoutError`` (a dead worker: ``ProcessExpired``) and starts a replacement.  The timeout
counts from the moment a worker takes the page, not while it waits in the queue.

Start method: ``forkserver``, with :data:`PRELOAD` (:mod:`rasd.pipelines.extract`, trafilatura,
htmldate) preloaded.  The crawl process has threads (Twisted's thread pool, the index
pipeline's sender, pebble's own three manager threads, which start the replacement workers),
and ``fork`` from a threaded process copies locks that another thread may hold (logging,
import, allocator locks), so a worker can deadlock before it runs a line: Python 3.12 warns
about exactly that and 3.14 makes ``forkserver`` the Linux default.  ``spawn`` is safe but
re-imports trafilatura, htmldate and dateparser in every worker and every replacement (about
0.5 s of CPU each).  The fork server is one clean, single-threaded process started on first
use; it imports the extraction modules once and forks each worker from that state, so no
worker imports them again and none inherits a thread.  The crawl process itself never imports
trafilatura or htmldate (it never extracts), and the fork server imports no Scrapy
(:mod:`rasd.pipelines.base` makes its ``DropItem`` subclass on first use).  What each worker
still runs is multiprocessing's bootstrap, which re-runs the crawl's main module as
``__mp_main__``; the modules that module imports are preloaded too (:func:`_main_module`), so
only its body runs again.  Cost, measured on a one-page ``rasd crawl`` (``bench/state.py``,
2026-12-01): the fork server and two workers 0.44–0.46 s of CPU in all (before: 0.63–0.67 s,
0.25 s of it Scrapy), against a crawl process of 1.15–1.4 s; 1, 2 or 4 workers cost about the
same.  A crawl that finds no new article never starts the pool (it starts on the first page).

Workers never outlive the crawl, also when the crawl is ``kill -9``'ed.  A worker's OS parent
is the fork server, which does not notice the crawl's death by itself: it exits when every holder
of its "alive" pipe is gone, and its workers hold copies.  So each worker watches the crawl
process directly: a daemon thread waits on ``multiprocessing.parent_process().sentinel`` (a pipe
from the crawl process, readable once that process is gone, whatever killed it) and ends the
worker with ``os._exit``, in the middle of a page too (the page's Python loops give the thread the
GIL within milliseconds; one C call of lxml at most delays it).  With the workers gone the fork
server exits too.  In addition ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux) makes the kernel kill
a worker whose fork server died, and a worker that starts after the crawl died exits in its
initializer.  Idle workers also leave on their own when pebble's pipe closes.
Verified by ``tests/pipelines/test_workers.py``, which ``kill -9``'s a process running a pool.

Memory: each worker sets ``RLIMIT_AS`` (its address space) to the configured limit, so an
allocation past it raises ``MemoryError`` in the worker, where the task function turns it into
an outcome, instead of the kernel's OOM killer choosing some process of the machine.  Workers are
replaced after ``max_tasks`` pages so a fragmented heap does not grow for ever.

Ideas from: pebble's documentation (timeouts that terminate the worker), the Python
``multiprocessing`` documentation ("Contexts and start methods", "Safe importing of main
module") and ``prctl(2)`` (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pebble import ProcessExpired, ProcessPool

log = logging.getLogger(__name__)

#: Modules the fork server imports once, so that workers forked from it start warm.
#: what the fork server imports before it forks a worker; :mod:`rasd.core.forkserver_preload`
#: first, so a terminal's Ctrl-C (sent to the whole process group) finds it ignoring SIGINT
PRELOAD = ["rasd.core.forkserver_preload", "rasd.pipelines.workers", "rasd.pipelines.extract",
           "trafilatura", "htmldate"]
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class TaskTimeout(Exception):
    """The task ran past its timeout; its worker was terminated."""


class WorkerDied(Exception):
    """The worker running the task ended abnormally (a signal, a crash, ``os._exit``)."""

    def __init__(self, exitcode: int | None):
        self.exitcode = exitcode
        if exitcode is None:
            super().__init__("extraction worker pool broke twice during the call")
        else:
            how = f"signal {-exitcode}" if exitcode < 0 else f"exit code {exitcode}"
            super().__init__(f"extraction worker died ({how})")


class PoolUnavailable(Exception):
    """No worker pool could be started (after ``max_restarts`` tries)."""


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent process dies (Linux only;
    a no-op elsewhere).

    Raises:
        OSError: ``prctl`` refused.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")


def _init_worker(memory_bytes: int | None) -> None:
    """pebble worker initializer: leave with the crawl, limit the address space to
    ``memory_bytes`` (``None``: no limit)."""
    die_with_parent()  # the fork server: the kernel kills this worker if it goes
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the crawl's to handle
    crawl = multiprocessing.parent_process()  # the crawl process, which asked for this worker
    if crawl is not None:
        if not crawl.is_alive():
            os._exit(0)
        threading.Thread(target=_exit_with, args=(crawl.sentinel,), name="rasd-watch-crawl",
                         daemon=True).start()
    if memory_bytes:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _main_module() -> list[str]:
    """The modules whose names or objects the ``__main__`` module of this process holds, when it
    was started with ``python -m name`` (``rasd crawl``: ``rasd.cli.main`` → typer, rich, the
    CLI's command modules …), else ``[]``.

    Every worker re-runs that module as ``__mp_main__`` (multiprocessing's "safe importing of
    main module"); with what it imports preloaded in the fork server, only its body runs again
    in each worker (preloading the module itself would make runpy warn in every worker)."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if not name or name == "__main__" or name.endswith(".__main__"):
        return []
    found = {v.__name__ if isinstance(v, type(sys)) else getattr(v, "__module__", None)
             for v in vars(main).values()}
    return sorted(m for m in found if isinstance(m, str) and m in sys.modules and m != name
                  and not m.startswith("_"))


def _exit_with(sentinel: int) -> None:
    """Wait until the crawl process is gone, then end this worker at once (mid-task too)."""
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


class WorkerPool:
    """Runs picklable module-level functions in worker processes, one call per page.

    ``workers`` processes (≥ 1), each limited to ``memory_mb`` MiB of address space (``None``: no
    limit) and replaced after ``max_tasks`` calls (0: never).  The processes start on the first
    :meth:`run` (or :meth:`start`), not on construction.  If the pool breaks (pebble gives up when
    a worker dies outside a task, e.g. in its initializer) it is rebuilt, at most
    ``max_restarts`` times in a row.

    :meth:`run` is a coroutine for Scrapy's reactor: with the asyncio reactor (the default) it
    awaits an asyncio future, with another Twisted reactor a ``Deferred``.
    """

    def __init__(self, workers: int = 2, memory_mb: int | None = 1024, max_tasks: int = 100,
                 max_restarts: int = 3):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.workers, self.memory_mb, self.max_tasks = workers, memory_mb, max_tasks
        self.max_restarts = max_restarts
        self.restarts = 0  # pools built after the first
        self._pool: ProcessPool | None = None
        self._broken = 0  # consecutive failed starts or broken pools
        self._lock = threading.Lock()
        self._closed = False
        self._starts = 0

    @property
    def started(self) -> bool:
        return self._pool is not None

    def start(self) -> None:
        """Start the fork server and the workers if not running (blocking, thread-safe).

        Raises:
            PoolUnavailable: the pool was closed, or broke more than ``max_restarts`` times in
                a row.
        """
        with self._lock:
            if self._closed:
                raise PoolUnavailable("the worker pool is closed")
            if self._pool is not None:
                return
            if self._broken > self.max_restarts:
                raise PoolUnavailable(f"the worker pool broke {self._broken} times in a row")
            began = time.monotonic()
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD + _main_module())
            memory = self.memory_mb * 1024 * 1024 if self.memory_mb else None
            try:
                pool = ProcessPool(max_workers=self.workers, max_tasks=self.max_tasks,
                                   initializer=_init_worker, initargs=(memory,), context=ctx)
                pool.active  # noqa: B018 - starts pebble's loops and the workers now
            except Exception as exc:  # noqa: BLE001 - e.g. OSError: cannot fork
                self._broken += 1
                raise PoolUnavailable(f"cannot start extraction workers: {exc}") from exc
            self.restarts += self._starts > 0
            self._starts += 1
            self._pool = pool
            log.info("extraction: %d worker processes started in %.2f s (memory limit %s)", self.workers,
                     time.monotonic() - began, f"{self.memory_mb} MiB" if self.memory_mb else "none")

    def _discard(self, pool: ProcessPool) -> None:
        """Forget a broken pool (the next :meth:`start` builds a new one) and stop it."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
                self._broken += 1
        _stop(pool)

    async def run(self, fn: Callable[..., Any], *args: Any, timeout: float | None) -> Any:
        """``fn(*args)`` in a worker, without blocking the event loop (the pool starts, or is
        rebuilt, in a thread).  A call that pebble aborted before it started, because the pool
        broke, is tried once more on a new pool.

        Raises:
            TaskTimeout: past ``timeout`` seconds of running (the worker was killed).
            WorkerDied: the worker ended during the call, or the pool broke twice.
            PoolUnavailable: no pool could be started.
            Exception: whatever ``fn`` raised in the worker.
        """
        for attempt in (1, 2):
            future, pool = await self._schedule(fn, args, timeout)
            try:
                result = await _await_future(future)
            except FutureTimeout:
                raise TaskTimeout(f"past {timeout:g} s") from None
            except ProcessExpired as exc:
                raise WorkerDied(exc.exitcode) from None
            except BrokenProcessPool as exc:  # pebble aborted every task of the pool
                log.warning("extraction worker pool broke (%s); starting a new one", exc)
                await _in_thread(self._discard, pool)
                if attempt == 2:
                    raise WorkerDied(None) from exc
                continue
            self._broken = 0
            return result
        raise AssertionError("unreachable")

    async def _schedule(self, fn, args, timeout) -> tuple[Future, ProcessPool]:
        while True:
            if self._pool is None:
                await _in_thread(self.start)
            pool = self._pool
            if pool is None:
                continue
            try:
                return pool.schedule(fn, args=args, timeout=timeout), pool
            except RuntimeError:  # pebble: "Unexpected error within the Pool" (a worker died idle)
                log.warning("extraction worker pool broke; starting a new one")
                await _in_thread(self._discard, pool)

    def close(self) -> None:
        """Stop the workers (a running task is abandoned) and wait for them to exit.  The fork
        server exits with the crawl process.  Idempotent."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            _stop(pool)

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (for tests and diagnostics)."""
        pool = self._pool
        if pool is None:
            return []
        return [pid for pid in list(pool._pool_manager.worker_manager.workers) if pid]


#: seconds :func:`_stop` waits for the workers before it kills them: well inside the crawl's
#: stop watchdog (``RASD_STOP_TIMEOUT``, 10 s), which a 10 s wait here used to reach
STOP_WAIT_SECONDS = 3.0


def _stop(pool: ProcessPool) -> None:
    """Stop ``pool``: its workers are asked to end, and SIGKILLed after
    :data:`STOP_WAIT_SECONDS` (a worker still starting when Ctrl-C came kept a stopped crawl
    waiting for its watchdog).  Never raises: shutting down, a failure is logged."""
    pool.stop()
    try:
        pool.join(timeout=STOP_WAIT_SECONDS)
        return
    except Exception as exc:  # noqa: BLE001 - TimeoutError, or a pool that broke
        log.warning("extraction worker pool did not stop in %g s (%s): its workers are killed",
                    STOP_WAIT_SECONDS, exc)
    try:
        pids = [pid for pid in list(pool._pool_manager.worker_manager.workers) if pid]
    except AttributeError:  # pragma: no cover - a pebble without these internals
        pids = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        pool.join(timeout=1.0)
    except Exception:  # noqa: BLE001 - what is left dies with the crawl (die_with_parent)
        pass


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    from scrapy.utils.asyncio import run_in_thread

    return await run_in_thread(fn, *args)


async def _await_future(future: Future) -> Any:
    """Await a ``concurrent.futures.Future`` on whichever loop runs the crawl: an asyncio loop
    (Scrapy's default ``AsyncioSelectorReactor``, or a test's ``asyncio.run``) or another
    Twisted reactor (through a ``Deferred`` fired in the reactor thread)."""
    from scrapy.utils.asyncio import is_asyncio_available

    try:
        asyncio_loop = is_asyncio_available()
    except RuntimeError:  # no reactor installed and no running loop
        asyncio_loop = False
    if asyncio_loop:
        return await asyncio.wrap_future(future)
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    d: Deferred = Deferred()

    def settle(f: Future) -> None:
        exc = f.exception()
        if exc is None:
            d.callback(f.result())
        else:
            d.errback(exc)

    future.add_done_callback(lambda f: reactor.callFromThread(settle, f))
    return await d
