"""SM2/SM3 backend: sign/verify, distinguishing IDs, hostile input, OID registration, OpenSSL 3 interop."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import algos, keys

from esign.gm import oids, sm2

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl CLI is not installed")


@pytest.fixture(scope="module")
def key() -> sm2.SM2PrivateKey:
    return sm2.generate_private_key()


def test_signature_verifies_and_binds_the_message(key: sm2.SM2PrivateKey) -> None:
    signature = sm2.sign(key, b"licence 2026-001")
    assert sm2.verify(key.public_key(), signature, b"licence 2026-001")
    assert not sm2.verify(key.public_key(), signature, b"licence 2026-002")


def test_nonces_differ_between_signatures(key: sm2.SM2PrivateKey) -> None:
    assert sm2.sign(key, b"same") != sm2.sign(key, b"same")


def test_wrong_distinguishing_id_fails(key: sm2.SM2PrivateKey) -> None:
    signature = sm2.sign(key, b"data", distinguishing_id=b"alice@example.cn")
    assert sm2.verify(key.public_key(), signature, b"data", distinguishing_id=b"alice@example.cn")
    assert not sm2.verify(key.public_key(), signature, b"data")


def test_other_key_fails(key: sm2.SM2PrivateKey) -> None:
    assert not sm2.verify(sm2.generate_private_key().public_key(), sm2.sign(key, b"data"), b"data")


@pytest.mark.parametrize("garbage", [b"", b"\x30\x00", b"\x30\x44" + b"\xff" * 70, b"\x00" * 4096])
def test_malformed_signature_is_invalid_not_an_exception(key: sm2.SM2PrivateKey, garbage: bytes) -> None:
    assert sm2.verify(key.public_key(), garbage, b"data") is False


def test_non_sm2_key_material_is_refused() -> None:
    with pytest.raises(sm2.SM2Error):
        sm2.load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(sm2.SM2Error):
        sm2.load_public_key(b"\x30\x03\x02\x01\x00")
    with pytest.raises(sm2.SM2Error):
        sm2.sign(sm2.generate_private_key(), b"x", distinguishing_id=b"")


def test_keys_round_trip_through_der(key: sm2.SM2PrivateKey) -> None:
    again = sm2.load_private_key(sm2.private_key_der(key))
    public = sm2.load_public_key(sm2.public_key_der(key.public_key()))
    assert sm2.verify(public, sm2.sign(again, b"x"), b"x")


def test_sm3_known_answer() -> None:
    # GB/T 32905-2016 appendix A, example 1
    assert sm2.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm_oids_are_registered_idempotently() -> None:
    oids.register()
    oids.register()
    assert algos.SignedDigestAlgorithmId(oids.SM2_WITH_SM3).native == "sm2_sm3"
    assert algos.SignedDigestAlgorithmId("sm2_sm3").dotted == oids.SM2_WITH_SM3
    assert algos.SignedDigestAlgorithmId(oids.SM2_SIGN).native == "sm2sign"
    assert algos.DigestAlgorithmId(oids.SM3).native == "sm3"
    assert keys.NamedCurve(oids.SM2_CURVE).native == "sm2p256v1"
    assert keys.NamedCurve("sm2p256v1").dotted == oids.SM2_CURVE


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, timeout=30, check=False)


@needs_openssl
def test_our_signature_verifies_with_openssl_cli(key: sm2.SM2PrivateKey, tmp_path: Path) -> None:
    (tmp_path / "pub.der").write_bytes(sm2.public_key_der(key.public_key()))
    (tmp_path / "msg").write_bytes(b"sealed licence")
    (tmp_path / "sig").write_bytes(sm2.sign(key, b"sealed licence"))
    common = ["pkeyutl", "-verify", "-digest", "sm3", "-rawin", "-pubin", "-keyform", "DER"]
    pub, msg, sig = (str(tmp_path / name) for name in ("pub.der", "msg", "sig"))
    files = ["-inkey", pub, "-in", msg, "-sigfile", sig]
    good = _openssl(*common, "-pkeyopt", "distid:1234567812345678", *files)
    assert good.returncode == 0, good.stderr
    wrong = _openssl(*common, "-pkeyopt", "distid:8765432187654321", *files)
    assert wrong.returncode != 0


@needs_openssl
def test_openssl_cli_signature_verifies_with_ours(tmp_path: Path) -> None:
    assert _openssl("genpkey", "-algorithm", "SM2", "-out", str(tmp_path / "k.pem")).returncode == 0
    (tmp_path / "msg").write_bytes(b"made by openssl")
    made = _openssl(
        "pkeyutl", "-sign", "-digest", "sm3", "-rawin", "-pkeyopt", "distid:1234567812345678",
        "-inkey", str(tmp_path / "k.pem"), "-in", str(tmp_path / "msg"), "-out", str(tmp_path / "sig"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = sm2.load_private_key((tmp_path / "k.pem").read_bytes())
    signature = (tmp_path / "sig").read_bytes()
    assert sm2.verify(key.public_key(), signature, b"made by openssl")
    assert not sm2.verify(key.public_key(), signature, b"made by openssl", distinguishing_id=b"other-id")
