"""Sealing: every level × key type × placement yields a document that qpdf, poppler and pyHanko accept."""

from __future__ import annotations

import socket
import subprocess
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from esign.errors import ErrorCode, EsignError
from esign.seal.image import SealImage, round_seal
from esign.seal.pades import (
    AtKeyword,
    AtPosition,
    Certification,
    CrossPage,
    Invisible,
    Level,
    SealOptions,
    seal,
)
from esign.seal.signers import CachedKeySigner, load_pkcs12
from fixtures.documents import licence_pdf, long_pdf
from fixtures.pki import TestPKI

PLACEMENTS = {
    "visible": AtPosition(page=1, x_mm=150, y_mm=235),
    "keyword": AtKeyword("（盖章）"),
    "cross-page": CrossPage(),
    "invisible": Invisible(),
}


@pytest.fixture(scope="module")
def signers(pki: TestPKI) -> dict[str, CachedKeySigner]:
    labels = ("agency-a", "agency-a-ec", "agency-b")
    return {label: load_pkcs12(pki.pkcs12(label, b"pw"), b"pw") for label in labels}


@pytest.fixture(scope="module")
def image() -> SealImage:
    return round_seal("杭州市市场监督管理局", "行政审批专用章")


@pytest.fixture(scope="module")
def licence() -> bytes:
    return licence_pdf()


@pytest.fixture(scope="module")
def three_pages() -> bytes:
    return long_pdf(3)


def pdfsig_verdicts(path: Path) -> tuple[int, int]:
    """(signatures poppler calls valid, approval signatures poppler sees)."""
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
    return out.count("Signature is Valid."), out.count("Signature Type: ETSI.CAdES.detached")


def assert_qpdf_clean(path: Path) -> None:
    result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors found" in result.stdout


def assert_pyhanko_accepts(pdf: bytes, pki: TestPKI, from_file_only: bool) -> int:
    """Every approval signature is intact, valid and trusted; revocation data from the file alone if asked."""
    reader = PdfFileReader(BytesIO(pdf))
    signatures = reader.embedded_regular_signatures
    settings = {"trust_roots": [pki.root], "allow_fetching": False}
    if from_file_only:
        # hard-fail: a certificate without revocation data in the DSS fails validation
        vc = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {**settings, "revocation_mode": "hard-fail"}
        )
    else:
        vc = ValidationContext(**settings, revocation_mode="soft-fail")
    for sig in signatures:
        status = validate_pdf_signature(sig, vc)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    return len(signatures)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("key", ["agency-a", "agency-a-ec"])
@pytest.mark.parametrize("level", list(Level))
def test_every_level_key_and_placement_is_valid_everywhere(
    level: Level, key: str, placement: str, pki: TestPKI, signers, image, licence, three_pages, tmp_path
) -> None:
    document = three_pages if placement == "cross-page" else licence
    options = SealOptions(level=level, placement=PLACEMENTS[placement])
    sealed = seal(document, signers[key], options, image=image, timestamper=HTTPTimeStamper(pki.tsa_url))
    out = tmp_path / "sealed.pdf"
    out.write_bytes(sealed)

    assert sealed.startswith(document), "sealing must append an incremental update"
    assert_qpdf_clean(out)
    valid, approvals = pdfsig_verdicts(out)
    assert approvals == 1 and valid >= 1
    assert assert_pyhanko_accepts(sealed, pki, from_file_only=level.embeds_validation_data) == 1
    if level is Level.B_LTA:
        assert len(PdfFileReader(BytesIO(sealed)).embedded_timestamp_signatures) == 1
    if level.embeds_validation_data:
        assert b"/DSS" in sealed[len(document) :]


def test_second_agency_seal_keeps_the_first_valid(pki: TestPKI, signers, image, licence, tmp_path) -> None:
    first = seal(licence, signers["agency-a"], SealOptions(placement=AtPosition(1, 150, 235)), image=image)
    second_image = round_seal("杭州市人力资源和社会保障局")
    both = seal(first, signers["agency-b"], SealOptions(placement=AtPosition(1, 60, 235)), image=second_image)
    (tmp_path / "both.pdf").write_bytes(both)

    assert both.startswith(first)
    assert assert_pyhanko_accepts(both, pki, from_file_only=False) == 2
    assert pdfsig_verdicts(tmp_path / "both.pdf") == (2, 2)
    first_sig = PdfFileReader(BytesIO(both)).embedded_regular_signatures[0]
    vc = ValidationContext(trust_roots=[pki.root], allow_fetching=False)
    status = validate_pdf_signature(first_sig, vc)
    assert status.docmdp_ok and status.modification_level is not None
    assert status.modification_level.value <= ModificationLevel.FORM_FILLING.value


