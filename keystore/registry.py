"""The seal registry: which seals exist, what backs them, and their lifecycle.

Lifecycle: ``active ⇄ suspended``, either → ``revoked`` (final); a seal is *expired* by time alone
(outside ``valid_from … valid_to``), without a status change. Rotation puts a new key and
certificate behind the same seal code and keeps the seal's history. Every change writes a history
event and an audit record in the same transaction as the change itself.

Registration and rotation accept only a key the seal's organisation owns (``keystore.ownership``:
never a platform key, and another organisation's key answers like an unknown one). They prove that
the key matches the certificate by signing a challenge with the key, which needs the keystore (and
possibly an HSM round trip), so they are coroutines; the other operations are plain database work
inside the caller's transaction.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from asn1crypto import x509
from sqlalchemy import Connection, Integer, Row, bindparam, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from esign.errors import ErrorCode, EsignError
from esign.gm.certs import is_sm2_certificate
from esign.seal.image import SealImage, oval_seal, round_seal, seal_from_png
from esign.uscc import is_valid_uscc
from keystore import audit
from keystore.authz import Principal, require_seal_admin
from keystore.certcheck import certificate_validity, check_seal_certificate
from keystore.db import Database
from keystore.keyring import chain_from_pem, chain_to_pem, key_chain, key_ref
from keystore.keys import KeyRef, KeyStore, signer_matches_certificate
from keystore.models import Grant, Seal, SealEvent, utcnow
from keystore.ownership import bindable_key

__all__ = [
    "SEAL_TYPES",
    "SealSpec",
    "SealStatus",
    "appearance_for",
    "effective_status",
    "find_seal",
    "list_seals",
    "register_seal",
    "require_usable",
    "resume_seal",
    "revoke_seal",
    "rotate_seal",
    "seal_appearance",
    "seal_chain",
    "seal_state",
    "suspend_seal",
]

SEAL_TYPES = {
    "01": "单位专用章",
    "02": "财务专用章",
    "03": "发票专用章",
    "04": "合同专用章",
    "05": "法人章",
    "99": "其他",
}
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: uploaded seal pictures are drawn at the official 42 mm unless told otherwise
UPLOAD_WIDTH_MM = 42.0


class SealStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True)
class SealSpec:
    """What a seal-admin asks for; the window defaults to the certificate's (from now on)."""

    code: str
    seal_type: str
    org_name: str
    uscc: str
    key_name: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None


def appearance_for(spec: SealSpec, upload: bytes | None = None) -> SealImage:
    """The seal picture: the uploaded PNG (size-limited and bomb-safe in ``esign.seal.image``) or a drawn one.

    SVG is refused: rendering untrusted SVG safely (external references, entity expansion, scripts)
    is a larger attack surface than a seal picture is worth, and PNG covers every scanned seal.
    """
    _check_spec(spec)
    if upload is not None:
        if not upload.startswith(_PNG_MAGIC):
            raise EsignError(ErrorCode.BAD_IMAGE, detail="only PNG seal pictures are accepted (not SVG/JPEG)")
        return seal_from_png(upload, UPLOAD_WIDTH_MM)
    return _drawn_appearance(spec.seal_type, spec.org_name, spec.uscc)


@functools.lru_cache(maxsize=64)
def _drawn_appearance(seal_type: str, org_name: str, uscc: str) -> SealImage:
    """Drawing takes a few hundred milliseconds and gives the same bytes for the same inputs: cache it."""
    if seal_type == "03":
        return oval_seal(org_name, uscc)
    purpose = "" if seal_type in ("01", "99") else SEAL_TYPES[seal_type]
    return round_seal(org_name, purpose)


def _check_spec(spec: SealSpec) -> None:
    if not _CODE.fullmatch(spec.code):
        raise EsignError(ErrorCode.BAD_OPTION, detail="a seal code is 1–64 letters, digits, '.', '_' or '-'")
    if spec.seal_type not in SEAL_TYPES:
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"seal type is one of {', '.join(SEAL_TYPES)}")
    if not is_valid_uscc(spec.uscc):
        raise EsignError(ErrorCode.USCC_INVALID, uscc=spec.uscc)
    if not spec.org_name.strip():
        raise EsignError(ErrorCode.BAD_OPTION, detail="the organisation name is empty")


