"""The scheduler's own liveness: a heartbeat file, and what ``rasd status`` reads from it.

:class:`Heartbeat` (started by :class:`rasd.scheduler.runner.Daemon`) rewrites
``<data-dir>/scheduler/heartbeat.json`` every ``every`` seconds from a daemon thread:
``{"pid", "host", "started_at", "beat_at", "every", "stopped_at"}`` (POSIX seconds), through a
temporary file and a rename (a reader never sees half a file).  A graceful stop writes
``stopped_at``; a killed daemon (``kill -9``, a crash, a lost machine) simply stops beating.

:func:`liveness` says whether a scheduler is running: the file is fresh (``beat_at`` within
:data:`MISSED_BEATS` beats of now) and not stopped.  Otherwise it is down "since" its last beat
(or its stop).  A heartbeat written on this host whose pid no longer exists is down at once
(a ``kill -9`` is not "running" for the beats it takes the file to go stale); one from another
host (a shared data directory) is judged by its age alone.  A file that is not a heartbeat
(not JSON, a time that is not a number) is said to be unreadable, not "no scheduler has run
here".
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("rasd.scheduler")

#: beats a reader waits before saying the scheduler is not running
MISSED_BEATS = 3


class Heartbeat:
    """Writes the heartbeat file ``path`` every ``every`` seconds between :meth:`start` and
    :meth:`stop` (see the module docstring)."""

    def __init__(self, path: Path, every: float = 5.0):
        self.path, self.every = Path(path), max(0.1, float(every))
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self, **extra: Any) -> None:
        data = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": self.started_at,
                "beat_at": time.time(), "every": self.every, "stopped_at": None}
        data.update(extra)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # a full disk must not stop the scheduler; status will say it is down
            log.warning("heartbeat_failed path=%s error=%s", self.path, exc)

    def start(self) -> "Heartbeat":
        self.started_at = time.time()
        self._stop.clear()
        self._write()
        self._thread = threading.Thread(target=self._run, name="rasd-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._write()

    def stop(self) -> None:
        """Stop beating and record a graceful stop (``stopped_at``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            now = time.time()
            self._write(beat_at=now, stopped_at=now)


def read_heartbeat(data_dir: Path) -> dict[str, Any] | None:
    """The heartbeat file of ``data_dir`` as a dict, or None (never written, unreadable)."""
    try:
        return json.loads((Path(data_dir) / "scheduler" / "heartbeat.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pid_gone(hb: dict[str, Any]) -> bool:
    """Whether the heartbeat's writer ran on this host and its pid no longer exists."""
    pid = hb.get("pid")
    if hb.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's, say)
        return False
    return False


def liveness(data_dir: Path, now: float | None = None) -> dict[str, Any]:
    """``{"running": bool, "since": POSIX s or None, "pid": int or None, "why": one line}``:
    whether a scheduler is beating for ``data_dir``; ``since``: when it started (running) or
    when it was last alive (down)."""
    now = time.time() if now is None else now
    path = Path(data_dir) / "scheduler" / "heartbeat.json"
    hb = read_heartbeat(data_dir)
    if hb is None:
        if path.exists():
            return {"running": False, "since": None, "pid": None,
                    "why": f"{path} is unreadable (not a heartbeat): the scheduler's state is unknown"}
        return {"running": False, "since": None, "pid": None, "why": "no scheduler has run here"}
    try:
        beat, every = float(hb.get("beat_at") or 0), float(hb.get("every") or 5)
        if not isinstance(hb, dict) or beat <= 0 or every <= 0:
            raise ValueError
    except (TypeError, ValueError, AttributeError):
        return {"running": False, "since": None, "pid": None,
                "why": f"{path} is unreadable (not a heartbeat): the scheduler's state is unknown"}
    if hb.get("stopped_at"):
        return {"running": False, "since": hb["stopped_at"], "pid": hb.get("pid"), "why": "stopped"}
    if _pid_gone(hb):
        return {"running": False, "since": beat, "pid": hb.get("pid"),
                "why": f"its process {hb.get('pid')} is gone (killed or crashed)"}
    if now - beat > MISSED_BEATS * every:
        return {"running": False, "since": beat, "pid": hb.get("pid"),
                "why": f"no heartbeat for {now - beat:.0f} s (killed or hung)"}
    return {"running": True, "since": hb.get("started_at"), "pid": hb.get("pid"), "why": "running"}
