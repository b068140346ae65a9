"""Outlet definitions (``seeds/*.yaml``) and their schema.

One YAML file per outlet; the file's stem is the outlet's ``slug`` (``seeds/bbc_arabic.yaml`` →
``bbc_arabic``), the name used on the command line, in stats and in the ``outlet`` field.
Unknown fields are errors, and every error names the file and the field::

    seeds/bbc_arabic.yaml: schedule.interval_minutes: Input should be greater than or equal to 1
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from rasd.core.errors import ConfigError
from rasd.core.paths import SEEDS_DIR

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")

#: ISO 3166-1 alpha-2 codes officially assigned (249; "UK", "EU" and "XK" are not among them),
#: plus the user-assigned "ZZ" for an unknown country (as in CLDR), which the replay crawl uses.
_ISO_COUNTRIES = frozenset("""
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
""".split()) | {"ZZ"}


def _http_url(url: str) -> str:
    """An absolute ``http(s)://host/…`` URL without whitespace (checked per list item, so an
    error names ``feeds.2`` rather than the whole list)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return url


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    return pattern


def _host(host: str) -> str:
    if not _HOST.match(host):
        raise ValueError(f"not a lower-case host name (no scheme, path or port): {host!r}")
    return host


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Regex = Annotated[str, AfterValidator(_regex)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
HostName = Annotated[str, AfterValidator(_host)]


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
    junk_lines: list[Regex] = []
    author_prefixes: list[str] = []
    default_credit: str | None = None


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
    homepage: HttpUrl
    languages: list[LanguageCode] = ["ar"]
    other_languages: Literal["keep", "drop"] = "keep"
    domains: list[HostName] = Field(min_length=1)
    feeds: list[HttpUrl] = []
    sitemaps: list[HttpUrl] = []
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

    @field_validator("country")
    @classmethod
    def _iso_country(cls, v: str) -> str:
        if v not in _ISO_COUNTRIES:
            hint = " (the United Kingdom is GB)" if v == "UK" else ""
            raise ValueError(f"not an ISO 3166-1 alpha-2 country code: {v!r}{hint}")
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
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
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
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not paths:
        raise ConfigError(f"{directory}: no outlet files (*.yaml) in the seeds directory")
    for path in paths:
        outlet = load_outlet(path)
        if outlet.enabled or include_disabled:
            outlets[outlet.slug] = outlet
    return outlets
