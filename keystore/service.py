"""Sealing through the registry: lookup → authorisation → signer → ``esign.seal.pades.aseal`` → audit record.

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
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pyhanko.sign.signers import Signer
from pyhanko.sign.timestamps import TimeStamper
from sqlalchemy import Connection, Row

from esign.errors import ErrorCode, EsignError
from esign.seal.image import SealImage
from esign.seal.pades import SealOptions, aseal
from esign.sync_bridge import run_sync
from keystore import audit
from keystore.authz import Principal, require_sealer
from keystore.db import Database
from keystore.keyring import audit_key, find_key, key_chain, key_ref
from keystore.keys import KeyStore
from keystore.ownership import require_key_backs
from keystore.registry import find_seal, require_usable, seal_appearance, seal_chain, seal_state

__all__ = ["SealResult", "SealService"]

_CACHE_LIMIT = 4096  # entries per per-process cache; far more than an agency has seals and clients
#: how long a positive pre-signing check is reused (the audit transaction re-checks every time)
RECHECK_SECONDS = 1.0


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
    signer: Signer
    image: SealImage
    version: tuple[int, datetime]  #: (seal id, updated_at) the signer and picture belong to


def _check_use(connection: Connection, who: Principal, seal_code: str, now: datetime | None) -> Row[Any]:
    """May ``who`` seal with ``seal_code`` now? Returns the seal's lifecycle columns."""
    state = seal_state(connection, seal_code, who.client_id)
    require_sealer(who, state.uscc, who.is_operator or state.granted)
    require_usable(state, now)
    return state


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


class _SealChanged(Exception):
    """The seal's version moved between the pre-signing check and the audit record."""


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
        self._prepared: dict[tuple[int, datetime], _Prepared] = {}
        self._allowed: dict[tuple[Principal, str], tuple[_Prepared, float]] = {}

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
        try:
            return await self._apply_once(who, seal_code, pdf, options, request_id, before_record, now)
        except _SealChanged:
            # Signed with a seal version that changed meanwhile (rotated, suspended and resumed …):
            # that document must not be recorded; decide afresh and seal once more.
            try:
                return await self._apply_once(who, seal_code, pdf, options, request_id, before_record, now)
            except _SealChanged as again:
                raise EsignError(
                    ErrorCode.SEAL_NOT_ACTIVE, seal=seal_code, reason="changed while sealing"
                ) from again

    async def _apply_once(
        self,
        who: Principal,
        seal_code: str,
        pdf: bytes,
        options: SealOptions,
        request_id: str,
        before_record: Callable[[bytes], None] | None,
        now: datetime | None,
    ) -> SealResult:
        prepared = self._remembered(who, seal_code, now) or await asyncio.to_thread(
            self._authorise, who, seal_code, now
        )
        sealed = await aseal(
            pdf, prepared.signer, options, image=prepared.image, timestamper=self.timestamper
        )
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
        seq = await asyncio.to_thread(self._record, who, prepared, result, options)
        await self._maybe_checkpoint(seq)
        return dataclasses.replace(result, audit_seq=seq)

    def apply(
        self, who: Principal, seal_code: str, pdf: bytes, options: SealOptions, **kw: Any
    ) -> SealResult:
        """Synchronous :meth:`aapply` for scripts and the CLI (not for code inside an event loop)."""
        return run_sync(self.aapply(who, seal_code, pdf, options, **kw))

    def _authorise(self, who: Principal, seal_code: str, now: datetime | None) -> _Prepared:
        """The pre-signing check: refuse early, before a key is used for a request that will fail.

        A positive answer is remembered for :data:`RECHECK_SECONDS` per caller and seal, because
        the authoritative check is repeated in the audit transaction (:meth:`_record`): a seal
        suspended or a grant withdrawn in between yields no audit record and no document. The
        certificate chain, picture and signer are loaded once per version of the seal.
        """
        with self.db.statements(read_only=True) as connection:
            state = _check_use(connection, who, seal_code, now)
        version = (state.id, state.updated_at)
        prepared = self._prepared.get(version)
        if prepared is None:
            with self.db.reading() as session:
                seal = find_seal(session, seal_code)
                entry = find_key(session, seal.key_name)
                # a seal put on a platform or foreign key before keys had owners must not seal
                require_key_backs(entry, seal.uscc)
                ref, chain = key_ref(entry), seal_chain(seal)
                image = seal_appearance(seal)
            prepared = _Prepared(signer=self.keys.signer(ref, chain), image=image, version=version)
            _bounded_put(self._prepared, version, prepared)
        _bounded_put(self._allowed, (who, seal_code), (prepared, time.monotonic() + RECHECK_SECONDS))
        return prepared

    def _remembered(self, who: Principal, seal_code: str, now: datetime | None) -> _Prepared | None:
        """A recent positive pre-signing check (answered on the event loop, no thread hop)."""
        remembered = self._allowed.get((who, seal_code))
        if remembered is None or now is not None or remembered[1] < time.monotonic():
            return None
        return remembered[0]

    def _record(self, who: Principal, prepared: _Prepared, result: SealResult, options: SealOptions) -> int:
        """The authoritative check and the audit record, in one transaction."""
        with self.db.statements() as connection:
            try:
                state = _check_use(connection, who, result.seal_code, None)
            except EsignError:
                self._allowed.pop((who, result.seal_code), None)  # the next request checks afresh
                raise
            if (state.id, state.updated_at) != prepared.version:
                self._allowed.pop((who, result.seal_code), None)
                raise _SealChanged(result.seal_code)
            record = audit.append(
                connection,
                actor=who.name,
                action="seal.applied",
                seal_code=result.seal_code,
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
