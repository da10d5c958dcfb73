"""SM2 keys for the tests: OpenSSL-written PKCS#12 files and a registry seal backed by an SM2 key."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem
from tongsuopy.crypto import serialization as sm2_serialization

from fixtures import pki_sm2
from keystore import keyring
from keystore.authz import OPERATOR
from keystore.db import Database
from keystore.esl import SealMaker
from keystore.keys import KeyStore
from keystore.registry import SealSpec, appearance_for, register_seal

PASS = "sm2-p12-passphrase"
PASS_ENV = "ESIGN_TEST_SM2_PASSPHRASE"
SM2_ORG = "测试市市场监督管理局"


def maker_pem_files(directory: Path, passphrase: bytes | None = None) -> tuple[Path, Path]:
    """The test PKI's seal maker as ``maker.key.pem`` (PKCS#8, encrypted when ``passphrase`` is given) and
    ``maker.pem`` in ``directory``, the files ``export-esl --maker-key/--maker-cert`` take."""
    pki = pki_sm2.load()
    encryption = (
        sm2_serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else sm2_serialization.NoEncryption()
    )
    key_pem = pki.key("sm2-maker").private_bytes(
        sm2_serialization.Encoding.PEM, sm2_serialization.PrivateFormat.PKCS8, encryption
    )
    (directory / "maker.key.pem").write_bytes(key_pem)
    (directory / "maker.pem").write_bytes(pem.armor("CERTIFICATE", pki.cert("sm2-maker").dump()))
    return directory / "maker.key.pem", directory / "maker.pem"


def openssl_p12(directory: Path, label: str = "sm2-agency-a", *extra: str) -> Path:
    """``label``'s key and chain exported by the OpenSSL 3 CLI exactly as the issue quotes it."""
    pki = pki_sm2.load()
    chain = pki.chain(label)
    (directory / "cert.pem").write_bytes(pem.armor("CERTIFICATE", chain[0].dump()))
    (directory / "ca.pem").write_bytes(b"".join(pem.armor("CERTIFICATE", c.dump()) for c in chain[1:]))
    out = directory / f"{label}.p12"
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-keypbe", "AES-256-CBC", "-certpbe", "AES-256-CBC",
         "-macalg", "sha256",
         "-inkey", str(pki_sm2.KEYS / f"{label.removeprefix('sm2-')}.key.pem"), "-in", "cert.pem",
         "-certfile", "ca.pem", "-passout", f"pass:{PASS}", "-out", str(out), *extra],
        cwd=directory, check=True, capture_output=True,
    )  # fmt: skip
    return out


def register_sm2_seal(
    db: Database,
    keys: KeyStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: str = "SM2-A",
    pki: pki_sm2.SM2TestPKI | None = None,
) -> str:
    """Import sm2-agency-a's PKCS#12 (as esign writes it) for its organisation and register seal ``code``
    (from ``pki``: the build whose certificates name the running server's CRLs, for B-LT)."""
    pki = pki or pki_sm2.load()
    monkeypatch.setenv(PASS_ENV, PASS)
    (tmp_path / "sm2-a.p12").write_bytes(pki.pkcs12("sm2-agency-a", PASS.encode()))
    with db.transaction() as session:
        keyring.add_pkcs12_key(session, "operator", "sm2-a", tmp_path / "sm2-a.p12", f"env:{PASS_ENV}",
                               tmp_path / "keystore.d", owner=pki_sm2.USCC_A)  # fmt: skip
    spec = SealSpec(code=code, seal_type="04", org_name=SM2_ORG, uscc=pki_sm2.USCC_A, key_name="sm2-a")
    # as `esign seals register` does: the configured seal maker (if any) makes the seal's SESeal now
    maker = SealMaker.from_env()
    asyncio.run(register_seal(db, keys, OPERATOR, spec, appearance_for(spec), seal_maker=maker))
    return code
