"""The Alembic migrations create exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from keystore.db import Database
from keystore.models import Base
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()
    assert {"seals", "keys", "clients", "grants", "audit_records", "audit_checkpoints"} <= set(
        inspect(db.engine).get_table_names()
    )


def test_sqlite_database_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database.open(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()
