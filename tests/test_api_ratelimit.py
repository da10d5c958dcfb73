"""The token buckets behind the API's rate limits, in memory and shared through SQLite, alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from api.ratelimit import Limiter, RateLimiter, SharedRateLimiter, key_bucket
from esign.errors import ErrorCode, EsignError

#: 10 tokens a second, bursts of 2
PER_MINUTE, BURST = 600.0, 2

LIMITERS: dict[str, Callable[[Path], Limiter]] = {
    "memory": lambda _: RateLimiter(PER_MINUTE, BURST),
    "shared": lambda tmp: SharedRateLimiter(str(tmp / "buckets.sqlite"), PER_MINUTE, BURST),
}


@pytest.mark.parametrize("kind", LIMITERS)
def test_burst_then_refusal_then_refill(tmp_path: Path, kind: str) -> None:
    limiter = LIMITERS[kind](tmp_path)
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(EsignError) as refused:
        limiter.take("a")
    assert refused.value.code is ErrorCode.RATE_LIMITED and refused.value.params["retry_after"] == 1
    limiter.take("b")  # another client's bucket is untouched
    time.sleep(0.15)  # 1.5 tokens back, counting the time since the refused request too
    limiter.take("a")


def test_shared_buckets_are_one_bucket_for_every_process_that_opens_the_file(tmp_path: Path) -> None:
    first, second = (SharedRateLimiter(str(tmp_path / "buckets.sqlite"), PER_MINUTE, BURST) for _ in range(2))
    first.take("a")
    second.take("a")
    with pytest.raises(EsignError):
        first.take("a")


def test_key_bucket_is_stable_and_hides_the_key() -> None:
    assert key_bucket("esk_1_secret") == key_bucket("esk_1_secret") != key_bucket("esk_1_other")
    assert "secret" not in key_bucket("esk_1_secret")
