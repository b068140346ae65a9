"""``rasd schedule`` and ``rasd status``: the scheduler daemon and its run history.

``register(app)`` adds both commands to the typer app of :mod:`rasd.cli.main`.

``rasd schedule --replay tests/fixtures/corpus --data-dir data`` polls every replayed outlet on
its schedule until SIGINT/SIGTERM (see :mod:`rasd.scheduler.runner` for the design);
``--replay-url`` points the crawls at a replay server that is already running (tests publish
new items into it), ``--interval-seconds``/``--timeout-seconds`` shrink the seeds' minutes to
seconds for tests and benchmarks.  The daemon also sends the alerts' daily and weekly digests
at their hour and time zone, and due outbox retries (:class:`rasd.alerts.digests.DigestSender`,
every ``--digest-check-seconds``; ``--no-digests`` turns it off).  ``rasd status [--json]``
reads the run history and the job store of a data directory, also while the daemon runs.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from rasd.core.errors import ConfigError, RasdError

from rasd.cli.common import (MAX_SECONDS, console, err, fail as _fail, finite, log_format_option,  # noqa: E402
                             log_level_option, setup_logging)


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _interval(seconds: float | None) -> str:
    if not seconds:
        return "—"
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def schedule(
    data_dir: Annotated[Optional[Path], typer.Option(help="archive, history and job store directory")] = None,
    replay: Annotated[Optional[Path], typer.Option(help="replay this recording (a dir with MANIFEST.tsv)")] = None,
    replay_url: Annotated[Optional[str], typer.Option(help="with --replay: use this running replay server instead of starting one")] = None,
    outlets: Annotated[Optional[str], typer.Option(help="comma-separated slugs (default: all)")] = None,
    interval_seconds: Annotated[Optional[float], typer.Option(min=1.0, max=MAX_SECONDS, callback=finite, help="poll interval in seconds instead of the seeds' interval_minutes (tests)")] = None,
    max_interval_seconds: Annotated[Optional[float], typer.Option(min=1.0, max=MAX_SECONDS, callback=finite, help="upper bound of the adaptive interval, seconds (not below --interval-seconds)")] = None,
    timeout_seconds: Annotated[Optional[float], typer.Option(min=1.0, max=MAX_SECONDS, callback=finite, help="run time limit in seconds instead of timeout_minutes")] = None,
    max_parallel: Annotated[Optional[int], typer.Option(min=1, max=1024, help="crawls running at once (default: max(4, 2 × CPUs))")] = None,
    misfire_grace_seconds: Annotated[int, typer.Option(min=1, max=int(MAX_SECONDS), help="a run this late still runs")] = 300,
    jobstore_url: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL of the job store (default: the scheduler_jobstore_url setting, RASD_SCHEDULER_JOBSTORE_URL, or <data-dir>/jobs.sqlite)")] = None,
    no_adapt: Annotated[bool, typer.Option("--no-adapt", help="keep intervals fixed")] = False,
    digests: Annotated[bool, typer.Option(help="send daily/weekly alert digests at their hour, and due outbox retries")] = True,
    digest_check_seconds: Annotated[float, typer.Option(min=1.0, max=86400.0, callback=finite, help="how often digests are checked")] = 60.0,
    metrics_port: Annotated[Optional[int], typer.Option(min=0, max=65535, help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics (0: any free port, printed)")] = None,
    metrics_host: Annotated[str, typer.Option(help="address of the metrics endpoint")] = "127.0.0.1",
    heartbeat_seconds: Annotated[float, typer.Option(min=0.2, max=3600.0, callback=finite, help="how often the scheduler writes its heartbeat (rasd status reads it)")] = 5.0,
    log_level: Annotated[str, typer.Option(callback=log_level_option, help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
    log_format: Annotated[str, typer.Option(callback=log_format_option, help="text (key=value lines) or json (ECS JSON lines, ecs-logging: the engine can take them)")] = "text",
    queue: Annotated[Optional[str], typer.Option(help="fleet mode: push polls to this Redis (redis://host:6379/0) for `rasd worker` processes instead of starting a child per run; the scheduler then follows every worker's archive shard into the index and the alerts")] = None,
) -> None:
    """Run the scheduler until SIGINT/SIGTERM: every outlet polled on its own schedule."""
    from rasd.replay.server import ReplayServer, load_recording, replay_outlets
    from rasd.core.seeds import load_outlets
    from rasd.core.settings import load_settings
    from rasd.scheduler.runner import Daemon, ScheduleConfig

    setup_logging(log_level, log_format)
    server = metrics = None
    try:
        if max_interval_seconds is not None and interval_seconds is not None and max_interval_seconds < interval_seconds:
            raise ConfigError(f"--max-interval-seconds {max_interval_seconds:g} is below --interval-seconds "
                              f"{interval_seconds:g} (the adaptive interval could never reach its base)")
        settings = load_settings(data_dir=data_dir)
        seeds = load_outlets(settings.seeds_dir)
        if replay is not None:
            site, pages, _ = load_recording(replay)
            chosen = replay_outlets(pages, seeds, download_delay=settings.crawl.replay_download_delay,
                                    concurrency=settings.crawl.replay_concurrency)
            if replay_url is None:
                server = ReplayServer(site).start()
                replay_url = server.base_url
        elif replay_url is not None:
            raise ConfigError("--replay-url needs --replay (the recording defines the outlets)")
        else:
            chosen = seeds
        if outlets:
            wanted = [s.strip() for s in outlets.split(",") if s.strip()]
            unknown = [s for s in wanted if s not in chosen]
            if unknown:
                raise ConfigError(f"unknown outlet(s): {', '.join(unknown)} (known: {', '.join(chosen)})")
            chosen = {s: chosen[s] for s in wanted}
        from rasd.alerts.digests import DigestSender
        from rasd.search.engine import connect

        sender = DigestSender(settings.data_dir, lambda: connect(settings.engine, settings.secret),
                              settings.engine.index_prefix)
        from rasd.scheduler.health import rules_from

        rules = rules_from(settings.health)
        if metrics_port is not None:
            from rasd.scheduler.metrics import serve

            try:
                metrics = serve(settings.data_dir, metrics_port, metrics_host, rules)[0]
            except OSError as exc:
                raise ConfigError(f"--metrics-port {metrics_port}: cannot listen on {metrics_host}: {exc.strerror or exc}") from None
        daemon = Daemon(ScheduleConfig(
            data_dir=settings.data_dir, outlets=chosen, replay_url=replay_url,
            jobstore_url=jobstore_url or settings.jobstore_url(), interval_seconds=interval_seconds,
            max_interval_seconds=max_interval_seconds, timeout_seconds=timeout_seconds,
            max_parallel=max_parallel,
            misfire_grace_seconds=misfire_grace_seconds, adapt=not no_adapt,
            digests=sender.tick if digests else None, digest_check_seconds=digest_check_seconds,
            health_rules=rules, on_health=_health_notifier(settings.data_dir),
            heartbeat_seconds=heartbeat_seconds,
            queue_url=queue, queue_prefix=settings.fleet.prefix,
            followers=_fleet_followers(settings) if queue else None))
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            daemon.start()
        except RasdError:
            raise
        except Exception as exc:  # the job store: a bad URL, a missing driver, a locked file
            from rasd.core.errors import redact_secrets
            from rasd.scheduler.runner import jobstore_url as store_url

            where = redact_secrets(store_url(settings.data_dir, jobstore_url or settings.jobstore_url()))
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"job store {where}: {type(exc).__name__}: {first}") from None
        err.print(f"rasd schedule: {len(chosen)} outlets, data in {settings.data_dir}"
                  + (f", replay {replay_url}" if replay_url else "")
                  + (f", metrics http://{metrics_host}:{metrics.server_port}/metrics" if metrics else "")
                  + "; SIGINT/SIGTERM stops", highlight=False)
        while not stop.wait(1.0):
            pass
        daemon.stop()
    except RasdError as exc:
        _fail(exc)
    finally:
        if server is not None:
            server.stop()
        if metrics is not None:
            metrics.shutdown()


def _health_notifier(data_dir: Path):
    """The daemon's ``on_health``: the change goes to the health alerts (rasd.alerts.health)."""
    def notify(slug: str, before: dict, found, since: float) -> None:
        from rasd.alerts.health import notify_change
        from rasd.alerts.outbox import AlertStore

        store = AlertStore(Path(data_dir) / "alerts.sqlite")
        try:
            notify_change(store, slug, before.get("state"), found.state, found.reason, since)
        finally:
            store.close()

    return notify


