"""Sealing doesn't create doubts: a visible seal never lands on an existing annotation, and the verifier
does not doubt a signature because its own widget lies over annotations the signer saw.

Real seals (esign.seal.pades and pyHanko), real verification; the link annotations are written by pikepdf
into the unsigned document, or by pyHanko's incremental writer after signing.
"""

from __future__ import annotations

import asyncio
from io import BytesIO

import pikepdf
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec

from esign.errors import ErrorCode, EsignError
from esign.report.model import Indication
from esign.seal.appearance import MM, AtPosition
from esign.seal.image import round_seal
from esign.seal.pades import AvoidAnnotations, SealOptions, seal
from esign.verify.pipeline import verify
from fixtures.documents import A4_HEIGHT, A4_WIDTH, licence_pdf
from fixtures.pki import TestPKI
from tests import test_verify_attacks as attacks
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.verify_signing import signer_for

#: where the clerk wants the seal (its centre, mm from the top-left corner) and a link right there
SPOT = AtPosition(1, 150, 235)
LINK = (150 * MM - 60, A4_HEIGHT - 235 * MM - 15, 150 * MM + 60, A4_HEIGHT - 235 * MM + 15)


# the attack battery's module-scoped test PKI, policy and agency-a signer
pki, policy, signer = attacks.pki, attacks.policy, attacks.signer


@pytest.fixture(scope="module")
def image():
    return round_seal("杭州市市场监督管理局")


def _with_links(pdf: bytes, *rects: tuple[float, float, float, float]) -> bytes:
    with pikepdf.open(BytesIO(pdf)) as doc:
        page = doc.pages[0].obj
        links = [
            doc.make_indirect(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=pikepdf.Array(list(r)),
                    Border=pikepdf.Array([0, 0, 0]),
                    A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("https://example.org/")),
                )
            )
            for r in rects
        ]  # fmt: skip
        page.Annots = pikepdf.Array(links)
        out = BytesIO()
        doc.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def linked() -> bytes:
    return _with_links(licence_pdf(), LINK)


def _seal_rect(pdf: bytes, field: str = "Seal1") -> tuple[float, ...]:
    reader = PdfFileReader(BytesIO(pdf))
    for annot in reader.root["/Pages"]["/Kids"][0]["/Annots"]:
        annot = annot.get_object()
        if annot.get("/T") == field:
            return tuple(float(v) for v in annot["/Rect"])
    raise AssertionError("no seal widget")


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_a_seal_over_a_link_is_refused_with_a_free_spot(linked, signer, image) -> None:
    with pytest.raises(EsignError) as caught:
        seal(linked, signer, SealOptions(placement=SPOT), image=image)
    error = caught.value
    assert error.code is ErrorCode.SEAL_OVERLAPS_ANNOTATION and error.code.http_status == 409
    assert f"{error.params['x_mm']} mm from the left" in error.message_en
    assert f"{error.params['y_mm']} 毫米" in error.message_zh
    # the suggested spot is free and near: sealing there goes through
    suggested = AtPosition(1, error.params["x_mm"], error.params["y_mm"])
    assert abs(suggested.x_mm - SPOT.x_mm) + abs(suggested.y_mm - SPOT.y_mm) < 60
    sealed = seal(linked, signer, SealOptions(placement=suggested), image=image)
    assert not _overlap(_seal_rect(sealed), LINK)


def test_with_the_move_option_the_seal_goes_to_the_free_spot_and_verifies(
    linked, signer, image, policy
) -> None:
    options = SealOptions(placement=SPOT, avoid_annotations=AvoidAnnotations.MOVE)
    sealed = seal(linked, signer, options, image=image)
    assert not _overlap(_seal_rect(sealed), LINK)
    report = verify(sealed, policy)
    assert report.indication is Indication.TOTAL_PASSED, report.to_dict()
    assert "ANNOTATIONS_OVERLAP" not in report.signatures[0].findings


def test_a_page_without_room_is_refused(signer, image) -> None:
    covered = _with_links(licence_pdf(), (0, 0, A4_WIDTH, A4_HEIGHT))
    options = SealOptions(placement=SPOT, avoid_annotations=AvoidAnnotations.MOVE)
    with pytest.raises(EsignError) as caught:
        seal(covered, signer, options, image=image)
    assert caught.value.code is ErrorCode.NO_FREE_SEAL_SPOT


def _pyhanko_visible(pdf: bytes, pki: TestPKI, field: str, box: tuple[float, ...]) -> bytes:
    """A visible signature placed by pyHanko itself, wherever it is told (no esign placement check)."""
    meta = signers.PdfSignatureMetadata(field_name=field)
    spec = SigFieldSpec(field, on_page=0, box=tuple(int(v) for v in box))
    pdf_signer = signers.PdfSigner(meta, signer=signer_for(pki, "agency-a"), new_field_spec=spec)
    out = BytesIO()
    asyncio.run(pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf)), output=out))
    return out.getvalue()


def _signature(report, field: str):
    (result,) = [s for s in report.signatures if s.field == field]
    return result


def test_own_widget_over_links_that_were_there_is_no_doubt(linked, pki, policy) -> None:
    """The signer placed the seal seeing the link: nothing is hidden that was added later."""
    sealed = _pyhanko_visible(linked, pki, "Seal1", LINK)
    result = _signature(verify(sealed, policy), "Seal1")
    assert "ANNOTATIONS_OVERLAP" not in result.findings
    assert result.indication is Indication.TOTAL_PASSED, result.findings


def test_a_later_widget_over_a_link_is_a_doubt_for_the_earlier_signature(linked, pki, policy) -> None:
    """Seal2 lies over the link; Seal1 (elsewhere, earlier) never saw that overlap."""
    first = _pyhanko_visible(linked, pki, "Seal1", (40, 40, 120, 120))
    both = _pyhanko_visible(first, pki, "Seal2", LINK)
    report = verify(both, policy)
    assert "ANNOTATIONS_OVERLAP" not in _signature(report, "Seal2").findings
    earlier = _signature(report, "Seal1")
    assert "ANNOTATIONS_OVERLAP" in earlier.findings
    assert earlier.indication is Indication.INDETERMINATE


def test_a_link_added_over_the_seal_after_signing_is_a_doubt(pki, policy) -> None:
    sealed = _pyhanko_visible(licence_pdf(), pki, "Seal1", LINK)
    writer = IncrementalPdfFileWriter(BytesIO(sealed))
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    link = {
        pdf_name("/Type"): pdf_name("/Annot"),
        pdf_name("/Subtype"): pdf_name("/Link"),
        pdf_name("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in LINK),
        pdf_name("/A"): generic.DictionaryObject(
            {pdf_name("/S"): pdf_name("/URI"), pdf_name("/URI"): pdf_string("https://verify.example/")}
        ),
    }
    page_ref.get_object()["/Annots"].append(writer.add_object(generic.DictionaryObject(link)))
    writer.mark_update(page_ref)
    out = BytesIO()
    writer.write(out)
    result = _signature(verify(out.getvalue(), policy), "Seal1")
    assert "ANNOTATIONS_OVERLAP" in result.findings
    assert result.indication is not Indication.TOTAL_PASSED
