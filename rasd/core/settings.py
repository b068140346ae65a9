"""Rasd's settings: a YAML file with environment overrides (pydantic-settings).

Precedence, highest first: keyword arguments (the CLI's options) → environment variables
``RASD_<FIELD>`` (nested with ``__``: ``RASD_ENGINE__URL``) → the YAML file named by
``RASD_CONFIG`` (default ``config/settings.yaml``) → the defaults below.  Unknown keys in the
file are errors that name the file and the key.

Every setting of every component is a field here (``config/settings.yaml`` shows them all);
components never read the file or the environment themselves: the CLI and the scheduler's child
call :func:`load_settings` once, and the crawl's stages get their values through the Scrapy
settings built by :func:`rasd.crawler.settings.scrapy_settings`.

A ``RASD_*`` environment variable that is neither a setting nor one of :data:`OTHER_VARIABLES`
(a typo such as ``RASD_ALERT_ENABLED``) is reported once per process by :func:`load_settings`: one
warning line naming the closest known variable (:func:`unknown_variables`); it is not an error.

Secrets (``engine.api_key``, ``engine.password``, ``scheduler_jobstore_url``) are read from the
environment or the file (the engine's also from a file named by ``*_file``); they are never
logged (``SecretStr``).
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from rasd.core.yamlio import safe_load
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rasd.core.errors import ConfigError
from rasd.core.paths import CONFIG_DIR, SEEDS_DIR

log = logging.getLogger("rasd.settings")


class EngineSettings(BaseModel):
    """Where the search engine is and how to talk to it.

    ``kind``: ``auto`` asks ``GET /`` (OpenSearch answers with ``version.distribution ==
    "opensearch"``), or force ``elasticsearch``/``opensearch``.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = "http://127.0.0.1:9200"
    kind: Literal["auto", "elasticsearch", "opensearch"] = "auto"
    index_prefix: str = "rasd-articles"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    ca_file: Path | None = None
    verify_certs: bool = True
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        from rasd.core.errors import redact_secrets

        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:9200, not {redact_secrets(v)!r}")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _credentials_in_url(self) -> "EngineSettings":
        """``http://user:password@host:9200``: the credentials move to ``username``/``password``
        (unless those are set) and leave the URL, so they are sent as basic auth and never
        shown with it."""
        from urllib.parse import unquote

        parts = urlsplit(self.url)
        if parts.username is None and parts.password is None:
            return self
        host = parts.netloc.rpartition("@")[2]
        object.__setattr__(self, "url", parts._replace(netloc=host).geturl())
        if self.username is None and parts.username:
            object.__setattr__(self, "username", unquote(parts.username))
        if self.password is None and self.password_file is None and parts.password is not None:
            object.__setattr__(self, "password", SecretStr(unquote(parts.password)))
        return self

    def secret(self, name: Literal["password", "api_key"]) -> str | None:
        """The secret ``name`` (``password`` or ``api_key``) from the environment/config, else
        read from its ``*_file`` (stripped), else ``None``.

        Raises:
            ConfigError: the ``*_file`` cannot be read (the message names it).
        """
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return value.get_secret_value()
        path: Path | None = getattr(self, f"{name}_file")
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"engine.{name}_file: cannot read {path}: {exc.strerror}") from exc


