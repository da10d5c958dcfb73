"""An SM2 key seals through every door: ``esign seal --p12`` and ``--seal CODE``, ``esign seals batch``, HTTP.

Each sealed document is checked with OpenSSL (the SES_Signature's dataHash, the signer's signature over
TBS_Sign, the maker's over SES_SealInfo), then verified by ``esign verify`` with only the SM2 root
trusted (the intermediate offered with ``--cert``: a seal signature carries only its signer's
certificate), and must fail once one signed byte changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import cms
from click.testing import CliRunner, Result

from api.cli import main
from esign.gm import ses
from fixtures import pki_sm2
from tests.gm_openssl import assert_ses_pdf_checks_out, contents_der, needs_openssl, signed_bytes, sm3
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import small_pdf
from tests.sm2_keys import PASS, PASS_ENV, openssl_p12, register_sm2_seal

Run = Callable[..., Result]
TITLE = b"esign SM2 door"


@pytest.fixture
def sm2_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> dict[str, str]:
    """The seal maker configured as an agency would, plus the registry database and the trust files."""
    pki = pki_sm2.load()
    (tmp_path / "maker.p12").write_bytes(pki.pkcs12("sm2-maker", PASS.encode()))
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "root.pem").write_bytes(pki.pem("sm2-root"))
    (tmp_path / "interm.pem").write_bytes(pki.pem("sm2-interm"))
    (tmp_path / "in.pdf").write_bytes(small_pdf(TITLE.decode()))
    env = {
        PASS_ENV: PASS,
        "ESIGN_SEAL_MAKER_P12": str(tmp_path / "maker.p12"),
        "ESIGN_SEAL_MAKER_PASSPHRASE": f"env:{PASS_ENV}",
        "ESIGN_DATABASE_URL": db_url,
        "ESIGN_KEYSTORE_DIR": str(tmp_path / "keystore.d"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def esign(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def seal_p12(directory: Path, p12: Path, *extra: str, code: int = 0) -> Result:
    """``esign seal in.pdf -o out.pdf --p12 P12`` with the passphrase from the environment."""
    return esign("seal", str(directory / "in.pdf"), "-o", str(directory / "out.pdf"), "--p12", str(p12),
                 "--passphrase-env", PASS_ENV, *extra, code=code)  # fmt: skip


def verdict(directory: Path, sealed: bytes) -> str:
    """``esign verify`` with the SM2 root as the only trust anchor."""
    (directory / "check.pdf").write_bytes(sealed)
    result = CliRunner().invoke(
        main,
        ["verify", str(directory / "check.pdf"), "--trust", str(directory / "trust"),
         "--cert", str(directory / "interm.pem")],
    )  # fmt: skip
    return json.loads(result.output)["indication"]


def assert_verifies_and_breaks(directory: Path, sealed: bytes) -> None:
    assert verdict(directory, sealed) == "TOTAL_PASSED"
    assert TITLE in signed_bytes(sealed)
    assert verdict(directory, sealed.replace(TITLE, TITLE.upper(), 1)) == "TOTAL_FAILED"


def assert_ses(directory: Path, sealed: bytes) -> None:
    pki = pki_sm2.load()
    assert_ses_pdf_checks_out(directory, sealed, pki.cert("sm2-agency-a"), pki.cert("sm2-maker"))
    assert_verifies_and_breaks(directory, sealed)


@needs_openssl
def test_cli_p12_key_seals_ses_by_default(sm2_env: dict[str, str], tmp_path: Path) -> None:
    seal_p12(tmp_path, openssl_p12(tmp_path))
    sealed = (tmp_path / "out.pdf").read_bytes()
    assert_ses(tmp_path, sealed)
    seal = ses.parse_signature(contents_der(sealed))["to_sign"]["eseal"]
    assert seal["e_seal_info"]["property"].certificates() == [pki_sm2.load().cert("sm2-agency-a").dump()]
    (tmp_path / "check.pdf").write_bytes(sealed)
    text = esign("verify", str(tmp_path / "check.pdf"), "--trust", str(tmp_path / "trust"), "--cert",
                 str(tmp_path / "interm.pem"), "--format", "text").output  # fmt: skip
    assert "签署者: 测试市市场监督管理局" in text  # the certificate's CN, not its O ("esign 测试")


@needs_openssl
def test_cli_p12_key_seals_sm2_cms_on_request(sm2_env: dict[str, str], tmp_path: Path) -> None:
    seal_p12(tmp_path, openssl_p12(tmp_path), "--format", "cms")
    sealed = (tmp_path / "out.pdf").read_bytes()
    signed_data = cms.ContentInfo.load(contents_der(sealed))["content"]
    assert signed_data["signer_infos"][0]["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    digest = next(
        a for a in signed_data["signer_infos"][0]["signed_attrs"] if a["type"].native == "message_digest"
    )
    assert digest["values"][0].native == sm3(tmp_path, signed_bytes(sealed))
    assert_verifies_and_breaks(tmp_path, sealed)


@needs_openssl
def test_cli_p12_key_seals_with_a_given_esl(sm2_env: dict[str, str], tmp_path: Path) -> None:
    pki = pki_sm2.load()
    (tmp_path / "given.esl").write_bytes(pki.seal(["sm2-agency-a"]).dump())
    seal_p12(tmp_path, openssl_p12(tmp_path), "--esl", str(tmp_path / "given.esl"))
    sealed = (tmp_path / "out.pdf").read_bytes()
    assert (
        ses.parse_signature(contents_der(sealed))["to_sign"]["eseal"].dump()
        == (tmp_path / "given.esl").read_bytes()
    )
    assert_ses(tmp_path, sealed)


def test_ses_without_a_seal_maker_is_a_typed_error(
    sm2_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESIGN_SEAL_MAKER_P12")
    (tmp_path / "a.p12").write_bytes(pki_sm2.load().pkcs12("sm2-agency-a", PASS.encode()))
    failed = seal_p12(tmp_path, tmp_path / "a.p12", code=1)
    assert "SEAL_MAKER_MISSING" in failed.output and not (tmp_path / "out.pdf").exists()


@needs_openssl
def test_registered_sm2_seal_seals_ses_through_the_cli_and_a_batch(
    sm2_env: dict[str, str], db, keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    code = register_sm2_seal(db, keys, tmp_path, monkeypatch)
    esign("seal", str(tmp_path / "in.pdf"), "-o", str(tmp_path / "out.pdf"), "--seal", code)
    assert_ses(tmp_path, (tmp_path / "out.pdf").read_bytes())

    (tmp_path / "batch-in").mkdir()
    for n in range(2):
        (tmp_path / "batch-in" / f"d{n}.pdf").write_bytes(small_pdf(TITLE.decode()))
    assert "done" in esign("seals", "batch", code, str(tmp_path / "batch-in"), str(tmp_path / "batch-out"),
                           "--batch-id", "sm2-batch").output  # fmt: skip
    for n in range(2):
        assert_ses(tmp_path, (tmp_path / "batch-out" / f"d{n}.pdf").read_bytes())


@pytest.mark.parametrize("kind", ["sm2", "rsa"])
def test_the_signer_certificate_is_in_the_cms_certificates_once(kind: str, pki, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from esign.seal.gm import aseal_with
    from esign.seal.pades import SealOptions, SM2Format
    from esign.seal.signers import load_pkcs12
    from esign.sync_bridge import run_sync

    if kind == "sm2":
        p12, cert = pki_sm2.load().pkcs12("sm2-agency-a", b"pw"), pki_sm2.load().cert("sm2-agency-a")
    else:
        p12, cert = pki.pkcs12("agency-a", b"pw"), pki.cert("agency-a")
    signer = load_pkcs12(p12, b"pw")
    sealed = run_sync(aseal_with(small_pdf(), signer, SealOptions(sm2_format=SM2Format.CMS)))
    embedded = cms.ContentInfo.load(contents_der(sealed))["content"]["certificates"]
    assert [c.chosen.dump() for c in embedded].count(cert.dump()) == 1


@needs_openssl
@pytest.mark.parametrize("sm2_format", ["ses", "cms"])
def test_cli_p12_key_seals_b_t_with_the_loopback_sm2_tsa(  # type: ignore[no-untyped-def]
    sm2_env: dict[str, str], tmp_path: Path, pki, sm2_format: str
) -> None:
    seal_p12(
        tmp_path, openssl_p12(tmp_path), "--level", "B-T", "--tsa", pki.sm2_tsa_url, "--format", sm2_format
    )
    sealed = (tmp_path / "out.pdf").read_bytes()
    if sm2_format == "ses":
        signature = assert_ses_pdf_checks_out(
            tmp_path, sealed, pki_sm2.load().cert("sm2-agency-a"), pki_sm2.load().cert("sm2-maker")
        )
        token = cms.ContentInfo.load(signature["time_stamp"].native)
        tst_info = token["content"]["encap_content_info"]["content"].parsed
        assert tst_info["message_imprint"]["hashed_message"].native == sm3(
            tmp_path, signature["signature"].native
        )
    assert_verifies_and_breaks(tmp_path, sealed)


def test_intermediates_come_from_cert_or_esign_extra_certs_never_as_anchors(
    sm2_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = pki_sm2.load()
    seal_p12(tmp_path, _esign_p12(tmp_path))
    (tmp_path / "check.pdf").write_bytes((tmp_path / "out.pdf").read_bytes())
    base = ["verify", str(tmp_path / "check.pdf"), "--trust", str(tmp_path / "trust")]
    alone = CliRunner().invoke(main, base)
    assert json.loads(alone.output)["signatures"][0]["subindication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    monkeypatch.setenv("ESIGN_EXTRA_CERTS", str(tmp_path / "interm.pem"))
    assert json.loads(CliRunner().invoke(main, base).output)["indication"] == "TOTAL_PASSED"
    # an offered certificate is never an anchor: with the intermediate offered but the SM2 root not
    # trusted, the chain does not validate
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "other.pem").write_bytes(pki.pem("sm2-rogue-root"))
    untrusted = CliRunner().invoke(
        main, ["verify", str(tmp_path / "check.pdf"), "--trust", str(tmp_path / "empty")]
    )
    assert json.loads(untrusted.output)["indication"] != "TOTAL_PASSED"


def _esign_p12(directory: Path) -> Path:
    (directory / "a.p12").write_bytes(pki_sm2.load().pkcs12("sm2-agency-a", PASS.encode()))
    return directory / "a.p12"
