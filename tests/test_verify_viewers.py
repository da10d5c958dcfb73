"""Verification sees what viewers see: two rendering engines, and the entries that change rendering
without touching any page's content.

Every document starts from a real seal made by ``esign.seal.pades`` (a visible approval seal on the licence,
an invisible "no changes" certification on the application form); each attack is one incremental
update written by pyHanko's own writer. Rendering is real: poppler's pdftoppm and PDFium (pypdfium2).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from io import BytesIO

import pikepdf
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from esign.policy import ValidationPolicy
from esign.report.model import Indication, SignatureResult
from esign.seal.image import round_seal
from esign.seal.pades import AtPosition, Certification, Invisible, SealOptions, seal
from esign.verify.modifications.analysis import analyse_changes
from esign.verify.modifications.visual import (
    ENGINES,
    MAX_PAGE_PIXELS,
    PDFIUM,
    RenderError,
    page_count,
    render_pages,
)
from esign.verify.pipeline import verify
from fixtures.documents import form_pdf, licence_pdf
from tests import test_verify_attacks as attacks

N = generic.NumberObject


# the attack battery's module-scoped test PKI, policy and agency-a signer
pki, policy, signer = attacks.pki, attacks.policy, attacks.signer


@pytest.fixture(scope="module")
def approved(signer) -> bytes:
    """The licence with a visible approval seal."""
    options = SealOptions(placement=AtPosition(1, 150, 235))
    return seal(licence_pdf(), signer, options, image=round_seal("杭州市市场监督管理局"))


@pytest.fixture(scope="module")
def certified(signer) -> bytes:
    """The application form certified "no changes" (DocMDP P=1)."""
    return seal(
        form_pdf(), signer, SealOptions(certification=Certification.NO_CHANGES, placement=Invisible())
    )


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    change(writer)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _seal(pdf: bytes, policy: ValidationPolicy) -> SignatureResult:
    report = verify(pdf, policy)
    (result,) = [s for s in report.signatures if s.field == "Seal1"]
    return result


def _failed_with(pdf: bytes, policy: ValidationPolicy, *codes: str) -> SignatureResult:
    result = _seal(pdf, policy)
    assert result.indication is Indication.TOTAL_FAILED, result
    assert result.checks.modifications == "suspicious"
    assert set(codes) <= set(result.findings), result.findings
    return result


def test_the_base_documents_pass(approved, certified, policy) -> None:
    for pdf in (approved, certified):
        assert _seal(pdf, policy).indication is Indication.TOTAL_PASSED


# -- entries that change rendering without touching page content ------------------------------------------


def _need_appearances(writer: IncrementalPdfFileWriter) -> None:
    writer.root["/AcroForm"][pdf_name("/NeedAppearances")] = generic.BooleanObject(True)
    form = writer.root.raw_get("/AcroForm")
    if isinstance(form, generic.IndirectObject):
        writer.mark_update(form)
    else:
        writer.update_root()


def test_need_appearances_after_a_no_changes_certification_is_a_docmdp_violation(certified, policy) -> None:
    _failed_with(_update(certified, _need_appearances), policy, "NEED_APPEARANCES_SET", "DOCMDP_VIOLATION")


def test_need_appearances_after_an_approval_seal_is_not_passed(approved, policy) -> None:
    """poppler then draws the seal's widget without its picture: the seal vanishes from the page."""
    _failed_with(_update(approved, _need_appearances), policy, "NEED_APPEARANCES_SET")


def _retitle(writer: IncrementalPdfFileWriter) -> None:
    info = writer.trailer.raw_get("/Info")
    info.get_object()[pdf_name("/Title")] = pdf_string("Licence revoked")
    writer.mark_update(info)


def test_title_changed_after_a_no_changes_certification_is_a_docmdp_violation(certified, policy) -> None:
    result = _failed_with(_update(certified, _retitle), policy, "DOCUMENT_INFO_CHANGED", "DOCMDP_VIOLATION")
    assert "DOCUMENT_INFO_CHANGED" in result.findings


def test_title_changed_after_an_approval_seal_is_reported_but_permitted(approved, policy) -> None:
    """An approval signature makes no promise about the document information: named, not a failure."""
    result = _seal(_update(approved, _retitle), policy)
    assert "DOCUMENT_INFO_CHANGED" in result.findings
    assert result.checks.modifications == "permitted"


def _javascript(writer: IncrementalPdfFileWriter) -> generic.IndirectObject:
    action = {pdf_name("/S"): pdf_name("/JavaScript"), pdf_name("/JS"): pdf_string("this.print();")}
    return writer.add_object(generic.DictionaryObject(action))


