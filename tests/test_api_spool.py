"""The upload spool on its own: batches written by a thread while more arrive, and discarded mid-write."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from pathlib import Path

from api.spool import FLUSH_BYTES, Spool, file_sha256


async def _spool_chunks(directory: Path, chunks: list[bytes], digest: bool) -> tuple[Spool, str]:
    spool = Spool(directory, limit=10 * FLUSH_BYTES, digest=digest)
    for chunk in chunks:
        spool.add(memoryview(chunk)[1:])  # views, as the multipart parser hands them on
        await spool.drain()
    return spool, await spool.finish()


def test_batches_in_flight_add_up_to_the_file_and_its_digest(tmp_path: Path) -> None:
    chunks = [os.urandom(FLUSH_BYTES // 3 + n) for n in range(12)]
    expected = b"".join(chunk[1:] for chunk in chunks)
    spool, digest = asyncio.run(_spool_chunks(tmp_path, chunks, digest=True))
    assert spool.path.read_bytes() == expected
    assert digest == hashlib.sha256(expected).hexdigest() == file_sha256(spool.path)
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
    spool.discard()
    assert not spool.path.exists()


def test_no_digest_when_the_route_takes_the_workers(tmp_path: Path) -> None:
    spool, digest = asyncio.run(_spool_chunks(tmp_path, [os.urandom(FLUSH_BYTES)] * 3, digest=False))
    assert digest == ""
    assert spool.size == 3 * (FLUSH_BYTES - 1) == spool.path.stat().st_size
    spool.discard()


def _open_on(path: Path) -> bool:
    """Whether this process still holds a descriptor on ``path`` (deleted or not)."""
    fds = Path("/proc/self/fd")
    return any(os.readlink(fd).startswith(str(path)) for fd in fds.iterdir() if fd.is_symlink())


def test_discarded_while_a_batch_is_being_written(tmp_path: Path) -> None:
    """The client left mid-upload: the file is unlinked at once and closed when its thread is done."""

    async def left_mid_write() -> Path:
        spool = Spool(tmp_path, limit=10 * FLUSH_BYTES)
        spool.add(os.urandom(4 * FLUSH_BYTES))
        await spool.drain()  # the write is handed to a thread and not awaited
        spool.discard()
        assert not spool.path.exists()
        for _ in range(200):  # the thread finishes, then the done callback closes the file
            if not _open_on(spool.path):
                break
            await asyncio.sleep(0.01)
        return spool.path

    path = asyncio.run(left_mid_write())
    assert not _open_on(path)
    assert list(tmp_path.iterdir()) == []
