"""Dedup stage (v1): one archived record per article, syndicated copies linked to the first.

Three pure functions and a store:

* :func:`canonicalize_url` — the identity form of an article URL;
* :func:`document_id` — the article's stable id, a hash of that form;
* :func:`content_hash` — a hash of the folded text, equal for trivially different copies;
* :class:`SeenStore` — a SQLite file remembering URLs and content hashes across runs.

:func:`dedup` decides, for one article, between

* ``new`` — recorded and kept;
* ``duplicate`` — its canonical URL is already recorded, or the same text is already recorded
  *for the same outlet* (republished under a second URL): dropped, the article is archived once;
* ``syndicated`` — the same text is recorded for *another* outlet (wire copy, aggregator): kept,
  with ``duplicate_of`` = the original's id, so both are searchable and linked.

The original of a text is the article recorded first, unless a later one was provably published
earlier (both have ``published_at``, which the dates stage sets before this one): crawl order
is arbitrary, and an aggregator's copy is often fetched before the outlet it copied.  When the
original arrives after its copies it is kept as ``new`` and the store re-points the copies to it
(:attr:`DedupDecision.relinked`, copied to ``Article.relinked``); the archive stage records
the new links as amendments that :func:`pipelines.archive.read_archive` applies.

What the store remembers, and why (a second run must never refetch a known article, but must
retry what failed):

* every archived article (``new``/``syndicated``), under its canonical URL and the canonical
  form of the fetched URL (a sitemap may list the long URL of a page whose canonical is
  short) — recorded *from its archive line*, after the line is durable
  (:meth:`SeenStore.apply`, :mod:`pipelines.ledger`), so a crash can never leave a URL known
  whose article is not archived;
* URLs dropped as ``duplicate``, and URLs dropped by any stage with a ``skipped/<reason>``
  outcome (too little text, unwanted language …): fetching them again gives the same answer;
* not URLs dropped with ``failed/<reason>`` (timeouts, extraction or archive errors): they
  are retried next run.

v1 limits: an updated article (same URL, new text) stays the first version; near-duplicates
(a changed sentence) are not caught — that is the MinHash stage's job.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

from courlan import extract_domain
from scrapy import signals
from w3lib.url import canonicalize_url as w3lib_canonicalize_url

from pipelines.base import StagePipeline
from rasd.arabic import normalize
from rasd.article import Article, isoformat_utc
from rasd.errors import RasdError
from rasd.failpoints import failpoint

log = logging.getLogger(__name__)

#: Query parameters that only track a visit (compared lower-case).
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "igshid", "mc_cid",
    "mc_eid", "ocid", "ncid", "cmpid", "xtor", "ref_src", "ref_url", "_ga", "_gl", "amp",
    "__twitter_impression", "wt.mc_id", "s_cid", "ito",
})
#: Prefixes of tracking parameters: ``utm_source``, BBC's ``at_medium``/``at_campaign``,
#: Matomo's ``pk_campaign``, comScore's ``ns_mchannel``.
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "ns_")
#: Host prefixes that name the same site: ``www.``, ``www2.``, ``m.``, ``mobile.``, ``amp.``.
_HOST_PREFIX = re.compile(r"^(?:www\d{0,2}|m|mobile|amp)\.(?=.+\.)")
#: Normalised texts shorter than this are not matched by content (boilerplate collides).
MIN_CONTENT_CHARS = 100
_NOT_WORD = re.compile(r"[\W_]+")


# --- URLs ------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def canonicalize_url(url: str) -> str:
    """The identity form of an article URL: equal strings for the same article.

    Built on ``w3lib.url.canonicalize_url`` (percent-encoding normalised, so raw Arabic and
    ``%D8%A3…`` spellings are equal — case 13; query sorted; fragment dropped; IDN host in
    punycode), then:

    * scheme ``https`` for http and https (outlets moved to https; the same article is linked
      both ways).  The result is an identity key; ``article.url`` keeps the fetched address;
    * host lower-case, without ``www.``/``www2.``/``m.``/``mobile.``/``amp.``, userinfo and port
      80/443;
    * tracking parameters removed (:data:`TRACKING_PARAMS`, :data:`TRACKING_PREFIXES`) and
      AMP markers: a leading or trailing ``amp`` path segment, a ``.amp`` suffix, ``?amp=1``,
      ``?outputType=amp``;
    * trailing ``/`` removed except for the root path.

    ``https://www.news.example/ar/أخبار/101/amp/?utm_source=x#top`` →
    ``https://news.example/ar/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/101``

    Pure, so results are cached (a stage asks for one URL several times; w3lib takes ~100 µs).

    Raises:
        ValueError: not an absolute http(s) URL, or an invalid port.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    parts = urlsplit(w3lib_canonicalize_url(url, keep_fragments=False))
    host = _HOST_PREFIX.sub("", parts.hostname.rstrip("."))
    if ":" in host:
        host = f"[{host}]"
    if parts.port not in (None, 80, 443):
        host = f"{host}:{parts.port}"
    path = _strip_amp(parts.path)
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit(("https", host, path, query, ""))


