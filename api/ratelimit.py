"""Per-client rate limits: a token bucket per API key (or per address for callers without a key).

In memory, per process: with N uvicorn workers a client gets up to N times the rate, which is the
usual trade for not putting a shared store on every request's path; put a gateway limit in front
when the exact figure matters. The table of buckets is bounded (least recently used dropped), so a
flood of distinct callers cannot grow it without limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from esign.errors import ErrorCode, EsignError

__all__ = ["RateLimiter"]

_MAX_BUCKETS = 10_000


class RateLimiter:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket, or raise RATE_LIMITED saying when one will be back."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise EsignError(ErrorCode.RATE_LIMITED, retry_after=math.ceil((1.0 - tokens) / self.rate))
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > _MAX_BUCKETS:
                self._buckets.popitem(last=False)
