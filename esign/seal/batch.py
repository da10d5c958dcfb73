"""Seal a folder of documents: one bad file never stops the rest, and a re-run resumes.

Outputs are written atomically (a temporary file in the target folder, then a rename), so a
crash or a kill never leaves a half-written PDF behind; that is also what makes resuming safe: a
target that exists is complete, and is skipped.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from esign.errors import ErrorCode, EsignError

__all__ = [
    "BatchItem",
    "ItemStatus",
    "aseal_folder",
    "pending_pairs",
    "publish",
    "write_atomically",
    "write_durably",
]


class ItemStatus(StrEnum):
    SEALED = "sealed"
    SKIPPED = "skipped"  #: already sealed by an earlier run
    FAILED = "failed"


@dataclass(frozen=True)
class BatchItem:
    source: Path
    target: Path
    status: ItemStatus
    seconds: float = 0.0
    error: EsignError | None = None


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        write_durably(Path(tmp), data)
        publish(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_durably(path: Path, data: bytes) -> None:
    """Write and fsync: after this returns, the bytes survive a crash (under a temporary name)."""
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def publish(partial: Path, final: Path) -> None:
    """Rename a durably written file to its final name, and make the rename itself durable."""
    os.replace(partial, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def pending_pairs(source_dir: Path, target_dir: Path) -> Iterator[tuple[Path, Path]]:
    """(source, target) for every PDF in ``source_dir`` (sorted, so runs are reproducible)."""
    for source in sorted(source_dir.iterdir()):
        if source.is_file() and source.suffix.lower() == ".pdf":
            yield source, target_dir / source.name


async def aseal_folder(
    source_dir: Path,
    target_dir: Path,
    seal_one: Callable[[bytes], Awaitable[bytes]],
    on_item: Callable[[BatchItem], None] = lambda item: None,
) -> list[BatchItem]:
    """Seal every PDF of ``source_dir`` into ``target_dir`` with ``seal_one``; report each item."""
    target_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for source, target in pending_pairs(source_dir, target_dir):
        item = await _seal_file(source, target, seal_one)
        on_item(item)
        items.append(item)
    return items


async def _seal_file(source: Path, target: Path, seal_one: Callable[[bytes], Awaitable[bytes]]) -> BatchItem:
    if target.exists():
        return BatchItem(source, target, ItemStatus.SKIPPED)
    started = time.perf_counter()
    try:
        sealed = await seal_one(source.read_bytes())
        write_atomically(target, sealed)
    except EsignError as exc:
        return BatchItem(source, target, ItemStatus.FAILED, time.perf_counter() - started, exc)
    except OSError as exc:
        error = EsignError(ErrorCode.IO_ERROR, detail=f"{type(exc).__name__}: {exc.strerror or exc}")
        return BatchItem(source, target, ItemStatus.FAILED, time.perf_counter() - started, error)
    return BatchItem(source, target, ItemStatus.SEALED, time.perf_counter() - started)
