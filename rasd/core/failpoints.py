"""Fail points: named places in the code where a fault test can kill the process.

``failpoint("after_archive_write")`` does nothing unless the environment names that point::

    RASD_FAILPOINT=after_archive_write:3   # SIGKILL this process the 3rd time it gets there

The process kills itself with ``SIGKILL`` (no cleanup, no ``finally``, no atexit: what
``kill -9`` at that instant would leave).  Several points may be given, comma-separated; each
fires once.  The fault tests in ``tests/faults/`` use them to kill real crawl processes between
two writes and then count what the archive, the index and the notifications lost or doubled.

The idea and the name come from FreeBSD's fail points, TiKV's ``fail-rs`` and Go's
``failpoint``; here the only action is a kill.  When ``RASD_FAILPOINT`` is unset a fail point
is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import sys

ENV = "RASD_FAILPOINT"


def _parse(value: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for part in value.split(","):
        name, _, nth = part.strip().partition(":")
        if name:
            points[name] = int(nth) if nth.strip().isdigit() and int(nth) > 0 else 1
    return points


_ARMED: dict[str, int] = _parse(os.environ.get(ENV, ""))
_SEEN: dict[str, int] = {}


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``RASD_FAILPOINT`` arms ``name`` and this is the
    n-th time it is reached (see the module docstring); otherwise return at once."""
    if not _ARMED or name not in _ARMED:
        return
    _SEEN[name] = _SEEN.get(name, 0) + 1
    if _SEEN[name] == _ARMED[name]:
        sys.stderr.write(f"failpoint {name}: SIGKILL\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def armed() -> dict[str, int]:
    """The armed points and their counts (for logs and tests)."""
    return dict(_ARMED)
