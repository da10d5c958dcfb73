"""Regression tests for the verifier's hardening, each on a document built here for the purpose.

Each mechanism was first met in a third-party file (external corpus); these documents isolate it so a
regression shows up without the corpus: the signed revision comes from the ByteRange, an empty user
password does not stop verification, every SignerInfo must verify, an indirect /Fields array is
followed, a document timestamp alone is no signature, overlapping annotations are a doubt, and a
cross-reference chain with wrong pointers is re-linked instead of refused.
"""

from __future__ import annotations

import asyncio
import re
from io import BytesIO

import pikepdf
import pytest
from asn1crypto import cms
from asn1crypto import parser as asn1_parser
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

from esign.findings import FindingCode
from esign.report.model import Indication, SubIndication
from esign.verify.pipeline import verify
from esign.verify.sigformat import der_value, malformed_integer
from tests.verify_signing import blank_pdf, doc_timestamp, sign, signer_for, trusted


@pytest.fixture(scope="module")
def plain() -> bytes:
    return blank_pdf("hardening regression")


@pytest.fixture(scope="module")
def signed(pki, plain) -> bytes:
    return sign(plain, pki)


def _only(report):
    (sig,) = [s for s in report.signatures if s.kind == "signature"]
    return sig


def _codes(sig) -> set[str]:
    return set(sig.findings)


def _pike(pdf: bytes, edit) -> bytes:
    """``pdf`` rewritten by pikepdf after ``edit(pdf_object)`` with classic cross-reference tables;
    used only for documents not yet signed."""
    with pikepdf.open(BytesIO(pdf)) as doc:
        edit(doc)
        out = BytesIO()
        doc.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable)
        return out.getvalue()


def _contents_span(pdf: bytes) -> tuple[int, int]:
    """Start and end of the hex digits of the (only) signature's /Contents."""
    start = pdf.index(b"/Contents <") + len(b"/Contents <")
    return start, pdf.index(b">", start)


def _with_cms(pdf: bytes, signed_data: cms.SignedData) -> bytes:
    start, end = _contents_span(pdf)
    hexed = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump().hex().encode()
    assert len(hexed) <= end - start
    return pdf[:start] + hexed + b"0" * (end - start - len(hexed)) + pdf[end:]


def _signed_data(pdf: bytes) -> cms.SignedData:
    start, end = _contents_span(pdf)
    return cms.ContentInfo.load(bytes.fromhex(pdf[start:end].decode()))["content"]


def test_signature_dictionary_rewritten_after_signing_is_modified_never_passed(pki, signed) -> None:
    """A later update rewrites the signed /Sig dictionary (spoofed /Reason): the ByteRange still
    verifies, but the signature's revision is the one its ByteRange ends in, and the rewrite is a change."""
    writer = IncrementalPdfFileWriter(BytesIO(signed))
    field = writer.root["/AcroForm"]["/Fields"][0]
    sig_ref = field.raw_get("/V")
    sig_ref.get_object()["/Reason"] = generic.TextStringObject("approved by the director")
    writer.mark_update(sig_ref)
    out = BytesIO()
    writer.write(out)
    sig = _only(verify(out.getvalue(), trusted(pki)))
    assert sig.checks.integrity == "ok" and sig.checks.crypto == "ok"
    assert sig.checks.modifications == "suspicious"
    assert "MODIFIED_AFTER_SIGNING" in _codes(sig)
    assert sig.indication is Indication.TOTAL_FAILED


def test_document_encrypted_with_an_empty_user_password_is_verified(pki, plain) -> None:
    with pikepdf.open(BytesIO(plain)) as doc:
        out = BytesIO()
        doc.save(out, encryption=pikepdf.Encryption(owner="owner-secret", user="", R=6))
        encrypted = out.getvalue()
    writer = IncrementalPdfFileWriter(BytesIO(encrypted))
    writer.encrypt(b"")
    meta = signers.PdfSignatureMetadata(field_name="Seal1")
    sealed = BytesIO()
    asyncio.run(
        signers.PdfSigner(meta, signer=signer_for(pki, "agency-a")).async_sign_pdf(
            writer, output=sealed, bytes_reserved=16384
        )
    )
    report = verify(sealed.getvalue(), trusted(pki))
    sig = _only(report)
    assert (sig.checks.integrity, sig.checks.crypto, sig.checks.chain) == ("ok", "ok", "trusted")
    assert report.indication is Indication.TOTAL_PASSED


