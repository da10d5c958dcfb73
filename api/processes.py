"""Warm worker processes driven straight from the event loop, one pipe each.

``ProcessPoolExecutor`` moves every job through two helper threads (a manager and a queue feeder)
and back through the manager, so a 16 ms verification paid about a millisecond in thread wake-ups
and GIL hand-overs — more on a busy 2-core machine, where each wake-up waits for a time slice.
Here the event loop writes the job to an idle worker's pipe and is woken by the loop's own selector
when the reply is readable: no thread in between. The processes are spawned (not forked: forking a
process that runs an event loop and threads is unsafe), run their initialiser once (imports, trust
anchors), and report ready before the first request is admitted.

uvloop's ``add_reader`` switches the pipe to non-blocking mode and ``remove_reader`` leaves it so;
``Connection.send_bytes``/``recv_bytes`` then fail half-way through any message larger than the
socket buffer (``BlockingIOError``, or "end of file during message" on the worker's side). So the
pipe is put back into blocking mode as soon as the reader is removed, on every loop: the reply is
then read whole once its first byte is there, and the next job is written whole. Documents do not
cross the pipe at all — a verification job carries the path of the spooled upload (``api.uploads``).

A job belongs to its worker until the reply has been read, even when the request that submitted it
is cancelled (client gone): otherwise the next job would read the previous job's reply. A worker
that dies (killed, out of memory) is replaced; its job fails with ``OVERLOADED`` and may be retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from esign.errors import ErrorCode, EsignError

__all__ = ["WarmProcesses"]

_READY = b"ready"
#: a job larger than this is written from a thread, so a slow pipe never stalls the event loop
_INLINE_BYTES = 256 * 1024
_STOP_SECONDS = 5.0


@dataclass(frozen=True)
class _Failure:
    """An unexpected exception in a worker, by name: the exception itself may not survive pickling."""

    kind: str
    message: str


def _serve(conn: Connection, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    """The worker's loop: one job in, one reply out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server; it stops the workers itself
    initializer(*initargs)
    conn.send_bytes(_READY)
    while True:
        try:
            fn, args = pickle.loads(conn.recv_bytes())
        except EOFError:
            return
        try:
            reply: Any = fn(*args)
        except Exception as exc:
            reply = _Failure(type(exc).__name__, str(exc))
        conn.send_bytes(pickle.dumps(reply, pickle.HIGHEST_PROTOCOL))


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn

    async def receive(self) -> bytes:
        """The next message, waiting on the event loop's selector (EOFError when the worker died)."""
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
        try:
            await readable
        finally:
            loop.remove_reader(fd)
            os.set_blocking(fd, True)  # uvloop left it non-blocking: see the module docstring
        return self.conn.recv_bytes()

    async def call(self, job: bytes) -> Any:
        if len(job) > _INLINE_BYTES:
            await asyncio.to_thread(self.conn.send_bytes, job)
        else:
            self.conn.send_bytes(job)
        return pickle.loads(await self.receive())

    def stop(self) -> None:
        self.conn.close()  # the worker sees EOF and returns
        self.process.join(_STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class WarmProcesses:
    """``workers`` spawned processes; :meth:`start` must finish before :meth:`call` is used."""

    def __init__(self, workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
        self.workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._context = multiprocessing.get_context("spawn")
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()

    async def start(self) -> None:
        await asyncio.gather(*(self._add_worker() for _ in range(self.workers)))

    async def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        job = pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL)
        worker = await self._idle.get()
        # shielded: a cancelled request must not leave an unread reply in the worker's pipe
        reply = await asyncio.shield(self._run_on(worker, job))
        if isinstance(reply, _Failure):
            raise RuntimeError(f"{reply.kind} in a verification worker: {reply.message}")
        return reply

    def shutdown(self) -> None:
        for worker in list(self._all):
            worker.stop()
        self._all.clear()

    async def _run_on(self, worker: _Worker, job: bytes) -> Any:
        try:
            reply = await worker.call(job)
        except (EOFError, OSError):
            self._all.discard(worker)
            await asyncio.to_thread(worker.stop)
            await self._add_worker()
            raise EsignError(ErrorCode.OVERLOADED) from None
        self._idle.put_nowait(worker)
        return reply

    async def _add_worker(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self._initializer, self._initargs), daemon=True
        )
        await asyncio.to_thread(process.start)
        child.close()  # only the worker holds its end: when the server dies, the worker sees EOF
        worker = _Worker(process, parent)
        self._all.add(worker)
        with contextlib.suppress(EOFError):
            if await worker.receive() == _READY:
                self._idle.put_nowait(worker)
                return
        self._all.discard(worker)
        await asyncio.to_thread(worker.stop)
        raise RuntimeError("a verification worker failed to start")
