"""SM2 keys wherever a key goes: OpenSSL 3 PKCS#12 files, the keystore, PKCS#11, fixtures, export-esl."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import pem
from click.testing import CliRunner, Result
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import pkcs12 as pyca_pkcs12

from api.cli import main
from esign.errors import ErrorCode, EsignError
from esign.gm import ses, sm2
from esign.gm.cms_signer import SM2Signer
from esign.seal.signers import load_pkcs12
from fixtures import pki_sm2
from keystore import pkcs11
from keystore.secrets import Secret
from keystore.softhsm import MODULE
from tests.gm_openssl import needs_openssl, sm2_verifies
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import HSM_LABEL, HSM_PIN, HSM_PIN_ENV
from tests.sm2_keys import PASS, PASS_ENV, openssl_p12, register_sm2_seal

Run = Callable[..., Result]


@pytest.fixture
def esign(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("ESIGN_DATABASE_URL", db_url)
    monkeypatch.setenv("ESIGN_KEYSTORE_DIR", str(tmp_path / "keystore.d"))
    monkeypatch.setenv(PASS_ENV, PASS)
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) is ok, result.output
        assert "Traceback" not in result.output
        return result

    run("keystore", "init")
    return run


@needs_openssl
def test_openssl_sm2_pkcs12_that_cryptography_refuses_opens_as_an_sm2_signer(tmp_path: Path) -> None:
    data = openssl_p12(tmp_path).read_bytes()
    with pytest.raises(UnsupportedAlgorithm):
        pyca_pkcs12.load_key_and_certificates(data, PASS.encode())
    signer = load_pkcs12(data, PASS.encode())
    pki = pki_sm2.load()
    assert isinstance(signer, SM2Signer)
    assert signer.signing_cert.dump() == pki.cert("sm2-agency-a").dump()
    assert {c.dump() for c in signer.cert_registry} == {c.dump() for c in pki.chain("sm2-agency-a")[1:]}
    signature = sm2.sign(signer.key, b"challenge")
    assert sm2_verifies(tmp_path, signer.signing_cert, b"challenge", signature)


@needs_openssl
@pytest.mark.parametrize(
    ("extra", "passphrase", "code"),
    [
        ((), b"not-the-passphrase", ErrorCode.WRONG_PASSPHRASE),
        (("-nomac",), PASS.encode(), ErrorCode.KEY_FILE_INVALID),  # nothing proves the file intact
        (("-keypbe", "PBE-SHA1-3DES"), PASS.encode(), ErrorCode.KEY_FILE_INVALID),  # legacy encryption
    ],
)
def test_bad_sm2_pkcs12_is_a_typed_error(
    tmp_path: Path, extra: tuple[str, ...], passphrase: bytes, code: ErrorCode
) -> None:
    data = openssl_p12(tmp_path, "sm2-agency-a", *extra).read_bytes()
    with pytest.raises(EsignError) as refused:
        load_pkcs12(data, passphrase)
    assert refused.value.code is code
    assert PASS not in str(refused.value) + refused.value.message_zh + refused.value.message_en


@needs_openssl
def test_pkcs12_that_esign_writes_is_what_openssl_reads(tmp_path: Path) -> None:
    pki = pki_sm2.load()
    (tmp_path / "m.p12").write_bytes(pki.pkcs12("sm2-maker", PASS.encode()))
    info = subprocess.run(
        ["openssl", "pkcs12", "-in", "m.p12", "-info", "-noout", "-passin", f"pass:{PASS}"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    said = info.stdout + info.stderr  # OpenSSL prints the -info lines on stderr
    assert "MAC: sha256" in said and "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" in said
    key_pem = subprocess.run(
        ["openssl", "pkcs12", "-in", "m.p12", "-nocerts", "-nodes", "-passin", f"pass:{PASS}"],
        cwd=tmp_path, capture_output=True, check=True,
    ).stdout  # fmt: skip
    extracted = sm2.load_private_key(key_pem[key_pem.index(b"-----BEGIN") :])
    assert sm2.public_key_der(extracted.public_key()) == pki.cert("sm2-maker").public_key.dump()


@needs_openssl
def test_keystore_import_takes_an_openssl_sm2_pkcs12_for_its_owner(esign: Run, tmp_path: Path) -> None:
    p12 = openssl_p12(tmp_path)
    refused = esign("keystore", "import", "sm2-a", str(p12), "--passphrase-env", PASS_ENV,
                    "--owner", pki_sm2.USCC_B, ok=False)  # fmt: skip
    assert "KEY_OWNER_MISMATCH" in refused.output
    esign("keystore", "import", "sm2-a", str(p12), "--passphrase-env", PASS_ENV, "--owner", pki_sm2.USCC_A)
    esign("keystore", "import", "sm2-maker", str(openssl_p12(tmp_path, "sm2-maker")), "--passphrase-env",
          PASS_ENV, "--owner", "platform")  # fmt: skip
    listed = esign("keystore", "list").output
    assert f"sm2-a\t{pki_sm2.USCC_A}\tPKCS#12" in listed and "sm2-maker\tplatform\tPKCS#12" in listed
    registered = esign("seals", "register", "SM2-1", "--org", "测试市市场监督管理局",
                       "--uscc", pki_sm2.USCC_A, "--key", "sm2-a").output  # fmt: skip
    assert "registered SM2-1" in registered
    refused = esign("seals", "register", "SM2-2", "--org", "测试", "--uscc", pki_sm2.USCC_A,
                    "--key", "sm2-maker", ok=False)  # fmt: skip
    assert "KEY_NOT_BINDABLE" in refused.output


def test_sm2_key_on_a_token_without_an_sm2_mechanism_is_a_typed_error(
    esign: Run, softhsm, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    pki = pki_sm2.load()
    token = pkcs11.open_token(MODULE, HSM_LABEL, Secret(HSM_PIN.encode()))
    if not list(token.session.get_objects({pkcs11.Attribute.LABEL: "sm2-agency-a"})):
        pkcs11.import_private_key(token, "sm2-agency-a", pki.key("sm2-agency-a"))
        pkcs11.import_certificate(token, "sm2-agency-a", pki.cert("sm2-agency-a"))
    monkeypatch.setenv(HSM_PIN_ENV, HSM_PIN)
    refused = esign("keystore", "add-pkcs11", "hsm-sm2", "--token", HSM_LABEL, "--key-label", "sm2-agency-a",
                    "--pin-env", HSM_PIN_ENV, "--owner", pki_sm2.USCC_A, ok=False)  # fmt: skip
    assert "TOKEN_WITHOUT_SM2" in refused.output and "hsm-sm2" not in esign("keystore", "list").output


def test_fixtures_export_writes_the_sm2_test_pki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESIGN_KEY_PASSPHRASE", PASS)
    result = CliRunner().invoke(main, ["fixtures", "export", str(tmp_path / "pki")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    pki, sm2_dir = pki_sm2.load(), tmp_path / "pki" / "sm2"
    assert [p.name for p in (sm2_dir / "trust").iterdir()] == ["esign-sm2-root.pem"]
    assert pem.unarmor((sm2_dir / "trust" / "esign-sm2-root.pem").read_bytes())[2] == pki.root.dump()
    assert pem.unarmor((sm2_dir / "sm2-interm.pem").read_bytes())[2] == pki.cert("sm2-interm").dump()
    for label in ("sm2-agency-a", "sm2-agency-b", "sm2-maker"):
        signer = load_pkcs12((sm2_dir / f"{label}.p12").read_bytes(), PASS.encode())
        assert isinstance(signer, SM2Signer) and signer.signing_cert.dump() == pki.cert(label).dump()


def test_esl_of_an_sm2_seal_lists_its_certificate_and_verifies_with_openssl(
    db, keys, tmp_path: Path, secrets_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from keystore.esl import SealMaker, export_esl
    from keystore.registry import find_seal

    code = register_sm2_seal(db, keys, tmp_path, monkeypatch)
    pki = pki_sm2.load()
    with db.transaction() as session:
        der = export_esl(find_seal(session, code), SealMaker(pki.key("sm2-maker"), pki.cert("sm2-maker")))
    seal = ses.parse_seal(der)
    assert seal["e_seal_info"]["property"].certificates() == [pki.cert("sm2-agency-a").dump()]
    assert seal["e_seal_info"]["es_id"].native == code
    assert sm2_verifies(
        tmp_path, pki.cert("sm2-maker"), seal["e_seal_info"].dump(), seal["signed_value"].native
    )