#: fleet mode: how often the scheduler asks the engine to roll the index over (``max_age`` 30 d)
ROLLOVER_CHECK_SECONDS = 86400.0


def _fleet_followers(settings):
    """Fleet mode: one call brings the index (``index_enabled``) and the alerts
    (``alerts_enabled``) up to every worker's archive shard — the followers a crawl process runs
    in the one-machine mode, here in the scheduler's process — and once a day rolls the index
    over when its write index is 30 days old (:func:`rasd.search.articles.rollover`).

    The alerts' once-per-story record stays in ``alerts.sqlite`` beside the data directory: the
    scheduler's follower is the fleet's only alert matcher, and its matches, outbox and
    checkpoint commit in one SQLite transaction — moving the record to Redis would split that
    commit in two and let a kill between them notify a story twice."""
    from rasd.search.engine import connect

    made: dict = {"rollover_at": 0.0}
    if settings.alerts_enabled:
        # made now, before the first poll is queued: a new alert follower starts at the end of
        # the archive (alerts are for what arrives after alerting began), so one made at the
        # first follow() would skip every article the workers archived in the meantime
        from rasd.alerts.follower import AlertFollower

        made["alerts"] = AlertFollower(settings.data_dir, lambda: connect(settings.engine, settings.secret),
                                       settings.engine.index_prefix)

    def follow() -> None:
        if settings.index_enabled and time.monotonic() - made["rollover_at"] > ROLLOVER_CHECK_SECONDS:
            made["rollover_at"] = time.monotonic()
            from rasd.search.articles import rollover

            try:  # monthly generations (docs/scale.md); a refusal is logged, retried next day
                done = rollover(connect(settings.engine, settings.secret), settings.engine.index_prefix)
                if done.rolled_over:
                    logging.getLogger("rasd.schedule").info("index_rollover old=%s new=%s",
                                                            done.old, done.new)
            except RasdError as exc:
                logging.getLogger("rasd.schedule").warning("index_rollover failed: %s", exc)
        if settings.index_enabled:
            from rasd.search.indexing import FollowerBusy, IndexFollower

            if "index" not in made:
                made["index"] = IndexFollower(settings.data_dir, lambda: connect(settings.engine, settings.secret),
                                              settings.engine.index_prefix)
            try:
                made["index"].run(wait=0.0, max_seconds=30)
                made["index"].refresh()
            except FollowerBusy:
                pass
        if settings.alerts_enabled:
            from rasd.alerts.follower import AlertFollower, AlertFollowerBusy

            if "alerts" not in made:
                made["alerts"] = AlertFollower(settings.data_dir, lambda: connect(settings.engine, settings.secret),
                                               settings.engine.index_prefix)
            try:
                made["alerts"].run(wait=0.0, max_seconds=30)
            except AlertFollowerBusy:
                pass
            made["alerts"].deliver()

    return follow


