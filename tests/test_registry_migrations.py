"""The Alembic migrations create exactly the schema the models describe, on every backend,
and bring a database of an earlier revision up to date with its data."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from esign.errors import ErrorCode, EsignError
from esign.seal import SealOptions
from fixtures.pki import TestPKI
from keystore.authz import OPERATOR
from keystore.db import MIGRATIONS, Database
from keystore.keyring import chain_to_pem
from keystore.keys import KeyStore, Pkcs12Ref, key_ref_to_json
from keystore.models import AuditRecord, Base, KeyEntry, utcnow
from keystore.registry import SealSpec, appearance_for
from keystore.service import SealService
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import P12_PASSPHRASE, P12_PASSPHRASE_ENV, USCC_A, small_pdf


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


def _upgrade_to(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


#: the tables as revision 0001 made them (the models describe the newest revision)
_KEYS_0001 = sa.table(
    "keys", *(sa.column(name) for name in ("name", "kind", "reference", "cert_chain", "created_at"))
)
_SEALS_0001 = sa.table(
    "seals",
    *(
        sa.column(name)
        for name in (
            "code", "seal_type", "org_name", "uscc", "key_name", "cert_chain", "appearance",
            "appearance_width_mm", "appearance_height_mm", "valid_from", "valid_to", "status",
            "created_at", "updated_at", "created_by", "updated_by",
        )
    ),
)  # fmt: skip


def test_upgrade_gives_existing_keys_the_owner_their_certificate_names(
    db_url: str, pki: TestPKI, tmp_path, secrets_env: None
) -> None:  # type: ignore[no-untyped-def]
    """A 0001 database with an agency key, the audit key, and a seal someone put on the audit key."""
    db = Database(db_url)
    _upgrade_to(db, "0001")
    now = utcnow()
    with db.engine.begin() as connection:
        for label in ("agency-a", "audit"):
            p12 = tmp_path / f"{label}.p12"
            p12.write_bytes(pki.pkcs12(label, P12_PASSPHRASE.encode()))
            reference = key_ref_to_json(Pkcs12Ref(path=str(p12), passphrase=f"env:{P12_PASSPHRASE_ENV}"))
            connection.execute(
                _KEYS_0001.insert().values(
                    name=label,
                    kind="pkcs12",
                    reference=reference,
                    cert_chain=chain_to_pem(pki.chain(label)),
                    created_at=now,
                )
            )
        spec = SealSpec("AUDIT-SEAL", "01", "esign 统一电子印章系统", USCC_A, "audit")
        picture = appearance_for(spec)
        connection.execute(
            _SEALS_0001.insert().values(
                code=spec.code, seal_type="01", org_name=spec.org_name, uscc=USCC_A, key_name="audit",
                cert_chain=chain_to_pem(pki.chain("audit")), appearance=picture.pdf,
                appearance_width_mm=picture.width_mm, appearance_height_mm=picture.height_mm,
                valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=30), status="active",
                created_at=now, updated_at=now, created_by="mallory", updated_by="mallory",
            )
        )  # fmt: skip
    db.upgrade()
    with db.transaction() as session:
        owners = dict(session.execute(select(KeyEntry.name, KeyEntry.owner)).all())
    assert owners == {"agency-a": USCC_A, "audit": "platform"}
    # the seal made before keys had owners stays on record but seals nothing
    with pytest.raises(EsignError) as info:
        SealService(db, KeyStore()).apply(OPERATOR, "AUDIT-SEAL", small_pdf(), SealOptions())
    assert info.value.code is ErrorCode.KEY_NOT_BINDABLE
    with db.transaction() as session:
        applied = session.execute(select(AuditRecord).where(AuditRecord.action == "seal.applied")).all()
    assert applied == []
    db.dispose()
