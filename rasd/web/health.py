"""Outlet health for the web app, read in one place (:func:`outlet_health`).

Today the state is what :meth:`rasd.scheduler.history.RunHistory.status` says: ``ok``,
``failing N`` (N consecutive failed or timed-out runs) or ``never run``, with the last run's
error as the reason.  When the run history stores richer states (ok / degraded / stale /
failing / dark, with a reason), only :func:`outlet_health` changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Health:
    """``state``: ``ok``, ``failing``, ``never run`` (later also degraded/stale/dark);
    ``reason``: one line for people (empty when ``ok``); ``last_run``: the last finished run
    (dict from the run history) or ``None``."""

    state: str
    reason: str
    last_run: dict | None = None
    interval_seconds: float | None = None


def outlet_health(data_dir: Path) -> dict[str, Health]:
    """``{outlet slug: Health}`` for every outlet of ``<data-dir>/runs.sqlite`` (``{}`` when
    the scheduler never ran there)."""
    from rasd.scheduler.history import RunHistory

    path = Path(data_dir) / "runs.sqlite"
    if not path.exists():
        return {}
    out = {}
    for slug, entry in RunHistory(path).status().items():
        health = entry["health"]
        last = entry["last_run"]
        state = "failing" if health.startswith("failing") else health
        reason = ""
        if state == "failing":
            reason = f"{entry['failures']} consecutive failed runs"
            if last and last.get("errors"):
                reason += ": " + " ".join(str(last["errors"]).split())[:200]
        elif state == "never run":
            reason = "no run recorded yet"
        out[slug] = Health(state, reason, last, entry.get("interval_seconds"))
    return out
