"""PDFs sealed in style 2 (SM2 CMS) and style 3 (GB/T 38540 SES_Signature), verified end to end."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import cms, pem

from esign.errors import ErrorCode, EsignError
from esign.findings import FindingCode
from esign.gm import oids, ses, sm2
from esign.gm.cms_signer import SM2Signer
from esign.policy import ValidationPolicy
from esign.report.model import Indication, SubIndication
from esign.seal.gm import seal_picture, seal_ses, seal_sm2_cms
from esign.seal.pades import AtKeyword, Level, SealOptions
from esign.verify.gm import GmResult, gm_format, gm_validation_context, verify_gm_pdf, verify_gm_signature
from esign.verify.sigformat import der_value
from fixtures.documents import SEAL_MARK_TEXT, licence_pdf
from fixtures.pki_sm2 import SM2TestPKI, load

STYLES = ("cms", "ses")
INVISIBLE = SealOptions()
DISTID = f"distid:{sm2.DEFAULT_ID.decode()}"


@pytest.fixture(scope="module")
def pki() -> SM2TestPKI:
    return load()


@pytest.fixture(scope="module")
def document() -> bytes:
    return licence_pdf()


@pytest.fixture(scope="module")
def agency_seal(pki: SM2TestPKI) -> ses.SESeal:
    return pki.seal(["sm2-agency-a", "sm2-revoked", "sm2-rogue-signer"])


def _seal(
    pki: SM2TestPKI,
    document: bytes,
    style: str,
    esl: ses.SESeal,
    signer: str = "sm2-agency-a",
    distinguishing_id: bytes = sm2.DEFAULT_ID,
    options: SealOptions = INVISIBLE,
) -> bytes:
    key, cert = pki.key(signer), pki.cert(signer)
    if style == "cms":
        sm2_signer = SM2Signer(key, cert, pki.chain(signer)[1:], distinguishing_id=distinguishing_id)
        return seal_sm2_cms(document, sm2_signer, options, image=seal_picture(esl))
    return seal_ses(document, esl, key, cert, options, distinguishing_id=distinguishing_id)


def _verify(pki: SM2TestPKI, sealed: bytes) -> GmResult:
    policy = ValidationPolicy.preset(trust_roots=[pki.root])
    results = asyncio.run(verify_gm_pdf(sealed, policy, other_certs=[pki.cert("sm2-interm")], crls=pki.crls))
    assert len(results) == 1
    return results[0][1]


def _contents(sealed: bytes) -> bytes:
    """The DER in the last /Contents hex string (without its zero padding)."""
    hex_value = re.findall(rb"/Contents\s*<([0-9A-Fa-f]+)>", sealed)[-1]
    return der_value(bytes.fromhex(hex_value.decode()))


def _byte_range(sealed: bytes) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(rb"/ByteRange\s*\[([\d ]+)\]", sealed)[-1].split())


def _signed_bytes(sealed: bytes) -> bytes:
    a, b, c, d = _byte_range(sealed)
    return sealed[a : a + b] + sealed[c : c + d]


def _replace_contents(sealed: bytes, old: bytes, new: bytes) -> bytes:
    """Swap the /Contents value in place (same length), as a forger editing the file would."""
    assert len(old) == len(new)
    return sealed.replace(old.hex().upper().encode(), new.hex().upper().encode(), 1)


@pytest.mark.parametrize("algorithm", sorted(oids.SM2_SIGNATURE_OIDS))
def test_style2_seal_is_sm3_sm2_cms_that_verifies(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal, algorithm: str
) -> None:
    signer = SM2Signer(pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"), pki.chain("sm2-agency-a")[1:],
                       algorithm=algorithm)  # fmt: skip
    sealed = seal_sm2_cms(document, signer)
    signer_info = cms.ContentInfo.load(_contents(sealed))["content"]["signer_infos"][0]
    assert signer_info["digest_algorithm"]["algorithm"].dotted == oids.SM3
    assert signer_info["signature_algorithm"]["algorithm"].dotted == algorithm
    assert b"/SubFilter /ETSI.CAdES.detached" in sealed
    result = _verify(pki, sealed)
    assert (result.format, result.integrity, result.crypto, result.chain) == (
        "PKCS7-SM2",
        "ok",
        "ok",
        "trusted",
    )
    assert result.indication == (Indication.TOTAL_PASSED, None)


def test_style3_seal_is_ses_signature_over_the_byte_range(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal
) -> None:
    sealed = _seal(pki, document, "ses", agency_seal)
    assert b"/SubFilter /adbe.pkcs7.detached" in sealed
    signature = ses.parse_signature(_contents(sealed))
    tbs = signature["to_sign"]
    assert tbs["data_hash"].native == sm2.sm3(_signed_bytes(sealed))
    assert tbs["property_info"].native == "ByteRange=[" + " ".join(map(str, _byte_range(sealed))) + "]"
    assert tbs["eseal"].dump() == agency_seal.dump()
    result = _verify(pki, sealed)
    assert result.format == "GBT38540-v4" and result.findings == []
    assert result.indication == (Indication.TOTAL_PASSED, None)
    assert result.seal_name == "测试市市场监督管理局业务专用章"


def test_style3_visible_seal_shows_the_seals_own_picture(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal, tmp_path: Path
) -> None:
    sealed = _seal(
        pki, document, "ses", agency_seal, options=SealOptions(placement=AtKeyword(SEAL_MARK_TEXT))
    )

    def red_pixels(pdf: bytes, name: str) -> int:
        (tmp_path / f"{name}.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", "30", "-singlefile", str(tmp_path / f"{name}.pdf"),
                        str(tmp_path / name)], check=True)  # fmt: skip
        raw = (tmp_path / f"{name}.ppm").read_bytes()
        pixels = raw[raw.index(b"255\n") + 4 :]
        rgb = zip(pixels[0::3], pixels[1::3], pixels[2::3], strict=False)
        return sum(1 for r, g, b in rgb if r > 180 and g < 120 and b < 120)

    assert red_pixels(document, "before") == 0
    assert red_pixels(sealed, "after") > 100
    assert _verify(pki, sealed).findings == []


@pytest.mark.parametrize("style", STYLES)
def test_altered_document_byte_is_hash_failure(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal, style: str
) -> None:
    sealed = _seal(pki, document, style, agency_seal)
    position = sealed.index(b"/MediaBox")
    tampered = sealed[:position] + b"/MediaBoy" + sealed[position + 9 :]
    result = _verify(pki, tampered)
    assert result.findings == [FindingCode.DIGEST_MISMATCH]
    assert result.integrity == "broken"
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


@pytest.mark.parametrize("style", STYLES)
def test_wrong_distinguishing_id_is_sig_crypto_failure(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal, style: str
) -> None:
    sealed = _seal(pki, document, style, agency_seal, distinguishing_id=b"agency-a@example.cn")
    result = _verify(pki, sealed)
    assert result.findings == [FindingCode.SIGNATURE_VALUE_INVALID]
    assert result.crypto == "failed"
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


@pytest.mark.parametrize("style", STYLES)
def test_untrusted_sm2_root_is_no_certificate_chain_found(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal, style: str
) -> None:
    result = _verify(pki, _seal(pki, document, style, agency_seal, signer="sm2-rogue-signer"))
    assert result.findings == [FindingCode.CHAIN_UNTRUSTED]
    assert result.chain == "untrusted"
    assert result.indication == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)


@pytest.mark.parametrize("style", STYLES)
def test_signer_revoked_before_signing_is_total_failed_revoked(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal, style: str
) -> None:
    result = _verify(pki, _seal(pki, document, style, agency_seal, signer="sm2-revoked"))
    assert FindingCode.CERTIFICATE_REVOKED in result.findings
    assert result.chain == "revoked"
    if style == "ses":  # the seal signature claims its signing time; PAdES CMS carries none
        assert result.indication == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    else:
        assert result.indication == (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)


def test_altered_seal_picture_breaks_maker_and_signer_signatures(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal
) -> None:
    sealed = _seal(pki, document, "ses", agency_seal)
    der = _contents(sealed)
    picture = agency_seal["e_seal_info"]["picture"]["data"].native
    middle = len(picture) // 2
    altered_picture = picture[:middle] + bytes([picture[middle] ^ 0xFF]) + picture[middle + 1 :]
    result = _verify(pki, _replace_contents(sealed, der, der.replace(picture, altered_picture, 1)))
    assert result.findings == [FindingCode.SIGNATURE_VALUE_INVALID, FindingCode.SES_SEAL_SIGNATURE_INVALID]
    assert result.integrity == "ok"  # the page bytes are untouched: only the seal data changed
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def test_signer_not_in_seal_cert_list_is_sig_constraints_failure(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal
) -> None:
    result = _verify(pki, _seal(pki, document, "ses", agency_seal, signer="sm2-agency-b"))
    assert result.findings == [FindingCode.SES_SIGNER_NOT_IN_SEAL]
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.SIG_CONSTRAINTS_FAILURE)


def test_seal_outside_its_validity_window_is_sig_constraints_failure(
    pki: SM2TestPKI, document: bytes
) -> None:
    expired_seal = pki.seal(valid=(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)))
    result = _verify(pki, _seal(pki, document, "ses", expired_seal))
    assert result.findings == [FindingCode.SES_SEAL_OUTSIDE_VALIDITY]
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.SIG_CONSTRAINTS_FAILURE)


def test_broken_maker_signature_is_reported(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal
) -> None:
    forged = ses.SESeal.load(agency_seal.dump())
    forged["signed_value"] = sm2.sign(pki.key("sm2-maker"), b"a different seal")
    result = _verify(pki, _seal(pki, document, "ses", forged))
    assert result.findings == [FindingCode.SES_SEAL_SIGNATURE_INVALID]
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the OpenSSL 3 CLI")
def test_style2_signature_value_verifies_with_openssl(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal, tmp_path: Path
) -> None:
    sealed = _seal(pki, document, "cms", agency_seal)
    signer_info = cms.ContentInfo.load(_contents(sealed))["content"]["signer_infos"][0]
    (tmp_path / "attrs.der").write_bytes(signer_info["signed_attrs"].untag().dump())
    (tmp_path / "sig.der").write_bytes(signer_info["signature"].native)
    (tmp_path / "pub.pem").write_bytes(pem.armor("PUBLIC KEY", pki.cert("sm2-agency-a").public_key.dump()))
    (tmp_path / "doc.bin").write_bytes(_signed_bytes(sealed))

    def openssl_verifies(data_file: str) -> bool:
        run = subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-digest", "sm3", "-rawin", "-pkeyopt", DISTID,
             "-pubin", "-inkey", "pub.pem", "-in", data_file, "-sigfile", "sig.der"],
            cwd=tmp_path, capture_output=True,
        )  # fmt: skip
        return run.returncode == 0

    assert openssl_verifies("attrs.der")
    assert not openssl_verifies("doc.bin")  # the same command rejects other data
    digest = subprocess.run(["openssl", "dgst", "-sm3", "-binary", "doc.bin"], cwd=tmp_path,
                            capture_output=True, check=True).stdout  # fmt: skip
    message_digest = next(a for a in signer_info["signed_attrs"] if a["type"].native == "message_digest")
    assert digest == message_digest["values"][0].native


@pytest.mark.parametrize(
    "contents",
    [b"", b"\x00" * 64, b"\x30\x82\xff\xff\x02\x01", b"%PDF-1.7", b"\x30\x03\x02\x01\x04" + b"\x00" * 10],
)
def test_malformed_contents_are_not_recognised_as_gm(contents: bytes) -> None:
    assert gm_format(contents) is None


def test_malformed_ses_signature_is_a_finding_not_an_exception(pki: SM2TestPKI) -> None:
    context = gm_validation_context(ValidationPolicy.preset(trust_roots=[pki.root]))
    result = asyncio.run(verify_gm_signature(b"\x30\x06\x30\x04\x02\x01\x04\x00", b"doc", context))
    assert result.findings == [FindingCode.SES_STRUCTURE_INVALID]
    assert result.indication == (Indication.INDETERMINATE, SubIndication.FORMAT_FAILURE)


def test_sm2_cms_without_the_signer_certificate_is_no_signing_certificate_found(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal
) -> None:
    info = cms.ContentInfo.load(_contents(_seal(pki, document, "cms", agency_seal)))
    stripped = cms.ContentInfo.load(info.dump())
    stripped["content"]["certificates"] = [
        c for c in info["content"]["certificates"] if c.chosen.subject != pki.cert("sm2-agency-a").subject
    ]
    context = gm_validation_context(ValidationPolicy.preset(trust_roots=[pki.root]))
    result = asyncio.run(verify_gm_signature(stripped.dump(), b"doc", context))
    assert result.findings == [FindingCode.SIGNING_CERTIFICATE_NOT_FOUND]
    assert result.indication == (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)


def test_style3_refuses_what_a_seal_signature_cannot_hold(
    pki: SM2TestPKI, document: bytes, agency_seal: ses.SESeal
) -> None:
    with pytest.raises(EsignError) as refused:
        _seal(pki, document, "ses", agency_seal, options=SealOptions(level=Level.B_T))
    assert refused.value.code is ErrorCode.BAD_OPTION


def test_seal_picture_that_cannot_be_drawn_is_a_typed_error(pki: SM2TestPKI, agency_seal: ses.SESeal) -> None:
    svg_seal = ses.SESeal.load(agency_seal.dump())
    svg_seal["e_seal_info"]["picture"]["type"] = "SVG"
    with pytest.raises(EsignError) as refused:
        seal_picture(svg_seal)
    assert refused.value.code is ErrorCode.BAD_IMAGE
