"""The audit chain: every kind of tampering is detected and the first bad record is named."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, update

from esign.seal.signers import load_pkcs12
from fixtures.pki import TestPKI
from keystore import audit
from keystore.db import Database
from keystore.models import AuditCheckpoint, AuditRecord
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures


@pytest.fixture(scope="module")
def audit_signer(pki: TestPKI):  # type: ignore[no-untyped-def]
    return load_pkcs12(pki.pkcs12("audit", b"audit-pass"), b"audit-pass")


def _fill(db: Database, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        with db.transaction() as session:
            audit.append(session, actor="tester", action="seal.applied", seal_code="A-1", payload={"n": i})


def _verify(db: Database, pki: TestPKI) -> audit.AuditVerification:
    with db.transaction() as session:
        return audit.verify_chain(session, pki.cert("audit"))


@pytest.fixture
def chain(db: Database, audit_signer) -> Database:  # type: ignore[no-untyped-def]
    """Records 1–6 with a checkpoint at 5 (the last checkpoint need not be the head)."""
    _fill(db, 5)
    assert asyncio.run(audit.checkpoint(db, audit_signer)) is not None
    _fill(db, 1, start=5)
    return db


def _tamper(db: Database, change: Callable) -> None:  # type: ignore[type-arg]
    with db.transaction() as session:
        change(session)


def test_untouched_chain_verifies_with_its_checkpoint(chain: Database, pki: TestPKI) -> None:
    result = _verify(chain, pki)
    assert result.ok and result.records == 6 and result.checkpoints == 1


def test_edited_record_is_named(chain: Database, pki: TestPKI) -> None:
    _tamper(
        chain,
        lambda s: s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(actor="someone else")),
    )
    problem = _verify(chain, pki).problem
    assert problem is not None and (problem.seq, problem.kind) == (3, "edited")


def test_deleted_record_is_a_gap(chain: Database, pki: TestPKI) -> None:
    _tamper(chain, lambda s: s.execute(delete(AuditRecord).where(AuditRecord.seq == 3)))
    problem = _verify(chain, pki).problem
    assert problem is not None and (problem.seq, problem.kind) == (4, "gap")


def test_deleted_record_with_renumbering_breaks_the_chain(chain: Database, pki: TestPKI) -> None:
    def delete_and_renumber(session) -> None:  # type: ignore[no-untyped-def]
        session.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
        for seq in (4, 5, 6):
            session.execute(update(AuditRecord).where(AuditRecord.seq == seq).values(seq=seq - 1))

    _tamper(chain, delete_and_renumber)
    problem = _verify(chain, pki).problem
    assert problem is not None and (problem.seq, problem.kind) == (3, "chain-broken")


def test_inserted_record_breaks_the_chain_after_it(chain: Database, pki: TestPKI) -> None:
    def insert_at_3(session) -> None:  # type: ignore[no-untyped-def]
        for seq in (6, 5, 4, 3):
            session.execute(update(AuditRecord).where(AuditRecord.seq == seq).values(seq=seq + 1))
        second = session.get(AuditRecord, 2)
        forged = AuditRecord(
            seq=3, at=second.at, actor="intruder", action="seal.applied", seal_code="A-1",
            request_id=None, payload='{"n":99}', prev_hash=second.hash,
        )  # fmt: skip
        forged.hash = audit.record_hash(forged)  # a careful forger hashes correctly…
        session.add(forged)

    _tamper(chain, insert_at_3)
    problem = _verify(chain, pki).problem
    # …but the original record 3, now at 4, still points at record 2
    assert problem is not None and (problem.seq, problem.kind) == (4, "chain-broken")


def test_reordered_records_break_the_chain(chain: Database, pki: TestPKI) -> None:
    def swap_2_and_3(session) -> None:  # type: ignore[no-untyped-def]
        session.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(seq=-2))
        session.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(seq=2))
        session.execute(update(AuditRecord).where(AuditRecord.seq == -2).values(seq=3))

    _tamper(chain, swap_2_and_3)
    problem = _verify(chain, pki).problem
    assert problem is not None and (problem.seq, problem.kind) == (2, "chain-broken")


def test_rewritten_chain_is_caught_by_the_signed_checkpoint(chain: Database, pki: TestPKI) -> None:
    def rewrite_from_2(session) -> None:  # type: ignore[no-untyped-def]
        records = list(session.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars())
        records[1].payload = '{"n":1000}'
        for previous, record in itertools.pairwise(records):
            record.prev_hash = previous.hash
            record.hash = audit.record_hash(record)

    _tamper(chain, rewrite_from_2)
    problem = _verify(chain, pki).problem
    assert problem is not None and (problem.seq, problem.kind) == (5, "checkpoint-mismatch")


def test_deleted_tail_is_caught_by_the_checkpoint(chain: Database, pki: TestPKI) -> None:
    _tamper(chain, lambda s: s.execute(delete(AuditRecord).where(AuditRecord.seq >= 4)))
    problem = _verify(chain, pki).problem
    assert problem is not None and (problem.seq, problem.kind) == (4, "truncated")


def test_checkpoint_signed_by_another_key_is_forged(chain: Database, pki: TestPKI) -> None:
    rogue = load_pkcs12(pki.pkcs12("rogue-signer", b"x"), b"x")
    _tamper(chain, lambda s: s.execute(delete(AuditCheckpoint)))
    asyncio.run(audit.checkpoint(chain, rogue))
    problem = _verify(chain, pki).problem
    assert problem is not None and (problem.seq, problem.kind) == (6, "checkpoint-forged")


def test_checkpoint_with_altered_hash_is_forged(chain: Database, pki: TestPKI) -> None:
    _tamper(chain, lambda s: s.execute(update(AuditCheckpoint).values(head_hash="0" * 64)))
    problem = _verify(chain, pki).problem
    assert problem is not None and (problem.seq, problem.kind) == (5, "checkpoint-forged")


def test_checkpoints_cannot_be_trusted_without_the_audit_certificate(chain: Database) -> None:
    with chain.transaction() as session:
        assert not audit.verify_chain(session, None).ok


def test_records_export_as_dicts_in_order(chain: Database) -> None:
    with chain.transaction() as session:
        exported = [audit.record_as_dict(record) for record in audit.iter_records(session, batch=4)]
    assert [r["seq"] for r in exported] == [1, 2, 3, 4, 5, 6]
    assert exported[2]["payload"] == {"n": 2} and exported[2]["prev_hash"] == exported[1]["hash"]


def test_verifications_are_logged_only_when_configured(db: Database) -> None:
    from keystore.authz import OPERATOR
    from keystore.service import SealService

    SealService(db).record_verification(OPERATOR, "ab" * 32, "TOTAL_PASSED", "r-1")
    logging_on = SealService(db, settings=audit.AuditSettings(log_verifications=True))
    logging_on.record_verification(OPERATOR, "cd" * 32, "TOTAL_FAILED", "r-2")
    with db.transaction() as session:
        records = [audit.record_as_dict(r) for r in audit.iter_records(session)]
    assert [(r["action"], r["payload"]) for r in records] == [
        ("document.verified", {"sha256": "cd" * 32, "verdict": "TOTAL_FAILED"})
    ]
