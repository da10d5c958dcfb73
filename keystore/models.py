"""The registry's tables (SQLAlchemy 2). Schema changes go through ``keystore/migrations``.

Times are stored in UTC and come back timezone-aware on every backend (SQLite has no time zones).
Audit records keep their time as the ISO text that was hashed, so verification recomputes the
hash from exactly the stored characters.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, LargeBinary, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "PLATFORM_OWNER",
    "AuditCheckpoint",
    "AuditRecord",
    "Base",
    "Batch",
    "BatchDocument",
    "Client",
    "Grant",
    "IdempotentSeal",
    "KeyEntry",
    "Seal",
    "SealEvent",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


#: ``KeyEntry.owner`` of a key that belongs to the platform itself (audit checkpoints): never a seal's
PLATFORM_OWNER = "platform"


class KeyEntry(Base):
    """A signing key known to the keystore: where it is (reference JSON, no secrets) and its certificate.

    ``owner`` is the USCC of the one organisation whose seals the key may back, or
    :data:`PLATFORM_OWNER` (see ``keystore.ownership``). The database default is the safe side: a
    row written without an owner is a platform key, which backs no seal.
    """

    __tablename__ = "keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(Text)
    cert_chain: Mapped[str] = mapped_column(Text)  # PEM, signing certificate first
    owner: Mapped[str] = mapped_column(String(18), server_default=PLATFORM_OWNER)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Seal(Base):
    __tablename__ = "seals"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    seal_type: Mapped[str] = mapped_column(String(2))
    org_name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    key_name: Mapped[str] = mapped_column(ForeignKey("keys.name"))
    cert_chain: Mapped[str] = mapped_column(Text)
    #: the seal picture as a one-page PDF (``esign.seal.image.SealImage.pdf``) and its size
    appearance: Mapped[bytes] = mapped_column(LargeBinary)
    appearance_width_mm: Mapped[float] = mapped_column(Float)
    appearance_height_mm: Mapped[float] = mapped_column(Float)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    #: an SM2 seal's GB/T 38540 SESeal (DER), signed by the seal maker once, at registration or rotation
    ses_seal: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_by: Mapped[str] = mapped_column(String(128))

    events: Mapped[list[SealEvent]] = relationship(order_by="SealEvent.id", cascade="all, delete-orphan")


class SealEvent(Base):
    """One line of a seal's history (registered, suspended, rotated …)."""

    __tablename__ = "seal_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class Client(Base):
    """An API client; ``key_hash`` is a slow hash of its API key, which is shown once and never stored."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    org_name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated role names
    key_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    grants: Mapped[list[Grant]] = relationship(cascade="all, delete-orphan")


class Grant(Base):
    """Client X may seal with seal Y (still subject to the organisation rule)."""

    __tablename__ = "grants"

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), primary_key=True)


class AuditRecord(Base):
    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32), index=True)
    seal_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signature by the audit key over (sequence, record hash, previous checkpoint): pins the chain.

    ``prev_digest`` chains the checkpoints themselves (``keystore.audit.checkpoint_digest`` of the
    one before, or the genesis value), so a deleted checkpoint in the middle is detected; ``None``
    marks a checkpoint written before checkpoints were chained (signed without it).
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    prev_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)


class IdempotentSeal(Base):
    """A sealed document kept under the client's ``Idempotency-Key``, written with its audit record.

    A client that lost the response (a dropped connection, a killed server) repeats the request
    with the same key and receives these very bytes instead of a second sealed document.
    ``fingerprint`` is the SHA-256 of what was asked (seal, options, document), so the same key
    with a different request is refused rather than answered with the wrong document.
    """

    __tablename__ = "idempotent_seals"

    client: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    seal_code: Mapped[str] = mapped_column(String(64))
    audit_seq: Mapped[int] = mapped_column(BigInteger)
    sha256_before: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Batch(Base):
    """A batch of documents to seal with one seal for one client (``POST /v1/seals/{code}/batches``).

    ``options`` are the request's sealing fields as JSON: each job parses them as the route would.
    """

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seal_code: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(128), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    options: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BatchDocument(Base):
    """One document of a batch, keyed by its SHA-256: the same bytes twice are one document, sealed once.

    ``state`` goes ``pending`` → ``sealed`` (with the audit record's ``audit_seq`` and the sealed
    bytes) or ``failed`` (with the refusal's ``error_code``); a job finding it no longer pending does
    nothing, which is what makes a redelivered job harmless.
    """

    __tablename__ = "batch_documents"

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(255))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), index=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
