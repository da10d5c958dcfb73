"""Per-client rate limits: a token bucket per API key (or per address for callers without a key).

One uvicorn worker keeps its buckets in memory. Several workers of one ``esign serve`` must share
them, or a client would get N times its rate: the buckets then live in a small SQLite file
(``ESIGN_RATE_STORE``, which ``esign serve --workers N`` points at a fresh temporary file), one
short write transaction per request. Several *machines* behind a balancer share them in Redis
(``ESIGN_RATE_STORE=redis://…``, :class:`RedisRateLimiter`). Every store is bounded, so a flood of
distinct callers cannot grow it without limit.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from esign.errors import ErrorCode, EsignError

__all__ = [
    "Limiter",
    "RateLimiter",
    "RedisRateLimiter",
    "SharedRateLimiter",
    "key_bucket",
    "rate_limiter",
]

_MAX_BUCKETS = 10_000


class Limiter(Protocol):
    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket, or raise RATE_LIMITED saying when one will be back."""


def key_bucket(token: str) -> str:
    """The bucket of an API key: a digest that is the same in every worker and never the key itself."""
    return "key:" + hashlib.sha256(token.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Bucket:
    per_second: float
    burst: float

    def spend(self, tokens: float, last: float, now: float) -> tuple[float, int | None]:
        """Tokens left after a request at ``now`` and, when it is refused, the seconds until one is back."""
        tokens = min(self.burst, tokens + (now - last) * self.per_second)
        if tokens < 1.0:
            return tokens, math.ceil((1.0 - tokens) / self.per_second)
        return tokens - 1.0, None

    def refilled_after(self) -> float:
        """Seconds after which an untouched bucket is full again, i.e. as good as absent."""
        return self.burst / self.per_second


class RateLimiter:
    """Buckets in this process's memory, least recently used dropped beyond the bound."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._bucket = _Bucket(per_minute / 60.0, float(burst))
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self._bucket.burst, now))
            tokens, retry_after = self._bucket.spend(tokens, last, now)
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > _MAX_BUCKETS:
                self._buckets.popitem(last=False)
        _refuse_if(retry_after)


_CREATE = "CREATE TABLE IF NOT EXISTS bucket (key TEXT PRIMARY KEY, tokens REAL, last REAL)"


class SharedRateLimiter:
    """Buckets in an SQLite file shared by the processes of one machine.

    ``time.monotonic`` is the machine's boot clock on Linux, the same in every process. Buckets
    untouched for longer than a full refill are deleted now and then: they would be full anyway.
    """

    _PRUNE_EVERY = 1000

    def __init__(self, path: str, per_minute: float, burst: int) -> None:
        self._bucket = _Bucket(per_minute / 60.0, float(burst))
        try:
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")  # lost buckets after a crash forgive some requests
            self._db.execute(_CREATE)
        except sqlite3.Error as exc:
            raise _unusable(f"not a writable SQLite file ({exc})") from None
        self._lock = threading.Lock()
        self._takes = 0

    def take(self, key: str) -> None:
        with self._lock:
            self._takes += 1
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = time.monotonic()
                row = self._db.execute("SELECT tokens, last FROM bucket WHERE key = ?", (key,)).fetchone()
                tokens, last = row or (self._bucket.burst, now)
                tokens, retry_after = self._bucket.spend(tokens, last, now)
                self._db.execute("INSERT OR REPLACE INTO bucket VALUES (?, ?, ?)", (key, tokens, now))
                if self._takes % self._PRUNE_EVERY == 0:
                    stale = now - self._bucket.refilled_after()
                    self._db.execute("DELETE FROM bucket WHERE last < ?", (stale,))
            finally:
                self._db.execute("COMMIT")
        _refuse_if(retry_after)


def _refuse_if(retry_after: int | None) -> None:
    if retry_after is not None:
        raise EsignError(ErrorCode.RATE_LIMITED, retry_after=retry_after)


#: one token bucket, atomically in Redis: the same arithmetic as :class:`_Bucket`, on the server's clock
#: (``TIME``), so nodes with skewed clocks still share one rate. The key expires once it would be full.
_TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(held[1]) or burst
local last = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local retry = -1
if tokens < 1 then retry = math.ceil((1 - tokens) / rate) else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return retry
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every node: one Lua script per request, atomic on the server.

    Redis down mid-run answers 503 ``BACKEND_UNAVAILABLE``: granting every request instead would
    open the platform to exactly the flood the limit is there for.
    """

    def __init__(self, url: str, per_minute: float, burst: int) -> None:
        try:
            import redis
        except ImportError:
            raise EsignError(ErrorCode.DRIVER_MISSING, backend="Redis", extra="esign[redis]") from None
        self._errors = redis.RedisError
        self._bucket = _Bucket(per_minute / 60.0, float(burst))
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            self._redis.ping()
            self._take = self._redis.register_script(_TAKE)
        except (ValueError, redis.RedisError) as exc:
            raise _unusable(f"Redis does not answer ({type(exc).__name__}: {exc})") from None

    def take(self, key: str) -> None:
        try:
            retry_after = int(self._take(keys=[f"esign:rate:{key}"], args=self._bucket_args()))
        except self._errors:
            raise EsignError(ErrorCode.BACKEND_UNAVAILABLE, backend="Redis") from None
        _refuse_if(None if retry_after < 0 else retry_after)

    def _bucket_args(self) -> list[str]:
        return [repr(self._bucket.per_second), repr(self._bucket.burst)]


def _unusable(detail: str) -> EsignError:
    return EsignError(ErrorCode.CONFIG_INVALID, setting="ESIGN_RATE_STORE", detail=detail)


def rate_limiter(store: str | None, per_minute: float, burst: int) -> Limiter:
    """The limiter ``ESIGN_RATE_STORE`` names: none (memory), ``redis://`` / ``rediss://``, or a file."""
    if not store:
        return RateLimiter(per_minute, burst)
    scheme = store.split("://", 1)[0].lower() if "://" in store else ""
    if scheme in ("redis", "rediss", "unix"):
        return RedisRateLimiter(store, per_minute, burst)
    if scheme:
        raise _unusable(f"unknown scheme {scheme}:// (redis://, rediss:// or an SQLite file path)")
    return SharedRateLimiter(store, per_minute, burst)
