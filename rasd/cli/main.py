"""The ``rasd`` command line (typer + rich).

Every :class:`~rasd.core.errors.RasdError` becomes one line on stderr and exit code 2; tables go to
stdout for people, ``--json`` output for scripts.  A crawl stopped by Ctrl-C/SIGTERM says so in
one line on stderr and exits 130.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from rasd.core.errors import ConfigError, RasdError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Rasd (رصد): scheduled news monitoring for Arabic outlets.")
from rasd.cli.common import console, err, fail as _fail, log_level_option, print_failure  # noqa: E402  (one console setup)


@app.command()
def crawl(
    outlets: Annotated[Optional[list[str]], typer.Argument(help="outlet slugs (default: all)")] = None,
    replay: Annotated[Optional[Path], typer.Option(help="serve this recording (a dir with MANIFEST.tsv) on 127.0.0.1 and crawl it")] = None,
    replay_url: Annotated[Optional[str], typer.Option(help="with --replay: crawl this running replay server instead of starting one")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="where the archive, seen-URL store and logs go")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    log_level: Annotated[Optional[str], typer.Option(callback=log_level_option, help="DEBUG, INFO, WARNING or ERROR")] = None,
    index: Annotated[Optional[bool], typer.Option("--index/--no-index", help="also index into the search engine (default: index_enabled setting)")] = None,
) -> None:
    """Crawl outlets once: feeds and sitemaps → new articles → pipeline → archive (→ index).

    Feeds and sitemaps are fetched with conditional GET (feedstate.sqlite in the data
    directory): a listing unchanged since the last finished crawl answers 304 and its remembered
    links are checked again, so pages that failed before are still fetched (column "unchanged").

    Ctrl-C/SIGTERM stops the crawl within seconds (what is done is flushed; pages cut short are
    fetched by the next crawl) and exits 130; a second one stops at once.
    """
    # until the crawl's own handler takes over (crawler/stopping.py), SIGTERM is a Ctrl-C
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    stats = None
    late_signal = False
    try:
        from rasd.crawler.run import replay_overrides, run_crawl  # first: see its first import
        from rasd.core.seeds import load_outlets
        from rasd.core.settings import load_settings
        from rasd.crawler.extensions import summarize, summary_table
        from rasd.replay.server import ReplayServer, load_recording, replay_outlets

        settings = load_settings(data_dir=data_dir, log_level=log_level, index_enabled=index)
        seeds = load_outlets(settings.seeds_dir)
        server = None
        extra: dict = {}
        if replay_url is not None and replay is None:
            raise ConfigError("--replay-url needs --replay (the recording defines the outlets)")
        if replay is not None:
            site, pages, unused = load_recording(replay)
            chosen = replay_outlets(pages, seeds, download_delay=settings.crawl.replay_download_delay,
                                    concurrency=settings.crawl.replay_concurrency)
            if replay_url is None:
                server = ReplayServer(site).start()
                replay_url = server.base_url
            extra = replay_overrides(replay_url)
            if not as_json:
                console.print(f"replaying {len(pages)} recorded pages from {replay} on {replay_url}"
                              + (f"; {len(unused)} manifest article rows not replayable:" if unused else ""),
                              soft_wrap=True)
            for reason in unused[:8]:
                err.print(f"  not replayed: {escape(reason)}", highlight=False)
            if len(unused) > 8:
                err.print(f"  … and {len(unused) - 8} more", highlight=False)
        else:
            chosen = seeds
        if outlets:
            unknown = [o for o in outlets if o not in chosen]
            if unknown:
                where = "with replayable pages in this recording" if replay is not None else "in seeds/"
                raise ConfigError(f"unknown outlet(s): {', '.join(unknown)} (outlets {where}: {', '.join(chosen)})")
            chosen = {o: chosen[o] for o in outlets}
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        extra["LOG_FILE"] = str(log_dir / "crawl.log")
        from rasd.core.durable import OutletLocks

        if not as_json:
            _progress_to_stderr()
        try:
            with OutletLocks(settings.data_dir, chosen):  # refused if another crawl has one
                stats = run_crawl(settings, chosen, **extra)
        finally:
            if server is not None:
                server.stop()
    except RasdError as exc:
        _fail(exc)
    except KeyboardInterrupt:  # Ctrl-C/SIGTERM outside the crawl's own handler
        if stats is None:
            err.print("rasd: crawl interrupted before it started", highlight=False)
            raise typer.Exit(130) from None
        late_signal = True  # after the crawl had ended (stopping the replay server, say): all is saved
    summaries = summarize(stats)
    if stats.get("rasd/interrupted"):
        _interrupted(stats["rasd/interrupted"], summaries, settings.data_dir)
    read = sum(s.listings_ok + s.listings_not_modified for s in summaries.values())
    unreadable = sum(s.listings_failed + s.listings_skipped for s in summaries.values())
    if as_json:
        payload = {s.outlet: {"listings_ok": s.listings_ok, "listings_not_modified": s.listings_not_modified,
                              "listings_failed": s.listings_failed,
                              "listings_skipped": s.listings_skipped,
                              "listing_failures": dict(s.listing_failures),
                              "listing_refusals": dict(s.listing_refusals),
                              "dates_refused": s.dates_refused,
                              "conditional": dict(s.conditional),
                              "links": dict(s.links), "outcomes": dict(s.outcomes),
                              "syndicated": s.syndicated} for s in summaries.values()}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=1) + "\n")
    else:
        console.print(summary_table(summaries))
        indexed, waiting = stats.get("rasd/index/indexed", 0), stats.get("rasd/index/waiting")
        already = stats.get("rasd/index/already_indexed", 0)
        if waiting is not None:
            why = ("the disk is full" if stats.get("rasd/disk_full") else
                   "followers.sqlite could not be written" if stats.get("rasd/index/store_unavailable") else
                   "engine unreachable")
            console.print(f"index: {indexed} indexed, {already} already in the index, {waiting} archive lines waiting"
                          + (f" ({why}: `rasd index` sends them later)" if waiting else ""), soft_wrap=True)
        line = alerts_line(stats)
        if line:
            console.print(line, soft_wrap=True, highlight=False)
        console.print(f"archive: {settings.data_dir / 'archive'}   log: {log_dir / 'crawl.log'}", soft_wrap=True)
    if stats.get("rasd/disk_full"):
        # pages the full disk stopped before they had an outcome count too (failed/no_outcome)
        lost = sum(s.outcomes.get("failed/disk_full", 0) + s.outcomes.get("failed/no_outcome", 0)
                   for s in summaries.values())
        err.print(f"rasd: disk full, crawl stopped: {escape(str(stats['rasd/disk_full']))}; "
                  f"{lost} pages not archived (fetched again by the next crawl once there is space)",
                  soft_wrap=True, highlight=False)
        raise typer.Exit(3)
    if late_signal:
        err.print("rasd: stop signal after the crawl had ended: nothing was cut short", highlight=False)
        raise typer.Exit(130)
    if unreadable and not read:
        err.print(f"rasd: none of the {unreadable} feeds and sitemaps could be read (see the log)", soft_wrap=True)
        raise typer.Exit(1)
    dark = [s.outlet for s in summaries.values()
            if s.listings_failed + s.listings_skipped and not s.listings_ok + s.listings_not_modified]
    if dark:
        err.print(f"rasd: {len(dark)} of {len(summaries)} outlets could not be read at all (no feed or sitemap "
                  f"answered): {escape(', '.join(dark))} (see the log)", soft_wrap=True, highlight=False)


def alerts_line(stats: dict) -> str | None:
    """The crawl summary's alerts line, from the alert pipeline's stats (``None`` when alerts
    were off): articles matched against the stored alerts, notifications sent and failed, what
    waits — so a crawl whose alerts could not be matched or delivered says so.

    Shape: ``alerts: 12 articles checked, 3 matched, 2 notifications sent, 1 failed (1 waits in
    the outbox: `rasd alerts deliver` retries it), 0 archive lines waiting``.
    """
    if "rasd/alerts/waiting" not in stats and not any(k.startswith("rasd/alerts/") for k in stats):
        return None
    get = lambda k: int(stats.get(f"rasd/alerts/{k}", 0) or 0)  # noqa: E731
    line = (f"alerts: {get('checked')} articles checked, {get('matched')} matched, "
            f"{get('delivered')} notifications sent, {get('delivery_failed')} failed")
    pending, waiting = get("outbox_pending"), get("waiting")
    if pending:
        line += f" ({pending} wait in the outbox: `rasd alerts deliver` retries them)"
    line += f", {waiting} archive lines waiting"
    if get("engine_unavailable"):
        line += " (engine unreachable: matched when it is back, by the next crawl or `rasd schedule`)"
    return line


def _progress_to_stderr() -> None:
    """Show the ``rasd.progress`` logger's records (long retry waits) on stderr while the crawl
    runs, so a crawl waiting out a server's errors is not silent; they go to the log file too."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rasd: %(message)s"))
    handler.setLevel(logging.INFO)
    progress = logging.getLogger("rasd.progress")
    progress.setLevel(logging.INFO)
    progress.addHandler(handler)


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def _interrupted(signame: str, summaries: dict, data_dir: Path) -> None:
    """One line saying the crawl was stopped and what it kept; exit 130."""
    archived = sum(s.outcomes["archived"] for s in summaries.values())
    cut = sum(s.outcomes["failed/interrupted"] for s in summaries.values())
    err.print(f"rasd: crawl interrupted by {signame}: {archived} pages archived in "
              f"{data_dir / 'archive'}, {cut} cut short (fetched by the next crawl)",
              highlight=False, soft_wrap=True, markup=False)
    raise typer.Exit(130)