def _is_tracking(pair: str) -> bool:
    name, _, value = pair.partition("=")
    name = unquote_plus(name).lower()
    if name == "outputtype":
        return value.lower() == "amp"
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def _strip_amp(path: str) -> str:
    segments = [s for s in path.split("/") if s]
    if segments and segments[-1].lower() == "amp":
        segments.pop()
    if segments and segments[0].lower() == "amp":
        segments.pop(0)
    if segments:
        last = segments[-1]
        lower = last.lower()
        if lower.endswith(".amp"):
            segments[-1] = last[:-4]
        elif ".amp." in lower:
            i = lower.rindex(".amp.")
            segments[-1] = last[:i] + last[i + 4:]
    return "/" + "/".join(segments)


@lru_cache(maxsize=4096)
def registered_domain(host: str) -> str:
    """``www.bbc.co.uk`` → ``bbc.co.uk`` (Public Suffix List snapshot bundled with ``tld``, via
    courlan); an IP address stays itself; an unknown suffix (``news.example``) → the host
    without ``www.``/``m.``/``amp.``."""
    host = host.lower().rstrip(".").strip("[]")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    return extract_domain(f"http://{host}/") or _HOST_PREFIX.sub("", host)


def document_id(canonical_url: str) -> str:
    """Stable article id: BLAKE2b-128 of the canonical URL, 32 lower-case hex digits."""
    return hashlib.blake2b(canonical_url.encode("utf-8"), digest_size=16).hexdigest()


def content_key(text: str) -> str:
    """The text as compared for duplicates: Arabic-folded (:func:`rasd.arabic.normalize`),
    lower-cased, every run of punctuation, symbols and spaces made one space."""
    return _NOT_WORD.sub(" ", normalize(text).lower()).strip()


def content_hash(text: str) -> str:
    """BLAKE2b-128 hex of :func:`content_key`: copies that differ only in hamza seats,
    tashkeel, digits, punctuation or spacing hash equal."""
    return _hash_key(content_key(text))


def _hash_key(key: str) -> str:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()


# --- the store -------------------------------------------------------------------------------

class SeenStoreError(RasdError):
    """The seen-store file is unreadable or was written by an incompatible version."""


@dataclass(frozen=True, slots=True)
class ContentMatch:
    """An article already recorded: its ``id``, ``outlet``, canonical ``url`` and
    ``published_at`` (ISO 8601 UTC string, or None)."""

    id: str
    outlet: str
    url: str
    published_at: str | None = None


#: 2: archive checkpoints (the store follows the archive); a version-1 file is upgraded and
#: caught up on the whole archive.
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, outlet TEXT NOT NULL, url TEXT NOT NULL, content_hash TEXT,
    content_chars INTEGER NOT NULL, published_at TEXT, duplicate_of TEXT, added_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS articles_by_content ON articles (content_hash);
