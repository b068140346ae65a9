"""The ``rasd schedule`` daemon: APScheduler 3.x, one persistent job per outlet, one child per run.

Design (APScheduler 3.x user guide, "Configuring the scheduler", "Missed job executions and
coalescing", "Limiting the number of concurrently executing instances of a job"):

* :class:`Daemon` runs a ``BackgroundScheduler`` with a ``SQLAlchemyJobStore`` (SQLite
  ``<data-dir>/jobs.sqlite``, or the ``scheduler_jobstore_url`` setting, e.g. a PostgreSQL URL) and a
  thread-pool executor with a worker per outlet.  Job options go in ``job_defaults``
  (:data:`JOB_DEFAULTS`) — passed as constructor keywords they are silently ignored (case 18),
  so :func:`check_job_options` asserts the *effective* options of every job at start-up.
  ``misfire_grace_time`` is minutes, not APScheduler's 1 s default, so a run a few seconds
  late still runs (case 17); ``coalesce`` folds runs piled up while down into one;
  ``max_instances=1`` keeps two runs of one outlet from overlapping.
* Job id ``crawl:<slug>``, function :func:`run_outlet` (module level: the job store pickles a
  reference to it, and only the slug as argument).  It reaches the running :class:`Daemon`
  through a module-level registry, so a restarted daemon with another replay port or data
  directory serves the stored jobs without rewriting them.
* Every run is a child process (:mod:`rasd.scheduler.child`): Scrapy's reactor cannot restart, and a
  crashing or hanging outlet must not stop the others.  Past its deadline (the outlet's
  ``timeout_minutes``, or ``timeout_seconds``) a child gets SIGTERM, then SIGKILL after
  ``stop_grace_seconds``, and the run is recorded ``timeout``; the child knows that deadline
  (``--deadline``) and defers pages whose retry wait would pass it.  A child that exits 130
  stopped on a signal and is recorded ``interrupted`` (with the counts of its JSON line); any
  other non-zero exit is ``failed`` with the stderr tail.
* Restart: stored jobs whose trigger kind still matches the seeds are *kept* (their
  ``next_run_time`` with them — ``add_job(replace_existing=True)`` would recompute it from now
  and lose or shift a due run); new or changed outlets are (re)added to run at once; jobs of
  outlets no longer scheduled are removed.  Runs a killed daemon left ``running`` are marked
  ``interrupted``.
* Adaptive intervals (:mod:`rasd.scheduler.adaptive`: the expected time until the outlet's next
  item, from its observed rate of new items): after each run of an interval-scheduled outlet
  the job is rescheduled with the new interval, counted from the run's start (so an interval
  means start to start, as a fixed ``IntervalTrigger``'s does); the interval and its reason
  are stored in the run history (``rasd status`` shows the interval).
* Digests (``ScheduleConfig.digests``, from ``rasd schedule``): one more job, ``alerts:digests``,
  every ``digest_check_seconds`` (60) in a memory job store (nothing to keep across restarts:
  a digest is due until sent for its slot), calls it in the daemon's process (a
  :class:`rasd.alerts.digests.DigestSender` tick: digests at each alert's hour and time zone,
  and due outbox retries).
* :meth:`Daemon.stop` (SIGINT/SIGTERM): pause scheduling, SIGTERM the running children (each
  stops within seconds, flushing what it did: :mod:`rasd.crawler.stopping`), wait for them up to
  ``stop_grace_seconds`` (then SIGKILL), record their runs ``interrupted``, and shut the
  scheduler down with ``wait=True``.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rasd.core.errors import RasdError
from rasd.core.seeds import Outlet
from rasd.scheduler.adaptive import Bounds, bounds, next_interval
from rasd.scheduler.health import Assessment, Rules
from rasd.scheduler.history import RunHistory, counts_from_summary
from rasd.scheduler.heartbeat import Heartbeat

log = logging.getLogger("rasd.scheduler")

#: Effective options of every crawl job (case 17: grace; case 18: must go in job_defaults).
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
#: Exit code of a child stopped by SIGTERM/SIGINT (``rasd.crawler.stopping.EXIT_INTERRUPTED``; not
#: imported, so the daemon does not load Scrapy).
CHILD_INTERRUPTED = 130


class SchedulerError(RasdError):
    """The scheduler cannot start as configured."""


class SchedulerBusy(SchedulerError):
    """Another scheduler daemon runs on this data directory (:meth:`Daemon.start`)."""


def jobstore_url(data_dir: Path, url: str | None = None) -> str:
    """The job store's SQLAlchemy URL: ``url`` (``--jobstore-url``, else the
    ``scheduler_jobstore_url`` setting, ``RASD_SCHEDULER_JOBSTORE_URL``: the CLI passes it), else
    ``sqlite:///<data-dir>/jobs.sqlite``."""
    return url or f"sqlite:///{Path(data_dir).resolve() / 'jobs.sqlite'}"


