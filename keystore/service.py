"""Sealing through the registry: lookup → authorisation → signer → ``esign.seal.pades.aseal`` → audit record.

The CLI (``esign seal --seal CODE``), batch jobs and the HTTP API all seal through
:meth:`SealService.aapply`, so they share one set of rules and one audit trail. Signing happens
outside any database transaction (the audit chain is locked only for the append itself), so several
processes seal in parallel and still build one chain.

The audit record is written in a transaction that first re-reads the seal: a seal suspended or
revoked while a document was being signed produces no audit record and no sealed document. With an
idempotency key the sealed document is kept in that same transaction (``keystore.idempotency``),
so every ``seal.applied`` record of a keyed request has a document its client can fetch again.
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
from sqlalchemy.exc import IntegrityError

from esign.errors import ErrorCode, EsignError
from esign.gm import ses
from esign.gm.certs import is_sm2_certificate
from esign.gm.cms_signer import SM2Signer
from esign.seal.gm import aseal_with
from esign.seal.image import SealImage
from esign.seal.pades import Level, SealOptions
from esign.sync_bridge import run_sync
from keystore import audit, idempotency
from keystore.audit_anchor import Anchor, anchor_for
from keystore.authz import Principal, require_sealer
from keystore.db import Database
from keystore.esl import SealMaker, stored_seal
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
    #: the stored answer to an earlier request with the same Idempotency-Key (no new record)
    replayed: bool = False


@dataclasses.dataclass(frozen=True)
class _Prepared:
    signer: Signer
    image: SealImage
    version: tuple[int, datetime]  #: (seal id, updated_at) the signer and picture belong to
    #: the GB/T 38540 seal an SM2 key seals with (None: not SM2, or no seal maker configured)
    ses_seal: ses.SESeal | None = None


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


class _Replayed(Exception):
    """Another request with the same Idempotency-Key was recorded first: answer with its document."""

    def __init__(self, stored: idempotency.Stored) -> None:
        super().__init__(stored.seal_code)
        self.stored = stored


@dataclasses.dataclass(frozen=True)
class _Keyed:
    """A request's Idempotency-Key and what the request asks for."""

    key: str
    fingerprint: str


