"""Changes after signing: permitted additions pass, every attack is suspicious, broken input is unknown."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from io import BytesIO

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.verify.modifications.analysis import ChangeAnalysis, analyse_changes

TEXT = b"BT /F1 14 Tf 72 700 Td (Licence No. 12345 Amount 100 yuan) Tj ET"
HIDDEN = b"/OC /oc1 BDC BT /F1 14 Tf 72 500 Td (SECRET AMOUNT 900 yuan) Tj ET EMC"
XOBJECT = b"BT /F1 12 Tf 0 5 Td (Issued by Agency A) Tj ET"
DORMANT = b"BT /F1 14 Tf 72 700 Td (Licence No. 99999 Amount 999 yuan) Tj ET"
COVER = b"1 g 0 0 260 24 re f 0 g BT /F1 14 Tf 2 6 Td (Amount 999 yuan) Tj ET"


def _base_pdf() -> bytes:
    """One page: text, a form XObject, a hidden optional-content layer, a text field and a dormant stream."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    fonts = Dictionary(F1=font)
    x1 = pdf.make_stream(XOBJECT, Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, 300, 24])
    x1.Resources = Dictionary(Font=fonts)
    ocg = pdf.make_indirect(Dictionary(Type=Name.OCG, Name="hidden layer"))
    content = TEXT + b" q 1 0 0 1 72 600 cm /X1 Do Q " + HIDDEN
    page = pdf.make_indirect(
        Dictionary(
            Type=Name.Page,
            MediaBox=[0, 0, 420, 800],
            Resources=Dictionary(Font=fonts, XObject=Dictionary(X1=x1), Properties=Dictionary(oc1=ocg)),
            Contents=pdf.make_stream(content),
        )
    )
    pdf.pages.append(pikepdf.Page(page))
    page = pdf.pages[0].obj
    field_ap = pdf.make_stream(b"", Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, 200, 24])
    field = pdf.make_indirect(
        Dictionary(
            Type=Name.Annot,
            Subtype=Name.Widget,
            FT=Name.Tx,
            T="amount",
            V="",
            DA="/F1 12 Tf 0 g",
            Rect=[72, 300, 272, 324],
            F=4,
            P=page,
            AP=Dictionary(N=field_ap),
        )
    )
    page.Annots = Array([field])
    pdf.Root.AcroForm = Dictionary(Fields=[field], DR=Dictionary(Font=fonts), DA="/F1 12 Tf 0 g")
    pdf.Root.OCProperties = Dictionary(OCGs=[ocg], D=Dictionary(OFF=[ocg], Order=[ocg]))
    pdf.Root.EsignDormant = pdf.make_stream(DORMANT)
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def signer(pki) -> signers.SimpleSigner:
    return signers.SimpleSigner(
        signing_cert=pki.cert("agency-a"),
        signing_key=pki.key("agency-a"),
        cert_registry=SimpleCertificateStore.from_certs(pki.chain("agency-a")),
    )


def _sign(pdf: bytes, signer, field: str, *, certify: MDPPerm | None = None, box=None) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name=field, certify=certify is not None, docmdp_permissions=certify or MDPPerm.FILL_FORMS
    )
    spec = SigFieldSpec(field, on_page=0, box=box) if box else None
    out = signers.PdfSigner(meta, signer, new_field_spec=spec).sign_pdf(writer, bytes_reserved=16384)
    return out.getvalue()


@pytest.fixture(scope="module")
def signed(signer) -> bytes:
    return _sign(_base_pdf(), signer, "Seal1")


@pytest.fixture(scope="module")
def certified_p2(signer) -> bytes:
    return _sign(_base_pdf(), signer, "Seal1", certify=MDPPerm.FILL_FORMS)


@pytest.fixture(scope="module")
def certified_p3(signer) -> bytes:
    return _sign(_base_pdf(), signer, "Seal1", certify=MDPPerm.ANNOTATE)


def _analyse(pdf: bytes, revision: int = 1) -> ChangeAnalysis:
    return analyse_changes(pdf, PdfFileReader(BytesIO(pdf), strict=False), revision)


def _codes(analysis: ChangeAnalysis) -> set[str]:
    return {f.code for f in analysis.findings}