def job_id(slug: str) -> str:
    return f"crawl:{slug}"


def check_job_options(jobs, expected: dict = JOB_DEFAULTS) -> None:
    """Raise :class:`SchedulerError` unless every job's effective options equal ``expected``
    (the guard of case 18: misplaced options are silently ignored by APScheduler)."""
    for job in jobs:
        got = {k: getattr(job, k) for k in expected}
        if got != expected:
            raise SchedulerError(f"job {job.id}: effective options {got}, expected {expected}")


@dataclass
class ScheduleConfig:
    """What ``rasd schedule`` runs.  Times in seconds; ``None`` means "from the seeds"."""

    data_dir: Path
    outlets: dict[str, Outlet]
    replay_url: str | None = None
    jobstore_url: str | None = None
    interval_seconds: float | None = None  # replaces each outlet's interval_minutes
    max_interval_seconds: float | None = None
    timeout_seconds: float | None = None  # replaces each outlet's timeout_minutes
    misfire_grace_seconds: int = JOB_DEFAULTS["misfire_grace_time"]
    stop_grace_seconds: float = 20.0
    adapt: bool = True
    max_parallel: int | None = None  # crawls at once; default max(4, 2 × CPUs)
    digests: "Callable[[], object] | None" = None  # called every digest_check_seconds
    digest_check_seconds: float = 60.0
    health_rules: "Rules | None" = None  # rasd.scheduler.health.Rules (default: its defaults)
    #: called after a run changed an outlet's health: (slug, previous {state, reason, since} or
    #: {} for the first, the new Assessment, since) — health alerts (rasd.alerts.health)
    on_health: "Callable[[str, dict, Assessment, float], object] | None" = None
    heartbeat_seconds: float = 5.0
    queue_url: str | None = None  # a fleet: polls go to Redis for `rasd worker` (scheduler/queue.py)
    queue_prefix: str = "rasd:"
    followers: "Callable[[], object] | None" = None  # fleet mode: index/alert followers, every 2 s


class _Scheduler(BackgroundScheduler):
    """``BackgroundScheduler`` that runs no job processing once shutdown has begun.

    APScheduler 3.11's ``shutdown()`` sets ``STATE_STOPPED``, shuts the executors down and then
    wakes the scheduler thread, which processes jobs once more before it sees the state: a job
    due at that moment fails to submit ("cannot schedule new futures after shutdown") but its
    ``next_run_time`` is still advanced in the job store — a silently lost run after every
    restart (found by ``test_restart_keeps_stored_jobs_and_their_next_run``).
    """

    def _process_jobs(self):
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


_ACTIVE: "Daemon | None" = None


def run_outlet(slug: str) -> None:
    """The job function: one crawl of ``slug`` by the running :class:`Daemon`."""
    daemon = _ACTIVE
    if daemon is None:
        raise SchedulerError("no scheduler daemon is running in this process")
    daemon.run_once(slug)


