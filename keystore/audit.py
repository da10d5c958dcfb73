"""The tamper-evident audit log: an append-only hash chain with signed checkpoints.

Every record stores the previous record's hash and its own hash over a canonical encoding
(sorted-key compact JSON, UTF-8) of its fields, so editing, deleting, inserting or reordering a
record breaks the chain at that point. Someone with write access to the database could still
rewrite the whole chain after an edit; checkpoints stop that: every ``checkpoint_every`` records the
head (sequence number and hash) is signed with the audit key, which the database does not hold.

Appends are serialised so that concurrent processes build one chain: SQLite's ``BEGIN IMMEDIATE``
(see ``keystore.db``) and a transaction-scoped advisory lock on PostgreSQL; the primary key on the
sequence number is the last line of defence.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import x509
from pyhanko.sign.signers import Signer
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keystore.db import Database
from keystore.keys import signature_valid
from keystore.models import AuditCheckpoint, AuditRecord

__all__ = [
    "GENESIS",
    "AuditProblem",
    "AuditSettings",
    "AuditVerification",
    "append",
    "checkpoint",
    "iter_records",
    "record_as_dict",
    "record_hash",
    "verify_chain",
]

GENESIS = "0" * 64
_ADVISORY_LOCK_ID = 0x65_73_69_67_6E  # "esign"
# built once: every sealed document runs these, and SQLAlchemy then reuses their compiled form
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(:id)")
_HEAD = select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
_INSERT = insert(AuditRecord)


@dataclass(frozen=True)
class AuditSettings:
    checkpoint_every: int = 100
    #: verifications are not registry actions; agencies decide whether they want them logged
    log_verifications: bool = False

    @classmethod
    def from_env(cls) -> AuditSettings:
        return cls(
            checkpoint_every=int(os.environ.get("ESIGN_AUDIT_CHECKPOINT_EVERY", "100")),
            log_verifications=os.environ.get("ESIGN_AUDIT_VERIFICATIONS", "") in ("1", "true", "yes"),
        )


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _record_fields(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "seal_code": record.seal_code,
        "request_id": record.request_id,
        "payload": record.payload,
        "prev_hash": record.prev_hash,
    }


def record_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical(_record_fields(record))).hexdigest()


def record_as_dict(record: AuditRecord) -> dict[str, Any]:
    """One record for export (JSON lines): the payload expanded, the hash included."""
    fields = _record_fields(record)
    fields["payload"] = json.loads(record.payload)
    fields["hash"] = record.hash
    return fields


def append(
    executor: Session | Connection,
    *,
    actor: str,
    action: str,
    payload: dict[str, Any],
    seal_code: str | None = None,
    request_id: str | None = None,
) -> AuditRecord:
    """Add a record at the head of the chain, inside the caller's transaction (ORM session or Core).

    The record becomes part of the chain exactly when the caller's transaction commits, together
    with the change it describes.
    """
    bind = executor if isinstance(executor, Connection) else executor.get_bind()
    if bind.dialect.name == "postgresql":
        executor.execute(_LOCK_CHAIN, {"id": _ADVISORY_LOCK_ID})
    head = executor.execute(_HEAD).one_or_none()
    record = AuditRecord(
        seq=head.seq + 1 if head else 1,
        at=datetime.now(UTC).isoformat(timespec="microseconds"),
        actor=actor,
        action=action,
        seal_code=seal_code,
        request_id=request_id,
        payload=canonical(payload).decode("utf-8"),
        prev_hash=head.hash if head else GENESIS,
    )
    record.hash = record_hash(record)
    executor.execute(_INSERT, {**_record_fields(record), "hash": record.hash})
    return record


def _checkpoint_message(seq: int, head_hash: str) -> bytes:
    return canonical({"esign-audit-checkpoint": 1, "seq": seq, "hash": head_hash})


async def checkpoint(db: Database, signer: Signer) -> AuditCheckpoint | None:
    """Sign the current head with the audit key; ``None`` when the log is empty or already pinned there."""
    with db.transaction() as session:
        head = session.execute(
            select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)
        ).scalar_one_or_none()
        if head is None or session.get(AuditCheckpoint, head.seq) is not None:
            return None
        seq, head_hash = head.seq, head.hash
    signature = await signer.async_sign_raw(_checkpoint_message(seq, head_hash), "sha256")
    made = AuditCheckpoint(
        seq=seq,
        head_hash=head_hash,
        at=datetime.now(UTC).isoformat(timespec="microseconds"),
        signature=signature,
        certificate=signer.signing_cert.dump(),
    )
    try:
        with db.transaction() as session:
            session.add(made)
    except IntegrityError:  # another process pinned the same head first
        return None
    return made


def iter_records(session: Session, after: int = 0, batch: int = 1000) -> Iterator[AuditRecord]:
    """All records from ``after + 1`` in order, fetched in pages (the log can be large)."""
    while True:
        page = list(
            session.execute(
                select(AuditRecord).where(AuditRecord.seq > after).order_by(AuditRecord.seq).limit(batch)
            ).scalars()
        )
        yield from page
        if len(page) < batch:
            return
        after = page[-1].seq


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    kind: str  # gap · chain-broken · edited · checkpoint-forged · checkpoint-mismatch · truncated
    message: str


@dataclass(frozen=True)
class AuditVerification:
    records: int
    checkpoints: int
    problem: AuditProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(session: Session, audit_cert: x509.Certificate | None) -> AuditVerification:
    """Walk the chain and the checkpoints; report the first bad record.

    Without ``audit_cert`` checkpoints cannot be trusted (anyone can sign with a key of their own),
    so any checkpoint present is then reported as unverifiable.
    """
    pins = {
        cp.seq: cp for cp in session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars()
    }
    for cp in pins.values():
        if not _checkpoint_signature_ok(cp, audit_cert):
            return AuditVerification(
                0, 0, AuditProblem(cp.seq, "checkpoint-forged", _FORGED.format(seq=cp.seq))
            )
    count, prev_seq, prev_hash = 0, 0, GENESIS
    for record in iter_records(session):
        problem = _check_link(record, prev_seq, prev_hash) or _check_pin(record, pins.get(record.seq))
        if problem:
            return AuditVerification(count, len(pins), problem)
        count, prev_seq, prev_hash = count + 1, record.seq, record.hash
    beyond = [seq for seq in pins if seq > prev_seq]
    if beyond:
        message = (
            f"checkpoint {beyond[0]} pins records after the last record {prev_seq}: records were deleted"
        )
        return AuditVerification(count, len(pins), AuditProblem(prev_seq + 1, "truncated", message))
    return AuditVerification(count, len(pins), None)


_FORGED = "checkpoint at record {seq} is not signed by the configured audit key"


def _check_link(record: AuditRecord, prev_seq: int, prev_hash: str) -> AuditProblem | None:
    if record.seq != prev_seq + 1:
        return AuditProblem(
            record.seq,
            "gap",
            f"records {prev_seq + 1}…{record.seq - 1} are missing before record {record.seq}",
        )
    if record.prev_hash != prev_hash:
        return AuditProblem(
            record.seq,
            "chain-broken",
            f"record {record.seq} does not link to record {prev_seq} (records inserted, deleted or moved)",
        )
    if record_hash(record) != record.hash:
        return AuditProblem(record.seq, "edited", f"record {record.seq} was changed after it was written")
    return None


def _check_pin(record: AuditRecord, pin: AuditCheckpoint | None) -> AuditProblem | None:
    if pin is None or pin.head_hash == record.hash:
        return None
    return AuditProblem(
        record.seq,
        "checkpoint-mismatch",
        f"record {record.seq} differs from the signed checkpoint: the chain was rewritten up to here",
    )


def _checkpoint_signature_ok(cp: AuditCheckpoint, audit_cert: x509.Certificate | None) -> bool:
    if audit_cert is None or cp.certificate != audit_cert.dump():
        return False
    return signature_valid(audit_cert, _checkpoint_message(cp.seq, cp.head_hash), cp.signature)
