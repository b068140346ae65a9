"""Shared state on Redis, for Rasd on many machines: the connection, the fleet's writer lock,
a reliable work queue, and a fleet-wide politeness limiter.

The embedded default (one machine, SQLite, ``flock``) needs none of this; ``rasd worker`` and
``rasd schedule --queue redis://…`` do.  Every primitive is a few Redis commands or one Lua
script (atomic on the server), so correctness never depends on two processes' clocks agreeing
beyond the lease and heartbeat timeouts stated on each class.

* :class:`RedisLock` — the distributed form of :class:`rasd.core.durable.StateLock`: one key
  (``SET NX PX`` with a random token, released by a compare-and-delete script), a lease so a
  dead holder's lock frees itself, and the same *intent* note (the archive files the holder is
  about to append to) for the next holder to catch up on.  Pattern: the single-instance lock
  of the Redis documentation ("Distributed locks with Redis", the "correct implementation with
  a single instance").
* :class:`ReliableQueue` — ``LMOVE`` from the queue to a per-consumer processing list
  (the "reliable queue" pattern of the Redis ``LMOVE`` documentation), acknowledged with
  ``LREM`` once done; consumers keep a heartbeat key, and a consumer whose heartbeat expired
  has its processing list moved back to the queue by another (:meth:`ReliableQueue.reclaim`).
* :class:`PolitenessLimiter` — per download slot (an outlet's domain), the earliest time the
  next request may start and the requests in flight, in one script: every worker's downloader
  asks before each request, so an outlet's delay and concurrency hold for the whole fleet.
* :func:`round_trips` — round trips this process made to Redis (``bench/scale.py``).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rasd.core.errors import RasdError


class SharedStateError(RasdError):
    """Redis is unreachable, or refused a command (the message names the URL, never a password)."""


def redact(url: str) -> str:
    """``redis://user:secret@host:6379/0`` → ``redis://user:***@host:6379/0``."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ''}***@{host}"


#: round trips to Redis made by this process so far (every client :func:`connect` made)
ROUND_TRIPS = [0]


def round_trips() -> int:
    """Round trips to Redis this process has made: one per command sent alone, one per
    pipeline or Lua script call (each is one ``send_packed_command`` of a connection)."""
    return ROUND_TRIPS[0]


def _counting_connection_class():
    import redis

    class CountingConnection(redis.Connection):
        """A ``redis.Connection`` that counts what it sends in :data:`ROUND_TRIPS`."""

        def send_packed_command(self, command, check_health=True):
            ROUND_TRIPS[0] += 1
            return super().send_packed_command(command, check_health)

    return CountingConnection


def connect(url: str):
    """A Redis client for ``url`` (``redis://host:port/db``), checked with ``PING``.

    Raises:
        SharedStateError: the ``redis`` package is missing, or the server does not answer.
    """
    try:
        import redis
    except ImportError:
        raise SharedStateError("Redis mode needs the redis client: pip install 'rasd[scale]'") from None
    try:
        kwargs = {}
        if url.startswith("redis://"):  # plain TCP: count round trips (rediss:// and unix:// as is)
            kwargs["connection_class"] = _counting_connection_class()
        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                      health_check_interval=30, **kwargs)
        client.ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        raise SharedStateError(f"cannot reach Redis at {redact(url)}: {exc}") from None
    return client


