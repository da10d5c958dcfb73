"""The sample documents: valid PDFs (qpdf), real extractable text (poppler), reproducible bytes."""

from __future__ import annotations

import subprocess
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.pdf.textsearch import find_last
from fixtures.documents import (
    FORM_CHECKBOX,
    FORM_SIGNATURE_FIELD,
    FORM_TEXT_FIELDS,
    SEAL_MARK_TEXT,
    form_pdf,
    large_pdf,
    licence_pdf,
    long_pdf,
    write_large_pdf,
)
from fixtures.pki import TestPKI


@pytest.fixture(scope="module")
def licence() -> bytes:
    return licence_pdf()


@pytest.fixture(scope="module")
def long_document() -> bytes:
    return long_pdf(200)


@pytest.fixture(scope="module")
def form() -> bytes:
    return form_pdf()


def _qpdf_check(pdf: bytes, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "checked.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, check=False)


def _pdftotext(pdf: bytes, *pages: str) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", *pages, "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


@pytest.mark.parametrize("name", ["licence", "long_document", "form"])
def test_generated_documents_pass_qpdf_check(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    result = _qpdf_check(request.getfixturevalue(name), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_licence_text_is_extractable_chinese(licence: bytes) -> None:
    text = _pdftotext(licence)
    for expected in (
        "营业执照",
        "统一社会信用代码",
        "91330100MA2ABCDE1R",
        "杭州示例科技有限公司",
        "法定代表人",
    ):
        assert expected in text
    assert "杭州市市场监督管理局" + SEAL_MARK_TEXT in text.replace(" ", "")
    assert "BUSINESS LICENCE" in text


def test_licence_prints_the_given_agency_holder_and_code() -> None:
    text = _pdftotext(
        licence_pdf(agency="宁波市市场监督管理局", holder="宁波测试有限公司", uscc="91330200MA2XXXXX0X")
    )
    assert "宁波市市场监督管理局" in text
    assert "宁波测试有限公司" in text
    assert "91330200MA2XXXXX0X" in text
    assert "杭州市市场监督管理局" not in text and "杭州示例科技有限公司" not in text


def test_licence_is_one_a4_page_with_an_embedded_font_subset(licence: bytes) -> None:
    with pikepdf.open(BytesIO(licence)) as pdf:
        assert len(pdf.pages) == 1
        assert [round(float(v)) for v in pdf.pages[0].mediabox] == [0, 0, 595, 842]
        font = pdf.pages[0].Resources.Font.F1
        descendant = font.DescendantFonts[0]
        assert "/FontFile3" in descendant.FontDescriptor
        assert str(font.BaseFont)[7] == "+"  # six-letter subset tag: a subset, not the 26 MB face
        assert "/ToUnicode" in font


def test_generators_are_deterministic() -> None:
    assert licence_pdf() == licence_pdf()
    assert form_pdf() == form_pdf()
    assert long_pdf(3) == long_pdf(3)
    assert large_pdf(1) == large_pdf(1)


def test_different_content_gives_different_bytes(licence: bytes) -> None:
    assert licence_pdf(holder="另一家公司") != licence


def test_long_document_has_200_numbered_pages_and_the_anchor_on_the_last(long_document: bytes) -> None:
    with pikepdf.open(BytesIO(long_document)) as pdf:
        assert len(pdf.pages) == 200
    last_page = _pdftotext(long_document, "-f", "200", "-l", "200")
    assert "第 200 页 / 共 200 页" in last_page
    assert SEAL_MARK_TEXT in last_page
    assert SEAL_MARK_TEXT not in _pdftotext(long_document, "-f", "1", "-l", "199")
    hit = find_last(long_document, SEAL_MARK_TEXT)
    assert hit is not None and hit.page == 199


def test_long_document_mixes_chinese_and_latin_on_every_page(long_document: bytes) -> None:
    page = _pdftotext(long_document, "-f", "37", "-l", "37")
    assert "第37条" in page and "Clause 37" in page and "第 37 页 / 共 200 页" in page


def test_long_document_refuses_zero_pages() -> None:
    with pytest.raises(ValueError):
        long_pdf(0)


def test_form_has_text_fields_checkbox_and_empty_signature_field(form: bytes) -> None:
    with pikepdf.open(BytesIO(form)) as pdf:
        fields = {str(field.T): field for field in pdf.Root.AcroForm.Fields}
        assert set(fields) == {*FORM_TEXT_FIELDS, FORM_CHECKBOX, FORM_SIGNATURE_FIELD}
        for name in FORM_TEXT_FIELDS:
            assert str(fields[name].FT) == "/Tx"
        assert str(fields[FORM_CHECKBOX].FT) == "/Btn"
        assert set(fields[FORM_CHECKBOX].AP.N.keys()) == {"/Yes", "/Off"}
        assert len(pdf.pages[0].Annots) == len(fields)
    reader = PdfFileReader(BytesIO(form))
    signature_fields = [(name, value) for name, value, _ref in enumerate_sig_fields(reader)]
    assert signature_fields == [(FORM_SIGNATURE_FIELD, None)]


def test_form_signature_field_can_be_signed_by_pyhanko(form: bytes) -> None:
    pki = TestPKI()
    signer = signers.SimpleSigner(
        signing_cert=pki.cert("agency-a"),
        signing_key=pki.key("agency-a"),
        cert_registry=SimpleCertificateStore.from_certs(pki.chain("agency-a")),
    )
    signed = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(form)),
        signers.PdfSignatureMetadata(field_name=FORM_SIGNATURE_FIELD),
        signer=signer,
        bytes_reserved=16384,
    ).getvalue()
    [(name, value, _ref)] = enumerate_sig_fields(PdfFileReader(BytesIO(signed)))
    assert name == FORM_SIGNATURE_FIELD
    assert value is not None  # the existing field was filled, no new field was added


def test_large_pdf_has_the_requested_size_and_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "large.pdf"
    written = write_large_pdf(path, target_mb=3)
    assert written == path.stat().st_size
    assert abs(written - 3 * 1024 * 1024) < 0.15 * 3 * 1024 * 1024
    result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == 4
        assert "/Im0" in pdf.pages[0].Resources.XObject


def test_large_pdf_does_not_compress_away(tmp_path: Path) -> None:
    """The benchmark is only meaningful if a writer cannot shrink the file by recompressing it."""
    path = tmp_path / "recompressed.pdf"
    with pikepdf.open(BytesIO(large_pdf(2))) as pdf:
        pdf.save(path, compress_streams=True, recompress_flate=True)
    assert path.stat().st_size > 1.9 * 1024 * 1024


@pytest.mark.slow
def test_large_pdf_default_is_about_50_mb(tmp_path: Path) -> None:
    path = tmp_path / "large.pdf"
    written = write_large_pdf(path)
    assert 47 * 1024 * 1024 < written < 53 * 1024 * 1024
    assert _qpdf_check(path.read_bytes(), tmp_path).returncode == 0