def status_data(data_dir: Path, jobstore_url: str | None = None, rules=None) -> dict[str, dict]:
    """``{slug: {last_run, next_run, overdue, interval_seconds, health, state, reason, since,
    failures, archived_24h, last_ok_at, listings_distrusted}}`` (``state``/``reason``:
    :mod:`rasd.scheduler.health`; ``overdue``: the next run is past while no scheduler beats;
    ``listings_distrusted``: ``[{url, reason}]`` of listings found not honouring validators)."""
    from rasd.scheduler.heartbeat import liveness
    from rasd.scheduler.history import RunHistory
    from rasd.scheduler.runner import next_runs

    path = Path(data_dir) / "runs.sqlite"
    data = RunHistory(path).status(rules=rules) if path.exists() else {}
    for slug, nxt in next_runs(data_dir, jobstore_url).items():
        data.setdefault(slug, {"last_run": None, "interval_seconds": None, "failures": 0,
                               "health": "never run", "state": "never run", "reason": "no run recorded yet",
                               "since": None, "archived_24h": 0, "last_ok_at": None})["next_run"] = nxt
    running = liveness(data_dir)["running"]
    distrusted: dict[str, list[dict]] = {}
    if (Path(data_dir) / "feedstate.sqlite").exists():
        from rasd.crawler.feedstate import FeedState

        for rec, _ in FeedState(Path(data_dir) / "feedstate.sqlite").records():
            if rec.liar and rec.outlet:
                distrusted.setdefault(rec.outlet, []).append({"url": rec.url, "reason": rec.distrust or "marked"})
    now = time.time()
    from rasd.core.archive import archived_since

    # from the archive, not the run history: `rasd crawl` and fleet workers archive too
    archived = archived_since(Path(data_dir) / "archive", now - 86400)
    for slug, entry in data.items():
        entry["archived_24h"] = archived.get(slug, 0)
        entry.setdefault("next_run", None)
        entry["overdue"] = bool(not running and entry["next_run"] is not None and entry["next_run"] < now)
        entry["listings_distrusted"] = distrusted.get(slug, [])
    return dict(sorted(data.items()))


