"""Bounded worker pools: crypto and PDF work never runs on the event loop, and never piles up.

Verification is CPU-bound pure Python (pyHanko parsing, diff analysis, ASN.1), so it runs in warm
worker *processes* (``api.processes``): threads would serialise on the GIL, and on a 2-core machine
two processes verify twice as fast as one. Sealing runs in *threads*: it needs the process's key
cache and HSM sessions (``keystore.keys.KeyStore``), and most of its time is one signature, a TSA
round trip and hashing, which release the GIL.

Each pool admits ``workers + queue_limit`` jobs; one more is refused at once with ``OVERLOADED``
(503) instead of waiting with its upload — the client retries, a load balancer moves on. Upload
routes take their place only once the body is complete on disk (:meth:`WorkerPool.admitted` inside
``api.uploads.Intake.document``): a place taken before the body would let a client trickling its
uploads hold every worker while it sends nothing. The uploads still arriving are bounded by the
intake instead (per client and in all) and by the minimum upload rate (``api.middleware``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from api import jobs
from api.metrics import QUEUE_DEPTH
from api.processes import WarmProcesses
from esign.errors import ErrorCode, EsignError

__all__ = ["WorkerPool", "process_pool", "thread_pool"]

T = TypeVar("T")


class Backend(Protocol):
    async def start(self) -> None: ...

    async def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any: ...

    def shutdown(self) -> None: ...


class WorkerPool:
    """A backend with admission control; used from the event loop only (so the counter needs no lock)."""

    def __init__(self, name: str, backend: Backend, workers: int, queue_limit: int):
        self.name = name
        self.workers = workers
        self.capacity = workers + queue_limit
        self._backend = backend
        self._admitted = 0

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
        """Hold a place in the pool (or be refused OVERLOADED now); yields the function that runs the job."""
        if self._admitted >= self.capacity:
            raise EsignError(ErrorCode.OVERLOADED)
        self._admitted += 1
        QUEUE_DEPTH.labels(self.name).set(self._admitted)
        try:
            yield self._call
        finally:
            self._admitted -= 1
            QUEUE_DEPTH.labels(self.name).set(self._admitted)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self.admitted() as call:
            return await call(fn, *args)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._backend.call(fn, args)

    async def start(self) -> None:
        """Start every worker now, so the first requests do not pay for interpreter start and imports."""
        await self._backend.start()

    def shutdown(self) -> None:
        self._backend.shutdown()


class _Threads:
    def __init__(self, name: str, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def start(self) -> None:
        """Threads start on demand; they share the process's imports and caches."""

    async def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def process_pool(
    name: str,
    workers: int,
    queue_limit: int,
    trust_ders: tuple[bytes, ...],
    extra_ders: tuple[bytes, ...] = (),
) -> WorkerPool:
    """``extra_ders``: the intermediates of ``ESIGN_EXTRA_CERTS``, offered to every verification."""
    initargs = (trust_ders, extra_ders)
    return WorkerPool(name, WarmProcesses(workers, jobs.init_verifier, initargs), workers, queue_limit)


def thread_pool(name: str, workers: int, queue_limit: int) -> WorkerPool:
    return WorkerPool(name, _Threads(name, workers), workers, queue_limit)
