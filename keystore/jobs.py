"""Batch sealing jobs in the registry database: every document once, whichever worker gets it.

A batch is stored whole before any job runs (the documents' bytes, keyed by batch id and SHA-256),
so a worker on any machine can seal any document, and a job is only a pair of ids: losing or
repeating one loses or repeats nothing. A job's document is sealed under the Idempotency-Key
``batch:<id>:<sha256>`` (``keystore.idempotency``): the audit record and the kept sealed bytes are
committed in one transaction, so a worker killed after that commit leaves a document that the
next delivery *replays* (no second record), and a worker killed before it left nothing at all.
The document's row is then marked sealed; a job finding its row no longer pending does nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from esign.errors import ErrorCode, EsignError
from keystore import audit
from keystore.authz import Principal, require_sealer
from keystore.db import Database
from keystore.models import AuditRecord, Batch, BatchDocument, Client, utcnow
from keystore.registry import require_usable, seal_state

__all__ = [
    "STATES",
    "BatchStatus",
    "Job",
    "NewDocument",
    "Outcome",
    "counts",
    "create_batch",
    "discard",
    "job",
    "list_batches",
    "mark_failed",
    "mark_sealed",
    "outcomes",
    "pending_jobs",
    "principal",
    "prune",
    "recorded",
    "request_key",
    "status",
]

STATES = ("pending", "sealed", "failed")
#: batches deleted per statement when pruning (an IN list stays small on either database)
_PRUNE_CHUNK = 500


@dataclass(frozen=True)
class NewDocument:
    name: str
    pdf: bytes


@dataclass(frozen=True)
class Job:
    """What a worker needs to seal one document of a batch."""

    batch_id: str
    sha256: str
    state: str
    pdf: bytes
    seal_code: str
    client: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    position: int
    name: str
    sha256: str
    state: str
    audit_seq: int | None = None
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class BatchStatus:
    id: str
    seal_code: str
    client: str
    uscc: str | None
    total: int
    pending: int
    sealed: int
    failed: int
    failures: tuple[Outcome, ...] = field(default=())

    @property
    def state(self) -> str:
        """``queued`` (nothing done yet), ``running``, or ``done`` (every document sealed or failed)."""
        if self.pending == 0:
            return "done"
        return "queued" if self.pending == self.total else "running"


def request_key(batch_id: str, sha256: str) -> str:
    """The request id and Idempotency-Key of one document's seal: the same on every delivery."""
    return f"batch:{batch_id}:{sha256}"


def create_batch(
    db: Database, who: Principal, seal_code: str, options: dict[str, str], documents: list[NewDocument]
) -> tuple[str, list[str]]:
    """Store a batch; returns its id and the digests of its distinct documents (one job each).

    The caller's right to seal with ``seal_code`` is checked now, so a batch nobody may seal is
    refused at once rather than failed document by document (each job checks again).
    """
    batch_id = uuid.uuid4().hex
    distinct: dict[str, NewDocument] = {}
    for document in documents:
        distinct.setdefault(hashlib.sha256(document.pdf).hexdigest(), document)
    with db.statements() as connection:
        state = seal_state(connection, seal_code, who.client_id)
        require_sealer(who, state.uscc, who.is_operator or state.granted)
        require_usable(state, None)
        connection.execute(
            insert(Batch),
            {
                "id": batch_id,
                "seal_code": seal_code,
                "client": who.name,
                "uscc": who.uscc,
                "options": json.dumps(options, ensure_ascii=False),
                "total": len(distinct),
            },
        )
        connection.execute(
            insert(BatchDocument),
            [
                {
                    "batch_id": batch_id,
                    "sha256": sha,
                    "position": position,
                    "name": document.name[:255],
                    "pdf": document.pdf,
                    "state": "pending",
                }
                for position, (sha, document) in enumerate(distinct.items(), start=1)
            ],
        )
    return batch_id, list(distinct)


