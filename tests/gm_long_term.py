"""Checks of SM2 seals at B-T, B-LT and B-LTA: esign's report with only the SM2 root trusted, and OpenSSL
over every signature link by link (the seal signature, its timestamp, the DSS CRLs, the document
timestamp) — OpenSSL 3.0 cannot verify SM2 CMS or SM2 chains in one call.
"""

from __future__ import annotations

import json
from datetime import datetime
from io import BytesIO
from pathlib import Path

from asn1crypto import cms, tsp
from click.testing import CliRunner
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from api.cli import main
from fixtures.pki_sm2 import SM2TestPKI
from tests.gm_openssl import assert_ses_pdf_checks_out, contents_der, signed_bytes, sm2_verifies, sm3

#: what the documents of these tests say, so that one signed byte can be changed
TITLE = b"esign SM2 long term"


def report_root_only(directory: Path, sealed: bytes, sm2: SM2TestPKI) -> dict:
    """``esign verify`` with the SM2 root as the only trust anchor and no other certificate offered."""
    (directory / "root-only").mkdir(exist_ok=True)
    (directory / "root-only" / "root.pem").write_bytes(sm2.pem("sm2-root"))
    (directory / "check.pdf").write_bytes(sealed)
    result = CliRunner().invoke(
        main, ["verify", str(directory / "check.pdf"), "--trust", str(directory / "root-only")]
    )
    return json.loads(result.output)


def assert_level(
    directory: Path, sealed: bytes, sm2: SM2TestPKI, level: str, sm2_format: str, *, tamper: bool = True
) -> dict:
    """``sealed`` is an SM2 seal at ``level``: OpenSSL confirms each signature, esign's report is
    TOTAL_PASSED at the timestamp's genTime, and (``tamper``) one changed signed byte makes it
    TOTAL_FAILED."""
    token = _check_signature(directory, sealed, sm2, sm2_format)
    gen_time = _check_token(directory, token, sm2)
    report = report_root_only(directory, sealed, sm2)
    assert report["indication"] == "TOTAL_PASSED", report["findings"]
    signature = report["signatures"][0]
    assert signature["format"] == ("PKCS7-SM2" if sm2_format == "cms" else "GBT38540-v4")
    assert datetime.fromisoformat(signature["best_signature_time"]) == gen_time
    long_term = level in ("B-LT", "B-LTA")
    assert ("REVOCATION_DATA_MISSING" in signature["findings"]) is not long_term
    if long_term:
        _check_dss_crls(directory, sealed, sm2)
    kinds = [(s["kind"], s["format"]) for s in report["signatures"]]
    assert kinds[1:] == ([("document_timestamp", "RFC3161")] if level == "B-LTA" else [])
    if level == "B-LTA":
        _check_document_timestamp(directory, sealed, sm2)
    assert TITLE in signed_bytes(sealed, 0)
    if tamper:
        changed = report_root_only(directory, sealed.replace(TITLE, TITLE.upper(), 1), sm2)
        assert changed["indication"] == "TOTAL_FAILED"
    return report


def _check_signature(directory: Path, sealed: bytes, sm2: SM2TestPKI, sm2_format: str) -> cms.ContentInfo:
    """OpenSSL over the first signature; returns its timestamp token."""
    if sm2_format == "ses":
        signature = assert_ses_pdf_checks_out(
            directory, sealed, sm2.cert("sm2-agency-a"), sm2.cert("sm2-maker"), index=0
        )
        token = cms.ContentInfo.load(signature["time_stamp"].native)
        value = signature["signature"].native
    else:
        info = cms.ContentInfo.load(contents_der(sealed, 0))["content"]["signer_infos"][0]
        digest = next(a for a in info["signed_attrs"] if a["type"].native == "message_digest")
        assert digest["values"][0].native == sm3(directory, signed_bytes(sealed, 0))
        value = info["signature"].native
        assert sm2_verifies(directory, sm2.cert("sm2-agency-a"), info["signed_attrs"].untag().dump(), value)
        token = next(a for a in info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token")
        token = token["values"][0]
    imprint = _tst_info(token)["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].native == "sm3"
    assert imprint["hashed_message"].native == sm3(directory, value)
    return token


def _tst_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    return token["content"]["encap_content_info"]["content"].parsed


def _check_token(directory: Path, token: cms.ContentInfo, sm2: SM2TestPKI) -> datetime:
    """The TSA's SM2 signature over the token's signed attributes, and that they bind the TSTInfo."""
    info = token["content"]["signer_infos"][0]
    tst_der = token["content"]["encap_content_info"]["content"].contents
    digest = next(a for a in info["signed_attrs"] if a["type"].native == "message_digest")
    assert digest["values"][0].native == sm3(directory, tst_der)
    tsa = sm2.cert("sm2-tsa")
    assert sm2_verifies(directory, tsa, info["signed_attrs"].untag().dump(), info["signature"].native)
    return _tst_info(token)["gen_time"].native


def _check_dss_crls(directory: Path, sealed: bytes, sm2: SM2TestPKI) -> None:
    """The DSS holds the intermediate and both CRLs, each signed by its CA (checked by OpenSSL)."""
    dss = DocumentSecurityStore.read_dss(PdfFileReader(BytesIO(sealed)))
    assert sm2.cert("sm2-interm").dump() in [c.dump() for c in dss.load_certs()]
    embedded = [c.get_object().data for c in dss.crls]
    for issuer in ("sm2-interm", "sm2-root"):
        crl = sm2.crl_of(issuer)
        assert crl.dump() in embedded
        tbs, value = crl["tbs_cert_list"].dump(), crl["signature"].native
        assert sm2_verifies(directory, sm2.cert(issuer), tbs, value)


def _check_document_timestamp(directory: Path, sealed: bytes, sm2: SM2TestPKI) -> None:
    """The last signature is an SM2 document timestamp over everything before it (DSS included)."""
    token = cms.ContentInfo.load(contents_der(sealed))
    assert _tst_info(token)["message_imprint"]["hashed_message"].native == sm3(
        directory, signed_bytes(sealed)
    )
    _check_token(directory, token, sm2)
    assert b"/DSS" in signed_bytes(sealed)
