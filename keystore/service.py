"""Sealing through the registry: lookup → authorisation → signer → ``esign.seal.aseal`` → audit record.

The CLI (``esign seal --seal CODE``), batch jobs and the HTTP API all seal through
:meth:`SealService.aapply`, so they share one set of rules and one audit trail. Signing happens
outside any database transaction (the audit chain is locked only for the append itself), so several
processes seal in parallel and still build one chain.

The audit record is written in a transaction that first re-reads the seal: a seal suspended or
revoked while a document was being signed produces no audit record and no sealed document.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asn1crypto import x509
from pyhanko.sign.signers import Signer
from pyhanko.sign.timestamps import TimeStamper

from esign.seal import SealOptions, aseal
from esign.sealimage import SealImage
from keystore import audit
from keystore.authz import Principal, require_sealer
from keystore.clients import is_granted
from keystore.db import Database
from keystore.keyring import audit_key, find_key, key_chain, key_ref
from keystore.keys import KeyRef, KeyStore
from keystore.registry import find_seal, require_usable, seal_appearance, seal_chain

__all__ = ["SealResult", "SealService"]


@dataclasses.dataclass(frozen=True)
class SealResult:
    pdf: bytes
    audit_seq: int
    seal_code: str
    sha256_before: str
    sha256_after: str
    request_id: str


@dataclasses.dataclass(frozen=True)
class _Prepared:
    ref: KeyRef
    chain: list[x509.Certificate]
    image: SealImage


class SealService:
    """One per process: it owns the key cache (each key is opened once) and the audit settings."""

    @classmethod
    def from_env(cls, db: Database, timestamper: TimeStamper | None = None) -> SealService:
        """The service as configured by ``ESIGN_AUDIT_KEY`` and ``ESIGN_AUDIT_*`` (see docs/audit.md)."""
        keys = KeyStore()
        with db.transaction() as session:
            entry = audit_key(session)
            signer = keys.signer(key_ref(entry), key_chain(entry)) if entry else None
        return cls(
            db,
            keys,
            settings=audit.AuditSettings.from_env(),
            checkpoint_signer=signer,
            timestamper=timestamper,
        )

    def __init__(
        self,
        db: Database,
        keys: KeyStore | None = None,
        *,
        settings: audit.AuditSettings | None = None,
        checkpoint_signer: Signer | None = None,
        timestamper: TimeStamper | None = None,
    ) -> None:
        self.db = db
        self.keys = keys or KeyStore()
        self.settings = settings or audit.AuditSettings()
        self.checkpoint_signer = checkpoint_signer
        self.timestamper = timestamper

    async def aapply(
        self,
        who: Principal,
        seal_code: str,
        pdf: bytes,
        options: SealOptions = SealOptions(),  # noqa: B008 - frozen
        *,
        request_id: str | None = None,
        before_record: Callable[[bytes], None] | None = None,
        now: datetime | None = None,
    ) -> SealResult:
        """Seal ``pdf`` with the registered seal ``seal_code`` on behalf of ``who``.

        ``before_record`` receives the sealed bytes before the audit record is committed; batch jobs
        use it to make the output durable first (see ``keystore.batch``). If it raises, nothing is
        recorded.
        """
        request_id = request_id or uuid.uuid4().hex
        prepared = await asyncio.to_thread(self._authorise, who, seal_code, now)
        signer = await asyncio.to_thread(self.keys.signer, prepared.ref, prepared.chain)
        sealed = await aseal(pdf, signer, options, image=prepared.image, timestamper=self.timestamper)
        if before_record is not None:
            await asyncio.to_thread(before_record, sealed)
        result = SealResult(
            pdf=sealed,
            audit_seq=0,
            seal_code=seal_code,
            sha256_before=hashlib.sha256(pdf).hexdigest(),
            sha256_after=hashlib.sha256(sealed).hexdigest(),
            request_id=request_id,
        )
        seq = await asyncio.to_thread(self._record, who, result, options)
        await self._maybe_checkpoint(seq)
        return dataclasses.replace(result, audit_seq=seq)

    def apply(
        self, who: Principal, seal_code: str, pdf: bytes, options: SealOptions, **kw: Any
    ) -> SealResult:
        """Synchronous :meth:`aapply` for scripts and the CLI (not for code inside an event loop)."""
        return asyncio.run(self.aapply(who, seal_code, pdf, options, **kw))

    def _authorise(self, who: Principal, seal_code: str, now: datetime | None) -> _Prepared:
        with self.db.transaction() as session:
            seal = find_seal(session, seal_code)
            require_sealer(who, seal.uscc, who.is_operator or is_granted(session, who, seal))
            require_usable(seal, now)
            entry = find_key(session, seal.key_name)
            return _Prepared(ref=key_ref(entry), chain=seal_chain(seal), image=seal_appearance(seal))

    def _record(self, who: Principal, result: SealResult, options: SealOptions) -> int:
        with self.db.transaction() as session:
            seal = find_seal(session, result.seal_code)
            require_usable(seal)
            record = audit.append(
                session,
                actor=who.name,
                action="seal.applied",
                seal_code=seal.code,
                request_id=result.request_id,
                payload={
                    "sha256_before": result.sha256_before,
                    "sha256_after": result.sha256_after,
                    "level": str(options.level),
                    "certification": str(options.certification),
                },
            )
            return record.seq

    async def _maybe_checkpoint(self, seq: int) -> None:
        every = self.settings.checkpoint_every
        if self.checkpoint_signer is not None and every > 0 and seq % every == 0:
            await audit.checkpoint(self.db, self.checkpoint_signer)

    def record_verification(
        self, who: Principal, document_sha256: str, verdict: str, request_id: str | None
    ) -> None:
        """Log a verification when the agency chose to (``AuditSettings.log_verifications``)."""
        if not self.settings.log_verifications:
            return
        with self.db.transaction() as session:
            audit.append(
                session,
                actor=who.name,
                action="document.verified",
                request_id=request_id,
                payload={"sha256": document_sha256, "verdict": verdict},
            )
