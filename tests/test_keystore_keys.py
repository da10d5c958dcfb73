"""Keys: encrypted PKCS#12 files and a real PKCS#11 token, RSA and ECDSA, imported and generated."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from esign.errors import ErrorCode, EsignError
from fixtures.pki import TestPKI
from keystore import keyring, pkcs11
from keystore.db import Database
from keystore.keys import KeyStore, Pkcs11Ref, Pkcs12Ref, signature_valid, signer_matches_certificate
from keystore.secrets import Secret, read_secret
from keystore.softhsm import MODULE, SoftHSMToken
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import (
    HSM_LABEL,
    HSM_PIN,
    HSM_PIN_ENV,
    P12_PASSPHRASE,
    P12_PASSPHRASE_ENV,
    USCC_A,
    hsm_ref,
    issue_certificate,
)


def _sign(signer: object, message: bytes = b"document digest") -> bytes:
    return asyncio.run(signer.async_sign_raw(message, "sha256"))  # type: ignore[attr-defined]


def test_pkcs12_key_signs_and_is_opened_once(p12_file, pki: TestPKI, secrets_env: None) -> None:
    ref = Pkcs12Ref(path=str(p12_file("agency-a")), passphrase=f"env:{P12_PASSPHRASE_ENV}")
    store = KeyStore()
    chain = pki.chain("agency-a")
    signer = store.signer(ref, chain)
    assert store.signer(ref, chain) is signer
    assert signature_valid(chain[0], b"document digest", _sign(signer))


def test_wrong_pkcs12_passphrase_is_typed_and_does_not_leak(
    p12_file, pki: TestPKI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-passphrase-b7c1"
    monkeypatch.setenv("WRONG_PASS", wrong)
    ref = Pkcs12Ref(path=str(p12_file("agency-a")), passphrase="env:WRONG_PASS")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EsignError) as info:
        KeyStore().signer(ref, pki.chain("agency-a"))
    assert info.value.code is ErrorCode.WRONG_PASSPHRASE
    shown = str(info.value) + info.value.message_zh + repr(info.value.to_dict()) + caplog.text + repr(ref)
    assert wrong not in shown and P12_PASSPHRASE not in shown
    assert info.value.__cause__ is None or wrong not in repr(info.value.__cause__)


def test_missing_key_file_is_keystore_offline(tmp_path: Path, pki: TestPKI, secrets_env: None) -> None:
    ref = Pkcs12Ref(path=str(tmp_path / "gone.p12"), passphrase=f"env:{P12_PASSPHRASE_ENV}")
    with pytest.raises(EsignError) as info:
        KeyStore().signer(ref, pki.chain("agency-a"))
    assert info.value.code is ErrorCode.KEYSTORE_OFFLINE
    assert info.value.code.http_status == 503


def test_secret_is_read_from_file_and_hidden_from_repr(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("s3cret-pin\n")
    secret = read_secret(f"file:{pin_file}")
    assert secret.reveal() == b"s3cret-pin"
    assert "s3cret" not in repr(secret) and "s3cret" not in str(secret)


@pytest.mark.parametrize("ref", ["plain-text-passphrase", "env:", "vault:x"])
def test_secret_reference_must_be_env_or_file(ref: str) -> None:
    with pytest.raises(EsignError) as info:
        Pkcs12Ref(path="x.p12", passphrase=ref)
    assert info.value.code is ErrorCode.BAD_OPTION


def test_unset_secret_variable_is_typed() -> None:
    with pytest.raises(EsignError) as info:
        read_secret("env:ESIGN_TEST_SURELY_UNSET_VARIABLE")
    assert info.value.code is ErrorCode.SECRET_UNAVAILABLE


@pytest.mark.parametrize("label", ["agency-a", "agency-a-ec"])
def test_imported_token_key_signs_rsa_and_ecdsa(
    softhsm: SoftHSMToken, pki: TestPKI, label: str, secrets_env: None
) -> None:
    chain = pki.chain(label)
    signer = KeyStore().signer(hsm_ref(label), chain)
    assert asyncio.run(signer_matches_certificate(signer, chain[0]))


@pytest.mark.parametrize("algorithm", ["rsa2048", "ec-p256"])
def test_key_generated_on_token_signs_with_its_new_certificate(
    softhsm: SoftHSMToken, pki: TestPKI, algorithm: str, secrets_env: None
) -> None:
    token = pkcs11.open_token(MODULE, HSM_LABEL, Secret(HSM_PIN.encode()))
    label = f"generated-{algorithm}"
    public = pkcs11.generate_keypair(token, label, algorithm)
    cert = issue_certificate(pki, "agency-a", public)
    pkcs11.import_certificate(token, label, cert)
    signer = KeyStore().signer(hsm_ref(label), [cert, *pki.chain("agency-a")[1:]])
    assert asyncio.run(signer_matches_certificate(signer, cert))
    assert not asyncio.run(signer_matches_certificate(signer, pki.cert("agency-a")))


def test_token_session_is_shared_across_threads(
    softhsm: SoftHSMToken, pki: TestPKI, secrets_env: None
) -> None:
    chain = pki.chain("agency-a-ec")
    store = KeyStore()
    messages = [f"doc {i}".encode() for i in range(24)]

    def sign(message: bytes) -> bool:
        return signature_valid(chain[0], message, _sign(store.signer(hsm_ref("agency-a-ec"), chain), message))

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert all(pool.map(sign, messages))


@pytest.mark.parametrize(
    "ref",
    [
        Pkcs11Ref(module=MODULE, token="no-such-token", key_label="k", pin=f"env:{HSM_PIN_ENV}"),
        Pkcs11Ref(module=MODULE, token=HSM_LABEL, key_label="no-such-key", pin=f"env:{HSM_PIN_ENV}"),
    ],
    ids=["token-absent", "key-absent"],
)
def test_unavailable_token_or_key_is_keystore_offline_without_pin(
    softhsm: SoftHSMToken, pki: TestPKI, ref: Pkcs11Ref, secrets_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EsignError) as info:
        KeyStore().signer(ref, pki.chain("agency-a"))
    assert info.value.code is ErrorCode.KEYSTORE_OFFLINE
    assert HSM_PIN not in str(info.value) + info.value.message_zh + caplog.text


def test_token_key_registered_with_certificate_from_token(
    db: Database, softhsm: SoftHSMToken, pki: TestPKI, secrets_env: None
) -> None:
    with db.transaction() as session:
        entry = keyring.add_pkcs11_key(session, "operator", "hsm-a", hsm_ref("agency-a"), owner=USCC_A)
    assert keyring.key_chain(entry)[0].dump() == pki.cert("agency-a").dump()
    assert HSM_PIN not in entry.reference and f"env:{HSM_PIN_ENV}" in entry.reference


def test_imported_pkcs12_stays_encrypted_and_passphrase_is_not_stored(
    db: Database, p12_file, tmp_path: Path, secrets_env: None
) -> None:
    store, source = tmp_path / "keystore.d", p12_file("agency-a")
    with db.transaction() as session:
        entry = keyring.add_pkcs12_key(
            session, "operator", "a", source, f"env:{P12_PASSPHRASE_ENV}", store, owner=USCC_A
        )
    copied = store / "a.p12"
    assert copied.read_bytes() == source.read_bytes()
    assert (copied.stat().st_mode & 0o077) == 0
    assert P12_PASSPHRASE not in entry.reference
    with pytest.raises(ValueError):  # not readable without the passphrase
        pkcs12.load_key_and_certificates(copied.read_bytes(), None)


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"not a pkcs12 file", ErrorCode.KEY_FILE_INVALID), (b"\x30" * (2 << 20), ErrorCode.KEY_FILE_INVALID)],
    ids=["garbage", "oversized"],
)
def test_malformed_pkcs12_import_is_typed_and_registers_nothing(
    db: Database, tmp_path: Path, secrets_env: None, content: bytes, code: ErrorCode
) -> None:
    bad = tmp_path / "bad.p12"
    bad.write_bytes(content)
    with pytest.raises(EsignError) as info, db.transaction() as session:
        keyring.add_pkcs12_key(
            session, "operator", "bad", bad, f"env:{P12_PASSPHRASE_ENV}", tmp_path / "ks", owner=USCC_A
        )
    assert info.value.code in (code, ErrorCode.WRONG_PASSPHRASE)
    with db.transaction() as session:
        assert keyring.list_keys(session) == []


def test_unreachable_database_is_a_typed_error() -> None:
    with pytest.raises(EsignError) as info:
        Database.open("postgresql://nobody@127.0.0.1:1/none")
    assert info.value.code is ErrorCode.DATABASE_ERROR and info.value.code.http_status == 503


def test_token_failing_mid_operation_is_offline_then_reopened(
    softhsm: SoftHSMToken, pki: TestPKI, secrets_env: None
) -> None:
    chain = pki.chain("agency-a-ec")
    store = KeyStore()
    signer = store.signer(hsm_ref("agency-a-ec"), chain)
    signer.token.session.close()  # what an HSM restart does to an open session
    with pytest.raises(EsignError) as info:
        _sign(signer)
    assert info.value.code is ErrorCode.KEYSTORE_OFFLINE and HSM_PIN not in str(info.value)
    reopened = store.signer(hsm_ref("agency-a-ec"), chain)
    assert reopened is not signer
    assert signature_valid(chain[0], b"document digest", _sign(reopened))
