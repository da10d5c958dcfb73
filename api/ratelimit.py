"""Per-client rate limits: a token bucket per API key (or per address for callers without a key).

One uvicorn worker keeps its buckets in memory. Several workers of one ``esign serve`` must share
them, or a client would get N times its rate: the buckets then live in a small SQLite file
(``ESIGN_RATE_STORE``, which ``esign serve --workers N`` points at a fresh temporary file), one
short write transaction per request. Either table is bounded, so a flood of distinct callers
cannot grow it without limit.
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

__all__ = ["Limiter", "RateLimiter", "SharedRateLimiter", "key_bucket", "rate_limiter"]

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


class SharedRateLimiter:
    """Buckets in an SQLite file shared by the processes of one machine.

    ``time.monotonic`` is the machine's boot clock on Linux, the same in every process. Buckets
    untouched for longer than a full refill are deleted now and then: they would be full anyway.
    """

    _PRUNE_EVERY = 1000

    def __init__(self, path: str, per_minute: float, burst: int) -> None:
        self._bucket = _Bucket(per_minute / 60.0, float(burst))
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # lost buckets after a crash only forgive some requests
        self._db.execute("CREATE TABLE IF NOT EXISTS bucket (key TEXT PRIMARY KEY, tokens REAL, last REAL)")
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


def rate_limiter(store: str | None, per_minute: float, burst: int) -> Limiter:
    return SharedRateLimiter(store, per_minute, burst) if store else RateLimiter(per_minute, burst)
