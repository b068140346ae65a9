"""Outlet health for the web app, read in one place (:func:`outlet_health`).

The state and its reason are :func:`rasd.scheduler.health.assess` of the run history (the
states ``ok`` / ``degraded`` / ``stale`` / ``failing`` / ``dark``, or ``never run``), as
``rasd status`` shows them, with the ``health`` settings' rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Health:
    """``state``: ``ok``, ``degraded``, ``stale``, ``failing``, ``dark`` or ``never run``;
    ``reason``: one line for people (empty when ``ok``); ``last_run``: the last finished run
    (dict from the run history) or ``None``."""

    state: str
    reason: str
    last_run: dict | None = None
    interval_seconds: float | None = None


def outlet_health(data_dir: Path, rules=None) -> dict[str, Health]:
    """``{outlet slug: Health}`` for every outlet of ``<data-dir>/runs.sqlite`` (``{}`` when
    the scheduler never ran there); ``rules``: :class:`rasd.scheduler.health.Rules` (default:
    its defaults)."""
    from rasd.scheduler.history import RunHistory

    path = Path(data_dir) / "runs.sqlite"
    if not path.exists():
        return {}
    return {slug: Health(e["state"], "" if e["state"] == "ok" else e["reason"], e["last_run"],
                         e.get("interval_seconds"))
            for slug, e in RunHistory(path).status(rules=rules).items()}
