"""The tamper-evident audit log: an append-only hash chain with signed checkpoints.

Every record stores the previous record's hash and its own hash over a canonical encoding
(sorted-key compact JSON, UTF-8) of its fields, so editing, deleting, inserting or reordering a
record breaks the chain at that point. Someone with write access to the database could still
rewrite the whole chain after an edit; checkpoints stop that: every ``checkpoint_every`` records the
head (sequence number and hash) is signed with the audit key, which the database does not hold,
together with the digest of the checkpoint before it, so the checkpoints form a chain of their own.
Deleting the newest checkpoints (or restoring an old database) still leaves a consistent, shorter
chain; the anchor (``keystore.audit_anchor``), a copy of every checkpoint outside the database,
catches that.

Appends are serialised so that concurrent processes build one chain: SQLite's ``BEGIN IMMEDIATE``
(see ``keystore.db``) and a transaction-scoped advisory lock on PostgreSQL; the primary key on the
sequence number is the last line of defence.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import x509
from pyhanko.sign.signers import Signer
from sqlalchemy import ColumnElement, Connection, insert, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keystore.audit_anchor import Anchor, AnchorUnreadable
from keystore.authz import OPERATOR
from keystore.db import Database
from keystore.keys import signature_valid
from keystore.models import AuditCheckpoint, AuditRecord, Client, Seal

__all__ = [
    "GENESIS",
    "AuditProblem",
    "AuditSettings",
    "AuditVerification",
    "append",
    "checkpoint",
    "checkpoint_digest",
    "iter_records",
    "organisation_scope",
    "record_as_dict",
    "record_hash",
    "verify_chain",
]

GENESIS = "0" * 64
_log = logging.getLogger("esign.audit")
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
    #: how long a sealed document stays retrievable under its Idempotency-Key (``keystore.idempotency``)
    idempotency_ttl_s: int = 86400

    @classmethod
    def from_env(cls) -> AuditSettings:
        return cls(
            checkpoint_every=int(os.environ.get("ESIGN_AUDIT_CHECKPOINT_EVERY", "100")),
            log_verifications=os.environ.get("ESIGN_AUDIT_VERIFICATIONS", "") in ("1", "true", "yes"),
            idempotency_ttl_s=int(os.environ.get("ESIGN_IDEMPOTENCY_TTL_S", "86400")),
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


def _checkpoint_message(seq: int, head_hash: str, prev_digest: str | None) -> bytes:
    """What the audit key signs; a legacy checkpoint (``prev_digest`` None) was signed without the link."""
    if prev_digest is None:
        return canonical({"esign-audit-checkpoint": 1, "seq": seq, "hash": head_hash})
    return canonical({"esign-audit-checkpoint": 2, "seq": seq, "hash": head_hash, "prev": prev_digest})


def checkpoint_digest(cp: AuditCheckpoint) -> str:
    """The checkpoint's identity in the checkpoint chain and in the anchor: a hash of what was signed."""
    return hashlib.sha256(_checkpoint_message(cp.seq, cp.head_hash, cp.prev_digest)).hexdigest()


_LAST_CHECKPOINT = select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)


def _chain_link(session: Session) -> tuple[int, str]:
    """(sequence, digest) of the newest checkpoint, or (0, genesis): what the next checkpoint signs."""
    last = session.execute(_LAST_CHECKPOINT).scalar_one_or_none()
    return (last.seq, checkpoint_digest(last)) if last else (0, GENESIS)


async def checkpoint(db: Database, signer: Signer, anchor: Anchor | None = None) -> AuditCheckpoint | None:
    """Sign the current head and the newest checkpoint with the audit key, then append it to ``anchor``.

    ``None`` when the log is empty or the head is already pinned. Signing happens outside any
    transaction; if another process added a checkpoint meanwhile, the signature would link to a
    checkpoint that is no longer the newest, so it is thrown away and the head is signed afresh.
    """
    for _attempt in range(3):
        with db.transaction() as session:
            head = session.execute(_HEAD).one_or_none()
            link = _chain_link(session)
        if head is None or link[0] >= head.seq:
            return None
        signature = await signer.async_sign_raw(_checkpoint_message(head.seq, head.hash, link[1]), "sha256")
        made = AuditCheckpoint(
            seq=head.seq,
            head_hash=head.hash,
            at=datetime.now(UTC).isoformat(timespec="microseconds"),
            signature=signature,
            certificate=signer.signing_cert.dump(),
            prev_digest=link[1],
        )
        try:
            with db.transaction() as session:
                if db.is_postgresql:
                    session.execute(_LOCK_CHAIN, {"id": _ADVISORY_LOCK_ID})
                if _chain_link(session) != link:
                    continue  # another process checkpointed meanwhile
                session.add(made)
        except IntegrityError:  # another process pinned the same head first
            return None
        if anchor is not None:
            _anchor(anchor, made)
        return made
    return None


def _anchor(anchor: Anchor, made: AuditCheckpoint) -> None:
    """Append the committed checkpoint to the anchor; a failure is logged, never the seal's failure.

    The document and its record are committed by now: failing the request would lose the document
    for its client. An unanchored checkpoint is still signed and chained, and the next anchored one
    covers it (``verify_chain`` accepts checkpoints newer than the anchor's last line).
    """
    try:
        anchor.append(made.seq, made.head_hash, checkpoint_digest(made), made.at)
    except OSError as exc:
        _log.error("audit checkpoint %s not anchored in %s: %s", made.seq, anchor.path, exc)


