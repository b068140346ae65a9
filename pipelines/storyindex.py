"""The story window: MinHash signatures of the last days' articles, with their LSH bands
stored and queried in SQLite (:class:`StoryIndex`), following the archive.

Used by the stories stage (:mod:`rasd.pipelines.stories`) through the data directory's
:class:`~rasd.pipelines.ledger.Ledger`.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from rasd.core.arabic import tokens
from rasd.core.article import Article, isoformat_utc, utcnow
from rasd.core.errors import RasdError
from rasd.core.lazy import lazy_module
from rasd.core.sqlite import connect as connect_sqlite, transaction

log = logging.getLogger(__name__)
SCHEME = "affine32"
np = lazy_module("numpy")  # imported by the first signature or band key, not by opening the index
_DTYPE = "uint32"


class StoryIndexError(RasdError):
    """The story store is unreadable, or was written with other MinHash parameters."""


def shingles(text: str, size: int = 4) -> set[bytes]:
    """Word ``size``-grams of the folded, lower-cased text, UTF-8 encoded.

    A text of n tokens gives at most ``n - size + 1`` shingles; fewer than ``size`` tokens give
    the empty set.
    """
    words = tokens(text)
    return {" ".join(words[i:i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


@dataclass(frozen=True, slots=True)
class StoryParams:
    """MinHash/LSH parameters; all must match between runs sharing a store."""

    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 4
    min_tokens: int = 20
    threshold: float = 0.5
    duplicate_threshold: float = 0.8


class Signature:
    """A MinHash signature: ``hashvalues``, ``num_perm`` uint32 values (read-only numpy array),
    made with permutation ``seed`` in scheme :data:`SCHEME`.

    The values are bit for bit those of datasketch's ``MinHash(num_perm, seed,
    scheme="affine32")`` updated with the same byte strings (``tests/pipelines/test_stories.py``
    compares them), so stores written by earlier Rasd versions, which used datasketch, stay
    valid.  Rasd computes them itself because importing datasketch imports every index of the
    library and scipy under them (0.6–0.7 s of CPU in every crawl process that makes a
    signature), for ten lines of numpy.
    """

    __slots__ = ("hashvalues", "seed")

    def __init__(self, hashvalues: np.ndarray, seed: int):
        values = np.asarray(hashvalues, dtype=_DTYPE)
        values.flags.writeable = False
        self.hashvalues, self.seed = values, seed

    def jaccard(self, other: "Signature") -> float:
        """Estimated Jaccard similarity: the share of equal hash values (0.0–1.0).

        Raises:
            ValueError: the two have other seeds or lengths (their values are not comparable).
        """
        if other.seed != self.seed or len(other.hashvalues) != len(self.hashvalues):
            raise ValueError("signatures made with other seeds or num_perm are not comparable")
        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / len(self.hashvalues)

    def __len__(self) -> int:
        return len(self.hashvalues)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Signature) and other.seed == self.seed
                and np.array_equal(other.hashvalues, self.hashvalues))

    def __repr__(self) -> str:
        return f"Signature(num_perm={len(self.hashvalues)}, seed={self.seed})"


_PERMUTATIONS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine permutations ``h → a·h + b mod 2^32`` of scheme :data:`SCHEME`: ``(a, b)``,
    two uint32 arrays of ``num_perm`` values (every ``a`` odd, so each map is a bijection),
    drawn from ``numpy.random.RandomState(seed)`` in datasketch's order; cached."""
    key = (num_perm, seed)
    if key not in _PERMUTATIONS:
        gen = np.random.RandomState(seed)
        a = gen.randint(0, 1 << 31, num_perm, dtype=_DTYPE) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=_DTYPE)
        _PERMUTATIONS[key] = (a, b)
    return _PERMUTATIONS[key]


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (a bijection that spreads the bits of ``h``)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash(items, num_perm: int = 128, seed: int = 1) -> Signature:
    """MinHash of a set of byte strings: each hashed with SHA-1 (its first 4 bytes, little
    endian), pre-mixed by :func:`_fmix32`, then through every permutation of
    :func:`permutations`; the signature is the minimum per permutation (``2^32 - 1`` for the
    empty set).  Broder (1997); the scheme is datasketch's ``affine32``."""
    a, b = permutations(num_perm, seed)
    values = np.full(num_perm, np.iinfo(_DTYPE).max, dtype=_DTYPE)
    hashed = np.fromiter((int.from_bytes(hashlib.sha1(x).digest()[:4], "little") for x in items),
                         dtype=_DTYPE)
    if len(hashed):
        values = np.minimum(values, (_fmix32(hashed).reshape(-1, 1) * a + b).min(axis=0))
    return Signature(values, seed)