def discard(db: Database, batch_id: str) -> None:
    """Remove a batch whose jobs could not be queued (the client is told to send it again)."""
    with db.transaction() as session:
        session.query(BatchDocument).filter(BatchDocument.batch_id == batch_id).delete()
        session.query(Batch).filter(Batch.id == batch_id).delete()


def job(db: Database, batch_id: str, sha256: str) -> Job | None:
    with db.statements(read_only=True) as connection:
        row = connection.execute(
            select(BatchDocument.state, BatchDocument.pdf, Batch.seal_code, Batch.client, Batch.options)
            .join(Batch, Batch.id == BatchDocument.batch_id)
            .where(BatchDocument.batch_id == batch_id, BatchDocument.sha256 == sha256)
        ).one_or_none()
    if row is None:
        return None
    return Job(batch_id, sha256, row.state, row.pdf, row.seal_code, row.client, json.loads(row.options))


def principal(db: Database, client_name: str) -> Principal:
    """The batch's client as it is now: a client revoked since the upload seals nothing more."""
    from keystore.clients import principal_of

    with db.reading() as session:
        client = session.execute(select(Client).where(Client.name == client_name)).scalar_one_or_none()
        if client is None or client.revoked_at is not None:
            raise EsignError(ErrorCode.UNAUTHENTICATED)
        return principal_of(client)


def recorded(db: Database, request_id: str) -> bool:
    """Is there a ``seal.applied`` audit record for this request id?"""
    with db.statements(read_only=True) as connection:
        found = connection.execute(
            select(AuditRecord.seq).where(
                AuditRecord.request_id == request_id, AuditRecord.action == "seal.applied"
            )
        ).first()
    return found is not None


def mark_sealed(db: Database, batch_id: str, sha256: str, audit_seq: int, sealed: bytes) -> None:
    _finish(db, batch_id, sha256, state="sealed", audit_seq=audit_seq, sealed=sealed)


def mark_failed(db: Database, batch_id: str, sha256: str, error: EsignError) -> None:
    _finish(db, batch_id, sha256, state="failed", error_code=error.code.name, error=error.message_en)


def _finish(db: Database, batch_id: str, sha256: str, **values: Any) -> None:
    """Only a pending document changes: a late duplicate delivery cannot overwrite an outcome."""
    with db.statements() as connection:
        connection.execute(
            update(BatchDocument)
            .where(
                BatchDocument.batch_id == batch_id,
                BatchDocument.sha256 == sha256,
                BatchDocument.state == "pending",
            )
            .values(**values)
        )


def status(db: Database, batch_id: str) -> BatchStatus:
    with db.reading() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise EsignError(ErrorCode.BATCH_NOT_FOUND, batch=batch_id)
        tally = dict(
            session.execute(
                select(BatchDocument.state, func.count())
                .where(BatchDocument.batch_id == batch_id)
                .group_by(BatchDocument.state)
            ).all()
        )
        failures = tuple(_outcomes(session, batch_id, BatchDocument.state == "failed"))
        return BatchStatus(
            batch.id,
            batch.seal_code,
            batch.client,
            batch.uscc,
            batch.total,
            *(tally.get(state, 0) for state in STATES),
            failures=failures,
        )


def list_batches(db: Database, client: str | None, uscc: str | None, limit: int = 50) -> list[BatchStatus]:
    """The newest batches of one client, or of one organisation (``uscc``), or all (both ``None``)."""
    query = select(Batch).order_by(Batch.created_at.desc(), Batch.id).limit(limit)
    if client is not None:
        query = query.where(Batch.client == client)
    if uscc is not None:
        query = query.where(Batch.uscc == uscc)
    with db.reading() as session:
        batches = list(session.execute(query).scalars())
        tally: dict[tuple[str, str], int] = {
            (row.batch_id, row.state): row.n
            for row in session.execute(
                select(BatchDocument.batch_id, BatchDocument.state, func.count().label("n"))
                .where(BatchDocument.batch_id.in_([batch.id for batch in batches]))
                .group_by(BatchDocument.batch_id, BatchDocument.state)
            )
        }
    return [
        BatchStatus(
            b.id, b.seal_code, b.client, b.uscc, b.total, *(tally.get((b.id, state), 0) for state in STATES)
        )
        for b in batches
    ]


