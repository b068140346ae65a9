"""The project's exceptions.

Every error Rasd raises on purpose derives from :class:`RasdError`; the CLI turns any of them
into one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import re

#: ``scheme://user:password@`` anywhere in a text (a URL's userinfo: a secret)
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/?#@'\"<>]*@)")


def redact_secrets(text: str) -> str:
    """``text`` with the user name and password of every URL in it replaced by ``***``
    (``ftp://user:secret@host/`` → ``ftp://***@host/``): for every message and log line."""
    return _USERINFO.sub(r"\1***@", str(text))


class RasdError(Exception):
    """Base class of all Rasd errors."""


class ConfigError(RasdError):
    """A configuration or seed file is missing, unreadable or invalid.

    The message names the file and, where known, the field (``seeds/bbc.yaml: feeds.0: …``).
    """


class EngineError(RasdError):
    """The search engine is unreachable or refused a request."""


class CrawlFailed(RasdError):
    """A crawl could not run or stopped on an error of its own machinery (not of a page, feed
    or outlet, which are counted outcomes): a pipeline stage or extension that cannot be
    imported or built, an engine that failed.  The message is one line; the traceback is in the
    crawl's log."""


def error_line(exc: BaseException | str) -> str:
    """The one line a command shows for ``exc`` (without the ``rasd:`` prefix): its message, an
    ``OSError`` as ``<file>: <reason>``; line breaks become spaces.  Shared by the CLI
    (:func:`rasd.cli.common.print_failure`) and the scheduler's child runs.  Credentials in a
    URL are redacted (:func:`redact_secrets`)."""
    if isinstance(exc, OSError) and not isinstance(exc, RasdError):
        where = f"{exc.filename}: " if exc.filename else ""
        text = where + (exc.strerror or str(exc))
    else:
        text = str(exc)
    return redact_secrets(" ".join(text.splitlines()))