def worker_id() -> str:
    """A name for this process among the fleet's: ``<host>-<pid>`` (``rasd worker --worker-id``
    names it instead)."""
    return f"{socket.gethostname()}-{os.getpid()}"


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisLock:
    """The fleet's writer lock (see the module docstring), with the interface of
    :class:`~rasd.core.durable.StateLock` (``acquire`` → previous intent, ``declare``,
    ``release``, ``held``), re-entrant within a process.

    ``lease_ms``: a holder that dies frees the lock after this long (a live holder renews it
    with :meth:`extend` during long catch-ups).  ``poll_ms``: wait between attempts.

    Raises:
        SharedStateError: Redis refused a command.
    """

    def __init__(self, client, name: str = "rasd:lock:state", lease_ms: int = 30_000,
                 poll_ms: float = 1.0):
        self.client, self.key, self.intent_key = client, name, f"{name}:intent"
        self.lease_ms, self.poll = lease_ms, poll_ms / 1000
        self._token: bytes | None = None
        self._depth = 0
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)
        self.waited_seconds = 0.0

    @property
    def held(self) -> bool:
        return self._depth > 0

    def acquire(self, blocking: bool = True) -> list[str] | None:
        """Take the lock (as :meth:`rasd.core.durable.StateLock.acquire`: the previous holder's
        intent, ``[]`` when re-entered, None when not ``blocking`` and another holds it)."""
        if self._depth:
            self._depth += 1
            return []
        token = secrets.token_bytes(12)
        t0 = time.monotonic()
        while not self.client.set(self.key, token, nx=True, px=self.lease_ms):
            if not blocking:
                return None
            time.sleep(self.poll)
        self.waited_seconds += time.monotonic() - t0
        self._token, self._depth = token, 1
        raw = self.client.get(self.intent_key)
        try:
            intent = json.loads(raw) if raw else []
        except ValueError:
            intent = []
        return [str(f) for f in intent] if isinstance(intent, list) else []

    def extend(self) -> None:
        """Renew the lease (a long catch-up under the lock)."""
        if self._token is not None:
            self._extend(keys=[self.key], args=[self._token, self.lease_ms])

    def declare(self, files: list[str]) -> None:
        self.client.set(self.intent_key, json.dumps(sorted(set(files))))

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if not self._depth and self._token is not None:
            self._release(keys=[self.key], args=[self._token])
            self._token = None

    def close(self) -> None:
        while self._depth:
            self.release()

    def __enter__(self) -> list[str]:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class ReliableQueue:
    """A work queue that loses nothing when a consumer dies (see the module docstring).

    Messages are JSON objects.  ``name`` is the queue (a list; producers ``LPUSH``, consumers
    ``LMOVE … RIGHT LEFT`` into ``<name>:processing:<consumer>``); ``heartbeat_seconds`` is
    how long a consumer may stay silent before its messages are given to others.
    """

    def __init__(self, client, name: str = "rasd:polls", consumer: str | None = None,
                 heartbeat_seconds: float = 15.0):
        self.client, self.name = client, name
        self.consumer = consumer or worker_id()
        self.heartbeat_seconds = heartbeat_seconds
        self.processing = f"{name}:processing:{self.consumer}"
        self._consumers = f"{name}:consumers"

    def push(self, message: dict) -> None:
        self.client.lpush(self.name, json.dumps(message, ensure_ascii=False, sort_keys=True))

    def pop(self, n: int = 1) -> list[tuple[bytes, dict]]:
        """Up to ``n`` messages, each moved to this consumer's processing list (non-blocking)."""
        out = []
        for _ in range(n):
            raw = self.client.lmove(self.name, self.processing, "RIGHT", "LEFT")
            if raw is None:
                break
            try:
                out.append((raw, json.loads(raw)))
            except ValueError:  # not ours: drop it from processing, never loop on it
                self.client.lrem(self.processing, 1, raw)
        return out

    def ack(self, raw: bytes) -> None:
        """The message is done: remove it from the processing list."""
        self.client.lrem(self.processing, 1, raw)

    def heartbeat(self) -> None:
        """Say this consumer is alive (call at least every ``heartbeat_seconds / 3``)."""
        ttl = max(1, int(self.heartbeat_seconds))
        with self.client.pipeline() as pipe:
            pipe.set(f"{self.name}:alive:{self.consumer}", str(time.time()), ex=ttl)
            pipe.sadd(self._consumers, self.consumer)
            pipe.execute()

    def depth(self) -> int:
        return int(self.client.llen(self.name))

    def in_progress(self) -> dict[str, int]:
        """``{consumer: messages it holds}``."""
        out = {}
        for raw in self.client.smembers(self._consumers):
            c = raw.decode() if isinstance(raw, bytes) else raw
            out[c] = int(self.client.llen(f"{self.name}:processing:{c}"))
        return out

    def reclaim(self, before: Callable[[str], None] | None = None) -> dict[str, int]:
        """Give the messages of every consumer whose heartbeat expired back to the queue;
        ``before(consumer)`` runs first (e.g. catch the shared state up on that consumer's
        archive shard).  One reclaimer per dead consumer (a short ``SET NX`` claim).
        Returns ``{consumer: messages moved}``."""
        moved = {}
        for raw in self.client.smembers(self._consumers):
            c = raw.decode() if isinstance(raw, bytes) else raw
            if c == self.consumer or self.client.exists(f"{self.name}:alive:{c}"):
                continue
            if not self.client.set(f"{self.name}:reclaiming:{c}", self.consumer, nx=True, ex=60):
                continue
            try:
                if before is not None:
                    before(c)
                n = 0
                while self.client.lmove(f"{self.name}:processing:{c}", self.name, "RIGHT", "RIGHT"):
                    n += 1
                self.client.srem(self._consumers, c)
                moved[c] = n
            finally:
                self.client.delete(f"{self.name}:reclaiming:{c}")
        return moved

    def leave(self) -> None:
        """A clean exit: put back what this consumer still holds, stop its heartbeat."""
        while self.client.lmove(self.processing, self.name, "RIGHT", "RIGHT"):
            pass
        self.client.delete(f"{self.name}:alive:{self.consumer}")
        self.client.srem(self._consumers, self.consumer)


_POLITE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local delay = tonumber(ARGV[1])
local concurrency = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < nxt then return nxt - now end
if redis.call('ZCARD', KEYS[2]) >= concurrency then return -1 end
redis.call('SET', KEYS[1], now + delay, 'PX', math.max(delay, 1) + 1000)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
redis.call('PEXPIRE', KEYS[2], ttl)
return 0
"""


class PolitenessLimiter:
    """Fleet-wide politeness per download slot (see the module docstring).

    :meth:`acquire` returns 0 when a request may start now (and records it in flight under a
    token), else how many milliseconds to wait (``-1``: the slot's concurrency is full; try
    again shortly).  Requests in flight expire after ``max_request_ms`` (a worker that died
    mid-request does not hold the slot for ever).  Times are the Redis server's clock
    (``TIME`` inside the script), so workers' clocks need not agree.
    """

    def __init__(self, client, prefix: str = "rasd:polite", max_request_ms: int = 120_000):
        self.client, self.prefix, self.max_request_ms = client, prefix, max_request_ms
        self._script = client.register_script(_POLITE)

    def acquire(self, slot: str, delay_seconds: float, concurrency: int, token: str) -> int:
        return int(self._script(keys=[f"{self.prefix}:{slot}:next", f"{self.prefix}:{slot}:active"],
                                args=[int(delay_seconds * 1000), max(1, concurrency),
                                      self.max_request_ms, token]))

    def release(self, slot: str, token: str) -> None:
        self.client.zrem(f"{self.prefix}:{slot}:active", token)


class Heartbeat:
    """Call ``beat()`` every ``interval`` seconds in a daemon thread until :meth:`stop`."""

    def __init__(self, beat: Callable[[], Any], interval: float):
        self._beat, self._interval = beat, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rasd-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._beat()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except Exception:  # Redis away for a moment: the next beat tries again
                pass

    def stop(self) -> None:
        self._stop.set()


def chunks(seq: Sequence, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
