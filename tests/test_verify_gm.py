"""`esign verify` on Chinese seals: SM2 CMS (style 2) and GB/T 38540 seal signatures (style 3).

The pipeline hands such /Contents to esign.gm instead of pyHanko; the report must look like any other
signature's: kind "signature", the Chinese format name, the EN 319 102-1 verdict and the art. 13 verdict.
"""

from __future__ import annotations

import json
import re
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import pem
from click.testing import CliRunner
from pyhanko.sign.validation.dss import DocumentSecurityStore

from api.cli import main
from esign.gm import ses, ses_make
from esign.gm.cms_signer import SM2Signer
from esign.seal.gm import seal_picture, seal_ses, seal_sm2_cms
from esign.seal.pades import SealOptions
from fixtures.documents import licence_pdf
from fixtures.pki_sm2 import SM2TestPKI, load

SIGNER = "sm2-agency-a"


@pytest.fixture(scope="module")
def pki() -> SM2TestPKI:
    return load()


@pytest.fixture(scope="module")
def sealed(pki: SM2TestPKI) -> dict[str, bytes]:
    """One licence sealed in style 2 and one in style 3, both by agency A.

    A seal signature carries only the signer's certificate, so the style-3 file gets the intermediate
    CA in its DSS, as a PAdES writer would ship it (the CMS of style 2 embeds it itself).
    """
    document = licence_pdf()
    esl = pki.seal([SIGNER])
    key, cert = pki.key(SIGNER), pki.cert(SIGNER)
    cms_signer = SM2Signer(key, cert, pki.chain(SIGNER)[1:])
    style3 = BytesIO(seal_ses(document, esl, key, cert, SealOptions()))
    DocumentSecurityStore.add_dss(style3, None, certs=[pki.cert("sm2-interm")], force_write=True)
    return {
        "style2": seal_sm2_cms(document, cms_signer, SealOptions(), image=seal_picture(esl)),
        "style3": style3.getvalue(),
    }


def _cli_verify(tmp_path: Path, pki: SM2TestPKI, pdf: bytes) -> dict:
    target, anchor = tmp_path / "sealed.pdf", tmp_path / "sm2-root.pem"
    target.write_bytes(pdf)
    anchor.write_bytes(pem.armor("CERTIFICATE", pki.root.dump()))
    result = CliRunner().invoke(main, ["verify", str(target), "--trust", str(anchor), "--format", "json"])
    return json.loads(result.output)


def _altered(pdf: bytes) -> bytes:
    """One signed byte changed: in the binary comment after the header, so the file still parses."""
    at = pdf.index(b"\n%") + 2
    return pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]


@pytest.mark.parametrize(("style", "format_prefix"), [("style2", "PKCS7-SM2"), ("style3", "GBT38540-v")])
def test_gm_seal_with_the_sm2_root_trusted_is_total_passed(
    tmp_path: Path, pki: SM2TestPKI, sealed: dict[str, bytes], style: str, format_prefix: str
) -> None:
    report = _cli_verify(tmp_path, pki, sealed[style])
    (sig,) = report["signatures"]
    assert sig["kind"] == "signature" and sig["format"].startswith(format_prefix)
    assert (sig["indication"], report["indication"]) == ("TOTAL_PASSED", "TOTAL_PASSED")
    assert sig["checks"]["integrity"] == "ok" and sig["checks"]["crypto"] == "ok"
    assert sig["checks"]["chain"] == "trusted"
    assert "测试市市场监督管理局" in sig["signed_by"]["subject"]
    assert sig["reliable_esignature"]["verdict"] == "reliable"


@pytest.mark.parametrize("style", ["style2", "style3"])
def test_gm_seal_with_an_altered_byte_is_total_failed(
    tmp_path: Path, pki: SM2TestPKI, sealed: dict[str, bytes], style: str
) -> None:
    report = _cli_verify(tmp_path, pki, _altered(sealed[style]))
    (sig,) = report["signatures"]
    assert sig["indication"] == "TOTAL_FAILED" and sig["subindication"] == "HASH_FAILURE"
    assert sig["checks"]["integrity"] == "broken"
    assert sig["reliable_esignature"]["verdict"] == "not_reliable"


@pytest.mark.parametrize("style", ["style2", "style3"])
def test_gm_seal_under_another_sm2_root_is_no_certificate_chain_found(
    tmp_path: Path, pki: SM2TestPKI, sealed: dict[str, bytes], style: str
) -> None:
    target, anchor = tmp_path / "sealed.pdf", tmp_path / "rogue-root.pem"
    target.write_bytes(sealed[style])
    anchor.write_bytes(pem.armor("CERTIFICATE", pki.cert("sm2-rogue-root").dump()))
    result = CliRunner().invoke(main, ["verify", str(target), "--trust", str(anchor), "--format", "json"])
    (sig,) = json.loads(result.output)["signatures"]
    assert (sig["indication"], sig["subindication"]) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert sig["checks"]["chain"] == "untrusted"


def _with_property_info(pdf: bytes, pki: SM2TestPKI, property_info: str) -> bytes:
    """The style-3 seal re-signed by its own signer with ``property_info`` instead of its ByteRange."""
    start, end = (int(n) for n in re.search(rb"/ByteRange\s*\[\s*\d+\s+(\d+)\s+(\d+)", pdf).groups())
    hole = pdf[start + 1 : end - 1]
    signed = ses.SESSignature.load(bytes.fromhex(hole.decode()), strict=False)["to_sign"]
    again = ses_make.make_signature(
        signed["eseal"],
        signed["data_hash"].native,
        property_info,
        pki.key(SIGNER),
        pki.cert(SIGNER),
        signing_time=signed["time_info"].native,
    ).dump()
    return pdf[: start + 1] + again.hex().encode().ljust(len(hole), b"0") + pdf[end - 1 :]


def test_gm_seal_recording_another_byte_range_is_flagged_but_not_failed(
    tmp_path: Path, pki: SM2TestPKI, sealed: dict[str, bytes]
) -> None:
    """``propertyInfo`` is the signer's own statement of what it hashed: a mismatch is worth a warning."""
    assert (
        "SES_PROPERTY_INFO_MISMATCH"
        not in _cli_verify(tmp_path, pki, sealed["style3"])["signatures"][0]["findings"]
    )
    report = _cli_verify(tmp_path, pki, _with_property_info(sealed["style3"], pki, "ByteRange=[0 1 2 3]"))
    (sig,) = report["signatures"]
    assert "SES_PROPERTY_INFO_MISMATCH" in sig["findings"]
    assert sig["indication"] == "TOTAL_PASSED"  # the hash and both signatures still hold
    foreign = _cli_verify(tmp_path, pki, _with_property_info(sealed["style3"], pki, "/Doc_0/Signs/Sign_0"))
    assert "SES_PROPERTY_INFO_MISMATCH" not in foreign["signatures"][0]["findings"]