class CrawlSettings(BaseModel):
    """Crawl behaviour shared by all outlets (per-outlet politeness lives in ``seeds/``)."""

    model_config = ConfigDict(extra="forbid")

    user_agent: str = "Rasd/0.1 (news monitoring; +https://example.invalid/rasd)"
    obey_robots: bool = True
    autothrottle: bool = True
    max_page_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    min_text_chars: int = Field(default=200, ge=0)
    retry_times: int = Field(default=3, ge=0)
    #: longest wait within a run before a retry (a server's Retry-After, or backoff); a page
    #: whose Retry-After is longer, or whose wait would pass the run's deadline, is deferred
    #: to a later run (outcome deferred/retry_after) instead of waited for
    retry_after_max_seconds: float = Field(default=120.0, ge=0)
    #: a deferred page is due again when the server's Retry-After has passed, but at most
    #: this long after it was deferred (a Retry-After of years must not lose the article)
    retry_defer_max_seconds: float = Field(default=86400.0, ge=0)
    max_redirects: int = Field(default=20, ge=0)  # hops per article page (skipped/too_many_redirects)
    #: after SIGTERM/SIGINT a crawl flushes and stops within seconds; one still running after
    #: this long exits at once (code 130).  Keep it below the scheduler's 20 s stop grace.
    stop_timeout_seconds: float = Field(default=10.0, gt=0)
    sitemap_max_age_days: int = Field(default=7, ge=1)
    #: politeness of the outlets of a replayed recording (``--replay``): loopback is crawled
    #: as fast as it answers unless a test or a benchmark asks for an outlet's real pace
    replay_download_delay: float = Field(default=0.0, ge=0, le=600)
    replay_concurrency: int = Field(default=4, ge=1, le=16)
    request_timeout_seconds: float = Field(default=60.0, gt=0)
    #: conditional GET that cannot get stuck (crawler/feedstate.py): after this many 304s in a
    #: row, or this long since a listing's last full answer, the next poll is unconditional
    conditional_max_not_modified: int = Field(default=4, ge=1, le=1000)
    conditional_max_age_seconds: float = Field(default=6 * 3600.0, gt=0, le=30 * 86400)
    # extraction budget (pipelines/extract.py, pipelines/workers.py); 0 turns each one off
    max_page_elements: int = Field(default=30_000, ge=0)  # more elements: skipped/too_complex
    extract_timeout_seconds: float = Field(default=20.0, ge=0)  # per page, in a worker
    extract_workers: int = Field(default=2, ge=0)  # worker processes; 0: inline (debugging)
    extract_memory_mb: int = Field(default=1024, ge=0)  # address space of each worker

    @field_validator("extract_memory_mb")
    @classmethod
    def _memory_floor(cls, v: int) -> int:
        if 0 < v < 256:  # a worker needs ~160 MiB of address space before it reads a page
            raise ValueError(f"must be 0 (no limit) or at least 256 MiB, not {v}")
        return v


class WebSettings(BaseModel):
    """``rasd web``: where it listens and who may use it (see :mod:`rasd.web.auth`).

    ``auth``: ``none`` (allowed only when ``host`` is a loopback address), ``password``
    (sign-in against ``users``: ``{name: argon2 hash}``, made by ``rasd web hash-password``) or
    ``proxy`` (a reverse proxy that authenticates users sets ``proxy_header``; requests from
    addresses outside ``trusted_proxies`` are refused).  ``session_secret`` signs the session
    cookie (default: random at each start, so sessions end with the process).
    ``timezone``: the local time shown beside UTC.  ``kibana_url``: where "open in Discover"
    links go (``None``: no link); ``kibana_data_view``: the data view id of
    ``config/kibana/rasd.ndjson``.
    """

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8087, ge=1, le=65535)
    auth: Literal["none", "password", "proxy"] = "none"
    users: dict[str, SecretStr] = {}
    proxy_header: str = "X-Forwarded-User"
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    session_secret: SecretStr | None = None
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    secure_cookies: bool = False  # true behind HTTPS: the session cookie is sent over TLS only
    timezone: str = "Asia/Riyadh"
    kibana_url: str | None = "http://127.0.0.1:5601"
    kibana_data_view: str = "rasd-articles"
    page_size: int = Field(default=20, ge=1, le=100)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone (IANA names such as Asia/Riyadh)") from None
        return v


class IndexStageSettings(BaseModel):
    """The crawl's index stage (``pipelines/index.py``), on when ``index_enabled``."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(default=500, ge=1)  # archive lines per bulk request
    flush_seconds: float = Field(default=2.0, gt=0)  # the background follower runs at least this often
    drain_seconds: float = Field(default=60.0, ge=0)  # at the end of a crawl: longest wait to send the rest


class AlertStageSettings(BaseModel):
    """The crawl's alert stage (``pipelines/alerts.py``), on when ``alerts_enabled``."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(default=20, ge=1)  # articles per percolate request
    flush_seconds: float = Field(default=2.0, gt=0)  # the background matcher runs at least this often
    drain_seconds: float = Field(default=60.0, ge=0)  # at the end of a crawl: longest match + delivery time


