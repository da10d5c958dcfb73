"""Sealed documents kept under a client's ``Idempotency-Key``, so a lost response can be fetched again.

A sealed document cannot be derived again (the signing time and, for ECDSA and SM2, the signature
itself differ every time), so the bytes are kept: in the transaction that writes the audit record,
which makes "recorded" and "retrievable" the same event. Entries older than
``ESIGN_IDEMPOTENCY_TTL_S`` (default one day) are dropped when a new one is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, insert, select

from esign.errors import ErrorCode, EsignError
from esign.seal import SealOptions
from keystore.models import IdempotentSeal, utcnow

__all__ = ["Stored", "check_key", "find", "fingerprint", "store"]

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Stored:
    """A request already answered: what it asked for and the sealed document it got."""

    fingerprint: str
    seal_code: str
    audit_seq: int
    sha256_before: str
    pdf: bytes


def check_key(key: str) -> str:
    """A key is 1–200 visible ASCII characters (what fits a header and a log line unescaped)."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all("!" <= ch <= "~" for ch in key):
        raise EsignError(
            ErrorCode.REQUEST_INVALID, detail="Idempotency-Key is 1–200 visible ASCII characters"
        )
    return key


def fingerprint(seal_code: str, options: SealOptions, pdf: bytes) -> str:
    """What a request asks for: the seal, the options and the document (the same key must ask the same)."""
    digest = hashlib.sha256(f"{seal_code}\0{options!r}\0".encode())
    digest.update(pdf)
    return digest.hexdigest()


_FIND = select(
    IdempotentSeal.fingerprint,
    IdempotentSeal.seal_code,
    IdempotentSeal.audit_seq,
    IdempotentSeal.sha256_before,
    IdempotentSeal.pdf,
)


def find(connection: Connection, client: str, key: str, wanted: str, ttl_s: int) -> Stored | None:
    """The stored answer to ``client``'s ``key``; a different request under the same key is refused."""
    row = connection.execute(
        _FIND.where(
            IdempotentSeal.client == client,
            IdempotentSeal.key == key,
            IdempotentSeal.created_at >= utcnow() - timedelta(seconds=ttl_s),
        )
    ).one_or_none()
    if row is None:
        return None
    if row.fingerprint != wanted:
        raise EsignError(ErrorCode.IDEMPOTENCY_KEY_REUSED, key=key)
    return Stored(*row)


def store(connection: Connection, client: str, key: str, stored: Stored, ttl_s: int) -> None:
    """Keep the answer (inside the audit record's transaction) and drop expired ones."""
    now = utcnow()
    connection.execute(
        delete(IdempotentSeal).where(IdempotentSeal.created_at < now - timedelta(seconds=ttl_s))
    )
    connection.execute(
        insert(IdempotentSeal),
        {
            "client": client,
            "key": key,
            "fingerprint": stored.fingerprint,
            "seal_code": stored.seal_code,
            "audit_seq": stored.audit_seq,
            "sha256_before": stored.sha256_before,
            "pdf": stored.pdf,
            "created_at": now,
        },
    )
