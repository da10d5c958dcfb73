"""A registered seal exported as a GB/T 38540 version-4 ``.esl`` through ``esign seals export-esl``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from esign.gm import ses, sm2
from fixtures.pki_sm2 import load as load_sm2_pki
from keystore.db import Database
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.sm2_keys import SM2_ORG, maker_pem_files, register_sm2_seal

MAKER_PASS = "maker-passphrase-7c1e"


def _export(
    db_url: str, tmp_path: Path, *extra: str, code: str = "SM2-A"
) -> subprocess.CompletedProcess[str]:
    key, cert = maker_pem_files(tmp_path, MAKER_PASS.encode())
    command = [
        sys.executable,
        "-m",
        "api",
        "seals",
        "export-esl",
        code,
        "-o",
        str(tmp_path / "a.esl"),
        "--maker-key",
        str(key),
        "--maker-cert",
        str(cert),
        *extra,
    ]
    env = {**os.environ, "ESIGN_DATABASE_URL": db_url, "MAKER_PASS": MAKER_PASS}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_exported_esl_carries_the_seal_and_verifies_under_the_maker(
    db: Database, db_url: str, keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_sm2_seal(db, keys, tmp_path, monkeypatch)
    result = _export(db_url, tmp_path, "--maker-passphrase-env", "MAKER_PASS")
    assert result.returncode == 0, result.stderr

    der = (tmp_path / "a.esl").read_bytes()
    seal = ses.parse_seal(der)
    assert seal.dump(force=True) == der, "DER round-trips byte-identically"
    assert ses.seal_version(seal) == 4
    info = seal["e_seal_info"]
    assert info["es_id"].native == "SM2-A"
    assert info["property"]["name"].native == f"{SM2_ORG}合同专用章"
    assert info["property"].certificates() == [load_sm2_pki().cert("sm2-agency-a").dump()]
    assert info["picture"]["type"].native.upper() == "PNG"
    assert info["picture"]["data"].native.startswith(b"\x89PNG\r\n\x1a\n")
    maker = load_sm2_pki().cert("sm2-maker")
    _, _, value = ses.seal_maker_signature(seal)
    assert sm2.verify(sm2.load_public_key(maker.public_key.dump()), value, ses.seal_signed_bytes(seal))


def test_non_sm2_seal_is_refused_with_a_typed_error(
    db: Database, db_url: str, make_seal, tmp_path: Path
) -> None:
    make_seal("A-1")  # backed by the ECDSA P-256 key agency-a-ec: no SM2 seal signature could use it
    result = _export(db_url, tmp_path, "--maker-passphrase-env", "MAKER_PASS", code="A-1")
    assert result.returncode == 1
    assert "SEAL_SIGNER_NOT_SM2" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "a.esl").exists()


def test_wrong_maker_passphrase_is_a_typed_error_without_the_secret(
    db: Database, db_url: str, make_seal, tmp_path: Path
) -> None:
    make_seal("A-1")
    (tmp_path / "wrong").write_text("not-the-maker-passphrase\n")
    result = _export(db_url, tmp_path, "--maker-passphrase-file", str(tmp_path / "wrong"), code="A-1")
    assert result.returncode == 1
    assert "KEY_FILE_INVALID" in result.stderr and "Traceback" not in result.stderr
    assert "not-the-maker-passphrase" not in result.stderr + result.stdout
    assert not (tmp_path / "a.esl").exists()
