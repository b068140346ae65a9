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
import sys
from pathlib import Path
from typing import NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape

from rasd.core.errors import error_line

#: console width, in columns, when the stream is not a terminal (rich would assume 80)
PIPED_WIDTH = 132


def _width(stream: TextIO) -> int | None:
    """``None`` (rich asks the terminal, or ``COLUMNS``) on a terminal or with ``COLUMNS`` set,
    else :data:`PIPED_WIDTH`."""
    isatty = getattr(stream, "isatty", None)
    if (isatty is not None and isatty()) or os.environ.get("COLUMNS", "").isdigit():
        return None
    return PIPED_WIDTH


console = Console(width=_width(sys.stdout))
err = Console(stderr=True, width=_width(sys.stderr), soft_wrap=True, highlight=False)


def print_failure(exc: BaseException | str) -> None:
    """Print ``rasd: <message>`` (:func:`~rasd.core.errors.error_line`) as one line on stderr;
    markup-like text in the message is shown verbatim."""
    err.print(f"[red]rasd:[/red] {escape(error_line(exc))}")


def fail(exc: BaseException | str, code: int = 2) -> NoReturn:
    """:func:`print_failure` and exit ``code``."""
    print_failure(exc)
    raise typer.Exit(code)


def open_engine(data_dir: Path | None = None):
    """``(settings, engine, index_prefix)`` from the settings (``data_dir`` overrides).

    Raises:
        ConfigError: invalid settings.  EngineError: the engine cannot be reached or identified.
    """
    from rasd.search.engine import connect
    from rasd.core.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    return settings, connect(settings.engine, settings.secret), settings.engine.index_prefix