def test_second_signer_info_that_does_not_verify_fails_the_signature(pki, signed) -> None:
    signed_data = _signed_data(signed)
    good = signed_data["signer_infos"][0]
    broken = good.copy()
    value = bytearray(broken["signature"].native)
    value[10] ^= 0xFF
    broken["signature"] = bytes(value)
    signed_data["signer_infos"] = cms.SignerInfos([good.copy(), broken])
    sig = _only(verify(_with_cms(signed, signed_data), trusted(pki)))
    assert sig.checks.crypto == "failed"
    assert (sig.indication, sig.subindication) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def test_two_signer_infos_that_both_verify_keep_the_signature_valid(pki, signed) -> None:
    """The control for the test above: a second SignerInfo as such is not the failure."""
    signed_data = _signed_data(signed)
    good = signed_data["signer_infos"][0]
    signed_data["signer_infos"] = cms.SignerInfos([good.copy(), good.copy()])
    sig = _only(verify(_with_cms(signed, signed_data), trusted(pki)))
    assert (sig.checks.integrity, sig.checks.crypto) == ("ok", "ok")
    assert sig.indication is Indication.TOTAL_PASSED


def test_signature_field_listed_in_an_indirect_fields_array_is_found(pki, plain) -> None:
    def indirect_fields(doc: pikepdf.Pdf) -> None:
        page = doc.pages[0].obj
        field = doc.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Widget, FT=pikepdf.Name.Sig,
                T=pikepdf.String("Seal1"), Rect=pikepdf.Array([0, 0, 0, 0]), F=132, P=page,
            )
        )  # fmt: skip
        page.Annots = pikepdf.Array([field])
        doc.Root.AcroForm = pikepdf.Dictionary(Fields=doc.make_indirect(pikepdf.Array([field])))

    prepared = _pike(plain, indirect_fields)
    report = verify(sign(prepared, pki, field="Seal1"), trusted(pki))
    sig = _only(report)
    assert sig.field == "Seal1" and sig.checks.crypto == "ok"
    assert report.indication is Indication.TOTAL_PASSED


def test_document_with_only_a_document_timestamp_is_no_signature_found(pki, plain) -> None:
    report = verify(doc_timestamp(plain, pki), trusted(pki))
    assert [s.kind for s in report.signatures] == ["document_timestamp"]
    assert report.indication is Indication.NO_SIGNATURE_FOUND
    assert report.findings[0].code is FindingCode.NO_SIGNATURE_FOUND


def test_overlapping_annotations_make_the_signature_indeterminate(pki, plain) -> None:
    """What one annotation may hide under another cannot be judged: a doubt, never a pass."""

    def two_overlapping_squares(doc: pikepdf.Pdf) -> None:
        squares = [
            doc.make_indirect(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Square, Rect=pikepdf.Array(r)
                )
            )
            for r in ([100, 600, 300, 700], [200, 650, 400, 750])
        ]
        doc.pages[0].obj.Annots = pikepdf.Array(squares)

    report = verify(sign(_pike(plain, two_overlapping_squares), pki), trusted(pki))
    sig = _only(report)
    assert "ANNOTATIONS_OVERLAP" in _codes(sig)
    assert sig.checks.modifications == "unknown"
    assert sig.indication is Indication.INDETERMINATE
    assert sig.reliable_esignature.verdict == "undetermined"  # a doubt, not a defeat of art. 13


def test_broken_prev_pointer_is_relinked_and_every_signature_found(pki, plain) -> None:
    """An update after two signatures whose trailer says /Prev 0: refused by pyHanko, re-linked by esign.
    Both signatures verify, but what was appended after them is reconstructed, so neither is passed."""
    twice = sign(sign(_pike(plain, lambda doc: None), pki), pki, field="Seal2")
    out = BytesIO(twice)
    DocumentSecurityStore.add_dss(out, None, certs=pki.chain("agency-a"))  # a permitted update
    updated = out.getvalue()
    tail = updated.rindex(b"trailer")
    assert updated.rfind(b"\nxref", 0, tail) > len(twice)  # classic tables, as in the third-party files
    prev = re.compile(rb"/Prev \d+").search(updated, tail)
    assert prev is not None
    broken = updated[: prev.start()] + b"/Prev 0".ljust(prev.end() - prev.start()) + updated[prev.end() :]
    report = verify(broken, trusted(pki))
    approvals = [s for s in report.signatures if s.kind == "signature"]
    assert [s.field for s in approvals] == ["Seal1", "Seal2"]
    assert all((s.checks.integrity, s.checks.crypto) == ("ok", "ok") for s in approvals)
    assert [s.checks.modifications for s in approvals] == ["unknown", "unknown"]
    assert report.indication is Indication.INDETERMINATE
    assert "PARSED_TOLERANTLY" in {f.code.name for f in report.findings}


