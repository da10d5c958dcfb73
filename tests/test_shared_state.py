"""Shared state of a multi-node deployment: rate-limit buckets in Redis, and clear errors for bad backends.

The Redis tests run when ``ESIGN_TEST_REDIS_URL`` names a live server (``.ci/run`` sets it when one
answers on 127.0.0.1:6379); the configuration errors need no server at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from api.ratelimit import RedisRateLimiter, rate_limiter
from esign.errors import ErrorCode, EsignError
from keystore.db import Database

REDIS_URL = os.environ.get("ESIGN_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="ESIGN_TEST_REDIS_URL unset: no Redis server answered")
ROOT = Path(__file__).resolve().parents[1]
#: 10 tokens a second, bursts of 2
PER_MINUTE, BURST = 600.0, 2


@needs_redis
def test_one_bucket_per_client_across_nodes() -> None:
    """Two limiters are two nodes: together they grant one burst, then refuse, then refill."""
    first, second = (rate_limiter(REDIS_URL, PER_MINUTE, BURST) for _ in range(2))
    assert isinstance(first, RedisRateLimiter)
    client = f"key:{uuid.uuid4().hex}"
    first.take(client)
    second.take(client)
    with pytest.raises(EsignError) as refused:
        first.take(client)
    assert refused.value.code is ErrorCode.RATE_LIMITED and refused.value.params["retry_after"] == 1
    second.take(f"key:{uuid.uuid4().hex}")  # another client's bucket is untouched
    time.sleep(0.15)
    second.take(client)


@pytest.mark.parametrize(
    ("store", "says"),
    [
        ("redis://127.0.0.1:1/0", "Redis does not answer"),
        ("memcached://127.0.0.1:11211", "unknown scheme"),
        ("/nonexistent-directory/buckets.sqlite", "not a writable SQLite file"),
    ],
)
def test_an_unusable_store_is_a_config_error(store: str, says: str) -> None:
    with pytest.raises(EsignError) as refused:
        rate_limiter(store, PER_MINUTE, BURST)
    assert refused.value.code is ErrorCode.CONFIG_INVALID
    assert refused.value.params["setting"] == "ESIGN_RATE_STORE" and says in str(refused.value)


@pytest.mark.parametrize(
    ("module", "build"),
    [
        ("psycopg", lambda: Database("postgresql://postgres@127.0.0.1:5432/test")),
        ("redis", lambda: rate_limiter("redis://127.0.0.1:6379/0", PER_MINUTE, BURST)),
    ],
)
def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str, build) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what an install without the extra looks like
    with pytest.raises(EsignError) as refused:
        build()
    assert refused.value.code is ErrorCode.DRIVER_MISSING
    assert refused.value.params["extra"] in ("esign[postgres]", "esign[redis]")


@pytest.mark.parametrize(
    ("command", "setting", "value"),
    [
        # it used to crash in every uvicorn worker with ``sqlite3.OperationalError`` and a traceback
        ("serve", "ESIGN_RATE_STORE", "redis://127.0.0.1:1/0"),
        ("serve", "ESIGN_BROKER_URL", "amqp://guest:guest@127.0.0.1:1//"),
        ("worker", "ESIGN_BROKER_URL", ""),  # a worker without a broker has nothing to do
    ],
)
def test_an_unusable_backend_stops_the_command_with_one_line(
    tmp_path: Path, command: str, setting: str, value: str
) -> None:
    env = {**os.environ, "ESIGN_DATABASE_URL": f"sqlite:///{tmp_path / 'esign.db'}", setting: value}
    args = ["--no-demo", "--port", "1"] if command == "serve" else []
    done = subprocess.run(
        [sys.executable, "-m", "api", command, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "[CONFIG_INVALID]" in done.stderr and setting in done.stderr
    assert "Traceback" not in done.stderr