@app.command("outlets")
def list_outlets() -> None:
    """List the outlets defined in seeds/."""
    from rich.table import Table

    from rasd.core.seeds import load_outlets
    from rasd.core.settings import load_settings

    try:
        settings = load_settings()
        outlets = load_outlets(settings.seeds_dir, include_disabled=True)
    except RasdError as exc:
        _fail(exc)
    table = Table(title=f"{len(outlets)} outlets ({settings.seeds_dir})")
    for col in ("slug", "name", "country", "languages", "feeds", "sitemaps", "schedule", "enabled"):
        table.add_column(col)
    for o in outlets.values():
        sched = f"every {o.schedule.interval_minutes} min" if o.schedule.interval_minutes else f"cron {o.schedule.cron}"
        table.add_row(o.slug, o.name, o.country, ",".join(o.languages), str(len(o.feeds)),
                      str(len(o.sitemaps)), sched, "yes" if o.enabled else "no")
    console.print(table)


from rasd.cli import alerts as cli_alerts, index as cli_index, schedule as cli_schedule, topics as cli_topics  # noqa: E402  (command groups in their own modules)
from rasd.cli import web as cli_web, worker as cli_worker  # noqa: E402

cli_index.register(app)
cli_schedule.register(app)
cli_topics.register(app)
cli_alerts.register(app)
cli_web.register(app)
cli_worker.register(app)