def _replay(stored: idempotency.Stored, request_id: str) -> SealResult:
    return SealResult(
        pdf=stored.pdf,
        audit_seq=stored.audit_seq,
        seal_code=stored.seal_code,
        sha256_before=stored.sha256_before,
        sha256_after=hashlib.sha256(stored.pdf).hexdigest(),
        request_id=request_id,
        replayed=True,
    )


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
            anchor=anchor_for(db.url),
            seal_maker=SealMaker.from_env(),
        )

    def __init__(
        self,
        db: Database,
        keys: KeyStore | None = None,
        *,
        settings: audit.AuditSettings | None = None,
        checkpoint_signer: Signer | None = None,
        timestamper: TimeStamper | None = None,
        anchor: Anchor | None = None,
        seal_maker: SealMaker | None = None,
    ) -> None:
        self.db = db
        self.seal_maker = seal_maker
        self.anchor = anchor
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
        idempotency_key: str | None = None,
    ) -> SealResult:
        """Seal ``pdf`` with the registered seal ``seal_code`` on behalf of ``who``.

        ``before_record`` receives the sealed bytes before the audit record is committed; batch jobs
        use it to make the output durable first (see ``keystore.batch``). If it raises, nothing is
        recorded. With ``idempotency_key``, a request ``who`` already made under that key gets the
        document sealed then (``replayed``), and the same key for a different request is refused.
        """
        request_id = request_id or uuid.uuid4().hex
        keyed = None
        if idempotency_key is not None:
            keyed = _Keyed(
                idempotency.check_key(idempotency_key), idempotency.fingerprint(seal_code, options, pdf)
            )
            stored = await asyncio.to_thread(self._stored, who, keyed)
            if stored is not None:
                return _replay(stored, request_id)
        try:
            return await self._apply_once(who, seal_code, pdf, options, request_id, before_record, now, keyed)
        except _SealChanged:
            # Signed with a seal version that changed meanwhile (rotated, suspended and resumed …):
            # that document must not be recorded; decide afresh and seal once more.
            try:
                return await self._apply_once(
                    who, seal_code, pdf, options, request_id, before_record, now, keyed
                )
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
        keyed: _Keyed | None,
    ) -> SealResult:
        prepared = self._remembered(who, seal_code, now) or await asyncio.to_thread(
            self._authorise, who, seal_code, now
        )
        sealed = await aseal_with(
            pdf,
            prepared.signer,
            options,
            image=prepared.image,
            timestamper=self.timestamper,
            ses_seal=prepared.ses_seal,
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
        try:
            seq = await asyncio.to_thread(self._record, who, prepared, result, options, keyed)
        except _Replayed as first:
            return _replay(first.stored, request_id)
        except IntegrityError:
            # on PostgreSQL two requests with one key can both pass the check; the key's primary key
            # lets one commit, and the other answers with its document
            stored = await asyncio.to_thread(self._stored, who, keyed) if keyed else None
            if stored is None:
                raise
            return _replay(stored, request_id)
        await self._maybe_checkpoint(seq)
        return dataclasses.replace(result, audit_seq=seq)

    def default_level(self, seal_code: str) -> Level:
        """The level a request that names none gets: B-LT when a TSA is configured (a B-B seal draws
        the verifier's own "seal at B-LT" warning); B-B without a TSA, and for SM2 seals, whose
        GB/T 38540 signature has no long-term form here and whose verifiers trust only the SM2 root
        (the configured RSA TSA's token would leave them INDETERMINATE). An unknown seal gets B-B
        (applying it then fails with SEAL_NOT_FOUND)."""
        if self.timestamper is None:
            return Level.B_B
        with self.db.transaction() as session:
            try:
                chain = seal_chain(find_seal(session, seal_code))
            except EsignError:
                return Level.B_B
        return Level.B_B if chain and is_sm2_certificate(chain[0]) else Level.B_LT

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
                signer = self.keys.signer(ref, chain)
                # an SM2 key seals with the GB/T 38540 seal stored at registration; a seal registered
                # without a seal maker gets one from the maker for this version of the seal
                ses_seal = stored_seal(seal) if isinstance(signer, SM2Signer) else None
                if isinstance(signer, SM2Signer) and ses_seal is None and self.seal_maker is not None:
                    ses_seal = self.seal_maker.seal_for(seal)
            prepared = _Prepared(signer=signer, image=image, version=version, ses_seal=ses_seal)
            _bounded_put(self._prepared, version, prepared)
        _bounded_put(self._allowed, (who, seal_code), (prepared, time.monotonic() + RECHECK_SECONDS))
        return prepared

    def _remembered(self, who: Principal, seal_code: str, now: datetime | None) -> _Prepared | None:
        """A recent positive pre-signing check (answered on the event loop, no thread hop)."""
        remembered = self._allowed.get((who, seal_code))
        if remembered is None or now is not None or remembered[1] < time.monotonic():
            return None
        return remembered[0]

    def _stored(self, who: Principal, keyed: _Keyed) -> idempotency.Stored | None:
        with self.db.statements(read_only=True) as connection:
            return idempotency.find(
                connection, who.name, keyed.key, keyed.fingerprint, self.settings.idempotency_ttl_s
            )

    def _record(
        self,
        who: Principal,
        prepared: _Prepared,
        result: SealResult,
        options: SealOptions,
        keyed: _Keyed | None,
    ) -> int:
        """The authoritative check, the audit record and the kept document, in one transaction."""
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
                    **({"idempotency_key": keyed.key} if keyed else {}),
                },
            )
            if keyed is not None:
                self._keep(connection, who, keyed, result, record.seq)
            return record.seq

    def _keep(
        self, connection: Connection, who: Principal, keyed: _Keyed, result: SealResult, seq: int
    ) -> None:
        """Store the document under its key, unless a request with that key was recorded meanwhile.

        The check follows the append: on PostgreSQL the append holds the chain's lock, so a request
        with the same key committed before it is visible here; raising rolls this record back.
        """
        ttl = self.settings.idempotency_ttl_s
        earlier = idempotency.find(connection, who.name, keyed.key, keyed.fingerprint, ttl)
        if earlier is not None:
            raise _Replayed(earlier)
        kept = idempotency.Stored(keyed.fingerprint, result.seal_code, seq, result.sha256_before, result.pdf)
        idempotency.store(connection, who.name, keyed.key, kept, ttl)

    async def _maybe_checkpoint(self, seq: int) -> None:
        every = self.settings.checkpoint_every
        if self.checkpoint_signer is not None and every > 0 and seq % every == 0:
            await audit.checkpoint(self.db, self.checkpoint_signer, self.anchor)

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
