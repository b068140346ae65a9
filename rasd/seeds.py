"""Outlet definitions (``seeds/*.yaml``) and their schema.

One YAML file per outlet; the file's stem is the outlet's ``slug`` (``seeds/bbc_arabic.yaml`` →
``bbc_arabic``), the name used on the command line, in stats and in the ``outlet`` field.
Unknown fields are errors, and every error names the file and the field::

    seeds/bbc_arabic.yaml: schedule.interval_minutes: Input should be greater than or equal to 1
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rasd.errors import ConfigError
from rasd.paths import SEEDS_DIR

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Strict):
    """When an outlet is polled: a fixed ``interval_minutes`` or a ``cron`` expression.

    ``min_interval_minutes``/``max_interval_minutes`` bound the adaptive interval of the
    scheduler (defaults: the interval itself / 8 × the interval).
    """

    interval_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    cron: str | None = None
    min_interval_minutes: int | None = Field(default=None, ge=1)
    max_interval_minutes: int | None = Field(default=None, ge=1)
    timeout_minutes: int = Field(default=20, ge=1, le=24 * 60)

    @model_validator(mode="after")
    def _one_trigger(self) -> "Schedule":
        if (self.interval_minutes is None) == (self.cron is None):
            raise ValueError("give exactly one of interval_minutes or cron")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {self.cron!r}")
        return self


class ExtractionHints(_Strict):
    """Per-outlet help for the extraction and cleaning stages (all optional).

    * ``title_suffixes``: site-name suffixes to strip from titles (``" - BBC News عربي"``).
    * ``junk_lines``: regular expressions; a body line matching one is removed.
    * ``author_prefixes``: extra byline words to strip (``"مراسل"``), besides the global ones.
    * ``default_credit``: credit to record when the outlet is itself the source.
    """

    title_suffixes: list[str] = []
    junk_lines: list[str] = []
    author_prefixes: list[str] = []
    default_credit: str | None = None

    @field_validator("junk_lines")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {p!r}: {exc}") from exc
        return patterns


class Politeness(_Strict):
    """Per-outlet crawl politeness: minimum delay between requests to one domain (seconds)
    and concurrent requests per domain."""

    download_delay: float = Field(default=1.0, ge=0, le=600)
    concurrency: int = Field(default=2, ge=1, le=16)


class Outlet(_Strict):
    """One news outlet: where its links come from and how to treat its pages.

    ``domains`` are the outlet's own hosts (sub-domains included); links elsewhere are not
    followed.  ``languages`` are the expected ISO 639-1 codes; ``other_languages`` says what
    happens to an article detected in another language (``keep`` with its code, or ``drop``;
    counted either way).
    """

    slug: str
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    homepage: str
    languages: list[str] = ["ar"]
    other_languages: Literal["keep", "drop"] = "keep"
    domains: list[str] = Field(min_length=1)
    feeds: list[str] = []
    sitemaps: list[str] = []
    schedule: Schedule = Schedule(interval_minutes=30)
    extraction: ExtractionHints = ExtractionHints()
    politeness: Politeness = Politeness()
    enabled: bool = True

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError("slug must be lower-case letters, digits and underscores")
        return v

    @field_validator("feeds", "sitemaps", "homepage")
    @classmethod
    def _http(cls, v):
        for url in [v] if isinstance(v, str) else v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {url!r}")
        return v

    @model_validator(mode="after")
    def _has_sources(self) -> "Outlet":
        if not self.feeds and not self.sitemaps:
            raise ValueError("an outlet needs at least one feed or sitemap")
        return self

    def owns(self, host: str) -> bool:
        """True when ``host`` is one of the outlet's domains or a sub-domain of one."""
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)


def _format_error(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{path}: {loc}: {err['msg']}")
    return "\n".join(parts)


def load_outlet(path: Path) -> Outlet:
    """Read and validate one seed file.

    Raises:
        ConfigError: unreadable YAML, or a field that fails the schema (the message names the
            file and the dotted field path).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read seed file: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a seed file must be a mapping of fields")
    data.setdefault("slug", path.stem)
    if data["slug"] != path.stem:
        raise ConfigError(f"{path}: slug: must equal the file name {path.stem!r}")
    try:
        return Outlet.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None


def load_outlets(directory: Path | None = None, *, include_disabled: bool = False) -> dict[str, Outlet]:
    """All outlets in ``directory`` (default ``seeds/``), by slug, in file-name order.

    Raises:
        ConfigError: the directory is missing or a file is invalid.
    """
    directory = directory or SEEDS_DIR
    if not directory.is_dir():
        raise ConfigError(f"{directory}: seeds directory not found")
    outlets = {}
    for path in sorted(directory.glob("*.yaml")):
        outlet = load_outlet(path)
        if outlet.enabled or include_disabled:
            outlets[outlet.slug] = outlet
    return outlets
