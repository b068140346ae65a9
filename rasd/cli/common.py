"""What every ``rasd`` command module shares: the consoles, one-line failures, the engine.

Tables go to :data:`console` (132 columns when piped, so they keep their columns in logs);
errors go to :data:`err` as one line via :func:`fail`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(width=None if sys.stdout.isatty() else 132)
err = Console(stderr=True)


def fail(exc: Exception | str, code: int = 2) -> NoReturn:
    """Print ``rasd: <message>`` on stderr (markup-like text shown verbatim) and exit ``code``."""
    err.print(f"[red]rasd:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
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
