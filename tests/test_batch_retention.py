"""Finished sealing batches are deleted after ``ESIGN_BATCH_RETENTION_DAYS``: by the service at start-up
(and daily), and by ``esign batches prune``; each deletion is one ``batches.pruned`` audit record.

The database tests run on SQLite and, with ``ESIGN_TEST_POSTGRES_URL``, on PostgreSQL.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, insert, select

from api.cli import main
from fixtures.pki import TestPKI
from keystore import audit, jobs
from keystore.db import Database
from keystore.models import AuditRecord, Batch, BatchDocument, utcnow
from tests.api_server import prepare, start_node, stop_server
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures


def add_batch(db: Database, age_days: float, states: tuple[str, ...] = ("sealed", "failed")) -> str:
    """A batch uploaded ``age_days`` ago whose documents are in ``states`` (with their bytes)."""
    batch_id = uuid.uuid4().hex
    with db.statements() as connection:
        connection.execute(
            insert(Batch),
            {
                "id": batch_id,
                "seal_code": "HZAMR-01",
                "client": "a-sealer",
                "uscc": None,
                "options": "{}",
                "total": len(states),
                "created_at": utcnow() - timedelta(days=age_days),
            },
        )
        connection.execute(
            insert(BatchDocument),
            [
                {
                    "batch_id": batch_id,
                    "sha256": f"{n:064x}",
                    "position": n,
                    "name": f"doc-{n}.pdf",
                    "pdf": b"%PDF-1.7 upload",
                    "state": state,
                    "sealed": b"%PDF-1.7 sealed" if state == "sealed" else None,
                }
                for n, state in enumerate(states, start=1)
            ],
        )
    return batch_id


def batch_ids(db: Database) -> set[str]:
    with db.statements(read_only=True) as connection:
        return set(connection.execute(select(Batch.id)).scalars())


def pruned_records(db: Database) -> list[AuditRecord]:
    with db.reading() as session:
        query = select(AuditRecord).where(AuditRecord.action == "batches.pruned").order_by(AuditRecord.seq)
        return list(session.execute(query).scalars())


def test_only_finished_batches_past_the_retention_go_with_their_documents(db: Database) -> None:
    old = add_batch(db, 31)
    old_running = add_batch(db, 31, ("sealed", "pending"))
    recent = add_batch(db, 29)
    assert jobs.prune(db, "operator", timedelta(days=30)) == [old]
    assert batch_ids(db) == {old_running, recent}
    with db.statements(read_only=True) as connection:
        left = connection.execute(select(func.count()).select_from(BatchDocument)).scalar_one()
        assert connection.execute(select(BatchDocument).where(BatchDocument.batch_id == old)).first() is None
    assert left == 4
    (record,) = pruned_records(db)
    assert record.actor == "operator"
    payload = json.loads(record.payload)
    assert payload["batches"] == [old] and payload["documents"] == 2 and payload["older_than_days"] == 30
    # nothing left to prune: no second record; the chain still verifies
    assert jobs.prune(db, "operator", timedelta(days=30)) == []
    assert len(pruned_records(db)) == 1
    with db.reading() as session:
        assert audit.verify_chain(session, None).problem is None


def test_the_command_prunes_with_the_setting_or_its_option(db: Database, db_url: str, monkeypatch) -> None:
    ten_days, three_days = add_batch(db, 10), add_batch(db, 3)
    monkeypatch.setenv("ESIGN_BATCH_RETENTION_DAYS", "7")
    result = CliRunner().invoke(main, ["batches", "prune", "--database", db_url])
    assert result.exit_code == 0, result.output
    assert "pruned 1 finished batches older than 7 days" in result.output
    assert batch_ids(db) == {three_days} and ten_days not in batch_ids(db)
    result = CliRunner().invoke(main, ["batches", "prune", "--older-than", "0", "--database", db_url])
    assert result.exit_code == 0, result.output
    assert batch_ids(db) == set()
    assert [r.actor for r in pruned_records(db)] == ["operator", "operator"]


def test_the_service_prunes_at_start_up(tmp_path: Path, pki: TestPKI) -> None:
    env, keys = prepare(tmp_path, pki)
    db = Database(env["ESIGN_DATABASE_URL"])
    old, recent = add_batch(db, 40), add_batch(db, 1)
    server = start_node(tmp_path, {**env, "ESIGN_BATCH_RETENTION_DAYS": "30"}, keys)
    try:
        deadline = time.monotonic() + 30
        while old in batch_ids(db):
            assert time.monotonic() < deadline, server.log()[-2000:]
            time.sleep(0.2)
    finally:
        stop_server(server)
    assert batch_ids(db) == {recent}
    assert [r.actor for r in pruned_records(db)] == ["service"]
    db.dispose()