def status(
    data_dir: Annotated[Optional[Path], typer.Option(help="the scheduler's data directory")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts: {scheduler: {running, since, pid, why}, outlets: {slug: {...}}, followers: {index: {name: lines waiting}, alerts: {lines, pending}}}, or {error: …} with exit 2")] = False,
    jobstore_url: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL of the job store (default: the scheduler_jobstore_url setting, or <data-dir>/jobs.sqlite)")] = None,
) -> None:
    """Per outlet: last run, next run (overdue when the scheduler is down), interval, health
    state and its reason, articles archived in 24 h; whether the scheduler is running."""
    from rasd.core.settings import load_settings
    from rasd.scheduler.health import rules_from
    from rasd.scheduler.heartbeat import liveness

    try:
        settings = load_settings(data_dir=data_dir)
        jobstore_url = jobstore_url or settings.jobstore_url()
        if not settings.data_dir.is_dir():
            raise ConfigError(f"{settings.data_dir}: " + ("not a directory" if settings.data_dir.exists()
                                                          else "no such data directory"))
        alive = liveness(settings.data_dir)
        if not (settings.data_dir / "runs.sqlite").exists() and not jobstore_url \
                and not (settings.data_dir / "jobs.sqlite").exists():
            if as_json:
                sys.stdout.write(json.dumps({"scheduler": alive, "outlets": {}}) + "\n")
                return
            console.print(f"no scheduled runs recorded in {settings.data_dir} yet "
                          "(`rasd schedule --data-dir` with this directory records them)", soft_wrap=True)
            return
        data = status_data(settings.data_dir, jobstore_url, rules_from(settings.health))
        from rasd.scheduler.metrics import alerts_waiting, index_waiting

        followers = {"index": index_waiting(settings.data_dir, settings.engine.index_prefix
                                            if settings.index_enabled else None),
                     "alerts": alerts_waiting(settings.data_dir)}
    except (RasdError, OSError) as exc:
        if as_json:  # scripts read stdout: JSON there too, the line on stderr, exit 2
            from rasd.core.errors import error_line

            sys.stdout.write(json.dumps({"error": error_line(exc)}, ensure_ascii=False) + "\n")
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps({"scheduler": alive, "outlets": data, "followers": followers},
                                    ensure_ascii=False, indent=1) + "\n")
        return
    if alive["running"]:
        console.print(f"scheduler running since {_when(alive['since'])} UTC (pid {alive['pid']})", soft_wrap=True)
    elif alive["since"] is not None:
        console.print(f"scheduler not running since {_when(alive['since'])} UTC ({alive['why']}); "
                      "overdue outlets are marked", soft_wrap=True)
    else:
        console.print(f"scheduler not running ({alive['why']})", soft_wrap=True)
    table = Table(title=f"Scheduler status ({settings.data_dir}, {_when(time.time())} UTC)")
    for col in ("outlet", "last run", "outcome", "archived", "next run", "interval", "health", "reason", "archived 24h"):
        table.add_column(col, justify="right" if col in ("archived", "interval", "archived 24h") else "left")
    for slug, e in data.items():
        last = e["last_run"] or {}
        iv = e["interval_seconds"]
        nxt = _when(e["next_run"]) + (" OVERDUE" if e["overdue"] else "")
        table.add_row(slug, _when(last.get("started_at") or last.get("ended_at")),
                      last.get("outcome", "—"), str(last.get("archived", "—")), nxt,
                      "cron" if iv is None and last else _interval(iv),
                      e["state"], escape(e["reason"]) or "—", str(e["archived_24h"]))
    console.print(table)
    for index, lines in (followers["index"] or {}).items():
        if lines:
            console.print(f"index {escape(index)}: {lines} archive lines not indexed yet (the engine was "
                          "unreachable, or indexing is off: `rasd index` sends them)", soft_wrap=True, highlight=False)
    waiting = followers["alerts"]
    if waiting and (waiting["lines"] or waiting["pending"]):
        console.print(f"alerts: {waiting['lines']} archive lines not matched against the alerts yet (the engine "
                      f"was unreachable), {waiting['pending']} deliveries pending (`rasd alerts outbox`)",
                      soft_wrap=True, highlight=False)
    for slug, e in data.items():
        for d in e["listings_distrusted"]:
            console.print(f"{slug}: listing {escape(d['url'])} does not honour validators, polled "
                          f"unconditionally ({escape(d['reason'])})", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``schedule`` and ``status`` to ``app``."""
    app.command("schedule")(schedule)
    app.command("status")(status)


if __name__ == "__main__":  # ``python -m rasd.cli.schedule schedule|status …`` (tests, before rasd.cli.main registers)
    _app = typer.Typer(add_completion=False, no_args_is_help=True)
    register(_app)
    _app()
