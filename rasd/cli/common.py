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


def open_engine(data_dir: Path | None = None):
    """``(settings, engine, index_prefix)`` from the settings (``data_dir`` overrides).

    Raises:
        ConfigError: invalid settings.  EngineError: the engine cannot be reached or identified.
    """
    from rasd.search.engine import connect
    from rasd.core.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    return settings, connect(settings.engine, settings.secret), settings.engine.index_prefix
