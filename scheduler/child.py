"""One scheduled crawl of one outlet, in its own process (``python -m rasd.scheduler.child``).

Why a child process per run: Scrapy's Twisted reactor cannot be restarted within a process
(see :mod:`rasd.crawler.run`), and a crashing or hanging crawl must not take the scheduler or the
other outlets with it; a child can be killed on its deadline.  The scheduler
(:mod:`rasd.scheduler.runner`) starts::

    python -m rasd.scheduler.child SLUG --data-dir D --outlets-file F [--replay-url URL] [--deadline T]

``F`` is a JSON file ``{slug: Outlet fields}`` written by the scheduler (the seeds, or the
replay outlets).  Listings are fetched with conditional GET (:mod:`rasd.crawler.feedstate`).
An exclusive ``flock`` on ``<data-dir>/locks/<slug>.lock`` keeps two crawls of one outlet from
overlapping even across a scheduler restart (an orphaned child finishes first).

``T`` is the POSIX time at which the scheduler will SIGTERM the run (its timeout): a retry
wait that would end after it (less a margin) defers its page to a later run instead
(``RASD_DEADLINE``, see :class:`rasd.crawler.middlewares.BackoffRetryMiddleware`).

Output: one JSON line on stdout, the outlet's summary ``{"listings_ok", "listings_failed",
"listings_skipped", "listing_failures": {reason: n}, "listing_refusals": {reason: n},
"dates_refused", "conditional": {fetch/200, fetch/304, fetch/forced, fetch/failed, bytes_saved,
bytes_spent, validators_ignored, …}, "not_modified", "links": {...}, "outcomes": {...}, "pages", "syndicated",
"finish_reason", "interrupted", "cpu_seconds", "max_rss_kb"}``, also after a stop.  ``cpu_seconds`` is the user +
system CPU time of this process and of its reaped children (the extraction workers) when the
line is written (the interpreter's teardown after it, a few tenths of a second, is not in it),
``max_rss_kb`` this process's peak resident memory in kB (``getrusage``; Linux units).  Exit codes: 0 done; 130 interrupted by SIGTERM/SIGINT
(the crawl stopped within seconds, what was done is flushed and in the summary, pages cut
short are ``failed/interrupted``; see :mod:`rasd.crawler.stopping`); 2 usage or configuration
error; anything else a crash (including a SIGTERM before the crawl started: -15).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path


from rasd.crawler.extensions import outlet_summary as summary_of  # noqa: E402  (the run's one line)


def _usage() -> dict:
    """``{"cpu_seconds", "max_rss_kb"}`` of this run so far (see the module docstring)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return {"cpu_seconds": round(cpu, 3), "max_rss_kb": int(me.ru_maxrss)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rasd.scheduler.child")
    parser.add_argument("slug")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--outlets-file", type=Path, required=True)
    parser.add_argument("--replay-url")
    parser.add_argument("--deadline", type=float, help="POSIX time the scheduler stops this run at")
    args = parser.parse_args(argv)

    from rasd.crawler.run import replay_overrides, run_crawl
    from rasd.crawler.stopping import EXIT_INTERRUPTED
    from rasd.core.errors import RasdError, error_line
    from rasd.core.seeds import Outlet
    from rasd.core.settings import load_settings

    try:
        settings = load_settings(data_dir=args.data_dir)
        raw = json.loads(args.outlets_file.read_text(encoding="utf-8"))
        if args.slug not in raw:
            print(f"unknown outlet {args.slug!r} in {args.outlets_file}", file=sys.stderr)
            return 2
        outlet = Outlet.model_validate(raw[args.slug])
    except (RasdError, OSError, ValueError) as exc:
        print(f"rasd: {error_line(exc)}", file=sys.stderr)
        return 2
    extra: dict = {"RASD_CONDITIONAL_GET": True}
    if args.replay_url:
        extra.update(replay_overrides(args.replay_url))
    if args.deadline:
        extra["RASD_DEADLINE"] = args.deadline
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    extra["LOG_FILE"] = str(logs / f"crawl-{args.slug}.log")
    from rasd.core.durable import OutletLocks

    try:
        with OutletLocks(settings.data_dir, [args.slug], wait=True):  # behind an orphaned run, if any
            stats = run_crawl(settings, {args.slug: outlet}, **extra)
    except RasdError as exc:  # e.g. CrawlFailed: a stage that cannot be imported
        print(f"rasd: {error_line(exc)}", file=sys.stderr)
        return 2
    summary = summary_of(stats, args.slug)
    summary.update(_usage())
    try:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the scheduler died: the archive and stores hold the run already
        pass
    return EXIT_INTERRUPTED if summary["interrupted"] else 0


def _exit(code: int) -> None:
    """End the process with ``code`` now that the run is over: stdout and stderr flushed (a
    broken pipe ignored), then ``os._exit``, not the interpreter's shutdown, which waits for
    every non-daemon thread.  A reactor thread-pool thread left waiting after a stop signal
    kept children of a killed scheduler alive for minutes, holding their outlets' locks.
    Everything the run wrote is committed by then (the archive and the stores are durable
    at each write, :mod:`rasd.pipelines.ledger`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
