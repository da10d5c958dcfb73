"""An upload on its way to disk: a private temporary file, hashed and size-checked as it is written.

Documents never cross the verification workers' pipes (``api.processes``): the upload is spooled
here and the worker gets the file's path. The file is created by ``mkstemp`` (mode 0600, only
this user can read a citizen's document) in the service's own spool directory (mode 0700,
:func:`spool_directory`), and SHA-256 is computed on the way in, so the access log's digest costs
no second pass over 50 MB. Writes are batched in memory up to :data:`FLUSH_BYTES` and handed to a
thread, so a slow disk never stalls the event loop and memory per upload stays bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from esign.errors import ErrorCode, EsignError

__all__ = ["FLUSH_BYTES", "Spool", "remove_spool_directory", "spool_directory"]

#: bytes held in memory per upload before they are written out
FLUSH_BYTES = 512 * 1024


def spool_directory(parent: str | None) -> Path:
    """A fresh private directory (0700) for the uploads, in ``parent`` or the system temp dir."""
    return Path(tempfile.mkdtemp(prefix="esign-uploads-", dir=parent))


def remove_spool_directory(directory: Path) -> None:
    """At shutdown: whatever a killed request may have left behind goes with the directory."""
    shutil.rmtree(directory, ignore_errors=True)


class Spool:
    """One upload's file; refuses with ``PDF_TOO_LARGE`` once more than ``limit`` bytes are added."""

    def __init__(self, directory: Path, limit: int) -> None:
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".pdf", dir=directory)
        self.path = Path(name)
        self.size = 0
        self._file = os.fdopen(fd, "wb")
        self._limit = limit
        self._hash = hashlib.sha256()
        self._pending = bytearray()

    def add(self, data: bytes) -> None:
        """Take ``data`` (from a parser callback, so synchronous); :meth:`drain` writes it out."""
        self.size += len(data)
        if self.size > self._limit:
            raise EsignError(ErrorCode.PDF_TOO_LARGE, limit=self._limit)
        self._hash.update(data)
        self._pending += data

    async def drain(self) -> None:
        """Write the pending bytes once there are enough of them to be worth a thread hop."""
        if len(self._pending) >= FLUSH_BYTES:
            await asyncio.to_thread(self._file.write, self._take_pending())

    async def finish(self) -> str:
        """Write the rest and close the file; returns the hex SHA-256 of everything added."""
        await asyncio.to_thread(self._write_and_close, self._take_pending())
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Close and delete the file (idempotent): after the job, on a refusal, or when the client left."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def _take_pending(self) -> bytearray:
        """Swapped on the loop, so the thread writes a buffer that nothing appends to any more."""
        pending, self._pending = self._pending, bytearray()
        return pending

    def _write_and_close(self, pending: bytearray) -> None:
        self._file.write(pending)
        self._file.close()
