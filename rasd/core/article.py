"""The one record that flows through Rasd: :class:`Article`.

The same object is the Scrapy item (Scrapy accepts dataclass items through ``itemadapter``),
the line written to the JSON Lines archive (:meth:`Article.to_record`) and, later, the search
document.  Field names are the ones analysts see in Kibana: English, snake_case.

A dataclass with ``slots`` rather than a pydantic model: the pipeline touches it a dozen times a
page and the benchmark in ``bench/pipeline.py`` budgets the whole pipeline at 1.15 × a bare
``trafilatura.extract``.  Validation happens where data enters (seeds, config, feeds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

#: Version of the archive/index record layout. Bump when a field changes meaning or type.
SCHEMA_VERSION = 1

#: Fields that exist only while a page is being processed and are never archived.
TRANSIENT_FIELDS = frozenset(
    {"html", "feed_title", "feed_published_at", "declared_language", "date_candidates", "relinked",
     "minhash", "content_chars"}
)


def utcnow() -> datetime:
    """Current time as a timezone-aware UTC datetime (seconds precision)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass(slots=True, repr=False)
class Article:
    """One fetched article page and everything the pipeline learns about it.

    Filled in stage by stage: the spider sets ``url``, ``outlet``, ``html``, ``fetched_at`` and
    the feed/sitemap hints; ``rasd.pipelines.extract`` the text and metadata; ``rasd.pipelines.clean``
    ``source_credit``; ``rasd.pipelines.dates`` ``published_at``; ``rasd.pipelines.language``
    ``language``; ``rasd.pipelines.dedup`` ``id``, ``canonical_url``, ``content_hash`` and
    ``duplicate_of``; ``rasd.pipelines.enrich`` ``topics`` and ``entities_*``.

    Datetimes are timezone-aware UTC.  ``published_at`` is ``None`` when no trustworthy date was
    found, with the reason in ``published_at_reason`` (Rasd never guesses 1 January).
    """

    url: str
    outlet: str
    html: str = ""
    fetched_at: datetime = field(default_factory=utcnow)
    # hints from the feed or sitemap entry that listed the page
    feed_url: str | None = None
    feed_title: str | None = None
    feed_published_at: datetime | None = None
    country: str | None = None
    declared_language: str | None = None  # <html lang>, Content-Language, or the outlet's
    # extraction
    title: str | None = None
    text: str = ""
    description: str | None = None
    author: str | None = None
    site_name: str | None = None
    image: str | None = None
    canonical_url: str | None = None
    extractor: str | None = None
    # cleaning
    source_credit: str | None = None
    # dates
    published_at: datetime | None = None
    published_at_source: str | None = None
    published_at_reason: str | None = None
    # (source, raw text) date evidence read from the page by rasd.pipelines.extract, in preference
    # order, for rasd.pipelines.dates (so the page is parsed once); transient
    date_candidates: list[tuple[str, str]] = field(default_factory=list)
    # language
    language: str | None = None
    language_confidence: float | None = None
    # dedup and enrichment
    id: str | None = None
    content_hash: str | None = None
    duplicate_of: str | None = None
    story_id: str | None = None
    topics: list[str] = field(default_factory=list)
    # entities named in title and text (rasd.pipelines.enrich, config/entities.yaml): canonical
    # Arabic names in order of first mention, keyword fields in the index
    entities_countries: list[str] = field(default_factory=list)
    entities_cities: list[str] = field(default_factory=list)
    entities_organisations: list[str] = field(default_factory=list)
    entities_people: list[str] = field(default_factory=list)
    # ids of earlier-archived copies that dedup re-pointed to this article (see rasd.pipelines.dedup)
    relinked: tuple[str, ...] = ()
    # computed by dedup and stories, reused when the archive stage applies the article to the
    # seen-URL store and the story window (rasd.pipelines.ledger); transient
    content_chars: int | None = None
    minhash: Any = None
    schema_version: int = SCHEMA_VERSION

    def __repr__(self) -> str:
        """Short form for logs (Scrapy logs every dropped item): never the page's HTML."""
        title = (self.title or "")[:60]
        return f"Article(outlet={self.outlet!r}, url={self.url!r}, id={self.id!r}, title={title!r})"

    def to_record(self) -> dict[str, Any]:
        """The archive/index form: a JSON-ready dict without transient fields.

        Datetimes become ISO 8601 strings ending in ``Z``.
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in TRANSIENT_FIELDS:
                continue
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = isoformat_utc(value)
            elif isinstance(value, list):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Article":
        """Rebuild an article from :meth:`to_record` output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in record.items() if k in names}
        for key in ("fetched_at", "published_at", "feed_published_at"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = datetime.fromisoformat(kwargs[key].replace("Z", "+00:00"))
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """All fields, transient ones included (for debugging and tests)."""
        return asdict(self)


def isoformat_utc(value: datetime) -> str:
    """``2024-01-27T13:05:00Z`` for an aware datetime (converted to UTC)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Rasd stores only timezone-aware UTC times")
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
