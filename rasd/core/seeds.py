"""Outlet definitions (``seeds/*.yaml``) and their schema.

One YAML file per outlet; the file's stem is the outlet's ``slug`` (``seeds/bbc_arabic.yaml`` →
``bbc_arabic``), the name used on the command line, in stats and in the ``outlet`` field.
Unknown fields are errors, and every error names the file and the field::

    seeds/bbc_arabic.yaml: schedule.interval_minutes: Input should be greater than or equal to 1

What an outlet owns (:meth:`Outlet.owns`, checked on every link, listing, redirect and request
of a crawl): URLs with scheme ``http`` or ``https`` whose host is one of its ``domains`` or a
sub-domain of one, compared in one form (:func:`rasd.core.urls.ascii_host`: an Arabic IDN such
as ``اخبار-المثال.مصر`` and its punycode ``xn----ymcabacyt3a6qcj.xn--wgbh1c`` are the same
host, case 24), on the scheme's default port (80, 443) or on a port the seed names: a domain
written ``host:port``, or the port of one of its feed or sitemap URLs (for that host).
Another port of the same host is another server and is not the outlet's.

Cron schedules are read by APScheduler's own ``CronTrigger.from_crontab`` when the seed is
loaded, so ``61 * * * *`` or ``0 0 31 2 *`` (never fires) is one error naming the file and
field, not a crash of ``rasd schedule``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml

from rasd.core.yamlio import safe_load
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
from rasd.core.urls import DEFAULT_PORTS, ascii_host, url_origin

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]*$")
# an ASCII host name (after IDNA): dot-separated labels of letters, digits, '-' (and '_', which
# real hosts use), or an IPv4 address
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")

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


def is_country_code(code: str) -> bool:
    """Whether ``code`` is an assigned ISO 3166-1 alpha-2 code (or ``ZZ``, unknown)."""
    return code in _ISO_COUNTRIES


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
    """A domain entry: a host name (Unicode IDN or punycode, any case) with an optional
    ``:port``, kept as :func:`rasd.core.urls.ascii_host` writes it (``host`` or ``host:port``)."""
    name, port = host.strip(), ""
    if name.count(":") == 1:
        name, port = name.split(":")
        if not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"not a port number in {host!r} (write host or host:port)")
    try:
        ascii_name = ascii_host(name)
    except ValueError:
        ascii_name = ""
    if not _HOST.match(ascii_name):
        raise ValueError(f"not a host name (no scheme or path; host or host:port): {host!r}")
    return f"{ascii_name}:{int(port)}" if port else ascii_name


def _cron(expr: str) -> str:
    """A crontab expression APScheduler accepts and that fires at least once."""
    from datetime import datetime, timezone

    from apscheduler.triggers.cron import CronTrigger

    if len(expr.split()) != 5:
        raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {expr!r}")
    try:
        trigger = CronTrigger.from_crontab(expr, timezone=timezone.utc)
    except ValueError as exc:
        raise ValueError(f"invalid cron {expr!r}: {exc}") from None
    if trigger.get_next_fire_time(None, datetime.now(timezone.utc)) is None:
        raise ValueError(f"cron {expr!r} never fires (no such date)")
    return expr


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Regex = Annotated[str, AfterValidator(_regex)]
#: Codes every outlet list uses (all in CLDR), accepted without loading babel's locale data.
_COMMON_LANGUAGES = frozenset({"ar", "fa", "ur", "ps", "ckb", "ku", "sd", "ug", "ks", "en", "fr", "tr", "he"})


def _language(v: str) -> str:
    """An ISO 639 code (two or three letters) CLDR knows (via babel), e.g. ``ar``, ``ps``,
    ``ckb``."""
    code = v.strip().lower()
    if code in _COMMON_LANGUAGES:
        return code
    from babel import Locale  # its locale data: 0.03 CPU-s of every crawl that reads it

    if not re.fullmatch(r"[a-z]{2,3}", code) or code not in Locale("en").languages:
        raise ValueError(f"{v!r} is not an ISO 639 language code (e.g. ar, fa, ur, ps, ckb)")
    return code


def _zone(v: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{v!r} is not an IANA time zone (e.g. Asia/Riyadh, Africa/Cairo)") from None
    return v


LanguageCode = Annotated[str, AfterValidator(_language)]
ZoneName = Annotated[str, AfterValidator(_zone)]
HostName = Annotated[str, AfterValidator(_host)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Strict):
    """When an outlet is polled: a fixed ``interval_minutes`` or a ``cron`` expression.

    ``min_interval_minutes``/``max_interval_minutes`` bound the adaptive interval of the
    scheduler (defaults: the interval itself / 8 × the interval).
    """

    interval_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    cron: Annotated[str, AfterValidator(_cron)] | None = None
    min_interval_minutes: int | None = Field(default=None, ge=1)
    max_interval_minutes: int | None = Field(default=None, ge=1)
    timeout_minutes: int = Field(default=20, ge=1, le=24 * 60)

    @model_validator(mode="after")
    def _one_trigger(self) -> "Schedule":
        if (self.interval_minutes is None) == (self.cron is None):
            raise ValueError("give exactly one of interval_minutes or cron")
        low, high = self.min_interval_minutes, self.max_interval_minutes
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_interval_minutes ({low}) is above max_interval_minutes ({high})")
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

    ``domains`` are the outlet's own hosts (sub-domains included; Unicode or punycode, kept in
    punycode; ``host:port`` for a server on another port); links elsewhere are not followed,
    and every feed and sitemap must be on them (see the module docstring for what an outlet
    owns).  ``languages`` are the expected ISO 639 codes (two or three letters, any CLDR knows:
    ``ar``, ``ps``, ``ckb``); ``other_languages`` says what happens to an article detected in
    another language (``keep`` with its code, or ``drop``; counted either way); ``timezone``
    (IANA, e.g. ``Asia/Riyadh``) is the zone of local times the outlet writes without an
    offset (default UTC).
    """

    slug: str
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    homepage: HttpUrl
    languages: list[LanguageCode] = ["ar"]
    other_languages: Literal["keep", "drop"] = "keep"
    #: IANA zone of local times the outlet writes without an offset (default: UTC)
    timezone: ZoneName | None = None
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

    @field_validator("feeds", "sitemaps")
    @classmethod
    def _on_domains(cls, urls: list[str], info) -> list[str]:
        """A listing off the outlet's domains would list nothing it may follow (every link
        ``off_domain``): refused here, naming the URL, instead of 0 articles and exit 0."""
        domains = info.data.get("domains")
        if not domains:
            return urls
        for i, url in enumerate(urls):
            try:
                host = url_origin(url)[1]
            except ValueError as exc:
                raise ValueError(f"item {i}: {exc}") from None
            if not _host_on(host, [d.rpartition(":")[0] if ":" in d else d for d in domains]):
                raise ValueError(f"item {i}: {url} is not on the outlet's domains {domains} "
                                 f"(add {host} to domains, or a parent domain of it)")
        return urls

    def owns(self, where: str) -> bool:
        """Whether ``where`` is the outlet's (see the module docstring).

        Args:
            where: a URL (``https://host[:port]/…``: scheme, host and port are checked) or a
                bare host name (only the host is: one of the domains or a sub-domain of one).

        Returns:
            ``False`` also for anything unreadable (a bad port, an empty host, another scheme).
        """
        if "://" not in where:
            try:
                return _host_on(ascii_host(where), self.hosts())
            except ValueError:
                return False
        try:
            scheme, host, port = url_origin(where)
        except ValueError:
            return False
        if not _host_on(host, self.hosts()):
            return False
        if port == DEFAULT_PORTS[scheme]:
            return True
        return any(port == p and (host == h or (sub and host.endswith("." + h)))
                   for h, p, sub in self._ports())

    def zone(self):
        """The outlet's ``timezone`` as a ``tzinfo`` (None when the seed gives none)."""
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone) if self.timezone else None

    def hosts(self) -> list[str]:
        """The ``domains`` without their ports (ASCII form)."""
        return [d.rpartition(":")[0] if ":" in d else d for d in self.domains]

    def _ports(self) -> list[tuple[str, int, bool]]:
        """``(host, port, sub-domains too)`` for every port the seed names."""
        out = [(d.rpartition(":")[0], int(d.rpartition(":")[2]), True) for d in self.domains
               if ":" in d]
        for url in (*self.feeds, *self.sitemaps):
            try:
                scheme, host, port = url_origin(url)
            except ValueError:
                continue
            if port != DEFAULT_PORTS[scheme]:
                out.append((host, port, False))
        return out


def _host_on(host: str, domains: list[str]) -> bool:
    """``host`` (ASCII form) is one of ``domains`` or a sub-domain of one."""
    return any(host == d or host.endswith("." + d) for d in domains)


def _format_error(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"]
        if isinstance(err.get("input"), bool) and err["type"] in ("string_type", "literal_error"):
            # YAML 1.1 reads NO, no, yes, on, off as booleans (Norway's code among them)
            msg += f" (YAML read an unquoted word as {str(err['input']).lower()}: quote it, e.g. 'NO')"
        elif isinstance(err.get("input"), float) and err["input"] != err["input"]:
            msg += " (not a number: .nan)"
        parts.append(f"{path}: {loc}: {msg}")
    return "\n".join(parts)


def load_outlet(path: Path) -> Outlet:
    """Read and validate one seed file.

    Raises:
        ConfigError: unreadable YAML, or a field that fails the schema (the message names the
            file and the dotted field path).
    """
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
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
