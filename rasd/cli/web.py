"""``rasd web`` (serve the web app) and ``rasd web hash-password`` (a hash for ``web.users``)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from rasd.cli.common import console, fail
from rasd.core.errors import RasdError

web_app = typer.Typer(add_completion=False, invoke_without_command=True,
                      help="The web app: search, stories, alerts, outbox, outlet health.")


@web_app.callback()
def web_main(
    ctx: typer.Context,
    host: Annotated[Optional[str], typer.Option(help="listen address (default web.host, 127.0.0.1)")] = None,
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="port (default web.port, 8087)")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    metrics_port: Annotated[Optional[int], typer.Option(min=0, max=65535, help="also serve the data directory's Prometheus metrics on http://127.0.0.1:PORT/metrics (as rasd schedule --metrics-port)")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="the data directory (archive, alerts, run history; default: the data_dir setting)")] = None,
) -> None:
    """Serve the web app until SIGINT/SIGTERM.  On an address other than loopback it refuses
    to start unless web.auth is password or proxy."""
    if ctx.invoked_subcommand is not None:
        return
    from rasd.core.settings import load_settings
    from rasd.web.server import serve

    try:
        settings = load_settings(data_dir=data_dir)
        if data_dir is not None and not settings.data_dir.is_dir():
            from rasd.core.errors import ConfigError

            raise ConfigError(f"{settings.data_dir}: no such data directory")
        if metrics_port is not None:
            from rasd.core.errors import ConfigError
            from rasd.scheduler.health import rules_from
            from rasd.scheduler.metrics import serve as serve_metrics

            try:
                metrics = serve_metrics(settings.data_dir, metrics_port, rules=rules_from(settings.health))[0]
            except OSError as exc:
                raise ConfigError(f"--metrics-port {metrics_port}: cannot listen: {exc.strerror or exc}") from None
            console.print(f"metrics on http://127.0.0.1:{metrics.server_port}/metrics", highlight=False)
        serve(settings, host=host, port=port, log_level=log_level,
              announce=lambda url: console.print(f"rasd web on {url} (auth: {settings.web.auth})", highlight=False))
    except RasdError as exc:
        fail(exc)


@web_app.command("hash-password")
def hash_password_cmd() -> None:
    """Read a password (twice, not echoed; or one line on standard input) and print its
    Argon2 hash for web.users."""
    from rasd.web.auth import hash_password

    if sys.stdin.isatty():
        first, second = getpass.getpass("password: "), getpass.getpass("again: ")
        if first != second:
            fail("the two passwords differ")
    else:
        first = sys.stdin.readline().rstrip("\n")
    if len(first) < 8:
        fail("a password needs at least 8 characters")
    sys.stdout.write(hash_password(first) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``web`` to the ``rasd`` app."""
    app.add_typer(web_app, name="web")
