"""``esign verify seal.esl`` / ``esign verify SignedValue.dat``: standalone GB/T 38540 files get a report.

The seal is a registered SM2 seal written by ``esign seals export-esl`` (signed by the test PKI's seal
maker), the seal signature one the seal's certificate makes over a document; only the SM2 root is
trusted, the intermediate is offered with ``--cert``. One changed byte must fail either.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api.cli import main
from esign.gm import ses, ses_make, sm2
from fixtures import pki_sm2
from keystore.db import Database
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.sm2_keys import SM2_ORG, maker_pem_files, register_sm2_seal

DOCUMENT = b"<ofd:Document>esign standalone seal signature</ofd:Document>"
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"


def esign(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def files(db: Database, db_url: str, keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """a.esl (exported), SignedValue.dat over DOCUMENT, and the trust files, in ``tmp_path``."""
    pki = pki_sm2.load()
    register_sm2_seal(db, keys, tmp_path, monkeypatch)
    maker_key, maker_cert = maker_pem_files(tmp_path)
    monkeypatch.setenv("ESIGN_DATABASE_URL", db_url)
    maker = ["--maker-key", str(maker_key), "--maker-cert", str(maker_cert)]
    exported = esign("seals", "export-esl", "SM2-A", "-o", str(tmp_path / "a.esl"), *maker)
    assert exported.exit_code == 0, exported.output
    seal = ses.parse_seal((tmp_path / "a.esl").read_bytes())
    signature = ses_make.make_signature(
        seal, sm2.sm3(DOCUMENT), PROPERTY, pki.key("sm2-agency-a"), pki.cert("sm2-agency-a")
    )
    (tmp_path / "SignedValue.dat").write_bytes(signature.dump())
    (tmp_path / "Document.xml").write_bytes(DOCUMENT)
    (tmp_path / "root.pem").write_bytes(pki.pem("sm2-root"))
    (tmp_path / "interm.pem").write_bytes(pki.pem("sm2-interm"))
    return tmp_path


def verify(directory: Path, name: str, *extra: str, trust_interm: bool = True) -> tuple[int, dict]:
    chain = ["--cert", str(directory / "interm.pem")] if trust_interm else []
    result = esign("verify", str(directory / name), "--trust", str(directory / "root.pem"), *chain, *extra)
    return result.exit_code, json.loads(result.output)


def _tamper(path: Path, marker: bytes, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[data.index(marker) + offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_an_exported_seal_gets_a_report_with_maker_validity_cert_list_and_picture(files: Path) -> None:
    pki = pki_sm2.load()
    code, report = verify(files, "a.esl")
    assert (code, report["kind"], report["indication"]) == (0, "seal", "TOTAL_PASSED"), report
    assert report["format"] == "GBT38540-v4"
    seal = report["seal"]
    assert seal["es_id"] == "SM2-A" and seal["name"] == f"{SM2_ORG}合同专用章"
    assert seal["maker"]["sha256"] == pki.cert("sm2-maker").sha256.hex()
    assert [c["sha256"] for c in seal["cert_list"]] == [pki.cert("sm2-agency-a").sha256.hex()]
    assert seal["cert_list"][0]["name"] == SM2_ORG
    assert seal["valid_start"] < seal["valid_end"]
    assert seal["picture"]["type"] == "PNG" and seal["picture"]["size"] > 1000
    checks = {c["check"]: c["result"] for c in report["checks"]}
    assert checks == {
        "structure": "passed",
        "seal_maker_signature": "passed",
        "seal_maker_certificate": "passed",
        "seal_validity_window": "passed",
    }
    zh = esign("verify", str(files / "a.esl"), "--trust", str(files / "root.pem"), "--cert",
               str(files / "interm.pem"), "--format", "text").output  # fmt: skip
    assert "总体结论: 验证通过" in zh and "制章者签名: 通过" in zh and f"印章名称: {SM2_ORG}合同专用章" in zh
    en = esign("verify", str(files / "a.esl"), "--trust", str(files / "root.pem"), "--cert",
               str(files / "interm.pem"), "--format", "text", "--lang", "en").output  # fmt: skip
    assert "Overall result: Passed (TOTAL_PASSED)" in en and "Seal picture: PNG" in en


def test_one_changed_byte_in_the_seal_fails_it(files: Path) -> None:
    _tamper(files / "a.esl", b"IDAT", 8)  # inside the picture the maker signed
    code, report = verify(files, "a.esl")
    assert (code, report["indication"], report["subindication"]) == (1, "TOTAL_FAILED", "SIG_CRYPTO_FAILURE")
    assert [f["code"] for f in report["findings"]] == ["SES_SEAL_SIGNATURE_INVALID"]


def test_without_the_intermediate_the_maker_chain_is_not_found(files: Path) -> None:
    code, report = verify(files, "a.esl", trust_interm=False)
    assert (code, report["indication"], report["subindication"]) == (
        2,
        "INDETERMINATE",
        "NO_CERTIFICATE_CHAIN_FOUND",
    )


def test_a_seal_signature_with_its_document_passes_and_any_change_fails(files: Path) -> None:
    pki = pki_sm2.load()
    code, report = verify(files, "SignedValue.dat", "--document", str(files / "Document.xml"))
    assert (code, report["kind"], report["indication"]) == (0, "seal_signature", "TOTAL_PASSED"), report
    signature = report["signature"]
    assert signature["signed_by"]["sha256"] == pki.cert("sm2-agency-a").sha256.hex()
    assert signature["property_info"] == PROPERTY
    assert signature["data_hash"] == sm2.sm3(DOCUMENT).hex()
    assert signature["signed_document"]["name"] == "Document.xml"
    assert report["seal"]["es_id"] == "SM2-A"
    assert {c["check"]: c["result"] for c in report["checks"]}["document_hash"] == "passed"

    (files / "Other.xml").write_bytes(DOCUMENT.replace(b"esign", b"ESIGN"))
    code, report = verify(files, "SignedValue.dat", "--document", str(files / "Other.xml"))
    assert (code, report["subindication"]) == (1, "HASH_FAILURE")
    assert "DIGEST_MISMATCH" in [f["code"] for f in report["findings"]]

    _tamper(files / "SignedValue.dat", PROPERTY.encode(), 5)  # one byte of the signed TBS_Sign
    code, report = verify(files, "SignedValue.dat", "--document", str(files / "Document.xml"))
    assert (code, report["indication"]) == (1, "TOTAL_FAILED")
    assert "SIGNATURE_VALUE_INVALID" in [f["code"] for f in report["findings"]]


def test_without_its_document_a_seal_signature_is_indeterminate(files: Path) -> None:
    # the kind is told by the content: the same bytes under a .pdf name are still a seal signature
    (files / "renamed.pdf").write_bytes((files / "SignedValue.dat").read_bytes())
    code, report = verify(files, "renamed.pdf")
    assert (code, report["indication"], report["subindication"]) == (
        2,
        "INDETERMINATE",
        "SIGNED_DATA_NOT_FOUND",
    )
    assert [f["code"] for f in report["findings"]] == ["SES_DOCUMENT_NOT_GIVEN"]
    text = esign("verify", str(files / "renamed.pdf"), "--trust", str(files / "root.pem"), "--cert",
                 str(files / "interm.pem"), "--format", "text").output  # fmt: skip
    assert "被签章文件: 未提供" in text and "文件摘要: 未检查" in text


def test_other_input_keeps_its_typed_errors(files: Path) -> None:
    (files / "junk.esl").write_bytes(b"\x30\x03\x02\x01\x01")
    (files / "notes.txt").write_bytes(b"hello")
    for name in ("junk.esl", "notes.txt"):
        result = esign("verify", str(files / name))
        assert result.exit_code == 4 and json.loads(result.output)["error"]["code"] == "NOT_A_PDF"
    result = esign("verify", str(files / "a.esl"), "--document", str(files / "Document.xml"))
    assert result.exit_code == 4 and json.loads(result.output)["error"]["code"] == "BAD_OPTION"
    result = esign("verify", str(files / "a.esl"), "--format", "xml")
    assert result.exit_code == 4 and 'code="XML_REPORT_UNAVAILABLE"' in result.output


def test_a_seal_outside_its_validity_at_the_validation_time_fails(files: Path) -> None:
    valid_end = ses.parse_seal((files / "a.esl").read_bytes())["e_seal_info"]["property"]["valid_end"].native
    later = valid_end.replace(year=valid_end.year + 1).isoformat()
    code, report = verify(files, "a.esl", "--at", later)
    assert code != 0 and report["indication"] != "TOTAL_PASSED"
    assert "SES_SEAL_OUTSIDE_VALIDITY_NOW" in [f["code"] for f in report["findings"]]