def _open_action(writer: IncrementalPdfFileWriter) -> None:
    writer.root[pdf_name("/OpenAction")] = _javascript(writer)
    writer.update_root()


def _document_javascript(writer: IncrementalPdfFileWriter) -> None:
    tree = generic.DictionaryObject(
        {pdf_name("/Names"): generic.ArrayObject([pdf_string("a"), _javascript(writer)])}
    )
    names = generic.DictionaryObject({pdf_name("/JavaScript"): writer.add_object(tree)})
    writer.root[pdf_name("/Names")] = names
    writer.update_root()


@pytest.mark.parametrize(
    "attack", [_open_action, _document_javascript], ids=["OpenAction", "Names-JavaScript"]
)
def test_script_added_after_a_no_changes_certification_is_named(certified, policy, attack) -> None:
    _failed_with(_update(certified, attack), policy, "ACTION_ADDED_AFTER_SIGNING", "DOCMDP_VIOLATION")


def _seal_widget(writer: IncrementalPdfFileWriter) -> generic.IndirectObject:
    page = writer.root["/Pages"]["/Kids"][0]
    annots = page["/Annots"]
    return next(annots.raw_get(i) for i in range(len(annots)) if annots[i].get("/FT") == "/Sig")


def _replace_seal_picture(writer: IncrementalPdfFileWriter) -> None:
    """The seal widget keeps its field and value; its normal appearance now shows a grey square."""
    ref = _seal_widget(writer)
    x1, y1, x2, y2 = (float(v) for v in ref.get_object()["/Rect"])
    picture = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject([N(0), N(0), N(round(x2 - x1)), N(round(y2 - y1))]),
        },
        stream_data=b"0.5 g 0 0 20 20 re f",
    )
    ref.get_object()[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): writer.add_object(picture)})
    writer.mark_update(ref)


def test_seal_picture_replaced_after_signing_is_not_passed(approved, policy) -> None:
    _failed_with(_update(approved, _replace_seal_picture), policy, "SIGNATURE_APPEARANCE_REPLACED")


def test_validation_data_after_a_no_changes_certification_still_passes(certified, policy, pki) -> None:
    """The control: pyHanko's writer also touches /Info (ModDate, Producer) — bookkeeping, not a change."""
    out = BytesIO(certified)
    DocumentSecurityStore.add_dss(out, None, certs=pki.chain("agency-a"))
    result = _seal(out.getvalue(), policy)
    assert result.indication is Indication.TOTAL_PASSED, result.findings
    assert "DOCUMENT_INFO_CHANGED" not in result.findings


# -- two engines ------------------------------------------------------------------------------------------


