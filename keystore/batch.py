"""Crash-safe batch sealing: every sealed file has its audit record and every record its file.

For each input, in this order:

1. seal it (nothing durable yet);
2. write the result to ``.<name>.partial`` in the output directory and fsync it;
3. commit the audit record (it carries the request id ``batch:<id>:<name>`` and the output's hash);
4. rename ``.partial`` to the final name and fsync the directory.

A kill before 3 leaves at most a stray ``.partial`` (overwritten on the re-run) and no record. A kill
between 3 and 4 leaves a record whose bytes are in ``.partial``: the re-run finds the record by its
request id, checks the hash and completes the rename instead of sealing again. So a final file never
exists without its record, and a record's bytes are always on disk. Re-running a finished batch
changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from esign.errors import ErrorCode, EsignError
from esign.seal.batch import publish, write_durably
from esign.seal.pades import SealOptions
from keystore.authz import Principal
from keystore.models import AuditRecord
from keystore.service import SealService

__all__ = ["BatchReport", "run_batch"]


@dataclass(frozen=True)
class BatchReport:
    sealed: int  #: sealed in this run
    completed: int  #: sealed by an interrupted run, finished (renamed) in this one
    already_done: int
    #: inputs refused (not a PDF, seal suspended …), with why; one bad file never stops the rest
    failed: tuple[tuple[str, EsignError], ...] = ()

    @property
    def total(self) -> int:
        return self.sealed + self.completed + self.already_done + len(self.failed)


async def run_batch(
    service: SealService,
    who: Principal,
    seal_code: str,
    sources: list[Path],
    out_dir: Path,
    batch_id: str,
    options: SealOptions = SealOptions(),  # noqa: B008 - frozen
) -> BatchReport:
    """Seal every file of ``sources`` into ``out_dir`` (same names); safe to re-run after a crash."""
    if len({src.name for src in sources}) != len(sources):
        raise EsignError(ErrorCode.BAD_OPTION, detail="two inputs of a batch share a file name")
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, int] = {"sealed": 0, "completed": 0, "done": 0}
    failed: list[tuple[str, EsignError]] = []
    for src in sorted(sources):
        try:
            outcomes[await _one(service, who, seal_code, src, out_dir, batch_id, options)] += 1
        except EsignError as exc:
            failed.append((src.name, exc))
    return BatchReport(outcomes["sealed"], outcomes["completed"], outcomes["done"], tuple(failed))


async def _one(
    service: SealService,
    who: Principal,
    seal_code: str,
    src: Path,
    out_dir: Path,
    batch_id: str,
    options: SealOptions,
) -> str:
    """Bring one input to "sealed, recorded and published"; says which way it got there."""
    final, partial = out_dir / src.name, out_dir / f".{src.name}.partial"
    request_id = f"batch:{batch_id}:{src.name}"
    recorded = await asyncio.to_thread(_recorded_hash, service, request_id)
    if recorded is None:
        final.unlink(missing_ok=True)  # cannot exist by construction; never keep an unrecorded file
        await service.aapply(
            who,
            seal_code,
            src.read_bytes(),
            options,
            request_id=request_id,
            before_record=lambda data: write_durably(partial, data),
        )
        publish(partial, final)
        return "sealed"
    if final.exists() and _sha256(final) == recorded:
        return "done"
    if partial.exists() and _sha256(partial) == recorded:
        publish(partial, final)
        return "completed"
    raise EsignError(
        ErrorCode.SIGNING_FAILED, detail=f"{src.name}: audit record exists but its sealed file is gone"
    )


def _recorded_hash(service: SealService, request_id: str) -> str | None:
    with service.db.transaction() as session:
        payload = session.execute(
            select(AuditRecord.payload).where(
                AuditRecord.request_id == request_id, AuditRecord.action == "seal.applied"
            )
        ).scalar_one_or_none()
    if payload is None:
        return None
    return json.loads(payload)["sha256_after"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
