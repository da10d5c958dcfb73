"""Checkpoints form a chain and are anchored outside the database: deleting them is detected.

The attacks are made as someone with write access to the database would make them: rows deleted,
a record edited and every later hash recomputed. ``esign audit verify`` (and ``verify_chain``)
must report them; without the anchor they would pass, which the tests show as the known limit.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from api.cli import main
from esign.seal.signers import load_pkcs12
from fixtures.pki import TestPKI
from keystore import audit
from keystore.audit_anchor import Anchor, anchor_for
from keystore.db import Database
from keystore.models import AuditCheckpoint, AuditRecord
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures


@pytest.fixture(scope="module")
def audit_signer(pki: TestPKI):  # type: ignore[no-untyped-def]
    return load_pkcs12(pki.pkcs12("audit", b"audit-pass"), b"audit-pass")


@pytest.fixture
def anchor(tmp_path: Path) -> Anchor:
    return Anchor(tmp_path / "audit.anchor")


def _fill(db: Database, count: int) -> None:
    for i in range(count):
        with db.transaction() as session:
            audit.append(session, actor="tester", action="seal.applied", seal_code="A-1", payload={"n": i})


@pytest.fixture
def chain(db: Database, audit_signer, anchor: Anchor) -> Database:  # type: ignore[no-untyped-def]
    """Records 1–12, anchored checkpoints at 5 and 10."""
    for count in (5, 5):
        _fill(db, count)
        assert asyncio.run(audit.checkpoint(db, audit_signer, anchor)) is not None
    _fill(db, 2)
    return db


def _verify(db: Database, pki: TestPKI, anchor: Anchor | None) -> audit.AuditVerification:
    with db.transaction() as session:
        return audit.verify_chain(session, pki.cert("audit"), anchor)


def _tamper(db: Database, change: Callable[[Session], object]) -> None:
    with db.transaction() as session:
        change(session)


def _rehash_from(session: Session, seq: int) -> None:
    """Recompute ``prev_hash`` and ``hash`` of every record from ``seq`` on: a consistent forged chain."""
    previous = session.get(AuditRecord, seq - 1)
    prev_hash = previous.hash if previous else audit.GENESIS
    for record in session.execute(
        select(AuditRecord).where(AuditRecord.seq >= seq).order_by(AuditRecord.seq)
    ):
        row = record[0]
        row.prev_hash = prev_hash
        row.hash = prev_hash = audit.record_hash(row)


def _cli_verify(db: Database, pki: TestPKI, anchor: Anchor, tmp_path: Path) -> tuple[int, str]:
    pem = tmp_path / "audit.pem"
    pem.write_bytes(pki.root_pem("audit"))
    result = CliRunner().invoke(
        main,
        ["audit", "verify", "--database", db.url, "--audit-cert", str(pem), "--anchor", str(anchor.path)],
        catch_exceptions=False,
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_untouched_chain_verifies_with_every_checkpoint_anchored(
    chain: Database, pki: TestPKI, anchor: Anchor, tmp_path: Path
) -> None:
    result = _verify(chain, pki, anchor)
    assert result.ok and (result.records, result.checkpoints, result.anchored) == (12, 2, 2)
    code, output = _cli_verify(chain, pki, anchor, tmp_path)
    assert code == 0 and "2 anchored" in output, output
    assert stat.S_IMODE(anchor.path.stat().st_mode) == 0o600


def test_deleting_every_checkpoint_and_rewriting_the_chain_is_detected(
    chain: Database, pki: TestPKI, anchor: Anchor, tmp_path: Path
) -> None:
    def rewrite(session: Session) -> None:
        session.execute(delete(AuditCheckpoint))
        session.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(actor="someone else"))
        session.flush()
        _rehash_from(session, 3)

    _tamper(chain, rewrite)
    assert _verify(chain, pki, None).ok  # the database alone cannot tell: the limit the anchor closes
    problem = _verify(chain, pki, anchor).problem
    assert problem is not None and (problem.seq, problem.kind) == (5, "checkpoint-deleted")
    code, output = _cli_verify(chain, pki, anchor, tmp_path)
    assert code == 1 and "checkpoint-deleted" in output, output


def test_deleting_the_last_checkpoints_and_the_records_after_an_earlier_one_is_detected(
    chain: Database, pki: TestPKI, anchor: Anchor, tmp_path: Path
) -> None:
    def truncate(session: Session) -> None:
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq > 5))
        session.execute(delete(AuditRecord).where(AuditRecord.seq > 5))

    _tamper(chain, truncate)
    assert _verify(chain, pki, None).ok
    problem = _verify(chain, pki, anchor).problem
    assert problem is not None and (problem.seq, problem.kind) == (10, "checkpoint-deleted")
    assert _cli_verify(chain, pki, anchor, tmp_path)[0] == 1


def test_a_deleted_checkpoint_in_the_middle_breaks_the_checkpoint_chain(
    chain: Database, pki: TestPKI, anchor: Anchor, audit_signer
) -> None:  # type: ignore[no-untyped-def]
    assert asyncio.run(audit.checkpoint(chain, audit_signer, anchor)) is not None  # at 12
    _tamper(chain, lambda s: s.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq == 10)))
    problem = _verify(chain, pki, None).problem  # no anchor needed for this one
    assert problem is not None and (problem.seq, problem.kind) == (12, "checkpoint-chain-broken")


def test_an_edited_or_missing_anchor_file_is_reported(chain: Database, pki: TestPKI, anchor: Anchor) -> None:
    original = anchor.path.read_text()
    anchor.path.write_text(original.replace(original.split('"digest": "')[1][:8], "00000000", 1))
    problem = _verify(chain, pki, anchor).problem
    assert problem is not None and problem.kind == "anchor-mismatch"
    anchor.path.write_text(original + "not a checkpoint\n")
    problem = _verify(chain, pki, anchor).problem
    assert problem is not None and problem.kind == "anchor-edited"
    anchor.path.unlink()
    problem = _verify(chain, pki, anchor).problem
    assert problem is not None and (problem.seq, problem.kind) == (10, "anchor-missing")


def test_checkpoints_from_before_the_chaining_still_verify_and_start_the_chain(
    db: Database, pki: TestPKI, anchor: Anchor, audit_signer
) -> None:  # type: ignore[no-untyped-def]
    _fill(db, 3)
    with db.transaction() as session:
        head = session.get(AuditRecord, 3)
        assert head is not None
        message = audit._checkpoint_message(3, head.hash, None)  # what earlier versions signed
    signature = asyncio.run(audit_signer.async_sign_raw(message, "sha256"))
    with db.transaction() as session:
        session.add(
            AuditCheckpoint(
                seq=3, head_hash=head.hash, at="legacy", signature=signature,
                certificate=audit_signer.signing_cert.dump(), prev_digest=None,
            )
        )  # fmt: skip
    assert _verify(db, pki, anchor).ok  # legacy only and no anchor file yet: nothing was anchored
    _fill(db, 2)
    made = asyncio.run(audit.checkpoint(db, audit_signer, anchor))
    assert made is not None and made.prev_digest is not None
    result = _verify(db, pki, anchor)
    assert result.ok and result.anchored == 1


def test_the_anchor_lives_beside_an_sqlite_database_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ESIGN_AUDIT_ANCHOR", raising=False)
    assert anchor_for("sqlite:////srv/esign/esign.db") == Anchor(Path("/srv/esign/esign.db.audit-anchor"))
    assert anchor_for("postgresql+psycopg://db/esign") is None
    assert anchor_for("sqlite://") is None
    monkeypatch.setenv("ESIGN_AUDIT_ANCHOR", "/var/log/esign/anchor")
    assert anchor_for("postgresql+psycopg://db/esign") == Anchor(Path("/var/log/esign/anchor"))
    monkeypatch.setenv("ESIGN_AUDIT_ANCHOR", "off")
    assert anchor_for("sqlite:////srv/esign/esign.db") is None


def test_sqlite_database_and_its_wal_and_shm_files_are_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.db"
        old = tmp_path / "old.db"
        old.touch(mode=0o644)
        for path in (fresh, old):
            database = Database.open(f"sqlite:///{path}")
            _fill(database, 1)
            with database.engine.connect() as connection:  # keeps the WAL and SHM files in place
                for suffix in ("", "-wal", "-shm"):
                    mode = stat.S_IMODE(Path(f"{path}{suffix}").stat().st_mode)
                    assert mode == 0o600, (path.name + suffix, oct(mode))
                connection.rollback()
            database.dispose()
    finally:
        os.umask(old_umask)


def test_migration_keeps_existing_checkpoints_verifying(tmp_path: Path, pki: TestPKI, audit_signer) -> None:  # type: ignore[no-untyped-def]
    """A database made before ``0003``: its checkpoints get ``prev_digest`` NULL and still verify."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from keystore.db import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with old.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with old.transaction() as session:  # audit records are unchanged by the migration
        head = audit.append(session, actor="operator", action="key.added", payload={}).hash
    signature = asyncio.run(audit_signer.async_sign_raw(audit._checkpoint_message(1, head, None), "sha256"))
    with old.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO audit_checkpoints VALUES (1, :h, 'then', :s, :c)"),
            {"h": head, "s": signature, "c": audit_signer.signing_cert.dump()},
        )
    old.dispose()
    migrated = Database.open(url)
    with migrated.transaction() as session:
        assert session.get(AuditCheckpoint, 1).prev_digest is None  # type: ignore[union-attr]
    assert _verify(migrated, pki, Anchor(tmp_path / "anchor")).ok
    migrated.dispose()


def test_an_unwritable_anchor_is_logged_and_the_checkpoint_still_made(
    db: Database, audit_signer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    _fill(db, 2)
    broken = Anchor(tmp_path / "no such directory" / "anchor")
    assert asyncio.run(audit.checkpoint(db, audit_signer, broken)) is not None
    assert "not anchored" in caplog.text


def test_a_checkpoint_newer_than_the_anchor_is_accepted(
    chain: Database, pki: TestPKI, anchor: Anchor, audit_signer
) -> None:  # type: ignore[no-untyped-def]
    """A crash between commit and append leaves the newest checkpoint unanchored: signed, not forged."""
    assert asyncio.run(audit.checkpoint(chain, audit_signer, None)) is not None
    result = _verify(chain, pki, anchor)
    assert result.ok and (result.checkpoints, result.anchored) == (3, 2)
