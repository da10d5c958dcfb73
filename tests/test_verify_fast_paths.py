"""The verifier's shortcuts must not change a verdict: each is checked against the slow path it replaces.

- :class:`esign.pdf.indexed_reader.IndexedReader` reads every object of a document with object streams
  exactly as pyHanko's own reader does;
- a page whose only change is an invisible later signature is not rendered, while a visible one still is.
"""

from __future__ import annotations

from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers

from esign.pdf.indexed_reader import IndexedReader
from esign.verify.modifications.page_changes import compare_pages
from fixtures.documents import long_pdf
from tests.verify_signing import sign, signer_for


@pytest.fixture(scope="module")
def many_pages() -> bytes:
    return long_pdf(30)


def _all_refs(reader: PdfFileReader) -> list[generic.Reference]:
    refs = reader.xrefs.explicit_refs_in_revision(reader.xrefs.total_revisions - 1)
    return sorted(refs, key=lambda r: (r.idnum, r.generation))


def test_indexed_reader_reads_every_object_as_pyhanko_does(many_pages: bytes) -> None:
    ours, stock = IndexedReader(BytesIO(many_pages)), PdfFileReader(BytesIO(many_pages))
    refs = _all_refs(stock)
    in_streams = [r for r in refs if not isinstance(stock.xrefs[r], int)]
    assert len(in_streams) > 30  # the document really keeps its pages in object streams
    for ref in refs:
        expected = stock.get_object(ref)
        got = ours.get_object(ref)
        if isinstance(expected, generic.StreamObject):
            assert got.data == expected.data, ref
        else:
            assert repr(got) == repr(expected), ref


def test_indexed_reader_hands_an_object_missing_from_its_stream_to_pyhanko(many_pages: bytes) -> None:
    """A lookup the index cannot serve takes pyHanko's path, with pyHanko's strict refusal."""
    reader = IndexedReader(BytesIO(many_pages))
    ref = next(r for r in _all_refs(reader) if not isinstance(reader.xrefs[r], int))
    location = reader.xrefs[ref]
    with pytest.raises(PdfReadError):
        reader._get_object_from_stream(999_999, location.obj_stream_id, location.ix_in_stream)


def test_page_with_only_an_invisible_later_signature_is_not_rendered(pki, many_pages: bytes) -> None:
    once = sign(many_pages, pki)
    twice = sign(once, pki, field="Seal2")
    reader = PdfFileReader(BytesIO(twice))
    comparison = compare_pages(reader, reader.xrefs.total_revisions - 2)
    assert comparison.changed, "the page gained the widget"
    assert not any(p.needs_rendering(comparison.optional_content_changed) for p in comparison.changed)


def test_page_with_a_visible_later_signature_is_rendered(pki, many_pages: bytes) -> None:
    once = sign(many_pages, pki)
    writer = IncrementalPdfFileWriter(BytesIO(once))
    fields.append_signature_field(writer, fields.SigFieldSpec("Seal2", box=(72, 72, 272, 132), on_page=0))
    out = BytesIO()
    signers.PdfSigner(signers.PdfSignatureMetadata(field_name="Seal2"), signer_for(pki, "agency-a")).sign_pdf(
        writer, output=out
    )
    reader = PdfFileReader(BytesIO(out.getvalue()))
    comparison = compare_pages(reader, reader.xrefs.total_revisions - 2)
    assert any(p.needs_rendering(comparison.optional_content_changed) for p in comparison.changed)