def _update(pdf: bytes, change) -> bytes:
    """Append one incremental update made by ``change(writer, page_ref)``."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    change(writer, page_ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _add_annotation(writer, page_ref, subtype: str, rect, appearance: bytes, **extra) -> None:
    page = page_ref.get_object()
    ap = generic.StreamObject(
        {
            "/Type": generic.NameObject("/XObject"),
            "/Subtype": generic.NameObject("/Form"),
            "/BBox": generic.ArrayObject([generic.FloatObject(0), generic.FloatObject(0), *_size(rect)]),
            "/Resources": page["/Resources"],
        },
        stream_data=appearance,
    )
    annot = generic.DictionaryObject(
        {
            "/Type": generic.NameObject("/Annot"),
            "/Subtype": generic.NameObject(subtype),
            "/Rect": generic.ArrayObject(generic.FloatObject(v) for v in rect),
            "/F": generic.NumberObject(4),
            "/AP": generic.DictionaryObject({"/N": writer.add_object(ap)}),
            "/P": page_ref,
            **extra,
        }
    )
    annots = page["/Annots"]
    annots.append(writer.add_object(annot))
    writer.update_container(annots)
    writer.mark_update(page_ref)
    return annot


def _new_page(writer, text: str) -> generic.DictionaryObject:
    content = f"BT /F1 14 Tf 72 700 Td ({text}) Tj ET".encode()
    return generic.DictionaryObject(
        {
            "/Type": generic.NameObject("/Page"),
            "/MediaBox": generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 420, 800)),
            "/Contents": writer.add_object(generic.StreamObject(stream_data=content)),
        }
    )


def _size(rect) -> list[generic.FloatObject]:
    return [generic.FloatObject(rect[2] - rect[0]), generic.FloatObject(rect[3] - rect[1])]


# -- unchanged and permitted ------------------------------------------------------------------------


def test_unchanged_signed_file_is_none(signed):
    analysis = _analyse(signed)
    assert analysis.status == "none"
    assert analysis.findings == ()


def test_second_visible_signature_in_blank_area_is_permitted(signed, signer):
    twice = _sign(signed, signer, "Seal2", box=(72, 80, 272, 140))
    analysis = _analyse(twice)
    assert analysis.status == "permitted", analysis.findings
    later = [f for f in analysis.findings if f.code == "LATER_SIGNATURE_ADDED"]
    assert later and later[0].permitted and later[0].pages == (1,)


def test_dss_validation_data_is_permitted(signed, pki):
    out = BytesIO(signed)
    DocumentSecurityStore.add_dss(out, _signature_contents(signed), certs=pki.chain("agency-a"))
    analysis = _analyse(out.getvalue())
    assert analysis.status == "permitted", analysis.findings
    assert "VALIDATION_DATA_ADDED" in _codes(analysis)


def _signature_contents(pdf: bytes) -> bytes:
    reader = PdfFileReader(BytesIO(pdf))
    return reader.embedded_signatures[0].pkcs7_content


def test_form_fill_within_form_filling_certification_is_permitted(certified_p2):
    def fill(writer, page_ref):
        field = writer.root["/AcroForm"]["/Fields"][0]
        field["/V"] = generic.TextStringObject("100 yuan")
        ap = generic.StreamObject(
            {
                "/Type": generic.NameObject("/XObject"),
                "/Subtype": generic.NameObject("/Form"),
                "/BBox": generic.ArrayObject([generic.FloatObject(v) for v in (0, 0, 200, 24)]),
                "/Resources": page_ref.get_object()["/Resources"],
            },
            stream_data=b"/Tx BMC BT /F1 12 Tf 2 6 Td (100 yuan) Tj ET EMC",
        )
        field["/AP"] = generic.DictionaryObject({"/N": writer.add_object(ap)})
        writer.update_container(field)

    analysis = _analyse(_update(certified_p2, fill))
    assert analysis.status == "permitted", analysis.findings
    filled = [f for f in analysis.findings if f.code == "FORM_FILLED_AFTER_SIGNING"]
    assert filled and filled[0].permitted


def test_sticky_note_in_margin_under_p3_certification_is_permitted_comment(certified_p3):
    note = b"0.2 0.2 0.8 rg 0 0 20 20 re f"

    def comment(writer, page_ref):
        _add_annotation(writer, page_ref, "/Text", (380, 760, 400, 780), note)

    analysis = _analyse(_update(certified_p3, comment))
    assert analysis.status == "permitted", analysis.findings
    assert "COMMENT_ADDED_AFTER_SIGNING" in _codes(analysis)


def test_document_timestamp_is_permitted(signed, pki):
    writer = IncrementalPdfFileWriter(BytesIO(signed))
    stamped = signers.PdfTimeStamper(HTTPTimeStamper(pki.tsa_url)).timestamp_pdf(writer, "sha256")
    analysis = _analyse(stamped.getvalue())
    assert analysis.status == "permitted", analysis.findings
    assert "DOC_TIMESTAMP_ADDED" in _codes(analysis)


# -- attacks ------------------------------------------------------------------------------------------


def test_added_page_is_suspicious_with_its_number(signed):
    def add_page(writer, page_ref):
        writer.insert_page(_new_page(writer, "Appendix added later"))

    analysis = _analyse(_update(signed, add_page))
    assert analysis.status == "suspicious"
    added = [f for f in analysis.findings if f.code == "PAGE_ADDED_AFTER_SIGNING"]
    assert added and added[0].pages == (2,)


def test_changed_page_content_is_suspicious(signed):
    def rewrite(writer, page_ref):
        page = page_ref.get_object()
        page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=DORMANT))
        writer.mark_update(page_ref)

    analysis = _analyse(_update(signed, rewrite))
    assert analysis.status == "suspicious"
    changed = [f for f in analysis.findings if f.code == "PAGE_CONTENT_CHANGED_AFTER_SIGNING"]
    assert changed and changed[0].pages == (1,)


def test_freetext_over_text_is_annotation_over_content(signed):
    def cover(writer, page_ref):
        _add_annotation(writer, page_ref, "/FreeText", (70, 695, 330, 719), COVER)

    analysis = _analyse(_update(signed, cover))
    assert analysis.status == "suspicious"
    assert "ANNOTATION_ADDED_OVER_CONTENT" in _codes(analysis)


def test_evil_annotation_in_p3_certified_document_is_suspicious(certified_p3):
    def cover(writer, page_ref):
        _add_annotation(writer, page_ref, "/FreeText", (70, 695, 330, 719), COVER)

    analysis = _analyse(_update(certified_p3, cover))
    assert analysis.status == "suspicious"
    assert "ANNOTATION_ADDED_OVER_CONTENT" in _codes(analysis)


def test_evil_annotation_in_p2_certified_document_violates_docmdp(certified_p2):
    def stamp(writer, page_ref):
        _add_annotation(writer, page_ref, "/Stamp", (70, 695, 330, 719), COVER)

    codes = _codes(_analyse(_update(certified_p2, stamp)))
    assert {"DOCMDP_VIOLATION", "ANNOTATION_ADDED_OVER_CONTENT"} <= codes


def test_sneaky_signature_field_drawing_over_content_is_suspicious(certified_p2):
    def sneaky(writer, page_ref):
        annot = _add_annotation(
            writer, page_ref, "/Widget", (70, 695, 330, 719), COVER, **{"/FT": generic.NameObject("/Sig")}
        )
        annot["/T"] = generic.TextStringObject("Sneaky")
        fields = writer.root["/AcroForm"]["/Fields"]
        fields.append(writer.get_object(writer.root["/Pages"]["/Kids"][0]["/Annots"].raw_get(-1).reference))
        writer.update_container(fields)

    analysis = _analyse(_update(certified_p2, sneaky))
    assert analysis.status == "suspicious"
    assert "ANNOTATION_ADDED_OVER_CONTENT" in _codes(analysis)


def test_shadow_hide_optional_content_turned_on_is_shadow_attack(signed):
    def reveal(writer, page_ref):
        ocprops = writer.root["/OCProperties"]
        ocprops["/D"]["/OFF"] = generic.ArrayObject()
        ocprops["/D"]["/ON"] = generic.ArrayObject([ocprops["/OCGs"].raw_get(0)])
        writer.update_root()

    analysis = _analyse(_update(signed, reveal))
    assert analysis.status == "suspicious"
    shadow = [f for f in analysis.findings if f.code == "SHADOW_ATTACK_SUSPECTED"]
    assert shadow and shadow[0].pages == (1,)


def test_shadow_replace_xobject_redefined_in_place_is_shadow_attack(signed):
    def replace(writer, page_ref):
        x1_ref = page_ref.get_object()["/Resources"]["/XObject"].raw_get("/X1").reference
        old = x1_ref.get_object()
        data = b"BT /F1 12 Tf 0 5 Td (Issued by Nobody) Tj ET"
        new = generic.StreamObject(dict(old.items()), stream_data=data)
        del new["/Length"]
        writer.objects[(x1_ref.generation, x1_ref.idnum)] = new

    analysis = _analyse(_update(signed, replace))
    assert analysis.status == "suspicious"
    assert "SHADOW_ATTACK_SUSPECTED" in _codes(analysis)


def test_shadow_hide_and_replace_dormant_content_is_shadow_attack(signed):
    def swap(writer, page_ref):
        page = page_ref.get_object()
        page["/Contents"] = writer.root.raw_get("/EsignDormant")
        writer.mark_update(page_ref)

    analysis = _analyse(_update(signed, swap))
    assert analysis.status == "suspicious"
    shadow = [f for f in analysis.findings if f.code == "SHADOW_ATTACK_SUSPECTED"]
    assert shadow and "planted before signing" in shadow[0].detail


def test_change_on_page_33_of_40_is_found_without_a_page_limit(signer):
    pdf = pikepdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    for n in range(1, 41):
        text = f"BT /F1 14 Tf 72 700 Td (Page {n} of the licence) Tj ET".encode()
        page = Dictionary(
            Type=Name.Page,
            MediaBox=[0, 0, 420, 800],
            Resources=Dictionary(Font=Dictionary(F1=font)),
            Contents=pdf.make_stream(text),
        )
        pdf.pages.append(pikepdf.Page(pdf.make_indirect(page)))
    out = BytesIO()
    pdf.save(out)
    signed = _sign(out.getvalue(), signer, "Seal1")

    def rewrite_page_33(writer, _page_ref):
        page_ref = writer.root["/Pages"]["/Kids"].raw_get(32)
        page_ref.get_object()["/Contents"] = writer.add_object(generic.StreamObject(stream_data=DORMANT))
        writer.mark_update(page_ref)

    changed = [f for f in _analyse(_update(signed, rewrite_page_33)).findings if f.pages]
    assert [(f.code, f.pages) for f in changed] == [("PAGE_CONTENT_CHANGED_AFTER_SIGNING", (33,))]


# -- robustness ---------------------------------------------------------------------------------------


def test_page_overwritten_by_non_dictionary_is_unknown_not_an_exception(signed):
    def break_page(writer, page_ref):
        writer.objects[(page_ref.reference.generation, page_ref.reference.idnum)] = generic.NumberObject(42)

    analysis = _analyse(_update(signed, break_page))
    failed = [f for f in analysis.findings if f.code == "DIFF_ANALYSIS_FAILED"]
    # which step failed, in words; the exception (PageStructureError) is for the debug log only
    assert failed and failed[0].detail == "the document's structure after signing could not be analysed"
    assert analysis.status in {"unknown", "suspicious"}


def test_exhausted_time_budget_is_unknown(signed):
    class NoTime:
        time_budget_s = 0.0

    tampered = _update(signed, lambda w, p: w.insert_page(_new_page(w, "late page")))
    analysis = analyse_changes(tampered, PdfFileReader(BytesIO(tampered), strict=False), 1, limits=NoTime())
    assert "TIME_BUDGET_EXCEEDED" in _codes(analysis)


def test_document_deadline_already_spent_is_unknown_whatever_the_own_budget(signed):
    """The signatures of one document share its budget: an analysis started after the document's
    deadline stops at once, although its own budget (the default 60 s) is untouched."""
    tampered = _update(signed, lambda w, p: w.insert_page(_new_page(w, "late page")))
    reader = PdfFileReader(BytesIO(tampered), strict=False)
    analysis = analyse_changes(tampered, reader, 1, deadline=time.monotonic() - 1)
    assert "TIME_BUDGET_EXCEEDED" in _codes(analysis)
    assert analysis.status in {"unknown", "suspicious"}


def _empty_signature_field_with_resources(writer, page_ref, base_font: str) -> None:
    """An invisible empty signature field bound to the page, and the page's /Resources rewritten as a
    fresh object (a writer's habit) whose font says ``base_font``."""
    page = page_ref.get_object()
    widget = writer.add_object(
        generic.DictionaryObject(
            {
                "/Type": generic.NameObject("/Annot"),
                "/Subtype": generic.NameObject("/Widget"),
                "/FT": generic.NameObject("/Sig"),
                "/T": generic.TextStringObject("Seal2"),
                "/Rect": generic.ArrayObject(generic.NumberObject(0) for _ in range(4)),
                "/F": generic.NumberObject(132),
                "/P": page_ref,
            }
        )
    )
    font = generic.DictionaryObject(
        {
            "/Type": generic.NameObject("/Font"),
            "/Subtype": generic.NameObject("/Type1"),
            "/BaseFont": generic.NameObject(base_font),
        }
    )
    old = page["/Resources"]
    resources = generic.DictionaryObject({k: old.raw_get(k) for k in old})
    resources["/Font"] = generic.DictionaryObject({"/F1": writer.add_object(font)})
    page["/Resources"] = writer.add_object(resources)
    page["/Annots"].append(widget)
    writer.update_container(page["/Annots"])
    writer.mark_update(page_ref)
    form = writer.root["/AcroForm"]
    form["/Fields"].append(widget)
    writer.update_root()


def test_signature_field_added_with_an_identical_copy_of_the_page_resources_is_permitted(signed):
    """Some writers rewrite the page's /Resources into a fresh but identical object when they bind a
    new signature widget; pyHanko rejects that, esign compares the values."""
    updated = _update(signed, lambda w, p: _empty_signature_field_with_resources(w, p, "/Helvetica"))
    analysis = _analyse(updated)
    assert analysis.status == "permitted", analysis.findings


def test_signature_field_added_with_a_different_font_in_the_page_resources_is_suspicious(signed):
    """The control: the same update with the page's font swapped (Helvetica → Courier) is a change."""
    updated = _update(signed, lambda w, p: _empty_signature_field_with_resources(w, p, "/Courier"))
    analysis = _analyse(updated)
    assert analysis.status == "suspicious", analysis.findings


def _rewrite_first_vri_entry(writer, page_ref) -> None:
    """Replace a VRI entry by a new object with a /TU time (allowed by PAdES, refused by pyHanko)."""
    vri = writer.root["/DSS"]["/VRI"]
    key = next(iter(vri))
    entry = vri[key]
    rewritten = generic.DictionaryObject({k: entry.raw_get(k) for k in entry})
    rewritten["/TU"] = generic.pdf_date(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    vri[key] = writer.add_object(rewritten)
    writer.update_container(vri)


def test_rewritten_vri_entry_is_permitted_validation_data(signed, pki):
    """Judged from the revision that holds the first DSS (as for a later signature of a B-LT file)."""
    out = BytesIO(signed)
    DocumentSecurityStore.add_dss(out, _signature_contents(signed), certs=pki.chain("agency-a"))
    analysis = _analyse(_update(out.getvalue(), _rewrite_first_vri_entry), revision=2)
    assert analysis.status == "permitted", analysis.findings
    assert "VALIDATION_DATA_ADDED" in _codes(analysis)


def test_page_content_overwritten_and_listed_in_the_dss_is_still_suspicious(signed):
    """Validation data may reuse what only the old DSS used, never what the page showed."""

    def overwrite_content(writer, page_ref) -> None:
        content_ref = page_ref.get_object().raw_get("/Contents")
        stream = content_ref.get_object()
        stream._data = DORMANT
        stream._encoded_data = None
        writer.mark_update(content_ref)
        dss = generic.DictionaryObject({"/Certs": generic.ArrayObject([content_ref])})
        writer.root["/DSS"] = writer.add_object(dss)
        writer.update_root()

    analysis = _analyse(_update(signed, overwrite_content))
    assert analysis.status == "suspicious"
    assert "MODIFIED_AFTER_SIGNING" in _codes(analysis)