def signature(text: str, params: StoryParams = StoryParams()) -> Signature | None:
    """:func:`minhash` of :func:`shingles` of ``text``; ``None`` when the text has fewer than
    ``params.min_tokens`` tokens (such texts must never match)."""
    if len(tokens(text)) < params.min_tokens:
        return None
    return minhash(shingles(text, params.shingle_size), params.num_perm, params.seed)


def _lean(hashvalues: bytes | np.ndarray, seed: int) -> Signature:
    values = np.frombuffer(hashvalues, dtype=_DTYPE) if isinstance(hashvalues, bytes) else hashvalues
    return Signature(values, seed)


def optimal_bands(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                  false_negative_weight: float = 0.5) -> tuple[int, int]:
    """The LSH banding ``(b, r)`` (``b`` bands of ``r`` rows, ``b·r ≤ num_perm``) that minimises
    the weighted false-positive and false-negative probabilities for ``threshold``: the
    integrals of ``P(s) = 1 − (1 − s^r)^b`` over [0, threshold] and of ``1 − P(s)`` over
    [threshold, 1] (Leskovec, Rajaraman, Ullman, *Mining of Massive Datasets*, ch. 3; the
    rule of datasketch's ``MinHashLSH``, which integrates with scipy's ``quad``).  ``P`` is a
    polynomial of degree ``b·r ≤ num_perm``, so Gauss–Legendre quadrature with
    ``num_perm // 2 + 1`` nodes integrates it exactly (up to rounding) with numpy alone;
    the choice equals datasketch's (``tests/pipelines/test_stories.py``)."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def integral(lo: float, hi: float, b: int, r: int, complement: bool) -> float:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        p = 1 - (1 - s ** r) ** b
        return float(np.dot(weights, 1 - p if complement else p)) * (hi - lo) / 2

    best, choice = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            error = (integral(0.0, threshold, b, r, False) * false_positive_weight
                     + integral(threshold, 1.0, b, r, True) * false_negative_weight)
            if error < best:
                best, choice = error, (b, r)
    return choice


@dataclass(frozen=True, slots=True)
class Story:
    """What the index knows of one story (within the window).

    ``first_published_at`` is the earliest article time seen (``published_at``, else
    ``fetched_at``); ``outlets`` the number of distinct outlets; ``articles`` the number of
    articles.
    """

    story_id: str
    first_outlet: str
    first_published_at: datetime
    outlets: int
    articles: int


def _time(article: Article) -> datetime:
    return article.published_at or article.fetched_at


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def verified(candidates, sig: Signature, threshold: float) -> list[tuple[str, str, float]]:
    """The LSH ``candidates`` (``(id, story_id, signature bytes)``) whose estimated Jaccard with
    ``sig`` (the share of equal hash values) is ≥ ``threshold``: ``[(id, story_id,
    similarity)]``, most similar first, ties by id.  Shared by the SQLite and the Redis story
    windows, so a fleet joins stories exactly as a single crawl does."""
    mine = np.asarray(sig.hashvalues, dtype=_DTYPE)
    found = []
    for candidate, story_id, blob in candidates:
        similarity = float(np.count_nonzero(mine == np.frombuffer(blob, dtype=_DTYPE))) / len(mine)
        if similarity >= threshold:
            found.append((candidate, story_id, similarity))
    return sorted(found, key=lambda f: (-f[2], f[0]))


class StoryIndex:
    """Persistent MinHash LSH over the last ``window`` of articles, queried where it lives.

    One SQLite file: ``sigs`` (per article: id, outlet, time, story id, signature as
    ``num_perm × 4`` bytes) and ``bands`` (per article and LSH band: a 64-bit key of the band's
    ``r`` hash values, BLAKE2b; the same ``b × r`` banding as datasketch's ``MinHashLSH`` for
    ``threshold`` and ``num_perm``, :func:`optimal_bands`, so the candidates are the same).  A lookup reads only the
    rows of its ``b`` band keys (one index probe each) and the signatures of those candidates;
    nothing proportional to the window is loaded at open, and no process holds rows in memory
    that another could prune.  The window is over the time Rasd *archived* an article
    (``fetched_at``): a copy is crawled soon after its original whatever their publication
    dates say (an old story republished today still finds its first publisher).  ``now``
    returns the current UTC time (injectable for tests); rows archived before
    ``now() - window`` are pruned by :meth:`prune` (on open, and after every
    :data:`PRUNE_EVERY` additions), which only deletes rows no lookup in the window would use.

    With ``archive_dir`` the index follows the archive (:meth:`apply`, :meth:`catch_up`, as
    :class:`rasd.pipelines.dedup.SeenStore` does).  Writers share the file across processes under
    the data directory's :class:`~rasd.core.durable.StateLock`.

    Raises:
        StoryIndexError: the file cannot be opened, or stores signatures made with other
            ``num_perm``/``seed``/``shingle_size``/scheme (mixing them would silently give wrong
            similarities; delete the file to rebuild it from the archive).
    """

    PRUNE_EVERY = 1000

    def __init__(self, path: str | Path, params: StoryParams = StoryParams(),
                 window: timedelta = timedelta(days=7),
                 now: Callable[[], datetime] = utcnow, archive_dir: str | Path | None = None):
        from rasd.core.archive import Checkpoints

        self.params, self.window, self.now = params, window, now
        self.path = str(path)
        self.archive_dir = Path(archive_dir) if archive_dir is not None else None
        self.db = connect_sqlite(path, what="story store", error=StoryIndexError)
        try:
            self.db.executescript(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
                "CREATE TABLE IF NOT EXISTS sigs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
                " outlet TEXT NOT NULL, at TEXT NOT NULL, seen_at TEXT NOT NULL, story_id TEXT NOT NULL,"
                " hashvalues BLOB);"
                "CREATE INDEX IF NOT EXISTS sigs_story ON sigs(story_id);"
                "CREATE INDEX IF NOT EXISTS sigs_seen ON sigs(seen_at);"
                "CREATE TABLE IF NOT EXISTS bands (bkey INTEGER NOT NULL, sig INTEGER NOT NULL,"
                " PRIMARY KEY (bkey, sig)) WITHOUT ROWID;")
            self.checkpoints = Checkpoints(self.db, "stories")
        except (sqlite3.Error, OSError) as exc:
            raise StoryIndexError(f"{path}: cannot open story store: {exc}") from exc
        self._check_meta(path)
        self._added = 0
        self._migrate_v1()
        self.prune()

    def _check_meta(self, path) -> None:
        p = self.params
        wanted = {"num_perm": str(p.num_perm), "seed": str(p.seed),
                  "shingle_size": str(p.shingle_size), "scheme": SCHEME}
        stored = dict(self.db.execute("SELECT key, value FROM meta"))
        if not stored:
            with self._transaction():
                self.db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", wanted.items())
            stored = dict(self.db.execute("SELECT key, value FROM meta"))
        if {k: stored.get(k) for k in wanted} != wanted:
            raise StoryIndexError(f"{path}: written with { {k: stored.get(k) for k in wanted} }, "
                                  f"opened with {wanted}; delete the file to rebuild the story index")
        key = f"bands@{p.threshold}"
        if key not in stored:  # the optimal banding for this threshold, computed once
            b, r = optimal_bands(p.threshold, p.num_perm)
            with self._transaction():
                self.db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, f"{b},{r}"))
            stored[key] = dict(self.db.execute("SELECT key, value FROM meta"))[key]
        self.b, self.r = (int(x) for x in stored[key].split(","))
        if stored.get("bands_of") not in (None, key):
            raise StoryIndexError(f"{path}: banded for {stored['bands_of']}, opened for {key} "
                                  "(another threshold); delete the file to rebuild the story index")
        if stored.get("bands_of") is None:
            with self._transaction():
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('bands_of', ?)", (key,))

    def _migrate_v1(self) -> None:
        """Move the rows of a version-1 file (table ``articles``, LSH rebuilt in memory at each
        open) into ``sigs`` and ``bands``."""
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone():
            return
        with self._transaction():  # checked again under the write lock: another opener may have moved them
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone():
                return
            rows = self.db.execute("SELECT id, outlet, at, story_id, hashvalues FROM articles").fetchall()
            for article_id, outlet, at, story_id, blob in rows:
                self._insert(article_id, outlet, at, at, story_id, blob)
            self.db.execute("DROP TABLE articles")
        log.info("story store %s: %d rows moved to the banded layout", self.path, len(rows))

    def _transaction(self):
        return transaction(self.db)

    def band_keys(self, hashvalues: np.ndarray) -> list[int]:
        """The ``b`` band keys of a signature: BLAKE2b-64 of (band number, the band's ``r``
        uint32 values), as signed 64-bit integers (SQLite's INTEGER)."""
        values = np.asarray(hashvalues, dtype=_DTYPE)
        r = self.r
        return [int.from_bytes(hashlib.blake2b(bytes((i,)) + values[i * r:(i + 1) * r].tobytes(),
                                               digest_size=8).digest(), "little", signed=True)
                for i in range(self.b)]

    def _insert(self, article_id: str, outlet: str, at: str, seen_at: str, story_id: str,
                blob: bytes | None) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO sigs (id, outlet, at, seen_at, story_id, hashvalues) "
                              "VALUES (?, ?, ?, ?, ?, ?)", (article_id, outlet, at, seen_at, story_id, blob))
        if cur.rowcount == 0:
            return False
        if blob is not None:
            rowid = cur.lastrowid
            keys = self.band_keys(np.frombuffer(blob, dtype=_DTYPE))
            self.db.executemany("INSERT OR IGNORE INTO bands VALUES (?, ?)", [(k, rowid) for k in keys])
        self._added += 1
        return True

    def prune(self) -> int:
        """Delete rows older than the window; returns how many.  Band rows of pruned signatures
        go with them (those of rows older than the oldest kept one; the few left behind by
        out-of-order times point at nothing and are never returned)."""
        cutoff = isoformat_utc(self.now() - self.window)
        with self._transaction():
            n = self.db.execute("DELETE FROM sigs WHERE seen_at < ?", (cutoff,)).rowcount
            if n:
                low = self.db.execute("SELECT MIN(rowid) FROM sigs").fetchone()[0]
                if low is None:
                    self.db.execute("DELETE FROM bands")
                else:
                    self.db.execute("DELETE FROM bands WHERE sig < ?", (low,))
        self._added = 0
        return n

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM sigs").fetchone()[0]

    def get(self, article_id: str) -> tuple[str, Signature | None] | None:
        """``(story_id, signature)`` of a recorded article, or ``None``."""
        row = self.db.execute("SELECT story_id, hashvalues FROM sigs WHERE id = ?",
                              (article_id,)).fetchone()
        if row is None:
            return None
        return row[0], (_lean(row[1], self.params.seed) if row[1] is not None else None)

    def time_of(self, article_id: str) -> str | None:
        """The recorded time of an article (ISO 8601 UTC: ``published_at``, else
        ``fetched_at``), or ``None`` if unknown or pruned."""
        row = self.db.execute("SELECT at FROM sigs WHERE id = ?", (article_id,)).fetchone()
        return row[0] if row else None

    def candidates(self, sig: Signature) -> list[tuple[str, str, bytes]]:
        """``(id, story_id, signature bytes)`` of the recorded articles sharing at least one
        band with ``sig`` (LSH candidates, not yet verified), within the window."""
        keys = self.band_keys(sig.hashvalues)
        marks = ",".join("?" * len(keys))
        return self.db.execute(
            f"SELECT s.id, s.story_id, s.hashvalues FROM sigs s WHERE s.rowid IN "
            f"(SELECT sig FROM bands WHERE bkey IN ({marks})) AND s.hashvalues IS NOT NULL "
            "AND s.seen_at >= ?", (*keys, isoformat_utc(self.now() - self.window))).fetchall()

    def best_match(self, sig: Signature) -> tuple[str, str, float] | None:
        """Closest recorded article by estimated Jaccard: ``(id, story_id, similarity)``, or
        ``None`` when no LSH candidate reaches ``threshold``."""
        found = verified(self.candidates(sig), sig, self.params.threshold)
        return found[0] if found else None

    def near(self, sig: Signature, threshold: float) -> list[tuple[str, str, float]]:
        """Every recorded article whose estimated Jaccard with ``sig`` is ≥ ``threshold`` (at
        least ``self.params.threshold``): ``[(id, story_id, similarity)]``, most similar first
        (ties by id)."""
        return verified(self.candidates(sig), sig, max(threshold, self.params.threshold))

    def add(self, article: Article, story_id: str, sig: Signature | None) -> None:
        """Record ``article`` (needs ``id``) in ``story_id`` with its signature (no-op for an id
        already recorded)."""
        blob = np.asarray(sig.hashvalues, dtype=_DTYPE).tobytes() if sig is not None else None
        with self._transaction():
            self._insert(article.id, article.outlet, isoformat_utc(_time(article)),
                         isoformat_utc(article.fetched_at), story_id, blob)
        self._maybe_prune()

    def _maybe_prune(self) -> None:
        if self._added >= self.PRUNE_EVERY:
            self.prune()

    # ---- following the archive -----------------------------------------------------------
    def apply(self, lines, signatures: dict[str, Signature] | None = None) -> int:
        """Apply archive lines (:class:`rasd.pipelines.archive.ArchiveLine`) in one transaction with
        the checkpoint: a record with ``story_id`` inside the window is recorded with its
        signature (``signatures``: already computed, by id; else from its text); other lines
        only move the checkpoint.  Returns the articles recorded."""
        positions: dict[str, int] = {}
        n = 0
        with self._transaction():
            for row in window_rows(lines, isoformat_utc(self.now() - self.window), self.params,
                                   signatures, positions):
                n += self._insert(*row)
            self.checkpoints.save(positions)
        self._maybe_prune()
        return n

    def catch_up(self, files=None) -> int:
        """Apply the archive lines after the checkpoint (``files``: only in these); returns the
        articles recorded.  No-op without ``archive_dir``."""
        from rasd.core.archive import follow

        if self.archive_dir is None:
            return 0
        total = 0
        while True:
            batch = list(follow(self.archive_dir, self.checkpoints.load(), files, limit=500))
            if not batch:
                break
            total += self.apply(batch)
            if len(batch) < 500:
                break
        if total:
            log.info("story store %s: %d archived article(s) applied from the archive", self.path, total)
        return total

    def story(self, story_id: str) -> Story | None:
        """The story's first outlet and time and its outlet/article counts (``None`` if
        unknown or pruned)."""
        rows = self.db.execute("SELECT outlet, at FROM sigs WHERE story_id = ? ORDER BY at, rowid",
                               (story_id,)).fetchall()
        if not rows:
            return None
        return Story(story_id, rows[0][0], _parse(rows[0][1]),
                     len({r[0] for r in rows}), len(rows))

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def __enter__(self) -> "StoryIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def window_rows(lines, cutoff: str, params, signatures, positions: dict[str, int]):
    """``(id, outlet, at, seen_at, story_id, signature bytes or None)`` of the archive
    ``lines`` a story window records: article records with an id and a story id, fetched at or
    after ``cutoff`` (ISO 8601); the signature from ``signatures`` (by id) or the text.  Every
    line moves ``positions`` (``{file: end offset}``, updated in place).  Shared by the SQLite
    and the Redis windows' ``apply``."""
    for line in lines:
        positions[line.file] = max(positions.get(line.file, 0), line.end)
        rec = line.data
        if line.kind != "record" or rec is None or not rec.get("id") or not rec.get("story_id"):
            continue
        at = rec.get("published_at") or rec.get("fetched_at")
        seen_at = rec.get("fetched_at") or at
        if not isinstance(at, str) or not isinstance(seen_at, str) or seen_at < cutoff:
            continue
        sig = (signatures or {}).get(rec["id"])
        if sig is None:
            sig = signature(rec.get("text") or "", params)
        blob = np.asarray(sig.hashvalues, dtype=_DTYPE).tobytes() if sig is not None else None
        yield rec["id"], rec.get("outlet") or "", at, seen_at, rec["story_id"], blob
