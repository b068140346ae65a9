"""What every ``rasd`` command module shares: the consoles, one-line failures, the engine.

One console setup for every command: tables and results go to :data:`console` (stdout), notes
and errors to :data:`err` (stderr).  On a terminal both take its width; piped (logs, ``| less``,
the scheduler) both are :data:`PIPED_WIDTH` columns wide unless ``COLUMNS`` says otherwise, so
tables keep their columns, and :data:`err` never wraps a line (``soft_wrap``): every note and
error stays one line (a plain-text line on stdout is printed with ``soft_wrap=True`` too; tables
are not, they need the width).  Failures are printed by :func:`print_failure` only (:func:`fail` and
:func:`rasd.cli.main.main` use it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

from rasd.core.errors import error_line

#: console width, in columns, when the stream is not a terminal (rich would assume 80)
PIPED_WIDTH = 132


class _Console(Console):
    """A rich ``Console`` whose width is decided at each print, not once at import: ``COLUMNS``
    when set (a test's runner, a user's pipe), else the terminal's, else :data:`PIPED_WIDTH`."""

    @property
    def size(self) -> ConsoleDimensions:
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return ConsoleDimensions(int(columns), Console.size.fget(self).height)
        if self.is_terminal:
            return Console.size.fget(self)
        return ConsoleDimensions(PIPED_WIDTH, 25)

    @size.setter
    def size(self, new_size) -> None:
        Console.size.fset(self, new_size)


console = _Console()
err = _Console(stderr=True, soft_wrap=True, highlight=False)


def print_failure(exc: BaseException | str) -> None:
    """Print ``rasd: <message>`` (:func:`~rasd.core.errors.error_line`) as one line on stderr;
    markup-like text in the message is shown verbatim."""
    err.print(f"[red]rasd:[/red] {escape(error_line(exc))}")


def fail(exc: BaseException | str, code: int = 2) -> NoReturn:
    """:func:`print_failure` and exit ``code``."""
    print_failure(exc)
    raise typer.Exit(code)


#: the largest number of seconds an option takes (30 days): bigger ones overflow the scheduler
MAX_SECONDS = 30 * 86400.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def finite(value: float | None) -> float | None:
    """Typer callback: refuse ``nan`` (``inf`` is refused by the option's ``max``)."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds")
    return value


def log_level_option(value: str | None) -> str | None:
    """Typer callback: one of :data:`LOG_LEVELS` (any case), upper-cased."""
    if value is None:
        return None
    if value.upper() not in LOG_LEVELS:
        raise typer.BadParameter(f"{value!r} is not a log level ({', '.join(LOG_LEVELS)})")
    return value.upper()


def log_format_option(value: str) -> str:
    if value.lower() not in ("text", "json"):
        raise typer.BadParameter(f"{value!r} is not a log format (text or json)")
    return value.lower()


def setup_logging(level: str, fmt: str = "text") -> None:
    """Logs of a long-running command to stderr: ``text`` (time level logger key=value
    message) or ``json`` (one ECS JSON object a line, ``ecs_logging.StdlibFormatter``; URLs'
    credentials are redacted in both, :func:`rasd.core.errors.redact_secrets`)."""
    import logging
    import sys

    from rasd.core.errors import redact_secrets

    class _Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.args:
                record.msg, record.args = record.getMessage(), None
            record.msg = redact_secrets(str(record.msg))
            return True

    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        import ecs_logging

        handler.setFormatter(ecs_logging.StdlibFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_Redact())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def open_engine(data_dir: Path | None = None):
    """``(settings, engine, index_prefix)`` from the settings (``data_dir`` overrides).

    Raises:
        ConfigError: invalid settings.  EngineError: the engine cannot be reached or identified.
    """
    from rasd.search.engine import connect
    from rasd.core.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    return settings, connect(settings.engine, settings.secret), settings.engine.index_prefix
