"""The project's exceptions.

Every error Rasd raises on purpose derives from :class:`RasdError`; the CLI turns any of them
into one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations


class RasdError(Exception):
    """Base class of all Rasd errors."""


class ConfigError(RasdError):
    """A configuration or seed file is missing, unreadable or invalid.

    The message names the file and, where known, the field (``seeds/bbc.yaml: feeds.0: …``).
    """


class EngineError(RasdError):
    """The search engine is unreachable or refused a request."""


def error_line(exc: BaseException | str) -> str:
    """The one line a command shows for ``exc`` (without the ``rasd:`` prefix): its message, an
    ``OSError`` as ``<file>: <reason>``; line breaks become spaces.  Shared by the CLI
    (:func:`rasd.cli.common.print_failure`) and the scheduler's child runs."""
    if isinstance(exc, OSError) and not isinstance(exc, RasdError):
        where = f"{exc.filename}: " if exc.filename else ""
        text = where + (exc.strerror or str(exc))
    else:
        text = str(exc)
    return " ".join(text.splitlines())
