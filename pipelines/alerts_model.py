"""The alert definition: :class:`Alert` (pydantic, strict, unknown fields refused).

An alert is a ``name`` (slug), a ``query`` in the ``rasd search`` syntax, ``filters`` (outlets,
languages, topics: exact keyword filters), a ``frequency`` (``immediate`` | ``daily`` |
``weekly``) and ``deliveries`` (webhook, email, Atom file).  Example:
``config/alerts.example.yaml``.  Stored and matched by :mod:`pipelines.alerts`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rasd.errors import ConfigError, RasdError
from rasd.search import build_query

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class AlertError(RasdError):
    """An alert definition the engine or the model refuses; the message says why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class WebhookDelivery(_Strict):
    """POST to ``url``: ``json`` (the message as JSON) or ``slack`` (``{"text": …}``)."""

    url: str
    format: Literal["json", "slack"] = "json"

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v


class EmailDelivery(_Strict):
    """Mail over SMTP to ``to``; ``password_env`` names the environment variable holding the
    SMTP password (never the password itself)."""

    to: list[str] = Field(min_length=1)
    sender: str = Field("rasd@localhost", alias="from")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not re.match(r"^[^@\s]+@[^@\s]+$", a)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an email address")
        return v


class AtomDelivery(_Strict):
    """An Atom feed file at ``path`` keeping the newest ``keep`` entries."""

    path: str
    keep: int = Field(50, ge=1, le=10000)


class Deliveries(_Strict):
    webhook: WebhookDelivery | None = None
    email: EmailDelivery | None = None
    atom: AtomDelivery | None = None


class AlertFilters(_Strict):
    """Exact (keyword) filters; an empty list means any."""

    outlets: list[str] = []
    languages: list[str] = []
    topics: list[str] = []


class Alert(_Strict):
    """One alert.  ``name``: a slug (``[a-z0-9][a-z0-9_-]*``, ≤ 64 chars); ``query``: the search
    syntax (``مسئولون AND التحالف``); ``frequency``: ``immediate`` (one notification per story
    as it arrives) or a ``daily``/``weekly`` digest."""

    name: str
    query: str = Field(min_length=1)
    filters: AlertFilters = AlertFilters()
    frequency: Literal["immediate", "daily", "weekly"] = "immediate"
    deliveries: Deliveries = Deliveries()

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError(f"{v!r} is not a slug (lower-case letters, digits, - and _)")
        return v

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if v.strip() in ("", "*"):
            raise ValueError("an alert needs a query (not empty, not *)")
        return v.strip()

    def search_query(self) -> dict:
        """The ``query`` of :func:`rasd.search.build_query` for this alert plus a topics
        filter: what is stored in the percolator field."""
        body = build_query(self.query, outlets=self.filters.outlets or None,
                           languages=self.filters.languages or None)
        query = body["query"]
        if self.filters.topics:
            query["bool"]["filter"].append({"terms": {"topics": self.filters.topics}})
        return query

    def spec(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_alert(data: Any, where: str = "alert") -> Alert:
    """Build an :class:`Alert` from a dict; raises :class:`AlertError` naming the field."""
    try:
        return Alert.model_validate(data)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise AlertError(f"{where}: {msg}") from None


def load_alerts_file(path: Path) -> list[Alert]:
    """Alerts from a YAML file ``{alerts: [...]}`` (``config/alerts.example.yaml``).

    Raises:
        ConfigError: unreadable file, or an invalid alert (the message names file and field).
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read alerts: {exc}") from exc
    if not isinstance(data, dict) or set(data) - {"alerts"} or not isinstance(data.get("alerts", []), list):
        raise ConfigError(f"{path}: expected a mapping with one key, alerts: [...]")
    try:
        return [parse_alert(a, f"{path}: alerts.{i}") for i, a in enumerate(data.get("alerts", []))]
    except AlertError as exc:
        raise ConfigError(str(exc)) from None