def _window(
    cert: x509.Certificate, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    not_before, not_after = certificate_validity(cert)
    return start or max(now, not_before), end or not_after


async def _prove_key(keys: KeyStore, ref: KeyRef, chain: list[x509.Certificate]) -> None:
    signer = await asyncio.to_thread(keys.signer, ref, chain)
    if not await signer_matches_certificate(signer, chain[0]):
        raise EsignError(ErrorCode.CERT_KEY_MISMATCH)


class SesSealIssuer(Protocol):
    """The seal maker (``keystore.esl.SealMaker``): a registered SM2 seal's GB/T 38540 SESeal, as DER."""

    def issue(self, seal: Seal, created: datetime) -> bytes: ...


def _issue_ses_seal(seal: Seal, maker: SesSealIssuer | None, now: datetime) -> bytes | None:
    """An SM2 seal's SESeal when a seal maker is configured; None for other seals (or without a maker:
    ``esign seals export-esl`` with a maker makes and stores it later)."""
    if maker is None or not is_sm2_certificate(seal_chain(seal)[0]):
        return None
    return maker.issue(seal, now)


async def register_seal(
    db: Database,
    keys: KeyStore,
    actor: Principal,
    spec: SealSpec,
    appearance: SealImage,
    now: datetime | None = None,
    seal_maker: SesSealIssuer | None = None,
) -> Seal:
    """Check everything, prove the key, then create the seal (active) with its first history event.

    An SM2 seal gets its GB/T 38540 SESeal from ``seal_maker`` now, once: stored with the row.
    """
    now = now or utcnow()
    _check_spec(spec)
    require_seal_admin(actor, spec.uscc)
    with db.transaction() as session:
        if session.execute(select(Seal.id).where(Seal.code == spec.code)).first() is not None:
            raise EsignError(ErrorCode.SEAL_CODE_TAKEN, seal=spec.code)
        entry = bindable_key(session, spec.key_name, actor, spec.uscc)
        ref, chain = key_ref(entry), key_chain(entry)
    valid_from, valid_to = _window(chain[0], spec.valid_from, spec.valid_to, now)
    check_seal_certificate(
        chain[0], org_name=spec.org_name, uscc=spec.uscc, valid_from=valid_from, valid_to=valid_to, now=now
    )
    await _prove_key(keys, ref, chain)
    seal = Seal(
        code=spec.code,
        seal_type=spec.seal_type,
        org_name=spec.org_name.strip(),
        uscc=spec.uscc,
        key_name=spec.key_name,
        cert_chain=chain_to_pem(chain),
        appearance=appearance.pdf,
        appearance_width_mm=appearance.width_mm,
        appearance_height_mm=appearance.height_mm,
        valid_from=valid_from,
        valid_to=valid_to,
        status=SealStatus.ACTIVE,
        created_by=actor.name,
        updated_by=actor.name,
    )
    seal.ses_seal = _issue_ses_seal(seal, seal_maker, now)
    try:
        with db.transaction() as session:
            session.add(seal)
            _event(session, seal, actor, "registered", key=spec.key_name, **_window_detail(seal))
    except IntegrityError:
        raise EsignError(ErrorCode.SEAL_CODE_TAKEN, seal=spec.code) from None
    return seal


def find_seal(session: Session, code: str) -> Seal:
    seal = session.execute(select(Seal).where(Seal.code == code)).scalar_one_or_none()
    if seal is None:
        raise EsignError(ErrorCode.SEAL_NOT_FOUND, seal=code)
    return seal


def list_seals(session: Session, uscc: str | None = None) -> list[Seal]:
    query = select(Seal).order_by(Seal.code)
    if uscc:
        query = query.where(Seal.uscc == uscc)
    return list(session.execute(query).scalars())


def seal_chain(seal: Seal) -> list[x509.Certificate]:
    return chain_from_pem(seal.cert_chain)


def seal_appearance(seal: Seal) -> SealImage:
    return SealImage(
        pdf=seal.appearance, width_mm=seal.appearance_width_mm, height_mm=seal.appearance_height_mm
    )


class SealWindow(Protocol):
    """What the usability rules read: a :class:`Seal`, or a light row of these columns."""

    code: str
    status: str
    valid_from: datetime
    valid_to: datetime


#: a seal's lifecycle columns (cheap to re-read on every use) and whether a given client holds a grant
_SEAL_STATE = select(
    Seal.id,
    Seal.code,
    Seal.uscc,
    Seal.status,
    Seal.valid_from,
    Seal.valid_to,
    Seal.updated_at,
    exists()
    .where(Grant.seal_id == Seal.id, Grant.client_id == bindparam("client_id", type_=Integer))
    .label("granted"),
).where(Seal.code == bindparam("code"))


def seal_state(executor: Session | Connection, code: str, client_id: int | None = None) -> Row[Any]:
    """Seal ``code``'s lifecycle columns, and ``granted``: may API client ``client_id`` use it?

    The certificate chain and picture are left out: this runs twice for every sealed document.
    """
    row = executor.execute(_SEAL_STATE, {"code": code, "client_id": client_id}).one_or_none()
    if row is None:
        raise EsignError(ErrorCode.SEAL_NOT_FOUND, seal=code)
    return row


def effective_status(seal: SealWindow, now: datetime | None = None) -> str:
    """The status a user sees: the stored one, or ``expired``/``pending`` when outside the window."""
    now = now or utcnow()
    if seal.status != SealStatus.ACTIVE:
        return seal.status
    if now < seal.valid_from:
        return "pending"
    if now > seal.valid_to:
        return "expired"
    return SealStatus.ACTIVE


def require_usable(seal: SealWindow, now: datetime | None = None) -> None:
    """Refuse a seal that is suspended, revoked, expired or not yet valid (409)."""
    now = now or utcnow()
    status = effective_status(seal, now)
    if status == SealStatus.ACTIVE:
        return
    reason = {
        "pending": f"valid from {seal.valid_from.isoformat()}",
        "expired": f"expired on {seal.valid_to.isoformat()}",
    }.get(status, status)
    raise EsignError(ErrorCode.SEAL_NOT_ACTIVE, seal=seal.code, reason=reason)


def suspend_seal(session: Session, actor: Principal, code: str, reason: str = "") -> Seal:
    return _transition(session, actor, code, "suspended", {SealStatus.ACTIVE}, SealStatus.SUSPENDED, reason)


def resume_seal(session: Session, actor: Principal, code: str, reason: str = "") -> Seal:
    return _transition(session, actor, code, "resumed", {SealStatus.SUSPENDED}, SealStatus.ACTIVE, reason)


def revoke_seal(session: Session, actor: Principal, code: str, reason: str = "") -> Seal:
    allowed = {SealStatus.ACTIVE, SealStatus.SUSPENDED}
    return _transition(session, actor, code, "revoked", allowed, SealStatus.REVOKED, reason)


def _transition(
    session: Session,
    actor: Principal,
    code: str,
    action: str,
    allowed_from: set[SealStatus],
    to: SealStatus,
    reason: str,
) -> Seal:
    seal = find_seal(session, code)
    require_seal_admin(actor, seal.uscc)
    if seal.status not in allowed_from:
        raise EsignError(ErrorCode.SEAL_BAD_TRANSITION, seal=code, status=seal.status, action=action)
    seal.status = to
    seal.updated_by = actor.name
    _event(session, seal, actor, action, reason=reason)
    return seal


async def rotate_seal(
    db: Database,
    keys: KeyStore,
    actor: Principal,
    code: str,
    key_name: str,
    valid_to: datetime | None = None,
    now: datetime | None = None,
    seal_maker: SesSealIssuer | None = None,
) -> Seal:
    """Put a new key and certificate behind ``code``; the seal's code, status and history stay.

    The stored SESeal named the old certificate: it is made anew by ``seal_maker`` (or dropped).
    """
    now = now or utcnow()
    with db.transaction() as session:
        seal = find_seal(session, code)
        require_seal_admin(actor, seal.uscc)
        if seal.status == SealStatus.REVOKED:
            raise EsignError(ErrorCode.SEAL_BAD_TRANSITION, seal=code, status=seal.status, action="rotated")
        entry = bindable_key(session, key_name, actor, seal.uscc)
        ref, chain = key_ref(entry), key_chain(entry)
        org_name, uscc = seal.org_name, seal.uscc
    valid_from, valid_to = _window(chain[0], None, valid_to, now)
    check_seal_certificate(
        chain[0], org_name=org_name, uscc=uscc, valid_from=valid_from, valid_to=valid_to, now=now
    )
    await _prove_key(keys, ref, chain)
    with db.transaction() as session:
        seal = find_seal(session, code)
        if seal.status == SealStatus.REVOKED:  # revoked while we were proving the key
            raise EsignError(ErrorCode.SEAL_BAD_TRANSITION, seal=code, status=seal.status, action="rotated")
        previous = seal.key_name
        seal.key_name, seal.cert_chain = key_name, chain_to_pem(chain)
        seal.valid_from, seal.valid_to = valid_from, valid_to
        seal.ses_seal = _issue_ses_seal(seal, seal_maker, now)
        seal.updated_by = actor.name
        _event(session, seal, actor, "rotated", previous_key=previous, key=key_name, **_window_detail(seal))
    return seal


def _window_detail(seal: Seal) -> dict[str, str]:
    return {"valid_from": seal.valid_from.isoformat(), "valid_to": seal.valid_to.isoformat()}


def _event(session: Session, seal: Seal, actor: Principal, action: str, **detail: Any) -> None:
    session.flush()  # a new seal needs its id before the event can point at it
    session.add(SealEvent(seal_id=seal.id, action=action, actor=actor.name, detail=json.dumps(detail)))
    audit.append(
        session,
        actor=actor.name,
        action=f"seal.{action}",
        seal_code=seal.code,
        payload={"seal": seal.code, "uscc": seal.uscc, "status": seal.status, **detail},
    )
