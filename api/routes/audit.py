"""The audit log over HTTP: filtered pages of records, and a check of the whole hash chain (auditor).

An auditor reads only its own organisation's records (``keystore.audit.organisation_scope``); the
chain check covers the whole log, because a chain can only be verified whole, and answers with
counts and the first bad position only, never another organisation's records.
"""

from __future__ import annotations

from typing import Annotated, Any

from asn1crypto import x509
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Caller, RuntimeDep
from api.problems import problems
from keystore.audit import organisation_scope, record_as_dict, verify_chain
from keystore.authz import require_auditor
from keystore.keyring import audit_key, key_chain
from keystore.models import AuditRecord

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditPage(BaseModel):
    records: list[dict[str, Any]]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


class ChainProblem(BaseModel):
    seq: int
    kind: str = Field(examples=["edited"])
    message: str


class ChainCheck(BaseModel):
    ok: bool
    records: int
    checkpoints: int
    anchored: int | None = Field(
        description="Checkpoints found in the anchor file (ESIGN_AUDIT_ANCHOR); null without one."
    )
    problem: ChainProblem | None


@router.get(
    "",
    summary="The caller's organisation's audit records, oldest first, with filters (auditor)",
    responses=problems(401, 403),
)
def list_records(
    runtime: RuntimeDep,
    caller: Caller,
    after: Annotated[int, Query(ge=0, le=2**62, description="Records after this sequence number.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=32, examples=["seal.applied"])] = None,
    seal: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    request_id: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    require_auditor(caller)
    query = select(AuditRecord).where(AuditRecord.seq > after).order_by(AuditRecord.seq).limit(limit)
    if not caller.is_operator:
        query = query.where(organisation_scope(caller.uscc))
    for column, value in (
        (AuditRecord.action, action),
        (AuditRecord.seal_code, seal),
        (AuditRecord.actor, actor),
        (AuditRecord.request_id, request_id),
    ):
        if value is not None:
            query = query.where(column == value)
    with runtime.db.transaction() as session:
        records = list(session.execute(query).scalars())
        page = [record_as_dict(r) for r in records]
    return AuditPage(records=page, next_after=records[-1].seq if len(records) == limit else None)


@router.get(
    "/verify",
    summary="Verify the hash chain and the signed checkpoints (auditor)",
    responses=problems(401, 403),
)
def verify(runtime: RuntimeDep, caller: Caller) -> ChainCheck:
    require_auditor(caller)
    with runtime.db.transaction() as session:
        result = verify_chain(session, _audit_certificate(runtime, session), runtime.service.anchor)
    problem = result.problem
    return ChainCheck(
        ok=result.ok,
        records=result.records,
        checkpoints=result.checkpoints,
        anchored=result.anchored,
        problem=ChainProblem(seq=problem.seq, kind=problem.kind, message=problem.message)
        if problem
        else None,
    )


def _audit_certificate(runtime: RuntimeDep, session: Session) -> x509.Certificate | None:
    """``ESIGN_AUDIT_CERT`` when set, else the checkpoint key's own certificate (``ESIGN_AUDIT_KEY``)."""
    if runtime.settings.audit_certificate is not None:
        return runtime.settings.audit_certificate
    entry = audit_key(session)
    return key_chain(entry)[0] if entry is not None else None
