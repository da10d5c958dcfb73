"""The warm verification processes (``api.processes``): real spawned workers, real pipes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import uvloop

from api.processes import WarmProcesses
from esign.errors import ErrorCode, EsignError

T = TypeVar("T")


def slow_echo(value: str, seconds: float) -> str:
    time.sleep(seconds)
    return value


def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _with_pool(scenario: Callable[[WarmProcesses], Awaitable[T]], workers: int = 1) -> T:
    async def run() -> T:
        pool = WarmProcesses(workers, time.sleep, (0,))
        await pool.start()
        try:
            return await scenario(pool)
        finally:
            pool.shutdown()

    return asyncio.run(run())


def test_job_runs_in_another_process_and_its_result_comes_back() -> None:
    async def scenario(pool: WarmProcesses) -> None:
        assert await pool.call(os.getpid, ()) != os.getpid()
        assert await pool.call(slow_echo, ("签章", 0)) == "签章"

    _with_pool(scenario)


def test_dead_worker_fails_its_job_as_overloaded_and_is_replaced() -> None:
    async def scenario(pool: WarmProcesses) -> None:
        first_pid = await pool.call(os.getpid, ())
        with pytest.raises(EsignError) as raised:
            await pool.call(os._exit, (3,))
        assert raised.value.code is ErrorCode.OVERLOADED
        assert await pool.call(os.getpid, ()) not in (first_pid, os.getpid())

    _with_pool(scenario)


def test_cancelled_request_does_not_hand_its_reply_to_the_next_job() -> None:
    async def scenario(pool: WarmProcesses) -> None:
        abandoned = asyncio.create_task(pool.call(slow_echo, ("first", 0.5)))
        await asyncio.sleep(0.1)
        abandoned.cancel()
        assert await pool.call(slow_echo, ("second", 0)) == "second"

    _with_pool(scenario)


def test_unexpected_exception_in_a_worker_is_named_and_the_worker_keeps_serving() -> None:
    async def scenario(pool: WarmProcesses) -> None:
        with pytest.raises(RuntimeError, match="ValueError"):
            await pool.call(int, ("not a number",))
        assert await pool.call(slow_echo, ("still serving", 0)) == "still serving"

    _with_pool(scenario)


def test_shutdown_stops_every_worker_process() -> None:
    async def scenario(pool: WarmProcesses) -> list[int]:
        return list(await asyncio.gather(pool.call(pid_after, (0.2,)), pool.call(pid_after, (0.2,))))

    pids = _with_pool(scenario, workers=2)
    assert len(set(pids)) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def sized_reply(payload: bytes, reply_bytes: int) -> bytes:
    return bytes([len(payload) % 251]) * reply_bytes


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_megabytes_cross_the_pipe_both_ways_under_either_event_loop(loop: str) -> None:
    """uvloop's add_reader leaves the pipe non-blocking: a large job or reply is not a dead worker."""

    async def scenario(pool: WarmProcesses) -> None:
        for size in (300 * 1024, 8 * 1024 * 1024):
            reply = await pool.call(sized_reply, (b"\1" * size, size))
            assert reply == bytes([size % 251]) * size

    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:

        async def run() -> None:
            pool = WarmProcesses(1, time.sleep, (0,))
            await pool.start()
            try:
                await scenario(pool)
            finally:
                pool.shutdown()

        runner.run(run())