def usage_line(exc: Exception) -> str:
    """One line for a ``click.UsageError`` (an unknown option, a missing argument, a value out
    of range): ``"rasd search: Invalid value for '--limit': … (rasd search --help lists the
    options)"`` instead of Click's usage block and Typer's boxed panel."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "rasd"
    message = " ".join(exc.format_message().split())
    return f"{where}: {message} ({where} --help lists the options)"


def _is(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is a Click exception class ``name`` (``UsageError``, ``ClickException``,
    ``Abort``), from Click itself or the copy Typer ≥ 0.2x vendors (``typer._click``)."""
    return any(k.__name__ == name for k in type(exc).__mro__)


def main() -> None:
    """Console-script entry: run the app; a usage error (:func:`usage_line`), a Rasd error, an
    unreadable or unwritable file or a file in the wrong encoding ends as one line on stderr and
    exit code 2, not a traceback."""
    try:
        code = app(standalone_mode=False, prog_name="rasd")  # also under python -m
    except (RasdError, OSError, UnicodeError) as exc:
        print_failure(exc)
        sys.exit(2)
    except Exception as exc:
        if _is(exc, "UsageError"):
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
                err.print(escape(usage_line(exc)), soft_wrap=True, highlight=False)
            sys.exit(exc.exit_code)
        if _is(exc, "ClickException"):
            exc.show()
            sys.exit(exc.exit_code)
        if _is(exc, "Abort"):
            err.print("Aborted!", highlight=False)
            sys.exit(1)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
