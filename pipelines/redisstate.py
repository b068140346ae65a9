"""The seen-URL store and the story window on Redis, shared by every worker of a fleet.

Same interfaces as :class:`rasd.pipelines.seenstore.SeenStore` and
:class:`rasd.pipelines.storyindex.StoryIndex` (the :class:`~rasd.pipelines.ledger.Ledger`
uses either), same rules: articles enter only from archive lines (:meth:`apply`, with the
store's checkpoint in the same ``MULTI``/``EXEC`` transaction), a line a dead worker wrote but
did not apply is applied by the next writer (:meth:`catch_up` on the files of the lock's
intent), and every decision is made under the fleet's lock (:class:`rasd.core.shared.RedisLock`),
so two workers never both make a story's first article its origin.

Bounded state: every key expires (seen URLs and articles after ``ttl_days``, default 90 — more
than any listing keeps an item; story rows after the window plus a day), so nothing grows for
ever and nothing needs pruning by a process that another relies on.

Keys (``prefix`` default ``rasd:``): ``url:<canonical>`` (``outcome``, ``article id``, ``outlet``),
``art:<id>`` (hash), ``ch:<content hash>`` (sorted set of ids by recording order), ``seq``,
``deferred:<outlet>`` (hash), ``ckpt:<follower>`` (hash: archive file → offset);
``sig:<id>`` (hash: outlet, at, seen_at, story_id, signature bytes), ``band:<key>`` (set of ids).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Callable


from rasd.core.archive import follow
from rasd.core.article import Article, isoformat_utc, utcnow
from rasd.core.urls import _canonical_or_none, canonicalize_url
from rasd.pipelines.seenstore import MIN_CONTENT_CHARS, ContentMatch, _iso, content_key
from rasd.pipelines.storyindex import _DTYPE, Story, StoryParams, _lean, _parse, _time, np

log = logging.getLogger(__name__)
_SEP = "\x1f"
_BATCH = 500

# a URL record: kept unless it had no article and now leads to one (seen store semantics)
_SET_URL = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local first = string.find(cur, ARGV[2], 1, true)
  if first then
    local rest = string.sub(cur, first + 1)
    local second = string.find(rest, ARGV[2], 1, true)
    local aid = second and string.sub(rest, 1, second - 1) or rest
    if aid ~= '' then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


def _b(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else (value or "")


class _FollowsArchive:
    """What both Redis stores share with their SQLite twins: a checkpoint per archive file
    (a hash at ``ckpt_key``) and :meth:`catch_up`, applying the archive's lines after it in
    batches (``apply``: the store's own)."""

    what = "store"

    def checkpoints_load(self) -> dict[str, int]:
        """``{archive file: byte offset applied}``."""
        return {_b(k): int(v) for k, v in self.client.hgetall(self.ckpt_key).items()}

    def catch_up(self, files=None, extend: Callable[[], None] | None = None) -> int:
        """Apply the archive's lines after the checkpoints (only ``files`` when given: a
        writer's intent note); ``extend`` is called after each batch (the lock's lease).
        Returns the lines applied."""
        if self.archive_dir is None:
            return 0
        total = 0
        while True:
            batch = list(follow(self.archive_dir, self.checkpoints_load(), files, limit=_BATCH))
            if not batch:
                break
            total += self.apply(batch)
            if extend is not None:
                extend()
            if len(batch) < _BATCH:
                break
        if total:
            log.info("%s (Redis): %d archived line(s) applied from the archive", self.what, total)
        return total

    def close(self) -> None:
        """Nothing to close: the Redis client is the caller's."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RedisSeenStore(_FollowsArchive):
    """The seen-URL store on Redis (see the module docstring).  ``archive_dir``: the archive
    root the store follows (``None``: no catch-up)."""

    what = "seen store"

    def __init__(self, client, archive_dir=None, prefix: str = "rasd:", ttl_days: float = 90.0,
                 follower: str = "seen"):
        from pathlib import Path

        self.client, self.p = client, prefix
        self.archive_dir = Path(archive_dir) if archive_dir is not None else None
        self.ttl = int(ttl_days * 86400)
        self.ckpt_key = f"{prefix}ckpt:{follower}"
        self.path = f"redis {prefix}*"
        self._set_url = client.register_script(_SET_URL)

    # ---- reads -------------------------------------------------------------------------------
    def _url(self, canonical: str) -> tuple[str, str, str] | None:
        raw = self.client.get(f"{self.p}url:{canonical}")
        if raw is None:
            return None
        parts = _b(raw).split(_SEP)
        return (parts + ["", "", ""])[:3]  # type: ignore[return-value]

    def seen_url(self, canonical: str) -> bool:
        return bool(self.client.exists(f"{self.p}url:{canonical}"))

    def is_known_url(self, url: str) -> bool:
        try:
            return self.seen_url(canonicalize_url(url))
        except ValueError:
            return False

    def _article(self, article_id: str) -> dict | None:
        raw = self.client.hgetall(f"{self.p}art:{article_id}")
        return {_b(k): _b(v) for k, v in raw.items()} if raw else None

    def find_url(self, canonical: str) -> ContentMatch | None:
        rec = self._url(canonical)
        if rec is None or not rec[1]:
            return None
        art = self._article(rec[1])
        if art is None:
            return None
        return ContentMatch(rec[1], art["t"], art["u"], art.get("p") or None)

    def find_content(self, content_hash: str, outlet: str | None = None) -> ContentMatch | None:
        ids = [_b(i) for i in self.client.zrange(f"{self.p}ch:{content_hash}", 0, -1)]
        if not ids:
            return None
        with self.client.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hmget(f"{self.p}art:{i}", "t", "u", "p", "c", "d", "s")
            rows = pipe.execute()
        found = []
        for i, row in zip(ids, rows):
            t, u, p, c, d, s = (_b(x) for x in row)
            if not t or int(c or 0) < MIN_CONTENT_CHARS:
                continue
            found.append((bool(d), int(s or 0), ContentMatch(i, t, u, p or None)))
        if not found:
            return None
        found.sort(key=lambda r: (r[0], r[1]))
        same = [m for _, _, m in found if m.outlet == outlet]
        return (same or [m for _, _, m in found])[0]

    def copies(self, content_hash: str, original_id: str) -> list[str]:
        return [i for i in (_b(x) for x in self.client.zrange(f"{self.p}ch:{content_hash}", 0, -1))
                if i != original_id]

    # ---- writes ------------------------------------------------------------------------------
    def _insert(self, pipe, article_id, outlet, canonical, fetched, chash, chars, published,
                duplicate_of, outcome) -> None:
        key = f"{self.p}art:{article_id}"
        seq = self.client.incr(f"{self.p}seq")
        fields = {"t": outlet, "u": canonical, "h": chash or "", "c": chars, "p": published or "",
                  "d": duplicate_of or "", "s": seq}
        pipe.hsetnx(key, "s", seq)  # first recording wins its place in the order
        for k, v in fields.items():
            if k != "s":
                pipe.hsetnx(key, k, v)
        pipe.expire(key, self.ttl)
        if chash:
            pipe.zadd(f"{self.p}ch:{chash}", {article_id: seq}, nx=True)
            pipe.expire(f"{self.p}ch:{chash}", self.ttl)
        for u in {canonical, _canonical_or_none(fetched)} - {None}:
            self._set_url(keys=[f"{self.p}url:{u}"],
                          args=[_SEP.join((outcome, article_id, outlet)), _SEP, self.ttl], client=pipe)

    def add(self, article: Article, outcome: str = "new", content_chars: int | None = None) -> None:
        if not article.id or not article.canonical_url:
            raise ValueError("article has no id/canonical_url: run dedup() before add()")
        with self.client.pipeline() as pipe:
            self._insert(pipe, article.id, article.outlet, article.canonical_url, article.url,
                         article.content_hash, content_chars if content_chars is not None
                         else len(content_key(article.text)), _iso(article.published_at),
                         article.duplicate_of, outcome)
            pipe.execute()

    def relink(self, content_hash: str, original_id: str) -> list[str]:
        ids = self.copies(content_hash, original_id)
        with self.client.pipeline() as pipe:
            for i in ids:
                pipe.hset(f"{self.p}art:{i}", "d", original_id)
            pipe.execute()
        return ids

    def apply(self, lines, content_chars: dict[str, int] | None = None) -> int:
        """Apply archive lines and move the checkpoint, in one ``MULTI``/``EXEC``."""
        n = 0
        positions: dict[str, int] = {}
        with self.client.pipeline() as pipe:
            for line in lines:
                positions[line.file] = max(positions.get(line.file, 0), line.end)
                rec = line.data
                if rec is None:
                    continue
                if line.kind == "record" and rec.get("id") and rec.get("canonical_url"):
                    chars = (content_chars or {}).get(rec["id"])
                    if chars is None:
                        chars = len(content_key(rec.get("text") or ""))
                    self._insert(pipe, rec["id"], rec.get("outlet") or "", rec["canonical_url"],
                                 rec.get("url") or rec["canonical_url"], rec.get("content_hash"), chars,
                                 rec.get("published_at"), rec.get("duplicate_of"),
                                 "syndicated" if rec.get("duplicate_of") else "new")
                    n += 1
                elif line.kind == "links" and rec.get("id") and rec.get("duplicate_of"):
                    pipe.hset(f"{self.p}art:{rec['id']}", "d", rec["duplicate_of"])
            if positions:
                pipe.hset(self.ckpt_key, mapping=positions)
            pipe.execute()
        return n


    def mark_url(self, canonical: str, outlet: str, outcome: str, article_id: str | None = None) -> None:
        self.client.set(f"{self.p}url:{canonical}", _SEP.join((outcome, article_id or "", outlet)),
                        nx=True, ex=self.ttl)

    def forget(self, article_id: str) -> None:
        art = self._article(article_id)
        keys = [f"{self.p}art:{article_id}"]
        if art and art.get("u"):
            keys.append(f"{self.p}url:{art['u']}")
        self.client.delete(*keys)

    def counts(self) -> dict[str, int]:
        arts = sum(1 for _ in self.client.scan_iter(f"{self.p}art:*", count=1000))
        urls = sum(1 for _ in self.client.scan_iter(f"{self.p}url:*", count=1000))
        return {"articles": arts, "urls": urls}

    def defer_url(self, canonical: str, url: str, outlet: str, not_before: float, reason: str) -> None:
        key = f"{self.p}deferred:{outlet}"
        old = self.client.hget(key, canonical)
        attempts = json.loads(old)["attempts"] + 1 if old else 1
        with self.client.pipeline() as pipe:
            pipe.hset(key, canonical, json.dumps({"url": url, "not_before": float(not_before),
                                                  "reason": reason, "attempts": attempts}))
            pipe.hset(f"{self.p}deferred_until", canonical, json.dumps([outlet, float(not_before)]))
            pipe.execute()

    def deferred_until(self, canonical: str) -> float | None:
        """The time (POSIX seconds) a deferred page may be fetched again, or ``None``."""
        raw = self.client.hget(f"{self.p}deferred_until", canonical)
        return float(json.loads(raw)[1]) if raw is not None else None

    def deferred_urls(self, outlet: str) -> list[tuple[str, str, float, str]]:
        rows = []
        for k, v in self.client.hgetall(f"{self.p}deferred:{outlet}").items():
            d = json.loads(v)
            rows.append((_b(k), d["url"], d["not_before"], d["reason"]))
        return sorted(rows, key=lambda r: (r[2], r[0]))

    def clear_deferred(self, canonical: str) -> None:
        raw = self.client.hget(f"{self.p}deferred_until", canonical)
        if raw is None:
            return
        with self.client.pipeline() as pipe:
            pipe.hdel(f"{self.p}deferred:{json.loads(raw)[0]}", canonical)
            pipe.hdel(f"{self.p}deferred_until", canonical)
            pipe.execute()


class RedisStoryIndex(_FollowsArchive):
    """The story window on Redis (see the module docstring): per article a hash with its
    signature, per LSH band key a set of article ids; a lookup is one ``SUNION`` of the ``b``
    band sets and one pipelined read of the candidates; rows expire after the window."""

    what = "story window"

    def __init__(self, client, params: StoryParams = StoryParams(), window: timedelta = timedelta(days=7),
                 now: Callable[[], datetime] = utcnow, archive_dir=None, prefix: str = "rasd:",
                 follower: str = "stories"):
        from pathlib import Path

        self.client, self.p, self.params, self.window, self.now = client, prefix, params, window, now
        self.archive_dir = Path(archive_dir) if archive_dir is not None else None
        self.ckpt_key = f"{prefix}ckpt:{follower}"
        self.ttl = int((window + timedelta(days=1)).total_seconds())
        self.path = f"redis {prefix}sig:*"
        meta_key = f"{prefix}storymeta"
        wanted = {"num_perm": str(params.num_perm), "seed": str(params.seed),
                  "shingle_size": str(params.shingle_size), "threshold": str(params.threshold)}
        stored = {_b(k): _b(v) for k, v in client.hgetall(meta_key).items()}
        if not stored:  # the optimal banding for the threshold (datasketch's), computed once per fleet
            from rasd.pipelines.storyindex import optimal_bands

            b, r = optimal_bands(params.threshold, params.num_perm)
            client.hset(meta_key, mapping=wanted | {"bands": f"{b},{r}"})
            stored = {_b(k): _b(v) for k, v in client.hgetall(meta_key).items()}
        if {k: stored.get(k) for k in wanted} != wanted:
            from rasd.pipelines.storyindex import StoryIndexError

            raise StoryIndexError(f"Redis story window written with {stored}, opened with {wanted}")
        self.b, self.r = (int(x) for x in stored["bands"].split(","))

    def band_keys(self, hashvalues) -> list[int]:
        import hashlib

        values = np.asarray(hashvalues, dtype=_DTYPE)
        r = self.r
        return [int.from_bytes(hashlib.blake2b(bytes((i,)) + values[i * r:(i + 1) * r].tobytes(),
                                               digest_size=8).digest(), "little", signed=True)
                for i in range(self.b)]

    def get(self, article_id: str):
        row = self.client.hmget(f"{self.p}sig:{article_id}", "story_id", "hv")
        if row[0] is None:
            return None
        return _b(row[0]), (_lean(row[1], self.params.seed) if row[1] else None)

    def time_of(self, article_id: str) -> str | None:
        """The recorded time of an article (ISO 8601 UTC: ``published_at``, else
        ``fetched_at``), or ``None`` if unknown or expired (as the SQLite window's)."""
        at = self.client.hget(f"{self.p}sig:{article_id}", "at")
        return _b(at) if at is not None else None

    def candidates(self, sig) -> list[tuple[str, str, bytes]]:
        keys = [f"{self.p}band:{k}" for k in self.band_keys(sig.hashvalues)]
        ids = [_b(i) for i in self.client.sunion(keys)]
        if not ids:
            return []
        cutoff = isoformat_utc(self.now() - self.window)
        with self.client.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hmget(f"{self.p}sig:{i}", "story_id", "hv", "seen_at")
            rows = pipe.execute()
        return [(i, _b(s), hv) for i, (s, hv, seen) in zip(ids, rows)
                if s is not None and hv and _b(seen) >= cutoff]

    def best_match(self, sig):
        """As :meth:`rasd.pipelines.storyindex.StoryIndex.best_match`."""
        from rasd.pipelines.storyindex import verified

        found = verified(self.candidates(sig), sig, self.params.threshold)
        return found[0] if found else None

    def near(self, sig, threshold: float):
        """As :meth:`rasd.pipelines.storyindex.StoryIndex.near` (the first publisher among every
        near-duplicate)."""
        from rasd.pipelines.storyindex import verified

        return verified(self.candidates(sig), sig, max(threshold, self.params.threshold))

    def _insert(self, pipe, article_id, outlet, at, seen_at, story_id, blob) -> None:
        key = f"{self.p}sig:{article_id}"
        pipe.hsetnx(key, "story_id", story_id)
        pipe.hsetnx(key, "outlet", outlet)
        pipe.hsetnx(key, "at", at)
        pipe.hsetnx(key, "seen_at", seen_at)
        if blob is not None:
            pipe.hsetnx(key, "hv", blob)
            for k in self.band_keys(np.frombuffer(blob, dtype=_DTYPE)):
                pipe.sadd(f"{self.p}band:{k}", article_id)
                pipe.expire(f"{self.p}band:{k}", self.ttl)
        pipe.expire(key, self.ttl)
        pipe.zadd(f"{self.p}story:{story_id}", {article_id: 0}, nx=True)
        pipe.expire(f"{self.p}story:{story_id}", self.ttl)

    def add(self, article: Article, story_id: str, sig) -> None:
        blob = np.asarray(sig.hashvalues, dtype=_DTYPE).tobytes() if sig is not None else None
        with self.client.pipeline() as pipe:
            self._insert(pipe, article.id, article.outlet, isoformat_utc(_time(article)),
                         isoformat_utc(article.fetched_at), story_id, blob)
            pipe.execute()

    def apply(self, lines, signatures=None) -> int:
        from rasd.pipelines.storyindex import window_rows

        positions: dict[str, int] = {}
        n = 0
        with self.client.pipeline() as pipe:
            for row in window_rows(lines, isoformat_utc(self.now() - self.window), self.params,
                                   signatures, positions):
                self._insert(pipe, *row)
                n += 1
            if positions:
                pipe.hset(self.ckpt_key, mapping=positions)
            pipe.execute()
        return n


    def story(self, story_id: str) -> Story | None:
        ids = [_b(i) for i in self.client.zrange(f"{self.p}story:{story_id}", 0, -1)]
        rows = []
        for i in ids:
            outlet, at = self.client.hmget(f"{self.p}sig:{i}", "outlet", "at")
            if outlet is not None:
                rows.append((_b(at), _b(outlet)))
        if not rows:
            return None
        rows.sort()
        return Story(story_id, rows[0][1], _parse(rows[0][0]), len({r[1] for r in rows}), len(rows))

    def prune(self) -> int:
        return 0  # keys expire by themselves

    def __len__(self) -> int:
        return sum(1 for _ in self.client.scan_iter(f"{self.p}sig:*", count=1000))


def now_seconds() -> float:
    return time.time()
