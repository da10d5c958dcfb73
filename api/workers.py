"""Bounded worker pools: crypto and PDF work never runs on the event loop, and never piles up.

Verification is CPU-bound pure Python (pyHanko parsing, diff analysis, ASN.1), so it runs in
worker *processes*: threads would serialise on the GIL, and on a 2-core machine two processes
verify twice as fast as one. Sealing runs in *threads*: it needs the process's key cache and HSM
sessions (``keystore.keys.KeyStore``), and most of its time is one signature, a TSA round trip
and hashing, which release the GIL.

Each pool admits ``workers + queue_limit`` jobs; one more is refused at once with ``OVERLOADED``
(503) instead of waiting in memory with its upload — the client retries, a load balancer moves on.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from api import jobs
from api.metrics import QUEUE_DEPTH
from esign.errors import ErrorCode, EsignError

__all__ = ["WorkerPool", "process_pool", "thread_pool"]

T = TypeVar("T")


class WorkerPool:
    """An executor with admission control; used from the event loop only (so the counter needs no lock)."""

    def __init__(self, name: str, make_executor: Callable[[], Executor], workers: int, queue_limit: int):
        self.name = name
        self.workers = workers
        self.capacity = workers + queue_limit
        self._make_executor = make_executor
        self._executor = make_executor()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Jobs running or waiting."""
        return self._admitted

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._admitted >= self.capacity:
            raise EsignError(ErrorCode.OVERLOADED)
        self._admitted += 1
        QUEUE_DEPTH.labels(self.name).set(self._admitted)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except BrokenProcessPool:
            # a worker died (killed, out of memory): start fresh ones; this request may be retried
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._make_executor()
            raise EsignError(ErrorCode.OVERLOADED) from None
        finally:
            self._admitted -= 1
            QUEUE_DEPTH.labels(self.name).set(self._admitted)

    async def warm_up(self) -> None:
        """Start every worker now, so the first requests do not pay for interpreter start and imports."""
        await asyncio.gather(*(self.run(jobs.warm_up) for _ in range(self.workers)))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def process_pool(name: str, workers: int, queue_limit: int, trust_ders: tuple[bytes, ...]) -> WorkerPool:
    """Spawned (not forked) processes: forking a process that runs an event loop and threads is unsafe."""
    context = multiprocessing.get_context("spawn")

    def make() -> Executor:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=jobs.init_verifier, initargs=(trust_ders,)
        )

    return WorkerPool(name, make, workers, queue_limit)


def thread_pool(name: str, workers: int, queue_limit: int) -> WorkerPool:
    return WorkerPool(
        name, lambda: ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name), workers, queue_limit
    )
