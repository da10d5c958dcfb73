"""An upload on its way to disk: a private temporary file, hashed and size-checked as it is written.

Documents never cross the verification workers' pipes (``api.processes``): the upload is spooled
here and the worker gets the file's path. The file is created by ``mkstemp`` (mode 0600, only
this user can read a citizen's document) in the service's own spool directory (mode 0700,
:func:`spool_directory`), and SHA-256 is computed on the way in, so the access log's digest costs
no second pass over 50 MB. A route whose worker hashes the document anyway (``POST /v1/verify``: the
report carries its SHA-256) spools without a digest (``digest=False``) and takes the worker's;
:func:`file_sha256` is for when no worker answered.

The bytes are batched in memory up to :data:`FLUSH_BYTES` and each batch is hashed and written by a
thread (hashlib and file writes release the GIL) *while the event loop goes on receiving the next
one*: hashing and writing on the loop, or waiting for each write, made a 10 MB upload take about
17 ms, a seventh of its verification. At most one batch is being written and one is filling, so
memory per upload stays bounded (2 × :data:`FLUSH_BYTES` = 512 KiB, plus one received chunk), and a slow disk
slows only its own upload (the next batch waits for the previous write), never the event loop. The
batches hold the received chunks themselves (views, not copies): a chunk is copied once, by the
kernel into the file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from esign.errors import ErrorCode, EsignError

__all__ = ["FLUSH_BYTES", "Spool", "file_sha256", "remove_spool_directory", "spool_directory"]

#: a chunk of an upload as received: bytes, or a view of bytes
Buffer: TypeAlias = bytes | memoryview
#: bytes gathered in memory per upload before a thread hashes and writes them out
FLUSH_BYTES = 256 * 1024


def spool_directory(parent: str | None) -> Path:
    """A fresh private directory (0700) for the uploads, in ``parent`` or the system temp dir."""
    return Path(tempfile.mkdtemp(prefix="esign-uploads-", dir=parent))


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a spooled file, read in blocks (run it in a thread)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def remove_spool_directory(directory: Path) -> None:
    """At shutdown: whatever a killed request may have left behind goes with the directory."""
    shutil.rmtree(directory, ignore_errors=True)


class Spool:
    """One upload's file; refuses with ``PDF_TOO_LARGE`` once more than ``limit`` bytes are added.

    ``digest=False``: no SHA-256 on the way (:meth:`finish` returns ``""``).
    """

    def __init__(self, directory: Path, limit: int, digest: bool = True) -> None:
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".pdf", dir=directory)
        self.path = Path(name)
        self.size = 0
        self._file = os.fdopen(fd, "wb")
        self._limit = limit
        self._hash = hashlib.sha256() if digest else None
        self._pending: list[Buffer] = []
        self._pending_bytes = 0
        #: the batch being hashed and written by a thread, if any
        self._writing: asyncio.Future[None] | None = None

    def add(self, data: Buffer) -> None:
        """Take ``data`` (from a parser callback, so synchronous); :meth:`drain` writes it out.

        ``data`` is kept, not copied, until it is written: bytes, or a view of bytes, never a buffer
        that its owner goes on filling.
        """
        self.size += len(data)
        if self.size > self._limit:
            raise EsignError(ErrorCode.PDF_TOO_LARGE, limit=self._limit)
        self._pending.append(data)
        self._pending_bytes += len(data)

    async def drain(self) -> None:
        """Hand the pending bytes to a thread once there are enough of them to be worth the hop.

        Returns without waiting for that write; waits only for the previous one, so that one batch at
        most is in flight.
        """
        if self._pending_bytes >= FLUSH_BYTES:
            await self._written()
            self._start(self._write)

    async def finish(self) -> str:
        """Write the rest and close the file; returns the hex SHA-256 of everything added (or "")."""
        await self._written()
        self._start(self._write_and_close)
        await self._written()
        return self._hash.hexdigest() if self._hash is not None else ""

    def discard(self) -> None:
        """Close and delete the file (idempotent): after the job, on a refusal, or when the client left.

        A batch still being written keeps the (already unlinked) file open until its thread is done:
        closing it under the thread would race the write.
        """
        self.path.unlink(missing_ok=True)
        writing, self._writing = self._writing, None
        if writing is None:
            self._file.close()
        elif writing.done():
            self._close_after(writing)
        else:
            writing.add_done_callback(self._close_after)

    def _start(self, write: Callable[[list[Buffer]], None]) -> None:
        loop = asyncio.get_running_loop()
        self._writing = loop.run_in_executor(None, write, self._take_pending())

    async def _written(self) -> None:
        """The batch in flight, written (its error, a full disk say, is raised here).

        Shielded: a request cancelled meanwhile (client gone) leaves the write running and known to
        :meth:`discard`, which then closes the file only once the thread is done with it.
        """
        if self._writing is not None:
            await asyncio.shield(self._writing)
            self._writing = None

    def _close_after(self, writing: asyncio.Future[None]) -> None:
        if not writing.cancelled():
            writing.exception()  # retrieved: the upload is discarded, its write error no longer matters
        self._file.close()

    def _take_pending(self) -> list[Buffer]:
        """Swapped on the loop, so the thread writes a batch that nothing appends to any more."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        return pending

    def _write(self, pending: list[Buffer]) -> None:
        if self._hash is not None:
            for data in pending:
                self._hash.update(data)
        self._file.writelines(pending)

    def _write_and_close(self, pending: list[Buffer]) -> None:
        self._write(pending)
        self._file.close()