CREATE TABLE IF NOT EXISTS urls (
    url TEXT PRIMARY KEY, outlet TEXT NOT NULL, outcome TEXT NOT NULL, article_id TEXT,
    seen_at TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS urls_by_article ON urls (article_id);
"""
_CATCH_UP_BATCH = 500


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class SeenStore:
    """URLs and content hashes already seen, in one SQLite file (``":memory:"`` for tests).

    Articles (``new``/``syndicated``) enter only from the archive: :meth:`apply` takes archive
    lines (the crawl applies each line right after it is durable, see
    :mod:`pipelines.ledger`) and :meth:`catch_up` applies those after the store's checkpoint in
    ``archive_dir`` (lines a killed process wrote but did not apply; or the whole archive, when
    the file was deleted or comes from an older Rasd).  URLs that are no article
    (``duplicate``, ``skipped/<reason>``) are written directly (:meth:`mark_url`): losing one
    only costs a refetch.  :meth:`add` records an article without the archive (tools, tests).

    One connection, autocommit with explicit transactions, WAL journal, busy timeout 5 s:
    several processes share the file (writes are serialised by the data directory's
    :class:`~rasd.durable.StateLock`).  Not for use from several threads.  URLs passed to
    :meth:`seen_url`, :meth:`find_url` and :meth:`mark_url` are canonical
    (:func:`canonicalize_url`); :meth:`is_known_url` takes a raw one.

    Raises:
        SeenStoreError: the file is not a SQLite database or has another schema version.
    """

    def __init__(self, path: str | Path, archive_dir: str | Path | None = None):
        from pipelines.archive import Checkpoints

        self.path = str(path)
        self.archive_dir = Path(archive_dir) if archive_dir is not None else None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 5000")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            (version,) = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version == "1":  # v1 had no checkpoints: follow the archive from its start
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
                version = str(SCHEMA_VERSION)
            self.checkpoints = Checkpoints(self._db, "seen")
        except sqlite3.DatabaseError as exc:
            raise SeenStoreError(f"{self.path}: cannot open seen store: {exc}") from exc
        if version != str(SCHEMA_VERSION):
            self._db.close()
            raise SeenStoreError(f"{self.path}: seen store schema version {version}, "
                                 f"this Rasd reads version {SCHEMA_VERSION}")

    def seen_url(self, canonical: str) -> bool:
        """True when the URL was recorded with any outcome (article, duplicate or skipped)."""
        return self._db.execute("SELECT 1 FROM urls WHERE url = ?", (canonical,)).fetchone() is not None

    def is_known_url(self, url: str) -> bool:
        """:meth:`seen_url` for a raw URL (a link found in a feed, before fetching it);
        False for a URL that cannot be canonicalised."""
        try:
            return self.seen_url(canonicalize_url(url))
        except ValueError:
            return False

    def find_url(self, canonical: str) -> ContentMatch | None:
        """The recorded article this URL led to (None if unknown or only skipped)."""
        row = self._db.execute(
            "SELECT a.id, a.outlet, a.url, a.published_at FROM urls u JOIN articles a "
            "ON a.id = u.article_id WHERE u.url = ?", (canonical,)).fetchone()
        return ContentMatch(*row) if row else None

    def find_content(self, content_hash: str, outlet: str | None = None) -> ContentMatch | None:
        """A recorded article with this content hash: one of ``outlet`` if there is one, else
        the original (the one that is no copy)."""
        rows = self._db.execute(
            "SELECT id, outlet, url, published_at FROM articles WHERE content_hash = ? "
            "AND content_chars >= ? ORDER BY duplicate_of IS NOT NULL, rowid",
            (content_hash, MIN_CONTENT_CHARS)).fetchall()
        if not rows:
            return None
        same = [r for r in rows if r[1] == outlet]
        return ContentMatch(*(same or rows)[0])

    def copies(self, content_hash: str, original_id: str) -> list[str]:
        """Ids of the recorded articles with this content hash other than ``original_id``
        (those a new original re-points), in recording order."""
        return [r[0] for r in self._db.execute(
            "SELECT id FROM articles WHERE content_hash = ? AND id != ? ORDER BY rowid",
            (content_hash, original_id))]

    def relink(self, content_hash: str, original_id: str) -> list[str]:
        """Make ``original_id`` the original of every other article with this content hash;
        returns the ids re-pointed."""
        with self._transaction():
            ids = self.copies(content_hash, original_id)
            self._link(ids, original_id)
        return ids

    def _link(self, ids, original_id: str) -> None:
        self._db.executemany("UPDATE articles SET duplicate_of = ? WHERE id = ?",
                             [(original_id, i) for i in ids])

    def add(self, article: Article, outcome: str = "new", content_chars: int | None = None) -> None:
        """Record a kept article under its canonical URL and its fetched URL's canonical form
        (without the archive: for tools and tests; a crawl records articles by :meth:`apply`).

        ``content_chars``: length of :func:`content_key` of its text, if already computed.

        Raises:
            ValueError: ``id`` or ``canonical_url`` is not set (run :func:`dedup` first).
        """
        if not article.id or not article.canonical_url:
            raise ValueError("article has no id/canonical_url: run dedup() before SeenStore.add()")
        with self._transaction():
            self._insert(article.id, article.outlet, article.canonical_url, article.url,
                         article.content_hash, content_chars if content_chars is not None
                         else len(content_key(article.text)), _iso(article.published_at),
                         article.duplicate_of, outcome)

    def _insert(self, article_id, outlet, canonical, fetched, chash, chars, published, duplicate_of,
                outcome) -> None:
        urls = {canonical, _canonical_or_none(fetched)} - {None}
        now = _now()
        self._db.execute("INSERT OR IGNORE INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (article_id, outlet, canonical, chash, chars, published, duplicate_of, now))
        # a URL remembered as skipped earlier now leads to this article
        self._db.executemany(
            "INSERT INTO urls VALUES (?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET "
            "outcome = excluded.outcome, article_id = excluded.article_id, seen_at = excluded.seen_at "
            "WHERE urls.article_id IS NULL",
            [(u, outlet, outcome, article_id, now) for u in urls])

    # ---- following the archive -----------------------------------------------------------
    def apply(self, lines, content_chars: dict[str, int] | None = None) -> int:
        """Apply archive lines (:class:`pipelines.archive.ArchiveLine`) in one transaction with
        the checkpoint: a record line records its article (idempotent by id), a ``links``
        amendment re-points a copy; other lines only move the checkpoint.  ``content_chars``:
        ``{id: length of its content_key}`` where already computed (the crawl's dedup stage did).
        Returns the articles recorded."""
        n = 0
        positions: dict[str, int] = {}
        with self._transaction():
            for line in lines:
                positions[line.file] = max(positions.get(line.file, 0), line.end)
                rec = line.data
                if rec is None:
                    continue
                if line.kind == "record" and rec.get("id") and rec.get("canonical_url"):
                    chars = (content_chars or {}).get(rec["id"])
                    if chars is None:
                        chars = len(content_key(rec.get("text") or ""))
                    outcome = "syndicated" if rec.get("duplicate_of") else "new"
                    self._insert(rec["id"], rec.get("outlet") or "", rec["canonical_url"],
                                 rec.get("url") or rec["canonical_url"], rec.get("content_hash"), chars,
                                 rec.get("published_at"), rec.get("duplicate_of"), outcome)
                    n += 1
                elif line.kind == "links" and rec.get("id") and rec.get("duplicate_of"):
                    self._link([rec["id"]], rec["duplicate_of"])
            self.checkpoints.save(positions)
        return n

    def catch_up(self, files=None) -> int:
        """Apply the archive lines after the checkpoint (``files``: only in these); returns the
        articles recorded.  No-op without ``archive_dir``."""
        from pipelines.archive import follow

        if self.archive_dir is None:
            return 0
        total = 0
        while True:
            batch = list(follow(self.archive_dir, self.checkpoints.load(), files, limit=_CATCH_UP_BATCH))
            if not batch:
                break
            total += self.apply(batch)
            if len(batch) < _CATCH_UP_BATCH:
                break
        if total:
            log.info("seen store %s: %d archived article(s) applied from the archive", self.path, total)
        return total

    def mark_url(self, canonical: str, outlet: str, outcome: str, article_id: str | None = None) -> None:
        """Remember a URL that is not a new article (``duplicate``, ``skipped/<reason>``) so it
        is not fetched again.  A URL already recorded keeps its first outcome."""
        self._db.execute("INSERT OR IGNORE INTO urls VALUES (?, ?, ?, ?, ?)",
                         (canonical, outlet, outcome, article_id, _now()))

    def forget(self, article_id: str) -> None:
        """Remove an article and every URL that points to it (it will be fetched again)."""
        with self._transaction():
            self._db.execute("DELETE FROM urls WHERE article_id = ?", (article_id,))
            self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))

    def counts(self) -> dict[str, int]:
        """``{"articles": n, "urls": m}`` (for reports and tests)."""
        return {table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("articles", "urls")}

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "SeenStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- deferred pages (crawler/middlewares.py RetryDeferred): self-contained, own table --------
    _DEFERRED_TABLE = (
        "CREATE TABLE IF NOT EXISTS deferred (url TEXT PRIMARY KEY, fetch_url TEXT NOT NULL, "
        "outlet TEXT NOT NULL, not_before REAL NOT NULL, reason TEXT NOT NULL, "
        "attempts INTEGER NOT NULL, deferred_at TEXT NOT NULL) WITHOUT ROWID")

    def defer_url(self, canonical: str, url: str, outlet: str, not_before: float, reason: str) -> None:
        """Remember a page to request again at or after ``not_before`` (POSIX seconds), listed
        or not.  ``url`` is the address to request; deferring a page again moves its time,
        replaces its reason (``retry_after``, …) and counts an attempt."""
        self._db.execute(self._DEFERRED_TABLE)
        self._db.execute(
            "INSERT INTO deferred VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (url) DO UPDATE SET "
            "fetch_url = excluded.fetch_url, not_before = excluded.not_before, "
            "reason = excluded.reason, attempts = deferred.attempts + 1, deferred_at = excluded.deferred_at",
            (canonical, url, outlet, float(not_before), reason, _now()))

    def deferred_urls(self, outlet: str) -> list[tuple[str, str, float, str]]:
        """The outlet's deferred pages as ``(canonical, url, not_before, reason)``, soonest first."""
        self._db.execute(self._DEFERRED_TABLE)
        return [tuple(r) for r in self._db.execute(
            "SELECT url, fetch_url, not_before, reason FROM deferred WHERE outlet = ? "
            "ORDER BY not_before, url", (outlet,))]

    def clear_deferred(self, canonical: str) -> None:
        """Forget a deferred page (it was fetched again); a no-op for one not deferred."""
        self._db.execute(self._DEFERRED_TABLE)
        self._db.execute("DELETE FROM deferred WHERE url = ?", (canonical,))


def _iso(value: datetime | None) -> str | None:
    """Seconds-precision ISO 8601 UTC, so stored strings compare in time order."""
    return isoformat_utc(value.replace(microsecond=0)) if value is not None else None


def _canonical_or_none(url: str) -> str | None:
    try:
        return canonicalize_url(url)
    except ValueError:
        return None


# --- the stage -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DedupDecision:
    """What :func:`dedup` decided: ``outcome``, the article's ``article_id``, the id of the
    article it repeats (``duplicate_of``, None when new), how it matched (``"url"``,
    ``"content"`` or None) and, for an original that arrived after its copies, the ids of the
    copies re-pointed to it (``relinked``)."""

    outcome: Literal["new", "duplicate", "syndicated"]
    article_id: str
    duplicate_of: str | None = None
    matched_by: Literal["url", "content"] | None = None
    relinked: tuple[str, ...] = ()


def choose_canonical(url: str, page_canonical: str | None) -> str:
    """Canonical form of the page's declared canonical URL when it is on the fetched URL's
    registered domain (relative ones are resolved), else of the fetched URL.

    Pages are not trusted further: almadenahnews.com's og:url points to a raw IP, aryanews.com's
    is relative, and a canonical on another site would merge two outlets' articles.

    Raises:
        ValueError: ``url`` is not an absolute http(s) URL.
    """
    fetched = canonicalize_url(url)
    if page_canonical:
        candidate = _canonical_or_none(urljoin(url, page_canonical.strip()))
        if candidate and registered_domain(urlsplit(candidate).hostname or "") == \
                registered_domain(urlsplit(fetched).hostname or ""):
            return candidate
    return fetched


def decide(article: Article, store: SeenStore) -> DedupDecision:
    """Set ``canonical_url``, ``id``, ``content_hash``, ``content_chars`` (and
    ``duplicate_of``) on ``article`` and decide new / duplicate / syndicated from what
    ``store`` holds.  Writes nothing but the URLs of a ``duplicate`` (:meth:`SeenStore.mark_url`):
    a kept article is recorded when its archive line is durable (:meth:`SeenStore.apply`), or
    by :func:`dedup`.

    Raises:
        ValueError: ``article.url`` is not an absolute http(s) URL.
    """
    canonical = choose_canonical(article.url, article.canonical_url)
    fetched = canonicalize_url(article.url)
    article.canonical_url = canonical
    article.id = document_id(canonical)
    key = content_key(article.text)
    article.content_hash = _hash_key(key)
    article.content_chars = len(key)

    match = store.find_url(canonical) or store.find_url(fetched)
    matched_by: Literal["url", "content"] = "url"
    if match is None and len(key) >= MIN_CONTENT_CHARS:
        match, matched_by = store.find_content(article.content_hash, article.outlet), "content"
    if match is None:
        return DedupDecision("new", article.id)
    if matched_by == "url" or match.outlet == article.outlet:
        article.duplicate_of = match.id
        for url in {canonical, fetched}:
            store.mark_url(url, article.outlet, "duplicate", match.id)
        return DedupDecision("duplicate", article.id, match.id, matched_by)
    mine = _iso(article.published_at)
    if mine is not None and match.published_at is not None and mine < match.published_at:
        # published before the recorded "original": the others become its copies
        return DedupDecision("new", article.id, None, "content",
                             tuple(store.copies(article.content_hash, article.id)))
    article.duplicate_of = match.id
    return DedupDecision("syndicated", article.id, match.id, "content")


def dedup(article: Article, store: SeenStore) -> DedupDecision:
    """:func:`decide`, then record a kept article in ``store`` at once (and re-point its copies)
    — for tools and tests; a crawl records it from its archive line instead.

    Raises:
        ValueError: ``article.url`` is not an absolute http(s) URL.
    """
    decision = decide(article, store)
    if decision.outcome != "duplicate":
        store.add(article, decision.outcome, article.content_chars)
        if decision.relinked:
            store.relink(article.content_hash, article.id)
    return decision


class DedupPipeline(StagePipeline):
    """Scrapy wrapper of :func:`decide` over the data directory's seen-URL store
    (``<RASD_DATA_DIR>/seen.sqlite``, opened through the :class:`~pipelines.ledger.Ledger`).

    Takes the data directory's lock for the article (:meth:`Ledger.begin`), released by the
    archive stage once the line is durable and applied, or when the item is dropped.  Drops
    duplicates with outcome ``duplicate``; counts ``rasd/dedup/syndicated``,
    ``rasd/dedup/relinked`` and ``rasd/dedup/duplicate_<url|content>``.  Listens to
    ``item_dropped``/``item_error``: URLs skipped by any stage are remembered (not fetched
    again); failed ones are not (retried next run).  :meth:`is_known_url` answers for a raw URL.
    """

    def __init__(self, stats=None, store_path: str | Path = "data/seen.sqlite", ledger=None):
        super().__init__(stats)
        self.store_path = Path(store_path)
        self._ledger = ledger

    @property
    def ledger(self):
        if self._ledger is None:
            from pipelines.ledger import Ledger

            self._ledger = Ledger.shared(self.store_path.parent)
        return self._ledger

    @property
    def store(self) -> SeenStore:
        return self.ledger.seen

    @classmethod
    def options_from_settings(cls, settings):
        return {"store_path": Path(settings.get("RASD_DATA_DIR", "data")) / "seen.sqlite"}

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = super().from_crawler(crawler)
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(pipeline.item_error, signal=signals.item_error)
        return pipeline

    def open_spider(self, spider=None) -> None:
        self.store  # noqa: B018  (open and catch up before the first page)

    def close_spider(self, spider=None) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def is_known_url(self, url: str) -> bool:
        """True when ``url`` (raw, as listed in a feed) needs no fetching."""
        return self.store.is_known_url(url)

    def process_item(self, item: Article, spider=None) -> Article:
        ledger = self.ledger
        try:
            ledger.begin()
            decision = decide(item, ledger.seen)
        except ValueError as exc:
            ledger.abort()
            raise self.drop(item, "failed/bad_url", str(exc)) from None
        except sqlite3.Error as exc:
            ledger.abort()
            self.write_failed(exc, ledger.seen.path)
            raise self.drop(item, "failed/disk_full" if "full" in str(exc) else "failed/state_error",
                            str(exc)) from None
        if decision.outcome == "duplicate":
            ledger.abort()
            self.count(f"rasd/dedup/duplicate_{decision.matched_by}")
            raise self.drop(item, "duplicate", f"{item.url} repeats {decision.duplicate_of} "
                                               f"(same {decision.matched_by})")
        failpoint("after_dedup")
        if decision.outcome == "syndicated":
            self.count("rasd/dedup/syndicated")
        if decision.relinked:
            item.relinked = decision.relinked
            self.count("rasd/dedup/relinked", len(decision.relinked))
        return item

    def item_dropped(self, item, exception, **kwargs) -> None:
        """Release the data directory's lock; remember URLs of ``skipped/*`` items."""
        if self._ledger is not None:
            self._ledger.abort()
        outcome = getattr(exception, "outcome", "") or ""
        if self._ledger is None or not outcome.startswith("skipped/"):
            return
        canonical = _canonical_or_none(getattr(item, "url", "") or "")
        if canonical:
            try:
                self.store.mark_url(canonical, getattr(item, "outlet", ""), outcome)
            except sqlite3.Error as exc:  # e.g. a full disk: refetched next run, nothing lost
                self.write_failed(exc, self.store.path)

    def item_error(self, item, **kwargs) -> None:
        """An unexpected exception in a later stage: release the lock (nothing was recorded)."""
        if self._ledger is not None:
            self._ledger.abort()