def test_signature_over_signed_attributes_out_of_der_order_is_crypto_failed(pki, signed) -> None:
    """RFC 5652 signs the DER encoding of the signed attributes. A signer that signs them in another
    order makes a value that pyHanko and NSS accept over the bytes as found, but that does not verify
    over the DER encoding a strict verifier (and the standard) uses: crypto failed, never passed."""
    signed_data = _signed_data(signed)
    original = signed_data["signer_infos"][0]
    der_attributes = original["signed_attrs"].dump()
    _, _, _, header, content, _ = asn1_parser.parse(der_attributes)
    children, at = [], 0
    while at < len(content):
        _, _, _, child_header, child_content, _ = asn1_parser.parse(content[at:])
        children.append(content[at : at + len(child_header) + len(child_content)])
        at += len(children[-1])
    reordered = header + b"".join(reversed(children))  # same bytes, not in DER order any more
    assert reordered != der_attributes
    signer_info = cms.SignerInfo.load(original.dump().replace(der_attributes, reordered))
    key = serialization.load_der_private_key(pki.key("agency-a").dump(), password=None)
    signer_info["signature"] = key.sign(b"\x31" + reordered[1:], padding.PKCS1v15(), hashes.SHA256())
    signed_data["signer_infos"] = cms.SignerInfos([signer_info])
    lenient = _with_cms(signed, signed_data)
    (embedded,) = PdfFileReader(BytesIO(lenient)).embedded_signatures
    assert validate_pdf_signature(embedded, skip_diff=True).valid  # pyHanko checks the bytes as found
    sig = _only(verify(lenient, trusted(pki)))
    assert sig.checks.integrity == "ok" and sig.checks.crypto == "failed"
    assert (sig.indication, sig.subindication) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert "CMS_STRUCTURE_INVALID" in _codes(sig)


@pytest.mark.parametrize(
    ("der", "malformed"),
    [
        (bytes.fromhex("3004020200 01"), True),  # 00 before a positive octet: redundant
        (bytes.fromhex("30040202ff80"), True),  # ff before a negative octet: redundant
        (bytes.fromhex("3004020200 80"), False),  # the 00 keeps 0x80 positive: required
        (bytes.fromhex("3003020101"), False),
    ],
)
def test_integers_with_redundant_leading_octets_are_found(der: bytes, malformed: bool) -> None:
    assert (malformed_integer(der) is not None) is malformed


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def test_cms_with_a_malformed_integer_is_format_failure_not_judged(pki, signed) -> None:
    """A SignerInfo version written 02 02 00 01 (X.690 forbids the 00): asn1crypto and pyHanko read it,
    strict parsers refuse the CMS; esign reports a format failure instead of judging its bytes."""
    signed_data = _signed_data(signed)
    original = signed_data["signer_infos"][0].dump()
    content = asn1_parser.parse(original)[4]
    assert content.startswith(b"\x02\x01\x01")  # version 1
    body = b"\x02\x02\x00\x01" + content[3:]
    signer_info = cms.SignerInfo.load(b"\x30" + _der_length(len(body)) + body)
    signed_data["signer_infos"] = cms.SignerInfos([signer_info])
    sig = _only(verify(_with_cms(signed, signed_data), trusted(pki)))
    assert (sig.indication, sig.subindication) == (Indication.INDETERMINATE, SubIndication.FORMAT_FAILURE)
    assert "CMS_STRUCTURE_INVALID" in _codes(sig)
    assert sig.checks.crypto == "unknown"


def test_a_cms_value_ending_in_a_zero_byte_is_not_cut_with_the_padding() -> None:
    """/Contents is the DER value and then zero padding; a value that itself ends in 00 (one signature
    in 256) must still be read whole — stripping zeros made it unreadable and skipped this check."""
    der = b"\x30\x08" + b"\x02\x02\x00\x05" + b"\x04\x02\x01\x00"  # INTEGER 00 05 (redundant), then … 00
    padded = der + b"\x00" * 64
    assert der_value(padded) == der
    assert malformed_integer(padded) is not None