def test_no_changes_certification_refuses_a_second_seal(signers, licence) -> None:
    certified = seal(licence, signers["agency-a"], SealOptions(certification=Certification.NO_CHANGES))
    with pytest.raises(EsignError) as refused:
        seal(certified, signers["agency-b"])
    assert refused.value.code is ErrorCode.DOCUMENT_LOCKED


@pytest.mark.parametrize("certification", [Certification.FORM_FILLING, Certification.ANNOTATIONS])
def test_certified_document_takes_a_later_seal_only_invisibly(
    pki: TestPKI, signers, image, licence, certification: Certification
) -> None:
    """A new visible widget would break the certification (DocMDP): refused; an invisible seal keeps it."""
    certified = seal(licence, signers["agency-a"], SealOptions(certification=certification))
    for placement in (AtPosition(1, 60, 235), AtKeyword("（盖章）")):
        with pytest.raises(EsignError) as refused:
            seal(certified, signers["agency-b"], SealOptions(placement=placement), image=image)
        assert refused.value.code is ErrorCode.CERTIFIED_VISIBLE_SEAL
    both = seal(certified, signers["agency-b"])
    assert assert_pyhanko_accepts(both, pki, from_file_only=False) == 2
    first = PdfFileReader(BytesIO(both)).embedded_regular_signatures[0]
    status = validate_pdf_signature(first, ValidationContext(trust_roots=[pki.root], allow_fetching=False))
    assert status.docmdp_ok, status.pretty_print_details()


def test_change_after_no_changes_certification_is_flagged_by_pyhanko(pki: TestPKI, signers, licence) -> None:
    certified = seal(licence, signers["agency-a"], SealOptions(certification=Certification.NO_CHANGES))
    writer = IncrementalPdfFileWriter(BytesIO(certified))
    writer.root["/Lang"] = generic.TextStringObject("en")  # any change to the catalog
    writer.update_root()
    changed = BytesIO()
    writer.write(changed)

    sig = PdfFileReader(changed).embedded_regular_signatures[0]
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[pki.root], allow_fetching=False))
    assert status.docmdp_ok is False
    assert not status.bottom_line


def test_form_filling_certification_allows_a_later_approval_seal(pki: TestPKI, signers, licence) -> None:
    certified = seal(licence, signers["agency-a"], SealOptions(certification=Certification.FORM_FILLING))
    approved = seal(certified, signers["agency-b"])
    reader = PdfFileReader(BytesIO(approved))
    assert assert_pyhanko_accepts(approved, pki, from_file_only=False) == 2
    assert reader.embedded_regular_signatures[0].docmdp_level is MDPPerm.FILL_FORMS


def test_appearance_text_is_rendered_with_cjk_glyphs(signers, image, licence, tmp_path) -> None:
    options = SealOptions(placement=AtPosition(1, 150, 235), appearance_text="签章人：%(signer)s\n%(ts)s")
    sealed = tmp_path / "text.pdf"
    sealed.write_bytes(seal(licence, signers["agency-a"], options, image=image))
    # The text lives in the widget's appearance stream; qpdf flattens it into the page so poppler
    # extracts it through the embedded font's ToUnicode map — missing glyphs would not come back.
    flat = tmp_path / "flat.pdf"
    subprocess.run(["qpdf", "--flatten-annotations=all", str(sealed), str(flat)], check=True, timeout=60)
    text = subprocess.run(["pdftotext", str(flat), "-"], capture_output=True, text=True, timeout=60).stdout
    assert "签章人：杭州市市场监督管理局电子印章" in text.replace("\n", "")
    fonts = subprocess.run(["pdffonts", str(sealed)], capture_output=True, text=True, timeout=60).stdout
    assert "NotoSansCJK" in fonts


# --- bad input: a typed error, and nothing written -------------------------------------------------


def _raises(code: ErrorCode, *args, **kwargs) -> EsignError:
    with pytest.raises(EsignError) as caught:
        seal(*args, **kwargs)
    assert caught.value.code is code
    assert caught.value.message_zh and caught.value.message_en
    return caught.value


def test_not_a_pdf_is_refused(signers) -> None:
    _raises(ErrorCode.NOT_A_PDF, b"GIF89a not a pdf at all", signers["agency-a"])