def run_digests() -> None:
    """The digest job: ``ScheduleConfig.digests`` of the running :class:`Daemon`."""
    daemon = _ACTIVE
    if daemon is None or daemon.config.digests is None:
        return
    try:
        daemon.config.digests()
    except Exception:  # a failing tick must not stop the job; the next one tries again
        log.exception("digests_failed")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the child if the scheduler dies (PR_SET_PDEATHSIG), so a SIGKILLed
    daemon leaves no crawl running unattended for long."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Daemon:
    """The scheduler daemon for one :class:`ScheduleConfig` (see the module docstring)."""

    def __init__(self, config: ScheduleConfig):
        self.config = config
        self.data_dir = Path(config.data_dir).resolve()
        self.history = RunHistory(self.data_dir / "runs.sqlite")
        self.outlets_file = self.data_dir / "scheduler" / "outlets.json"
        self.job_defaults = dict(JOB_DEFAULTS, misfire_grace_time=config.misfire_grace_seconds)
        self.scheduler: BackgroundScheduler | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen] = {}
        self._scheduled: dict[str, float] = {}
        self.heartbeat = Heartbeat(self.data_dir / "scheduler" / "heartbeat.json", config.heartbeat_seconds)
        self._started: dict[int, float] = {}  # fleet mode: run id → when it was queued
        self.dispatcher = None
        self._daemon_lock: int | None = None
        self._outlets_written = False

    def _write_outlets(self) -> None:
        """``scheduler/outlets.json``, the outlets the children read (written once this daemon
        owns the data directory, so a refused second daemon never changes another's)."""
        self.outlets_file.parent.mkdir(parents=True, exist_ok=True)
        self.outlets_file.write_text(json.dumps(
            {s: o.model_dump(mode="json") for s, o in self.config.outlets.items()}, ensure_ascii=False),
            encoding="utf-8")
        self._outlets_written = True

    def _own_data_dir(self) -> None:
        """Take ``<data-dir>/locks/scheduler.lock`` (an exclusive ``flock``, dropped by the kernel
        when this process dies, however it dies) with this process's pid in it.

        Two daemons on one data directory would run every outlet twice, and the second's
        start would record the first's runs in flight as ``interrupted``; APScheduler 3's job
        store cannot be shared by two schedulers either.

        Raises:
            SchedulerBusy: another daemon holds the lock (the message gives its pid).
        """
        import fcntl

        path = self.data_dir / "locks" / "scheduler.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise SchedulerBusy(f"{self.data_dir}: another rasd schedule is running on this data directory "
                                f"(pid {holder}); stop it first, or give this one another --data-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._daemon_lock = fd

    def _release_data_dir(self) -> None:
        if self._daemon_lock is not None:
            os.close(self._daemon_lock)  # closing the descriptor drops the flock
            self._daemon_lock = None

    # ---- start -----------------------------------------------------------------------------
    def build_scheduler(self) -> BackgroundScheduler:
        """The configured (not started) scheduler; options only through ``job_defaults``."""
        cap = self.config.max_parallel or max(4, 2 * (os.cpu_count() or 1))
        workers = max(1, min(cap, len(self.config.outlets)))  # a run waiting for a worker is queued, not lost
        return _Scheduler(
            jobstores={"default": SQLAlchemyJobStore(url=jobstore_url(self.data_dir, self.config.jobstore_url)),
                       "memory": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults=self.job_defaults, timezone=timezone.utc)

    def start(self, paused: bool = False) -> "Daemon":
        """Start scheduling (``paused``: load and reconcile the jobs but run nothing yet).

        Raises:
            SchedulerError: the job options are not the effective ones (case 18).
        """
        global _ACTIVE
        if _ACTIVE is not None and _ACTIVE is not self:
            raise SchedulerError("another scheduler daemon is running in this process")
        if self._daemon_lock is None:
            self._own_data_dir()
        _ACTIVE = self
        self._write_outlets()
        dangling = self.history.close_dangling()
        if dangling:
            log.warning("runs_interrupted count=%d (left running by a previous daemon)", dangling)
        if self.config.queue_url and self.dispatcher is None:
            from rasd.scheduler.queue import QueueDispatcher

            try:
                self.dispatcher = QueueDispatcher(self.config.queue_url, self.record_result,
                                                  prefix=self.config.queue_prefix,
                                                  followers=self.config.followers).start()
            except BaseException:
                _ACTIVE = None
                self._release_data_dir()
                raise
        self.scheduler = self.build_scheduler()
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self.scheduler.start(paused=True)
        try:
            self._reconcile()
            if self.config.digests is not None:
                self.scheduler.add_job(run_digests, IntervalTrigger(seconds=self.config.digest_check_seconds,
                                                                    timezone=timezone.utc),
                                       id="alerts:digests", name="digests", jobstore="memory",
                                       replace_existing=True, next_run_time=datetime.now(timezone.utc))
            check_job_options(self.scheduler.get_jobs(), self.job_defaults)
        except Exception:
            self.scheduler.shutdown(wait=False)
            _ACTIVE = None
            self._release_data_dir()
            raise
        if not paused:
            self.scheduler.resume()
        self.heartbeat.start()
        log.info("scheduler_started outlets=%d jobstore=%s", len(self.config.outlets),
                 jobstore_url(self.data_dir, self.config.jobstore_url).split("@")[-1])
        return self

    def bounds(self, outlet: Outlet) -> Bounds | None:
        if outlet.schedule.interval_minutes is None:
            return None
        return bounds(outlet.schedule, self.config.interval_seconds, self.config.max_interval_seconds)

    def _trigger(self, outlet: Outlet):
        b = self.bounds(outlet)
        if b is None:
            return CronTrigger.from_crontab(outlet.schedule.cron, timezone=timezone.utc)
        stored, _ = self.history.outlet_state(outlet.slug)
        current = stored if stored is not None and b.min_seconds <= stored <= b.max_seconds else b.base
        return IntervalTrigger(seconds=current, timezone=timezone.utc)

    def _reconcile(self) -> None:
        existing = {job.id: job for job in self.scheduler.get_jobs()}
        for slug, outlet in self.config.outlets.items():
            trigger = self._trigger(outlet)
            old = existing.pop(job_id(slug), None)
            if old is not None and self._same_kind(old.trigger, trigger, outlet):
                log.info("job_kept outlet=%s next_run=%s", slug, old.next_run_time)
                continue
            # a new interval job polls at once; a cron job waits for its first fire time
            first = {"next_run_time": datetime.now(timezone.utc)} if isinstance(trigger, IntervalTrigger) else {}
            self.scheduler.add_job(run_outlet, trigger=trigger, args=[slug], id=job_id(slug),
                                   name=slug, replace_existing=True, **first)
            log.info("job_added outlet=%s trigger=%s", slug, trigger)
        for stale in existing:
            self.scheduler.remove_job(stale)
            log.info("job_removed id=%s (outlet not scheduled now)", stale)

    def _same_kind(self, old, new, outlet: Outlet) -> bool:
        if isinstance(new, CronTrigger):
            return isinstance(old, CronTrigger) and str(old) == str(new)
        b = self.bounds(outlet)
        return (isinstance(old, IntervalTrigger)
                and b.min_seconds <= old.interval.total_seconds() <= b.max_seconds)

    # ---- events ----------------------------------------------------------------------------
    def _on_missed(self, event) -> None:
        slug = event.job_id.removeprefix("crawl:")
        log.warning("run_missed outlet=%s scheduled_at=%s", slug, event.scheduled_run_time)
        self.history.missed(slug, event.scheduled_run_time.timestamp())

    def _on_submitted(self, event) -> None:
        if event.scheduled_run_times:
            self._scheduled[event.job_id] = event.scheduled_run_times[-1].timestamp()

    # ---- one run ---------------------------------------------------------------------------
    def run_once(self, slug: str) -> str:
        """Crawl ``slug`` once in a child process and record the run; returns its outcome (in
        fleet mode: queue the poll for a worker, ``"queued"``; the result is recorded when a
        worker sends it)."""
        if self._stopping.is_set():
            return "interrupted"
        outlet = self.config.outlets.get(slug)
        if outlet is None:
            raise SchedulerError(f"outlet {slug!r} is not scheduled by this daemon")
        started = time.time()
        run_id = self.history.start(slug, started_at=started)
        timeout = self.config.timeout_seconds or outlet.schedule.timeout_minutes * 60
        if self.dispatcher is not None:
            self._started[run_id] = started
            queued = self.dispatcher.dispatch(slug, outlet, run_id, timeout,
                                              scheduled_at=self._scheduled.get(job_id(slug)))
            if queued == "skipped":
                self.history.finish(run_id, "skipped", None, "the previous poll is still running", None,
                                    scheduled_at=self._scheduled.get(job_id(slug)))
            return queued
        if not self._outlets_written:  # a daemon not started (run_once in tests)
            self._write_outlets()
        cmd = [sys.executable, "-m", "rasd.scheduler.child", slug, "--data-dir", str(self.data_dir),
               "--outlets-file", str(self.outlets_file), "--deadline", f"{time.time() + timeout:.3f}"]
        if self.config.replay_url:
            cmd += ["--replay-url", self.config.replay_url]
        log.info("run_started outlet=%s run=%d", slug, run_id)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, preexec_fn=_die_with_parent)
        with self._lock:
            self._children[slug] = proc
        try:
            outcome, out, errs = self._wait(proc, time.monotonic() + timeout)
        finally:
            with self._lock:
                self._children.pop(slug, None)
        counts, errors = None, None
        lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
        if lines:
            try:
                counts = counts_from_summary(json.loads(lines[-1]))
            except ValueError:
                pass
        if outcome == "ok" and (proc.returncode != 0 or counts is None):
            # 130: the child stopped on a signal (its JSON line says what it did); a child
            # SIGTERMed by stop() before its crawl took the signal is cut, not broken
            stopped = proc.returncode == CHILD_INTERRUPTED or self._stopping.is_set()
            outcome = "interrupted" if stopped else "failed"
        if outcome != "ok":
            errors = f"exit={proc.returncode} " + (errs or "").strip()[-2000:]
        elif counts and counts.failures:
            errors = json.dumps(counts.failures, sort_keys=True)
        interval, reason = self._adapt(outlet, outcome, counts, run_id, started)
        scheduled = self._scheduled.get(job_id(slug))
        self.history.finish(run_id, outcome, counts, errors, interval, scheduled_at=scheduled,
                            interval_reason=reason)
        log.info("run_finished outlet=%s run=%d outcome=%s archived=%s interval=%s", slug, run_id,
                 outcome, counts.archived if counts else 0, interval)
        if outcome != "interrupted":
            self.assess_health(slug)
        return outcome

    def assess_health(self, slug: str, now: float | None = None) -> Assessment:
        """Assess ``slug``'s health from its runs (:mod:`rasd.scheduler.health`), store it, and
        on a change (not the first ``ok``) log it and call ``config.on_health``."""
        now = time.time() if now is None else now
        found = self.history.assess(slug, now, self.config.health_rules)
        before = self.history.set_health(slug, found.state, found.reason, now)
        if before is None or (before == {} and found.state == "ok"):
            return found
        log.warning("health_changed outlet=%s from=%s to=%s reason=%r", slug,
                    before.get("state", "none"), found.state, found.reason)
        if self.config.on_health is not None:
            try:
                self.config.on_health(slug, before, found, now)
            except Exception:  # a failing notification must not stop the run's job
                log.exception("health_notify_failed outlet=%s", slug)
        return found

    def record_result(self, run_id: int, slug: str, outcome: str, summary: dict | None,
                      errors: str | None, cpu_seconds: float | None = None) -> None:
        """Record a fleet worker's result for run ``run_id`` as a child's run is recorded: its
        counts, the adapted interval (and the job rescheduled), the run's end."""
        outlet = self.config.outlets.get(slug)
        if outlet is None:
            return
        counts = None
        if summary:
            try:
                counts = counts_from_summary(summary)
            except ValueError:
                counts = None
        if outcome == "ok" and counts is not None and counts.failures:
            errors = json.dumps(counts.failures, sort_keys=True)
        started = self._started.pop(run_id, time.time())
        interval, reason = self._adapt(outlet, outcome, counts, run_id, started)
        self.history.finish(run_id, outcome, counts, errors, interval,
                            scheduled_at=self._scheduled.get(job_id(slug)), interval_reason=reason)
        log.info("run_finished outlet=%s run=%d outcome=%s archived=%s interval=%s (fleet)", slug,
                 run_id, outcome, counts.archived if counts else 0, interval)
        if outcome != "interrupted":
            self.assess_health(slug)

    def _wait(self, proc: subprocess.Popen, deadline: float) -> tuple[str, str, str]:
        """Wait for ``proc``; SIGTERM it past ``deadline`` or on stop, SIGKILL after the grace."""
        outcome, kill_at = "ok", None
        while True:
            try:
                out, errs = proc.communicate(timeout=0.25)
                return outcome, out, errs
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if kill_at is None and (now > deadline or self._stopping.is_set()):
                outcome = "timeout" if now > deadline else "interrupted"
                proc.terminate()
                kill_at = now + self.config.stop_grace_seconds
            elif kill_at is not None and now > kill_at:
                proc.kill()

    def _adapt(self, outlet: Outlet, outcome: str, counts, run_id: int,
               started: float) -> tuple[float | None, str | None]:
        """The interval (seconds) after run ``run_id``, started at ``started`` (POSIX seconds),
        and its reason; ``(None, None)`` for cron outlets.  Reschedules the job when the
        interval changed."""
        b = self.bounds(outlet)
        current, before = self.history.outlet_state(outlet.slug)
        failures = 0 if outcome == "ok" else before + (outcome in ("failed", "timeout"))
        if b is None:
            self.history.set_outlet_state(outlet.slug, None, failures)
            return None, None
        current = current or b.base
        new, reason = current, "adaptation off (--no-adapt)" if not self.config.adapt else None
        if self.config.adapt and outcome == "interrupted":
            reason = "interrupted run: kept"
        elif self.config.adapt:
            last_ok = self.history.last_ok_start(outlet.slug, before_id=run_id)
            step = next_interval(current, b, ok=outcome == "ok", new=counts.new if counts else 0,
                                 elapsed=started - last_ok if last_ok is not None else None,
                                 consecutive_failures=failures, after_failures=before > 0)
            new, reason = step.interval, step.reason
        self.history.set_outlet_state(outlet.slug, new, failures)
        if new != current:
            log.info("interval_changed outlet=%s from=%s to=%s reason=%r", outlet.slug, current,
                     new, reason)
        if new != current and not self._stopping.is_set() and self.scheduler is not None:
            # start to start, as the fixed trigger counts (a run already past it goes at once)
            first = datetime.fromtimestamp(started + new, timezone.utc)
            try:
                self.scheduler.reschedule_job(job_id(outlet.slug), trigger=IntervalTrigger(
                    seconds=new, start_date=first, timezone=timezone.utc))
            except Exception as exc:  # the job may be gone during shutdown
                log.warning("reschedule_failed outlet=%s error=%s", outlet.slug, exc)
        return new, reason

    # ---- stop ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Graceful stop: no new runs, running children SIGTERMed and awaited, scheduler down."""
        global _ACTIVE
        self._stopping.set()
        if self.scheduler is None:
            self._release_data_dir()
            return
        self.scheduler.pause()
        with self._lock:
            children = list(self._children.items())
        for slug, proc in children:  # each run's _wait sends its child the one SIGTERM (within 0.25 s)
            if proc.poll() is None:
                log.info("run_stopping outlet=%s pid=%d", slug, proc.pid)
        self.scheduler.shutdown(wait=True)
        self.scheduler = None
        self.heartbeat.stop()
        if self.dispatcher is not None:  # polls in flight finish on their workers; results wait in Redis
            self.dispatcher.stop()
            self.dispatcher = None
        if _ACTIVE is self:
            _ACTIVE = None
        self._release_data_dir()
        log.info("scheduler_stopped")


def next_runs(data_dir: Path, url: str | None = None) -> dict[str, float | None]:
    """``{slug: next run time (POSIX seconds) or None}`` read from the job store's table.

    Raises:
        SchedulerError: the job store cannot be read (``job store sqlite:///…/jobs.sqlite:
            DatabaseError: file is not a database``), one line, credentials redacted.
    """
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    from rasd.core.errors import redact_secrets

    where = jobstore_url(data_dir, url)
    if where.startswith("sqlite:///") and not Path(where.removeprefix("sqlite:///")).exists():
        return {}  # never scheduled here (and not created by looking: a read-only copy stays as it is)
    try:
        engine = create_engine(where)
        try:
            if not inspect(engine).has_table("apscheduler_jobs"):
                return {}
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).fetchall()
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as exc:
        cause = getattr(exc, "orig", None) or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise SchedulerError(f"job store {redact_secrets(where)}: {type(cause).__name__}: {first}") from None
    return {r[0].removeprefix("crawl:"): r[1] for r in rows if r[0].startswith("crawl:")}
