"""``rasd worker``: a long-lived crawl process of a fleet (see :mod:`rasd.crawler.worker` and
docs/scale.md).  ``register(app)`` adds the command to the typer app of :mod:`rasd.cli.main`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rasd.cli.common import err, fail as _fail
from rasd.core.errors import ConfigError, RasdError


def worker(
    redis: Annotated[Optional[str], typer.Option(help="the fleet's Redis, e.g. redis://127.0.0.1:6379/0 (default: fleet.redis_url, RASD_FLEET__REDIS_URL)")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="the shared data directory (this worker writes archive/shards/<id>/)")] = None,
    worker_id: Annotated[Optional[str], typer.Option(help="this worker's name in the fleet (default <host>-<pid>; RASD_WORKER_ID)")] = None,
    max_polls: Annotated[Optional[int], typer.Option(min=1, max=64, help="outlet polls run at once (default: fleet.max_polls, 4)")] = None,
    replay_url: Annotated[Optional[str], typer.Option(help="crawl the replay server at this URL (tests, benchmarks) instead of the web")] = None,
    prefix: Annotated[Optional[str], typer.Option(help="Redis key prefix shared by the fleet (default: fleet.prefix, rasd:)")] = None,
) -> None:
    """Take outlet polls from Redis until SIGINT/SIGTERM (`rasd schedule --queue` pushes them)."""
    from rasd.core.settings import load_settings
    from rasd.core.shared import worker_id as default_worker_id
    from rasd.crawler.worker import run_worker

    try:
        settings = load_settings(data_dir=data_dir)
        redis = redis or settings.fleet.url()
        if not redis:
            raise ConfigError("rasd worker needs the fleet's Redis: --redis redis://host:6379/0 "
                              "(or RASD_FLEET__REDIS_URL)")
        wid = worker_id or default_worker_id()
        err.print(f"rasd worker {wid}: polls from {redis.split('@')[-1]}, data in {settings.data_dir}; "
                  "SIGINT/SIGTERM stops", highlight=False)
        stats = run_worker(settings, redis, worker=wid, prefix=prefix or settings.fleet.prefix,
                           max_polls=max_polls or settings.fleet.max_polls, replay_url=replay_url)
    except RasdError as exc:
        _fail(exc)
    if stats.get("rasd/interrupted"):
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    """Add ``worker`` to ``app``."""
    app.command("worker")(worker)