def _count_lie(delta: int) -> Callable[[IncrementalPdfFileWriter], None]:
    """The page tree's /Count changed by ``delta`` while /Kids still lists one page."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        pages = writer.root["/Pages"]
        pages[pdf_name("/Count")] = N(int(pages["/Count"]) + delta)
        writer.mark_update(writer.root.raw_get("/Pages"))

    return change


def test_both_engines_read_the_signed_document() -> None:
    """Both engines are installed and agree with each other on an ordinary file."""
    pdf = licence_pdf()
    assert [page_count(pdf, engine, time.monotonic() + 30) for engine in ENGINES] == [1, 1]


def test_a_page_the_viewers_see_but_the_parser_does_not_is_a_disagreement(approved, policy) -> None:
    """/Count 2 over one kid: pyHanko walks /Kids (1 page), poppler and PDFium trust /Count (2 pages)."""
    pdf = _update(approved, _count_lie(+1))
    assert [page_count(pdf, engine, time.monotonic() + 30) for engine in ENGINES] == [2, 2]
    result = _seal(pdf, policy)
    assert result.indication is not Indication.TOTAL_PASSED
    assert "RENDERERS_DISAGREE" in result.findings, result.findings


def test_a_file_one_engine_no_longer_opens_is_a_disagreement(approved) -> None:
    """/Count 0 over one kid: poppler refuses the file, PDFium and pyHanko see one page."""
    pdf = _update(approved, _count_lie(-1))
    with pytest.raises(RenderError):
        page_count(pdf, ENGINES[0], time.monotonic() + 30)
    assert page_count(pdf, ENGINES[1], time.monotonic() + 30) == 1
    reader = PdfFileReader(BytesIO(pdf))
    analysis = analyse_changes(pdf, reader, reader.xrefs.total_revisions - 2)
    (disagreement,) = [f for f in analysis.findings if f.code == "RENDERERS_DISAGREE"]
    assert "poppler: cannot open" in disagreement.detail and "PDFium: 1 pages" in disagreement.detail


def _free_text(writer: IncrementalPdfFileWriter) -> None:
    """A FreeText annotation without an appearance stream: poppler makes one up, PDFium draws nothing."""
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    note = {
        pdf_name("/Type"): pdf_name("/Annot"),
        pdf_name("/Subtype"): pdf_name("/FreeText"),
        pdf_name("/Rect"): generic.ArrayObject([N(100), N(100), N(300), N(200)]),
        pdf_name("/Contents"): pdf_string("FEE WAIVED"),
        pdf_name("/DA"): pdf_string("0 g /Helv 12 Tf"),
    }
    page["/Annots"].append(writer.add_object(generic.DictionaryObject(note)))
    writer.mark_update(page_ref)


def test_a_change_one_engine_shows_is_a_change(approved) -> None:
    """Judged in each engine: what only one of them draws still counts, and the finding says which."""
    pdf = _update(approved, _free_text)
    reader = PdfFileReader(BytesIO(pdf))
    analysis = analyse_changes(pdf, reader, reader.xrefs.total_revisions - 2)
    assert analysis.status == "suspicious"
    visual = [f for f in analysis.findings if f.code == "VISUAL_CHANGE_AFTER_SIGNING"]
    assert visual and visual[0].detail.startswith("poppler only:"), analysis.findings


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_each_engine_renders_the_mediabox_and_refuses_garbage(engine) -> None:
    (image,) = render_pages(licence_pdf(), [1], 72, time.monotonic() + 30, 1, engine).values()
    assert abs(image.width - 595) <= 1 and abs(image.height - 842) <= 1 and image.mode == "L"
    with pytest.raises(RenderError):
        render_pages(b"%PDF-1.7 not really", [1], 72, time.monotonic() + 30, 1, engine)
    with pytest.raises(RenderError):
        page_count(b"%PDF-1.7 not really", engine, time.monotonic() + 30)


def test_a_title_cannot_forge_the_page_count(approved) -> None:
    """pdfinfo prints the title before the page count: a title holding "Pages: 9" must not be read."""

    def forged_title(writer: IncrementalPdfFileWriter) -> None:
        info = writer.trailer.raw_get("/Info")
        info.get_object()[pdf_name("/Title")] = pdf_string("Licence\nPages:          9")
        writer.mark_update(info)

    pdf = _update(approved, forged_title)
    assert [page_count(pdf, engine, time.monotonic() + 30) for engine in ENGINES] == [1, 1]


def test_pdfium_keeps_a_huge_page_within_the_pixel_bound() -> None:
    """The DPI is chosen from pyHanko's page size; PDFium still caps the bitmap by its own reading."""
    doc = pikepdf.new()
    doc.add_blank_page(page_size=(14400, 14400))
    out = BytesIO()
    doc.save(out)
    (image,) = render_pages(out.getvalue(), [1], 72, time.monotonic() + 60, 1, PDFIUM).values()
    assert image.width * image.height <= MAX_PAGE_PIXELS


def _stream_annotation(writer: IncrementalPdfFileWriter) -> None:
    """A square comment written as a *stream* object: pyHanko and MuPDF list it, PDFium does not."""
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    box = generic.ArrayObject([N(0), N(0), N(60), N(60)])
    look = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): box,
        },
        stream_data=b"0 g 0 0 60 60 re f",
    )
    entries = {
        pdf_name("/Type"): pdf_name("/Annot"),
        pdf_name("/Subtype"): pdf_name("/Square"),
        pdf_name("/Rect"): generic.ArrayObject([N(100), N(250), N(160), N(310)]),
        pdf_name("/F"): N(4),
        pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): writer.add_object(look)}),
    }
    page["/Annots"].append(writer.add_object(generic.StreamObject(entries, stream_data=b"")))
    writer.mark_update(page_ref)


def test_an_annotation_one_reader_does_not_list_is_a_disagreement(approved) -> None:
    """Per changed page, pyHanko, PDFium and MuPDF count the annotations: one that a reader misses may
    draw over the page in one viewer and not in another."""
    pdf = _update(approved, _stream_annotation)
    reader = PdfFileReader(BytesIO(pdf))
    analysis = analyse_changes(pdf, reader, reader.xrefs.total_revisions - 2)
    assert analysis.status == "unknown"
    (disagreement,) = [f for f in analysis.findings if f.code == "RENDERERS_DISAGREE"]
    assert disagreement.pages == (1,)
    assert "pyHanko: 2, PDFium: 1, MuPDF: 2" in disagreement.detail, disagreement