def organisation_scope(uscc: str | None) -> ColumnElement[bool]:
    """The records an organisation may read: those about its seals and those its clients made.

    Both columns are covered by the record hash, and seal codes and client names are unique, so a
    record cannot be moved into another organisation's view without breaking the chain. The
    operator's own records about clients or keys (no seal) belong to the platform only. A client
    named like the operator never makes the operator's records its organisation's.
    """
    seals = select(Seal.code).where(Seal.uscc == uscc)
    clients = select(Client.name).where(Client.uscc == uscc, Client.name != OPERATOR.name)
    return or_(AuditRecord.seal_code.in_(seals), AuditRecord.actor.in_(clients))


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
    #: gap · chain-broken · edited · truncated (records); checkpoint-forged · checkpoint-mismatch ·
    #: checkpoint-chain-broken (checkpoints); checkpoint-deleted · anchor-mismatch · anchor-missing ·
    #: anchor-edited (the anchor file)
    kind: str
    message: str


@dataclass(frozen=True)
class AuditVerification:
    records: int
    checkpoints: int
    problem: AuditProblem | None
    #: checkpoints found in the anchor file; ``None`` without an anchor (or before its first line)
    anchored: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(
    session: Session, audit_cert: x509.Certificate | None, anchor: Anchor | None = None
) -> AuditVerification:
    """Walk the checkpoints, the anchor and the chain of records; report the first problem.

    Without ``audit_cert`` checkpoints cannot be trusted (anyone can sign with a key of their own),
    so any checkpoint present is then reported as unverifiable.
    """
    pins = {
        cp.seq: cp for cp in session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars()
    }
    anchored, problem = _check_anchor(pins, anchor)
    problem = _check_checkpoints(list(pins.values()), audit_cert) or problem
    if problem:
        return AuditVerification(0, len(pins), problem, anchored)
    count, prev_seq, prev_hash = 0, 0, GENESIS
    for record in iter_records(session):
        problem = _check_link(record, prev_seq, prev_hash) or _check_pin(record, pins.get(record.seq))
        if problem:
            return AuditVerification(count, len(pins), problem, anchored)
        count, prev_seq, prev_hash = count + 1, record.seq, record.hash
    beyond = [seq for seq in pins if seq > prev_seq]
    if beyond:
        message = (
            f"checkpoint {beyond[0]} pins records after the last record {prev_seq}: records were deleted"
        )
        problem = AuditProblem(prev_seq + 1, "truncated", message)
    return AuditVerification(count, len(pins), problem, anchored)


_FORGED = "checkpoint at record {seq} is not signed by the configured audit key"


def _check_checkpoints(
    pins: list[AuditCheckpoint], audit_cert: x509.Certificate | None
) -> AuditProblem | None:
    """Every checkpoint signed by the audit key, and each chained one linked to the one before it."""
    link = GENESIS
    for cp in pins:
        if not _checkpoint_signature_ok(cp, audit_cert):
            return AuditProblem(cp.seq, "checkpoint-forged", _FORGED.format(seq=cp.seq))
        if cp.prev_digest is not None and cp.prev_digest != link:
            return AuditProblem(
                cp.seq,
                "checkpoint-chain-broken",
                f"checkpoint {cp.seq} does not link to the checkpoint before it: checkpoints were deleted",
            )
        link = checkpoint_digest(cp)
    return None


def _check_anchor(
    pins: dict[int, AuditCheckpoint], anchor: Anchor | None
) -> tuple[int | None, AuditProblem | None]:
    """(anchored count, problem): every checkpoint in the anchor file is in the database, unchanged."""
    if anchor is None:
        return None, None
    try:
        lines = anchor.read()
    except AnchorUnreadable as exc:
        message = f"line {exc.line} of the anchor file {anchor.path} is not a checkpoint: the file was edited"
        return None, AuditProblem(0, "anchor-edited", message)
    if lines is None:
        chained = [seq for seq, cp in pins.items() if cp.prev_digest is not None]
        if not chained:
            return None, None  # a log from before anchoring, or not checkpointed yet
        message = f"the anchor file {anchor.path} is missing, yet checkpoint {chained[-1]} was anchored there"
        return None, AuditProblem(chained[-1], "anchor-missing", message)
    for line in lines:
        cp = pins.get(line.seq)
        if cp is None:
            message = (
                f"checkpoint {line.seq} is in the anchor file but not in the database: "
                "checkpoints were deleted or the database was rolled back"
            )
            return len(lines), AuditProblem(line.seq, "checkpoint-deleted", message)
        if checkpoint_digest(cp) != line.digest:
            message = f"checkpoint {line.seq} differs from the one in the anchor file"
            return len(lines), AuditProblem(line.seq, "anchor-mismatch", message)
    return len(lines), None


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
    message = _checkpoint_message(cp.seq, cp.head_hash, cp.prev_digest)
    return signature_valid(audit_cert, message, cp.signature)