def outcomes(db: Database, batch_id: str) -> Iterator[tuple[Outcome, bytes | None]]:
    """Every document's outcome in upload order, with its sealed bytes when sealed."""
    with db.reading() as session:
        rows = session.execute(
            select(BatchDocument.sha256, BatchDocument.sealed)
            .where(BatchDocument.batch_id == batch_id)
            .order_by(BatchDocument.position)
        ).all()
        sealed = {row.sha256: row.sealed for row in rows}
        for outcome in _outcomes(session, batch_id, True):
            yield outcome, sealed[outcome.sha256]


def _outcomes(session: Session, batch_id: str, where: Any) -> Iterator[Outcome]:
    rows = session.execute(
        select(
            BatchDocument.position,
            BatchDocument.name,
            BatchDocument.sha256,
            BatchDocument.state,
            BatchDocument.audit_seq,
            BatchDocument.error_code,
            BatchDocument.error,
        )
        .where(BatchDocument.batch_id == batch_id, where)
        .order_by(BatchDocument.position)
    )
    for row in rows:
        yield Outcome(*row)


def pending_jobs(db: Database) -> list[tuple[str, str]]:
    """(batch id, digest) of every document not yet sealed or failed: what a restarted runner resumes."""
    with db.statements(read_only=True) as connection:
        rows = connection.execute(
            select(BatchDocument.batch_id, BatchDocument.sha256)
            .where(BatchDocument.state == "pending")
            .order_by(BatchDocument.batch_id, BatchDocument.position)
        ).all()
    return [(row.batch_id, row.sha256) for row in rows]


def counts(db: Database) -> dict[str, int]:
    """Documents of all batches by state, for ``/metrics``."""
    with db.statements(read_only=True) as connection:
        tally = dict(
            connection.execute(select(BatchDocument.state, func.count()).group_by(BatchDocument.state)).all()
        )
    return {state: tally.get(state, 0) for state in STATES}


def prune(db: Database, actor: str, older_than: timedelta, *, now: datetime | None = None) -> list[str]:
    """Delete the finished batches created more than ``older_than`` ago; returns their ids.

    A batch keeps every uploaded and every sealed document in the database, so without this the
    database grows with every batch. Finished means no document pending: a batch still being sealed
    is kept whatever its age. The audit log keeps each document's ``seal.applied`` record (its
    request id names the batch); one ``batches.pruned`` record, in the same transaction, names the
    batches removed. Two nodes pruning at once remove each batch once: the ids come from the deletes.
    """
    cutoff = (now or utcnow()) - older_than
    unfinished = select(BatchDocument.batch_id).where(BatchDocument.state == "pending")
    with db.statements() as connection:
        candidates = list(
            connection.execute(
                select(Batch.id)
                .where(Batch.created_at < cutoff, Batch.id.not_in(unfinished))
                .order_by(Batch.created_at, Batch.id)
            ).scalars()
        )
        removed: list[str] = []
        documents = 0
        for start in range(0, len(candidates), _PRUNE_CHUNK):
            chunk = candidates[start : start + _PRUNE_CHUNK]
            documents += connection.execute(
                delete(BatchDocument).where(BatchDocument.batch_id.in_(chunk))
            ).rowcount
            removed += connection.execute(
                delete(Batch).where(Batch.id.in_(chunk)).returning(Batch.id)
            ).scalars()
        if removed:
            audit.append(
                connection,
                actor=actor,
                action="batches.pruned",
                payload={
                    "older_than_days": older_than / timedelta(days=1),
                    "before": cutoff.isoformat(timespec="seconds"),
                    "documents": documents,
                    "batches": sorted(removed),
                },
            )
    return removed
