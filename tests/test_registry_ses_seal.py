"""A registered SM2 seal carries its GB/T 38540 SESeal: made by the configured seal maker once, at
registration, stored in ``seals.ses_seal`` (migration 0005), exported and sealed with as stored.

Every test runs on SQLite and, with ``ESIGN_TEST_POSTGRES_URL``, on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from click.testing import CliRunner, Result

from api.cli import main
from esign.gm import ses
from esign.seal import SealOptions
from fixtures import pki_sm2
from keystore import keyring
from keystore.authz import OPERATOR
from keystore.db import MIGRATIONS, Database
from keystore.keyring import chain_to_pem
from keystore.keys import KeyStore
from keystore.models import utcnow
from keystore.registry import SealSpec, appearance_for, find_seal, seal_appearance
from keystore.service import SealService
from tests.gm_openssl import contents_der, needs_openssl, sm2_verifies
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import small_pdf
from tests.sm2_keys import PASS, PASS_ENV, SM2_ORG, maker_pem_files, register_sm2_seal


@pytest.fixture
def maker_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """The seal maker configured as an agency would (docs/gm.md)."""
    (tmp_path / "maker.p12").write_bytes(pki_sm2.load().pkcs12("sm2-maker", PASS.encode()))
    monkeypatch.setenv(PASS_ENV, PASS)
    monkeypatch.setenv("ESIGN_SEAL_MAKER_P12", str(tmp_path / "maker.p12"))
    monkeypatch.setenv("ESIGN_SEAL_MAKER_PASSPHRASE", f"env:{PASS_ENV}")
    monkeypatch.setenv("ESIGN_DATABASE_URL", db_url)


def _forget_maker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESIGN_SEAL_MAKER_P12")
    monkeypatch.delenv("ESIGN_SEAL_MAKER_PASSPHRASE")


def _export(directory: Path, name: str, *extra: str) -> Result:
    result = CliRunner().invoke(main, ["seals", "export-esl", "SM2-A", "-o", str(directory / name), *extra])
    assert "Traceback" not in result.output
    return result


@needs_openssl
def test_registration_stores_the_seal_the_maker_signed_from_the_registry_row(
    db: Database, keys: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maker_env: None
) -> None:
    pki = pki_sm2.load()
    register_sm2_seal(db, keys, tmp_path, monkeypatch)
    with db.reading() as session:
        row = find_seal(session, "SM2-A")
        stored, picture = row.ses_seal, seal_appearance(row)
        window = (row.valid_from, row.valid_to)
    assert stored is not None
    seal = ses.parse_seal(stored)
    info = seal["e_seal_info"]
    assert info["es_id"].native == "SM2-A" and info["property"]["name"].native == f"{SM2_ORG}合同专用章"
    assert info["property"].certificates() == [pki.cert("sm2-agency-a").dump()]
    assert seal["cert"].native == pki.cert("sm2-maker").dump()
    assert (info["property"]["valid_start"].native, info["property"]["valid_end"].native) == tuple(
        moment.replace(microsecond=0) for moment in window
    )
    assert info["picture"]["type"].native == "PNG"
    assert info["picture"]["data"].native == picture.png(dpi=300)  # the registry's picture, drawn
    assert info["picture"]["width"].native == round(picture.width_mm)
    # the maker's SM2 signature over SES_SealInfo, checked by OpenSSL
    assert sm2_verifies(tmp_path, pki.cert("sm2-maker"), info.dump(), seal["signed_value"].native)


def test_export_and_sealing_use_the_stored_seal_even_without_the_maker(
    db: Database, keys: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maker_env: None
) -> None:
    register_sm2_seal(db, keys, tmp_path, monkeypatch)
    with db.reading() as session:
        stored = find_seal(session, "SM2-A").ses_seal
    _forget_maker(monkeypatch)
    for name in ("one.esl", "two.esl"):
        result = _export(tmp_path, name)
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_bytes() == stored
    sealed = SealService(db, KeyStore()).apply(OPERATOR, "SM2-A", small_pdf("stored seal"), SealOptions())
    signature = ses.parse_signature(contents_der(sealed.pdf))
    assert signature["to_sign"]["eseal"].dump() == stored


def test_without_a_maker_an_sm2_seal_is_registered_without_one_and_export_needs_a_maker(
    db: Database, keys: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maker_env: None
) -> None:
    _forget_maker(monkeypatch)
    register_sm2_seal(db, keys, tmp_path, monkeypatch)
    result = _export(tmp_path, "a.esl")
    assert result.exit_code == 1 and "SEAL_MAKER_MISSING" in result.output
    assert not (tmp_path / "a.esl").exists()


def test_a_seal_from_before_migration_0005_gets_its_seal_stored_on_first_export(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maker_env: None
) -> None:
    pki = pki_sm2.load()
    db = Database(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    (tmp_path / "sm2-a.p12").write_bytes(pki.pkcs12("sm2-agency-a", PASS.encode()))
    with db.transaction() as session:
        keyring.add_pkcs12_key(session, "operator", "sm2-a", tmp_path / "sm2-a.p12", f"env:{PASS_ENV}",
                               tmp_path / "keystore.d", owner=pki_sm2.USCC_A)  # fmt: skip
    spec = SealSpec("SM2-A", "04", SM2_ORG, pki_sm2.USCC_A, "sm2-a")
    picture, now = appearance_for(spec), utcnow()
    columns = ("code", "seal_type", "org_name", "uscc", "key_name", "cert_chain", "appearance",
               "appearance_width_mm", "appearance_height_mm", "valid_from", "valid_to", "status",
               "created_at", "updated_at", "created_by", "updated_by")  # fmt: skip
    with db.engine.begin() as connection:
        connection.execute(
            sa.table("seals", *map(sa.column, columns)).insert().values(
                code="SM2-A", seal_type="04", org_name=SM2_ORG, uscc=pki_sm2.USCC_A, key_name="sm2-a",
                cert_chain=chain_to_pem(pki.chain("sm2-agency-a")), appearance=picture.pdf,
                appearance_width_mm=picture.width_mm, appearance_height_mm=picture.height_mm,
                valid_from=now, valid_to=now.replace(year=now.year + 1), status="active",
                created_at=now, updated_at=now, created_by="operator", updated_by="operator",
            )
        )  # fmt: skip
    db.upgrade()
    with db.reading() as session:
        assert find_seal(session, "SM2-A").ses_seal is None
    assert _export(tmp_path, "first.esl").exit_code == 0  # the configured maker makes it, and it is stored
    _forget_maker(monkeypatch)
    maker_key, maker_cert = maker_pem_files(tmp_path)
    again = _export(tmp_path, "again.esl", "--maker-key", str(maker_key), "--maker-cert", str(maker_cert))
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.esl").read_bytes() == (tmp_path / "first.esl").read_bytes()
    with db.reading() as session:
        assert find_seal(session, "SM2-A").ses_seal == (tmp_path / "first.esl").read_bytes()
    db.dispose()


def test_rotation_makes_the_seal_anew_for_the_new_window_or_drops_the_stale_one(
    db: Database, keys: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maker_env: None
) -> None:
    register_sm2_seal(db, keys, tmp_path, monkeypatch)
    with db.reading() as session:
        before = find_seal(session, "SM2-A").ses_seal
    rotated = CliRunner().invoke(
        main, ["seals", "rotate", "SM2-A", "--key", "sm2-a", "--valid-to", "2027-06-30"]
    )
    assert rotated.exit_code == 0, rotated.output
    with db.reading() as session:
        after = find_seal(session, "SM2-A").ses_seal
    assert after is not None and after != before
    valid_end = ses.parse_seal(after)["e_seal_info"]["property"]["valid_end"].native
    assert valid_end.date().isoformat() == "2027-06-30"
    _forget_maker(monkeypatch)  # without a maker the old seal (the old window) must not stay behind
    rotated = CliRunner().invoke(
        main, ["seals", "rotate", "SM2-A", "--key", "sm2-a", "--valid-to", "2027-05-31"]
    )
    assert rotated.exit_code == 0, rotated.output
    with db.reading() as session:
        assert find_seal(session, "SM2-A").ses_seal is None