class StorySettings(BaseModel):
    """Story grouping (``pipelines/stories.py``; defaults equal ``StoryParams``'s).  Changing
    ``num_perm`` or ``threshold`` makes an existing ``stories.sqlite`` refuse to open (delete it
    to rebuild it from the archive)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=0.5, gt=0, le=1)  # MinHash similarity that joins a story
    duplicate_threshold: float = Field(default=0.8, gt=0, le=1)  # similarity that sets duplicate_of
    num_perm: int = Field(default=128, ge=16)  # MinHash permutations
    window_days: float = Field(default=7.0, gt=0)  # how far back a story can be joined


class HealthSettings(BaseModel):
    """The numbers of the outlet-health rules (``scheduler/health.py``, whose ``Rules`` has the
    same fields and defaults; its docstring says what each means)."""

    model_config = ConfigDict(extra="forbid")

    failing_runs: int = Field(default=2, ge=1, le=1000)  # failed runs in a row: failing (fewer: degraded)
    dark_runs: int = Field(default=6, ge=1, le=1000)  # failed runs in a row: dark
    only_not_modified_runs: int = Field(default=5, ge=1, le=1000)  # runs whose listings only answered 304: dark
    stale_factor: float = Field(default=3.0, gt=1, le=100)  # × the outlet's usual gap between news: stale
    min_gaps: int = Field(default=3, ge=1, le=1000)
    volume_days: int = Field(default=7, ge=1, le=60)
    volume_drop: float = Field(default=0.5, gt=0, lt=1)
    volume_min: int = Field(default=5, ge=1)
    window_runs: int = Field(default=3, ge=1, le=1000)
    yield_floor: float = Field(default=0.5, gt=0, le=1)
    jump: float = Field(default=0.3, gt=0, le=1)


class FleetSettings(BaseModel):
    """A fleet on Redis (``rasd schedule --queue``, ``rasd worker``; docs/scale.md).  Unused by
    the embedded default."""

    model_config = ConfigDict(extra="forbid")

    #: the fleet's Redis (``redis://[:password@]host:6379/0``); ``--queue``/``--redis`` win over it
    redis_url: SecretStr | None = None
    prefix: str = Field(default="rasd:", min_length=1)  # key prefix shared by one fleet
    max_polls: int = Field(default=4, ge=1, le=64)  # outlet polls a worker runs at once
    #: a worker's lease: its polls go back to the queue this long after its last heartbeat
    heartbeat_seconds: float = Field(default=15.0, ge=1)
    robots_cache_seconds: float = Field(default=86400.0, ge=60)  # robots.txt shared this long
    seen_ttl_days: float = Field(default=90.0, ge=1)  # seen URLs and articles expire after this

    def url(self) -> str | None:
        """``redis_url`` as plain text (``None`` when unset)."""
        return self.redis_url.get_secret_value() if self.redis_url is not None else None


class RasdSettings(BaseSettings):
    """All of Rasd's settings (see the module docstring for where values come from)."""

    model_config = SettingsConfigDict(
        env_prefix="RASD_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Path("data")
    seeds_dir: Path = SEEDS_DIR
    config_dir: Path = CONFIG_DIR
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    index_enabled: bool = False  # index articles into the engine during crawls (else archive only)
    alerts_enabled: bool = False  # match immediate alerts during crawls (needs the engine)
    #: SQLAlchemy URL of the scheduler's job store (default ``sqlite:///<data_dir>/jobs.sqlite``)
    scheduler_jobstore_url: SecretStr | None = None
    crawl: CrawlSettings = CrawlSettings()
    engine: EngineSettings = EngineSettings()
    web: WebSettings = WebSettings()
    index: IndexStageSettings = IndexStageSettings()
    alerts: AlertStageSettings = AlertStageSettings()
    stories: StorySettings = StorySettings()
    health: HealthSettings = HealthSettings()
    fleet: FleetSettings = FleetSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))

    def secret(self, name: Literal["password", "api_key"]) -> str | None:
        """The engine secret ``name`` (:meth:`EngineSettings.secret`)."""
        return self.engine.secret(name)

    def jobstore_url(self) -> str | None:
        """``scheduler_jobstore_url`` as plain text (``None`` when unset)."""
        url = self.scheduler_jobstore_url
        return url.get_secret_value() if url is not None else None


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads ``RASD_CONFIG`` (default ``config/settings.yaml``) if it exists."""

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get("RASD_CONFIG", CONFIG_DIR / "settings.yaml"))
        if not path.exists():
            if "RASD_CONFIG" in os.environ:
                raise ConfigError(f"{path}: settings file named by RASD_CONFIG does not exist")
            return {}
        try:
            data = safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"{path}: cannot read settings file: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the settings file must be a mapping")
        return data


#: ``RASD_*`` variables that are not settings: read before the settings exist, or by scripts
#: and tests (``scripts/search-node`` reads every ``RASD_SEARCH_*``, see :data:`OTHER_PREFIXES`).
OTHER_VARIABLES = {
    "RASD_CONFIG": "the settings file (default config/settings.yaml)",
    "RASD_HOME": "root of config/ and seeds/ (rasd/core/paths.py)",
    "RASD_FAILPOINT": "fault tests: kill the process at a named point (rasd/core/failpoints.py)",
    "RASD_CORPUS_DIR": "the shared corpus of python -m rasd.replay.recording",
    "RASD_SKIP_SEARCH": "tests: skip the search tests when no node runs",
    "RASD_TEST_ARTEFACTS": "tests: where the browser tests write screenshots (.ci/run sets it)",
    "RASD_CHROMIUM": "tests: the chromium executable the browser tests drive",
    "RASD_CRAWL_PYTHON": "tests: another interpreter for tests/test_crawl_slow_services.py",
    "RASD_FLEET_KILL_TRIALS": "tests: how many kill -9 trials tests/scale runs",
    "RASD_TEST_REDIS_URL": "tests/scale: an existing Redis to use instead of starting one",
    "RASD_REDIS_PORT": "scripts/redis-server: the port of the developers' Redis",
    "RASD_REDIS_HOME": "scripts/redis-server: its data, pid and log directory",
}
OTHER_PREFIXES = ("RASD_SEARCH_",)


def setting_variables(model: type[BaseModel] = RasdSettings, prefix: str = "RASD_") -> set[str]:
    """Every environment variable name ``model`` reads (upper case): ``RASD_<FIELD>`` for each
    field, and ``RASD_<FIELD>__<SUBFIELD>`` for the fields of nested sections (a section as a
    whole takes JSON: ``RASD_CRAWL='{"retry_times": 1}'``)."""
    names = set()
    for field_name, field in model.model_fields.items():
        name = f"{prefix}{field_name}".upper()
        names.add(name)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            names |= setting_variables(sub, name + "__")
    return names


def unknown_variables(environ: Mapping[str, str] | Iterable[str]) -> list[tuple[str, str | None]]:
    """``[(name, closest known name or None)]`` for the ``RASD_*`` names in ``environ`` that are
    neither settings nor :data:`OTHER_VARIABLES` (case-insensitive, like the settings; the
    closest name by :func:`difflib.get_close_matches`, cutoff 0.6)."""
    known = setting_variables() | set(OTHER_VARIABLES)
    out = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("RASD_") or upper in known or upper.startswith(OTHER_PREFIXES):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        out.append((name, close[0] if close else None))
    return out


_ENV_CHECKED = False


def warn_unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Log one warning line (logger ``rasd.settings``; stderr when logging is not configured)
    per unknown ``RASD_*`` variable (:func:`unknown_variables`), the first time it is called in
    a process; returns the lines (empty on later calls).  Values are never shown."""
    global _ENV_CHECKED
    if _ENV_CHECKED:
        return []
    _ENV_CHECKED = True
    lines = []
    for name, close in unknown_variables(os.environ if environ is None else environ):
        hint = f"; did you mean {close}?" if close else ""
        lines.append(f"rasd: warning: environment variable {name} is not a Rasd setting and is "
                     f"ignored{hint} (config/settings.yaml lists the settings)")
        log.warning("%s", lines[-1])
    return lines


def load_settings(**overrides: Any) -> RasdSettings:
    """Build the settings; ``overrides`` (non-None values only) win over everything.  The first
    call in a process also warns about unknown ``RASD_*`` variables
    (:func:`warn_unknown_variables`).

    Raises:
        ConfigError: a value fails validation; the message names the source and field.
    """
    warn_unknown_variables()
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return RasdSettings(**clean)
    except ValidationError as exc:
        where = os.environ.get("RASD_CONFIG", str(CONFIG_DIR / "settings.yaml"))
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"settings ({where} or RASD_* environment): {msgs}") from None