def test_truncated_pdf_is_refused(signers, licence) -> None:
    _raises(ErrorCode.PDF_TRUNCATED, licence[: len(licence) // 2], signers["agency-a"])


def test_corrupt_pdf_is_refused(signers) -> None:
    _raises(
        ErrorCode.PDF_CORRUPT, b"%PDF-1.7\n1 0 obj <</Type /Catalog>> garbage\n%%EOF\n", signers["agency-a"]
    )


def test_encrypted_pdf_is_refused(signers, licence, tmp_path) -> None:
    with pikepdf.open(BytesIO(licence)) as pdf:
        pdf.save(tmp_path / "enc.pdf", encryption=pikepdf.Encryption(owner="owner", user="", R=6))
    _raises(ErrorCode.PDF_ENCRYPTED, (tmp_path / "enc.pdf").read_bytes(), signers["agency-a"])


def test_missing_keyword_is_refused(signers, image, licence) -> None:
    error = _raises(
        ErrorCode.KEYWORD_NOT_FOUND,
        licence,
        signers["agency-a"],
        SealOptions(placement=AtKeyword("不存在的文字")),
        image=image,
    )
    assert "不存在的文字" in error.message_zh


def test_page_out_of_range_is_refused(signers, image, licence) -> None:
    _raises(
        ErrorCode.PAGE_OUT_OF_RANGE,
        licence,
        signers["agency-a"],
        SealOptions(placement=AtPosition(9, 10, 10)),
        image=image,
    )


def test_cross_page_seal_on_a_signed_document_is_refused(signers, image, three_pages) -> None:
    signed = seal(three_pages, signers["agency-a"])
    _raises(
        ErrorCode.BAD_PLACEMENT, signed, signers["agency-b"], SealOptions(placement=CrossPage()), image=image
    )


def test_wrong_passphrase_is_refused_without_echoing_it(pki: TestPKI) -> None:
    with pytest.raises(EsignError) as caught:
        load_pkcs12(pki.pkcs12("agency-a", b"right-secret"), b"wrong-secret")
    assert caught.value.code is ErrorCode.WRONG_PASSPHRASE
    assert "secret" not in str(caught.value.to_dict())


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("agency-expired", ErrorCode.CERT_EXPIRED),
        ("agency-future", ErrorCode.CERT_NOT_YET_VALID),
        ("agency-wrong-ku", ErrorCode.CERT_KEY_USAGE),
        ("agency-weak", ErrorCode.CERT_WEAK_KEY),
    ],
)
def test_unusable_certificate_is_refused(label: str, code: ErrorCode, pki: TestPKI, licence) -> None:
    signer = load_pkcs12(pki.pkcs12(label, b"pw"), b"pw")
    _raises(code, licence, signer)


def test_revoked_certificate_is_refused_when_gathering_revocation_data(pki: TestPKI, licence) -> None:
    signer = load_pkcs12(pki.pkcs12("agency-revoked", b"pw"), b"pw")
    _raises(
        ErrorCode.CERT_REVOKED,
        licence,
        signer,
        SealOptions(level=Level.B_LT),
        timestamper=HTTPTimeStamper(pki.tsa_url),
    )


def test_unreachable_tsa_is_a_typed_error_within_the_timeout(signers, licence) -> None:
    with socket.socket() as listener:  # a port that accepts nothing: bound, never listening
        listener.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{listener.getsockname()[1]}/tsa"
        _raises(
            ErrorCode.TSA_UNREACHABLE,
            licence,
            signers["agency-a"],
            SealOptions(level=Level.B_T),
            timestamper=HTTPTimeStamper(dead, timeout=2),
        )


def test_b_t_without_a_tsa_is_a_bad_option(signers, licence) -> None:
    _raises(ErrorCode.BAD_OPTION, licence, signers["agency-a"], SealOptions(level=Level.B_T))


def test_too_small_reservation_falls_back_to_measuring(pki: TestPKI, signers, licence, monkeypatch) -> None:
    """An unexpectedly large CMS blob (e.g. a TSA with a long chain) must not fail the seal."""
    import esign.seal.pades

    monkeypatch.setattr(esign.seal.pades, "_estimate_reserved", lambda signer, level: 512)
    options = SealOptions(level=Level.B_T)
    sealed = seal(licence, signers["agency-a"], options, timestamper=HTTPTimeStamper(pki.tsa_url))
    assert assert_pyhanko_accepts(sealed, pki, from_file_only=False) == 1
