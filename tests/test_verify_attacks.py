"""An attack battery from the published PDF-signature attack classes, end to end through ``verify``.

Every attack starts from a real document sealed by ``esign.seal.pades`` with the test PKI and is built by
byte-level manipulation or with pyHanko's incremental writer, the way an attacker's tool would:

* USF, universal signature forgery (Mladenov et al., "1 Trillion Dollar Refund", 2019): the signature
  dictionary's /Contents, /ByteRange, /Filter, /SubFilter, /Cert or signer made unusable or swapped;
* ISA, incremental saving attack (same paper): updates that change what the page shows, with an xref
  stream, a classic table, no cross-reference section at all, a new /Root, a new /Pages, a moved widget;
* SWA, signature wrapping (same paper): the second signed range moved behind a gap that holds
  malicious objects and the cross-reference section the signed ``startxref`` points at;
* shadow attacks (Mainka et al., 2020/2021) not already in tests/test_modifications.py: overlay
  XObjects replaced through a rewritten resource dictionary or a nested XObject, fonts replaced or
  re-encoded, optional content hidden or swapped, an /OCMD policy redefined;
* certification attacks (Mainka et al., 2021): EAA (evil annotation) and SSA (sneaky signature) on
  documents certified "no changes", "form filling" and "annotations".

The invariant for every attack: the signature covering the attacked content is never TOTAL_PASSED, and
``verify`` raises nothing but :class:`~esign.errors.EsignError`. Where an attack changes what the page
shows, the report must say so (modifications ``suspicious`` or integrity ``broken``), with the findings
the attack determines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO

import pikepdf
import pytest
from asn1crypto import cms
from pikepdf import Dictionary, Name
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.content import RawContent
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.errors import EsignError
from esign.policy import ValidationPolicy
from esign.report.model import Report, SignatureResult
from esign.seal.image import round_seal
from esign.seal.pades import AtPosition, Certification, Invisible, SealOptions, seal
from esign.seal.signers import load_pkcs12
from esign.sync_bridge import run_sync
from esign.verify.pipeline import verify
from esign.verify.sigformat import der_value
from fixtures.documents import form_pdf, licence_pdf
from fixtures.pki import TestPKI

SEAL = "Seal1"
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
#: an opaque white box with new text: what covers signed content in EAA/SSA/overlay attacks
COVER = b"1 g 0 0 220 40 re f 0 g BT /Helv 14 Tf 6 14 Td (APPROVED - FEE WAIVED) Tj ET"
#: where form_pdf prints its title "行政许可申请表" (24 pt, centred at y = 760)
TITLE_RECT = (190.0, 750.0, 410.0, 790.0)


# -- the documents under attack ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return TestPKI()


@pytest.fixture(scope="module")
def policy(pki) -> ValidationPolicy:
    return ValidationPolicy.preset("default", trust_roots=[pki.root])


@pytest.fixture(scope="module")
def signer(pki):
    return load_pkcs12(pki.pkcs12("agency-a", b"f"), b"f")


@pytest.fixture(scope="module")
def licence(signer) -> bytes:
    """The business licence with a visible approval seal (B-B); pyHanko writes xref streams here."""
    options = SealOptions(placement=AtPosition(1, 150, 235))
    return seal(licence_pdf(), signer, options, image=round_seal("杭州市市场监督管理局"))


@pytest.fixture(scope="module")
def shadow(signer) -> bytes:
    """A Helvetica document with classic xref tables and the structures shadow attacks abuse, sealed."""
    options = SealOptions(placement=AtPosition(1, 150, 235))
    return seal(_shadow_pdf(), signer, options, image=round_seal("杭州市市场监督管理局"))


def _certified(signer, level: Certification) -> bytes:
    return seal(form_pdf(), signer, SealOptions(certification=level, placement=Invisible()))


@pytest.fixture(scope="module")
def certified(signer) -> dict[str, bytes]:
    """The application form certified at each DocMDP level (invisible certification seal)."""
    return {
        "P1": _certified(signer, Certification.NO_CHANGES),
        "P2": _certified(signer, Certification.FORM_FILLING),
        "P3": _certified(signer, Certification.ANNOTATIONS),
    }


LICENCE_TEXT = b"BT /F1 14 Tf 72 760 Td (Licence No. 12345) Tj ET"
OVERLAY_X1 = b"BT /F1 12 Tf 0 20 Td (Issued by Agency A) Tj ET q 1 0 0 1 0 0 cm /X2 Do Q"
OVERLAY_X2 = b"BT /F1 12 Tf 0 0 Td (Fee: 100 yuan) Tj ET"
LAYER_A = b"/OC /ocA BDC BT /F1 14 Tf 72 640 Td (Amount 100 yuan) Tj ET EMC"
LAYER_B = b"/OC /ocB BDC BT /F1 14 Tf 72 640 Td (Amount 900 yuan) Tj ET EMC"
MEMBERSHIP = b"/OC /md1 BDC BT /F1 14 Tf 72 600 Td (Valid until 2030-12-31) Tj ET EMC"


def _shadow_pdf() -> bytes:
    """One A4 page: text in /F1, an overlay XObject X1 that draws a nested X2, layer A (on) and
    layer B (off) at the same place, text under an /OCMD, and a font planted but never used."""
    pdf = pikepdf.new()
    helvetica = Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    font = pdf.make_indirect(Dictionary(helvetica))
    fonts = Dictionary(F1=font)
    x2 = pdf.make_stream(OVERLAY_X2, Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, 300, 40])
    x2.Resources = Dictionary(Font=fonts)
    x1 = pdf.make_stream(OVERLAY_X1, Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, 300, 40])
    x1.Resources = Dictionary(Font=fonts, XObject=Dictionary(X2=x2))
    layer_a = pdf.make_indirect(Dictionary(Type=Name.OCG, Name="amount"))
    layer_b = pdf.make_indirect(Dictionary(Type=Name.OCG, Name="alternative amount"))
    membership = pdf.make_indirect(Dictionary(Type=Name.OCMD, OCGs=[layer_a], P=Name.AnyOn))
    resources = pdf.make_indirect(
        Dictionary(
            Font=fonts,
            XObject=Dictionary(X1=x1),
            Properties=Dictionary(ocA=layer_a, ocB=layer_b, md1=membership),
        )
    )
    content = b"\n".join((LICENCE_TEXT, b"q 1 0 0 1 72 700 cm /X1 Do Q", LAYER_A, LAYER_B, MEMBERSHIP))
    page = Dictionary(
        Type=Name.Page, MediaBox=[0, 0, 595, 842], Resources=resources, Contents=pdf.make_stream(content)
    )
    pdf.pages.append(pikepdf.Page(pdf.make_indirect(page)))
    pdf.Root.OCProperties = pdf.make_indirect(
        Dictionary(
            OCGs=[layer_a, layer_b], D=Dictionary(ON=[layer_a], OFF=[layer_b], Order=[layer_a, layer_b])
        )
    )
    # digits 1 and 0 drawn as 9: the replacement planted before signing (shadow hide-and-replace)
    planted = Dictionary(helvetica)
    planted.Encoding = Dictionary(
        Type=Name.Encoding, BaseEncoding=Name.WinAnsiEncoding, Differences=[48, Name.nine, Name.nine]
    )
    pdf.Root.EsignPlantedFont = pdf.make_indirect(planted)
    out = BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable, deterministic_id=True)
    return out.getvalue()


def test_every_base_document_passes(licence, shadow, certified, policy) -> None:
    """The control: each document the attacks start from verifies as TOTAL_PASSED untouched."""
    for pdf in (licence, shadow, *certified.values()):
        report = verify(pdf, policy)
        assert report.indication == "TOTAL_PASSED", report.findings
    assert b"xref\n" in shadow and b"/Type /XRef" in licence  # both cross-reference styles are attacked


# -- judging --------------------------------------------------------------------------------------------


def _verify(pdf: bytes, policy: ValidationPolicy) -> Report | EsignError:
    """The report, or the typed refusal; any other exception fails the test."""
    try:
        return verify(pdf, policy)
    except EsignError as exc:
        return exc


def _signature(report: Report, field: str = SEAL) -> SignatureResult:
    matches = [s for s in report.signatures if s.field == field]
    assert matches, f"no signature {field}: {[s.field for s in report.signatures]}"
    return matches[0]


def _never_passes(outcome: Report | EsignError, field: str = SEAL) -> SignatureResult | None:
    """The invariant: a typed refusal, or a report in which the attacked signature is not TOTAL_PASSED."""
    if isinstance(outcome, EsignError):
        return None
    assert outcome.indication != "TOTAL_PASSED", outcome.to_dict()
    if not any(s.field == field for s in outcome.signatures):
        return None  # the attack removed the field from the form: nothing claims to be signed
    result = _signature(outcome, field)
    assert result.indication != "TOTAL_PASSED", result
    return result


def _shows_change(outcome: Report | EsignError, *codes: str, field: str = SEAL) -> SignatureResult:
    """For attacks that change what is shown: a report (never a refusal), not passed, and flagged."""
    assert isinstance(outcome, Report), f"refused: {outcome}"
    result = _never_passes(outcome, field)
    assert result is not None
    assert result.checks.modifications == "suspicious" or result.checks.integrity == "broken", result
    assert set(codes) <= set(result.findings), result.findings
    return result


# -- building attacks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    """Where the (last) signature sits in the file: ByteRange [0 b c d], /Contents hex in [b, c)."""

    b: int
    c: int
    d: int
    byte_range_span: tuple[int, int]

    @classmethod
    def of(cls, pdf: bytes) -> Signed:
        match = list(_BYTE_RANGE.finditer(pdf))[-1]
        _, b, c, d = (int(n) for n in match.groups())
        assert pdf[b : b + 1] == b"<" and pdf[c - 1 : c] == b">"
        end = match.end()
        while pdf[end : end + 1] == b" ":  # the room pyHanko leaves for the final numbers
            end += 1
        return cls(b, c, d, (match.start(), end))

    @property
    def contents_key(self) -> int:
        """Offset of the ``/Contents`` key whose value is the hex string at ``b``."""
        return self.b - len(b"/Contents ")

    def digest(self, pdf: bytes, c: int | None = None) -> bytes:
        start = self.c if c is None else c
        return hashlib.sha256(pdf[: self.b] + pdf[start : start + self.d]).digest()


def _same_length(pdf: bytes, start: int, end: int, replacement: bytes) -> bytes:
    """``pdf`` with ``[start, end)`` replaced, padded with spaces: every other offset stays valid."""
    assert len(replacement) <= end - start, (replacement, end - start)
    return pdf[:start] + replacement.ljust(end - start, b" ") + pdf[end:]


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """One incremental update written by pyHanko (an xref stream when the file uses them)."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    change(writer)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _page(writer) -> tuple[generic.DictionaryObject, generic.IndirectObject]:
    ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    return ref.get_object(), ref


def _stream(data: bytes, **entries: generic.PdfObject) -> generic.StreamObject:
    return generic.StreamObject(
        {generic.NameObject(f"/{k}"): v for k, v in entries.items()}, stream_data=data
    )


#: appended to the licence's page content: a white box over the holder, registered capital and dates
ERASE = b"\nq 1 g 150 420 320 220 re f Q\n"


def _deface(writer) -> None:
    """Page 1 shows something else: its content now ends with a white box over the licence's fields."""
    page, ref = _page(writer)
    old = page["/Contents"]
    data = old.data if isinstance(old, generic.StreamObject) else b"".join(c.data for c in old)
    page["/Contents"] = writer.add_object(_stream(data + ERASE))
    writer.mark_update(ref)


def _signature_value_ref(writer_or_reader) -> generic.IndirectObject:
    """The /V of the seal field, as a reference."""
    for field_ref in writer_or_reader.root["/AcroForm"]["/Fields"]:
        field = field_ref.get_object()
        if field.get("/T") == SEAL:
            return field.raw_get("/V")
    raise AssertionError("no seal field")


def _seal_field_ref(writer) -> generic.IndirectObject:
    fields = writer.root["/AcroForm"]["/Fields"]
    return next(fields.raw_get(i) for i in range(len(fields)) if fields[i].get("/T") == SEAL)


def _classic_update(pdf: bytes, objects: dict[int, bytes], *, root: int | None = None) -> bytes:
    """Append objects, a classic xref table and a trailer by hand (as a minimal attacker tool would).

    The trailer's /Prev names the last cross-reference section of ``pdf``, whatever its type.
    """
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    prev = reader.xrefs.get_startxref_for_revision(reader.xrefs.total_revisions - 1)
    size = max(int(reader.trailer["/Size"]), max(objects) + 1)
    root = root if root is not None else reader.trailer.raw_get("/Root").idnum
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets: dict[int, int] = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    out += _xref_table(offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\n" % (size, root, prev)
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def _xref_table(offsets: dict[int, int]) -> bytes:
    """A classic xref table with one subsection per object (always valid, never needs sorting runs)."""
    out = b"xref\n0 1\n0000000000 65535 f\r\n"
    for number, offset in sorted(offsets.items()):
        out += b"%d 1\n%010d 00000 n\r\n" % (number, offset)
    return out


def _raw_stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def _page_objects(pdf: bytes) -> tuple[int, int, bytes]:
    """(page object number, content stream object number, decoded content) of page 1."""
    reader = PdfFileReader(BytesIO(pdf))
    page_ref = reader.root["/Pages"]["/Kids"].raw_get(0)
    contents_ref = page_ref.get_object().raw_get("/Contents")
    return page_ref.idnum, contents_ref.idnum, contents_ref.get_object().data


def _serialised(obj: generic.PdfObject) -> bytes:
    out = BytesIO()
    obj.write_to_stream(out)
    return out.getvalue()


# -- USF: universal signature forgery -------------------------------------------------------------------


def _in_place(patch: Callable[[bytes, Signed], bytes]) -> Callable[[bytes], bytes]:
    return lambda pdf: patch(pdf, Signed.of(pdf))


def _entry(pdf: bytes, s: Signed, old: bytes, new: bytes) -> bytes:
    at = pdf.index(old, s.c)
    return _same_length(pdf, at, at + len(old), new)


#: USF edits made in the signed file itself, keeping every offset. /Contents lies outside the signed
#: ranges, so its edits leave the digest intact: the forgery viewers fell for in 2019.
USF_IN_PLACE: dict[str, Callable[[bytes], bytes]] = {
    "contents_removed": _in_place(lambda pdf, s: _same_length(pdf, s.contents_key, s.c, b"")),
    "contents_null": _in_place(lambda pdf, s: _same_length(pdf, s.contents_key, s.c, b"/Contents null")),
    "contents_empty": _in_place(lambda pdf, s: _same_length(pdf, s.contents_key, s.c, b"/Contents <>")),
    "contents_zeros": _in_place(lambda pdf, s: pdf[: s.b + 1] + b"0" * (s.c - s.b - 2) + pdf[s.c - 1 :]),
    "byte_range_removed": _in_place(lambda pdf, s: _same_length(pdf, *s.byte_range_span, b"")),
    "byte_range_null": _in_place(lambda pdf, s: _same_length(pdf, *s.byte_range_span, b"/ByteRange null")),
    "byte_range_zeros": _in_place(
        lambda pdf, s: _same_length(pdf, *s.byte_range_span, b"/ByteRange [0 0 0 0]")
    ),
    "byte_range_negative": _in_place(
        lambda pdf, s: _same_length(pdf, *s.byte_range_span, b"/ByteRange [0 %d -%d %d]" % (s.b, s.c, s.d))
    ),
    "byte_range_short": _in_place(
        lambda pdf, s: _same_length(
            pdf, *s.byte_range_span, b"/ByteRange [0 %d %d %d]" % (s.b, s.c, s.d - 100)
        )
    ),
    "filter_changed": _in_place(
        lambda pdf, s: _entry(pdf, s, b"/Filter /Adobe.PPKLite", b"/Filter /Evil.Handler")
    ),
    "subfilter_changed": _in_place(
        lambda pdf, s: _entry(pdf, s, b"/SubFilter /ETSI.CAdES.detached", b"/SubFilter /adbe.x509.rsa_sha1")
    ),
}


@pytest.mark.parametrize("attack", sorted(USF_IN_PLACE))
def test_usf_in_place_never_passes(licence, policy, attack) -> None:
    """The signed file itself with its signature dictionary forged: reported as a broken signature."""
    forged = USF_IN_PLACE[attack](licence)
    assert len(forged) == len(licence) and forged != licence
    result = _never_passes(_verify(forged, policy))
    assert result is not None, "a broken signature dictionary is reported, not refused as a corrupt file"
    # what makes the signature unusable is named, not just "something failed"
    named = {"BYTERANGE_INVALID", "COVERAGE_PARTIAL", "CONTENTS_NOT_CMS", "DIGEST_MISMATCH"}
    assert named & set(result.findings), result.findings


Mutation = Callable[[generic.DictionaryObject], None]


def _usf_rewrite(mutate: Mutation) -> Callable[[IncrementalPdfFileWriter], None]:
    """An incremental update that defaces page 1 and rewrites the signature dictionary in place."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        _deface(writer)
        ref = _signature_value_ref(writer)
        old = ref.get_object()
        value = generic.DictionaryObject({k: old.raw_get(k) for k in old})
        mutate(value)
        writer.objects[(ref.generation, ref.idnum)] = value

    return change


def _set(key: str, value: generic.PdfObject) -> Mutation:
    def mutate(d: generic.DictionaryObject) -> None:
        d[generic.NameObject(key)] = value

    return mutate


def _delete(key: str) -> Mutation:
    def mutate(d: generic.DictionaryObject) -> None:
        del d[key]

    return mutate


def _byte_range(*numbers: int) -> Mutation:
    return _set("/ByteRange", generic.ArrayObject(generic.NumberObject(n) for n in numbers))


def _edited_byte_range(edit: Callable[[list[int]], list[int]]) -> Mutation:
    def mutate(d: generic.DictionaryObject) -> None:
        numbers = edit([int(n) for n in d["/ByteRange"]])
        d["/ByteRange"] = generic.ArrayObject(generic.NumberObject(n) for n in numbers)

    return mutate


def _zero_contents(d: generic.DictionaryObject) -> None:
    d["/Contents"] = generic.ByteStringObject(b"\0" * len(d["/Contents"]))


def _rogue_cert(d: generic.DictionaryObject) -> None:
    """The adbe.x509.rsa_sha1 form: /Cert names a (rogue) certificate, /Contents stays what it was."""
    d["/SubFilter"] = generic.NameObject("/adbe.x509.rsa_sha1")
    d["/Cert"] = generic.ByteStringObject(TestPKI().cert("rogue-signer").dump())


USF_REWRITES: dict[str, Mutation] = {
    "contents_removed": _delete("/Contents"),
    "contents_null": _set("/Contents", generic.NullObject()),
    "contents_empty": _set("/Contents", generic.ByteStringObject(b"")),
    "contents_zeros": _zero_contents,
    "byte_range_removed": _delete("/ByteRange"),
    "byte_range_null": _set("/ByteRange", generic.NullObject()),
    "byte_range_zeros": _byte_range(0, 0, 0, 0),
    "byte_range_negative": _edited_byte_range(lambda br: [br[0], -br[1], br[2], br[3]]),
    "byte_range_beyond_eof": _edited_byte_range(lambda br: [0, br[1], br[2], br[3] + 10**6]),
    "filter_changed": _set("/Filter", generic.NameObject("/Evil.Handler")),
    "subfilter_changed": _set("/SubFilter", generic.NameObject("/adbe.pkcs7.unknown")),
    "cert_swapped": _rogue_cert,
}


@pytest.mark.parametrize("attack", sorted(USF_REWRITES))
def test_usf_with_defaced_page_is_flagged(licence, policy, attack) -> None:
    """The forgery as it is used: the page shows other content, and the signature dictionary an
    attacker rewrote in the same update must not let the signature pass for it."""
    forged = _update(licence, _usf_rewrite(USF_REWRITES[attack]))
    result = _shows_change(_verify(forged, policy))
    if result.checks.integrity != "broken":
        # the signature still verifies over what was signed; the rewrite and the new page are the news
        assert {"MODIFIED_AFTER_SIGNING", "PAGE_CONTENT_CHANGED_AFTER_SIGNING"} <= set(result.findings)


def _cms(signer, digest: bytes) -> bytes:
    return run_sync(signer.async_sign(digest, "sha256", use_pades=True)).dump()


def _with_contents(pdf: bytes, der: bytes) -> bytes:
    """``pdf`` with the last signature's /Contents replaced in place (zero-padded like a signer does)."""
    s = Signed.of(pdf)
    hex_ = der.hex().upper().encode()
    assert len(hex_) <= s.c - s.b - 2
    return pdf[: s.b + 1] + hex_.ljust(s.c - s.b - 2, b"0") + pdf[s.c - 1 :]


def _signer(pki: TestPKI, *, cert: str, key: str) -> signers.SimpleSigner:
    """A signer presenting ``cert`` (and its chain) but signing with ``key``'s private key."""
    return signers.SimpleSigner(
        signing_cert=pki.cert(cert),
        signing_key=pki.key(key),
        cert_registry=SimpleCertificateStore.from_certs(pki.chain(cert)),
    )


def test_usf_signer_swapped_for_an_untrusted_one_is_not_passed(licence, policy, pki) -> None:
    """A rogue key re-signs exactly the signed ranges; /Contents is unsigned, so no byte of the signed
    ranges changes — only who signed. The seal of agency A is gone: never TOTAL_PASSED."""
    rogue = _signer(pki, cert="rogue-signer", key="rogue-signer")
    forged = _with_contents(licence, _cms(rogue, Signed.of(licence).digest(licence)))
    result = _never_passes(_verify(forged, policy))
    assert result is not None and result.checks.integrity == "ok" and result.checks.crypto == "ok"
    assert result.checks.chain == "untrusted"
    assert result.signed_by is not None and "agency-a" not in result.signed_by.subject.lower()


def test_usf_signer_info_claims_agency_a_but_is_signed_by_another_key(licence, policy, pki) -> None:
    """The CMS carries agency A's certificate and issuer/serial, the signature value is the rogue key's."""
    impostor = _signer(pki, cert="agency-a", key="rogue-signer")
    forged = _with_contents(licence, _cms(impostor, Signed.of(licence).digest(licence)))
    result = _never_passes(_verify(forged, policy))
    assert result is not None and result.checks.crypto == "failed"
    assert result.subindication == "SIG_CRYPTO_FAILURE"


def test_usf_certificates_swapped_inside_the_cms(licence, policy, pki) -> None:
    """Agency A's CMS with its certificate set replaced by agency B's chain and the SignerInfo pointing
    at agency B: the signed ESS signing-certificate attribute still names agency A's certificate."""
    s = Signed.of(licence)
    der = der_value(bytes.fromhex(licence[s.b + 1 : s.c - 1].decode()))
    info = cms.ContentInfo.load(der)
    signed_data = info["content"]
    other = pki.cert("agency-b")
    signed_data["certificates"] = cms.CertificateSet(
        [cms.CertificateChoices("certificate", c) for c in pki.chain("agency-b")]
    )
    sid = cms.SignerIdentifier(
        "issuer_and_serial_number",
        cms.IssuerAndSerialNumber({"issuer": other.issuer, "serial_number": other.serial_number}),
    )
    signed_data["signer_infos"][0]["sid"] = sid
    forged = _with_contents(licence, info.dump(force=True))
    result = _never_passes(_verify(forged, policy))
    assert result is not None and result.subindication == "NO_SIGNING_CERTIFICATE_FOUND"
    assert "SIGNING_CERTIFICATE_NOT_FOUND" in result.findings


# -- ISA: incremental saving attacks --------------------------------------------------------------------


def test_isa_update_with_an_xref_stream_is_flagged(licence, policy) -> None:
    attacked = _update(licence, _deface)
    assert b"/Type /XRef" in attacked[len(licence) :]  # the attacker's revision has an xref stream
    result = _shows_change(_verify(attacked, policy), "PAGE_CONTENT_CHANGED_AFTER_SIGNING")
    assert result.checks.integrity == "ok" and result.checks.crypto == "ok"  # the signature itself is fine


def test_isa_update_with_a_classic_xref_table_is_flagged(shadow, policy) -> None:
    attacked = _update(shadow, _deface)
    assert b"\nxref\n" in attacked[len(shadow) :] and b"trailer" in attacked[len(shadow) :]
    _shows_change(_verify(attacked, policy), "PAGE_CONTENT_CHANGED_AFTER_SIGNING")


def test_isa_hand_written_classic_table_after_an_xref_stream_redefines_the_content(licence, policy) -> None:
    """A hybrid chain: a classic table whose /Prev is the signed xref stream, redefining the page's
    content stream under its own object number."""
    _, contents, data = _page_objects(licence)
    attacked = _classic_update(licence, {contents: _raw_stream(data + ERASE)})
    result = _shows_change(_verify(attacked, policy), "PAGE_CONTENT_CHANGED_AFTER_SIGNING")
    assert "SHADOW_ATTACK_SUSPECTED" in result.findings  # an object the page used, redefined


def _appended_objects(pdf: bytes, redefine_page: bool) -> bytes:
    """Object definitions appended after %%EOF with no cross-reference section of their own."""
    page, contents, data = _page_objects(pdf)
    out = pdf + b"\n%d 0 obj\n%s\nendobj\n" % (contents, _raw_stream(data + ERASE))
    if redefine_page:
        reader = PdfFileReader(BytesIO(pdf))
        old = reader.get_object(generic.Reference(page, 0))
        page_dict = generic.DictionaryObject({k: old.raw_get(k) for k in old})
        page_dict["/Contents"] = generic.IndirectObject(9999, 0, reader)
        out += b"%d 0 obj\n%s\nendobj\n" % (page, _serialised(page_dict))
        out += b"9999 0 obj\n%s\nendobj\n" % _raw_stream(data + ERASE)
    return out


def _startxref(pdf: bytes) -> int:
    return int(pdf[pdf.rindex(b"startxref") + 9 :].split()[0])


#: how the appended objects end: nothing, a bare %%EOF, or the signed startxref repeated
NO_XREF_ENDINGS: dict[str, Callable[[bytes], bytes]] = {
    "nothing": lambda pdf: b"",
    "eof_marker": lambda pdf: b"%%EOF\n",
    "signed_startxref_repeated": lambda pdf: b"startxref\n%d\n%%%%EOF\n" % _startxref(pdf),
}


@pytest.mark.parametrize("redefine_page", [False, True], ids=["content_stream", "page_object"])
@pytest.mark.parametrize("ending", sorted(NO_XREF_ENDINGS))
def test_isa_objects_appended_without_a_cross_reference_section(
    licence, policy, ending, redefine_page
) -> None:
    """Lenient readers that rebuild the cross-reference table take the last definition of an object in
    the file; a strict one ignores them. Either refuse the file or say that something was appended."""
    attacked = _appended_objects(licence, redefine_page)
    attacked += NO_XREF_ENDINGS[ending](licence)
    result = _never_passes(_verify(attacked, policy))
    if ending == "signed_startxref_repeated":
        # the parser reads the signed revision as it was; only the appended bytes tell
        assert result is not None, "the file parses: report what was appended, do not refuse it"
    if result is not None:
        assert result.checks.modifications == "suspicious", result
        assert "MODIFIED_AFTER_SIGNING" in result.findings


def _new_tree(pdf: bytes, first: int) -> tuple[dict[int, bytes], generic.DictionaryObject]:
    """Objects ``first``… : a page tree with one page like page 1 but showing defaced content."""
    reader = PdfFileReader(BytesIO(pdf))
    root, page = reader.root, reader.root["/Pages"]["/Kids"][0]
    _, _, data = _page_objects(pdf)
    pages_ref = generic.IndirectObject(first, 0, reader)
    new_page = generic.DictionaryObject({k: page.raw_get(k) for k in page})
    new_page["/Parent"] = pages_ref
    new_page["/Contents"] = generic.IndirectObject(first + 2, 0, reader)
    tree = generic.DictionaryObject(
        {
            "/Type": generic.NameObject("/Pages"),
            "/Kids": generic.ArrayObject([generic.IndirectObject(first + 1, 0, reader)]),
            "/Count": generic.NumberObject(1),
        }
    )
    objects = {
        first: _serialised(tree),
        first + 1: _serialised(new_page),
        first + 2: _raw_stream(data + ERASE),
    }
    catalog = generic.DictionaryObject({k: root.raw_get(k) for k in root})
    catalog["/Pages"] = pages_ref
    return objects, catalog


def test_isa_new_catalog_through_the_trailer_root(licence, policy) -> None:
    """The update's trailer names a brand-new /Root whose page tree shows other content."""
    size = int(PdfFileReader(BytesIO(licence)).trailer["/Size"])
    objects, catalog = _new_tree(licence, size)
    objects[size + 3] = _serialised(catalog)
    attacked = _classic_update(licence, objects, root=size + 3)
    _shows_change(_verify(attacked, policy), "PAGE_CONTENT_CHANGED_AFTER_SIGNING")


def test_isa_catalog_redefined_with_another_page_tree(licence, policy) -> None:
    """The catalog keeps its object number; its /Pages now points at a different tree."""
    reader = PdfFileReader(BytesIO(licence))
    size, root_number = int(reader.trailer["/Size"]), reader.trailer.raw_get("/Root").idnum
    objects, catalog = _new_tree(licence, size)
    objects[root_number] = _serialised(catalog)
    attacked = _classic_update(licence, objects)
    _shows_change(_verify(attacked, policy), "PAGE_CONTENT_CHANGED_AFTER_SIGNING")


def test_isa_signature_widget_moved_in_an_update(licence, policy) -> None:
    """The seal's widget is redefined with its /Rect over the document's title: the seal now appears
    to sit elsewhere (and no longer where it was signed)."""

    def move(writer: IncrementalPdfFileWriter) -> None:
        ref = _seal_field_ref(writer)
        widget = ref.get_object()
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
        dx, dy = 150.0 - x1, 700.0 - y1
        widget["/Rect"] = generic.ArrayObject(
            generic.FloatObject(v) for v in (x1 + dx, y1 + dy, x2 + dx, y2 + dy)
        )
        writer.mark_update(ref)

    attacked = _update(licence, move)
    result = _shows_change(_verify(attacked, policy), "MODIFIED_AFTER_SIGNING", "VISUAL_CHANGE_AFTER_SIGNING")
    assert result.checks.integrity == "ok"


# -- SWA: signature wrapping ----------------------------------------------------------------------------


def _set_byte_range(pdf: bytes, s: Signed, c: int) -> bytes:
    return _same_length(pdf, *s.byte_range_span, b"/ByteRange [0 %d %d %d]" % (s.b, c, s.d))


def _wrapped(pdf: bytes, *, copy_at_end: bool) -> bytes:
    """Signature wrapping: the second signed range is moved to a later offset ``c'`` and the
    signature dictionary's (unsigned, since it is now in the gap) /ByteRange says [0 b c' d]; the gap
    holds a defaced content stream and the cross-reference table the parser will follow.

    ``copy_at_end``: the signed ``startxref`` (inside the moved copy, still the last one in the file)
    is reused — the malicious table is written exactly where it points. Otherwise the copy sits in the
    middle and the attacker's own table, trailer and ``startxref`` follow it.
    """
    s = Signed.of(pdf)
    signed_startxref = _startxref(pdf)
    reader = PdfFileReader(BytesIO(pdf))
    last = reader.xrefs.total_revisions - 1
    kept = {
        n: off
        for n, (_, off) in reader.xrefs.get_xref_data(last).standard_xrefs.items()
        if off < signed_startxref
    }
    trailer = b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\n" % (
        int(reader.trailer["/Size"]),
        reader.trailer.raw_get("/Root").idnum,
        reader.xrefs.get_startxref_for_revision(last - 1),
    )
    _, contents, data = _page_objects(pdf)
    evil = b"%d 0 obj\n%s\nendobj\n" % (contents, _raw_stream(data + ERASE))
    second = pdf[s.c : s.c + s.d]
    table_size = len(_xref_table({**kept, contents: 0}))  # fixed-width entries: the size is known first
    if copy_at_end:
        head = pdf[:signed_startxref]
        evil_at = len(head) + table_size + len(trailer)
        gap = _xref_table({**kept, contents: evil_at}) + trailer + evil
        moved_to = len(head) + len(gap)
        return _set_byte_range(head, s, moved_to) + gap + second
    head = pdf[:signed_startxref] + b"\n"
    moved_to = len(head)
    evil_at = moved_to + len(second)
    table_at = evil_at + len(evil)
    tail = evil + _xref_table({**kept, contents: evil_at}) + trailer + b"startxref\n%d\n%%%%EOF\n" % table_at
    return _set_byte_range(head, s, moved_to) + second + tail


@pytest.mark.parametrize("copy_at_end", [True, False], ids=["signed_startxref_reused", "copy_mid_file"])
def test_swa_second_range_moved_behind_a_gap_with_malicious_objects(licence, policy, copy_at_end) -> None:
    """The digest still matches and the parser sees the defaced page; the gap is not just /Contents."""
    wrapped = _wrapped(licence, copy_at_end=copy_at_end)
    s = Signed.of(licence)
    moved = int(_BYTE_RANGE.findall(wrapped)[0][2])  # the forged one; the signed original is in the copy
    # a real wrapping: the bytes the forged ByteRange names hash exactly as the signed ones did
    assert s.digest(wrapped, moved) == s.digest(licence)
    assert moved + s.d == len(wrapped) if copy_at_end else moved + s.d < len(wrapped)
    # and a live one: a parser following the file's pointers gets the defaced page
    assert PdfFileReader(BytesIO(wrapped)).root["/Pages"]["/Kids"][0]["/Contents"].data.endswith(ERASE)
    result = _shows_change(_verify(wrapped, policy), "BYTERANGE_INVALID")
    assert result.checks.integrity == "broken"


SWA_BYTE_RANGES: dict[str, Callable[[Signed], tuple[int, int, int]]] = {
    "ranges_overlap": lambda s: (s.b + 100, s.b + 50, s.d),
    "gap_larger_than_contents": lambda s: (s.b - 20, s.c, s.d),
    "gap_smaller_than_contents": lambda s: (s.b + 2, s.c - 2, s.d),
    "second_range_short_of_eof": lambda s: (s.b, s.c, s.d - 100),
    "second_range_beyond_eof": lambda s: (s.b, s.c, s.d + 100),
}


@pytest.mark.parametrize("attack", sorted(SWA_BYTE_RANGES))
def test_swa_byte_range_edited_in_place_never_passes(licence, policy, attack) -> None:
    """The ByteRange numbers themselves bent (overlap, a gap wider or narrower than /Contents, a second
    range short of or past the end of the file): a sanity failure or a digest mismatch, never a pass."""
    s = Signed.of(licence)
    b, c, d = SWA_BYTE_RANGES[attack](s)
    forged = _same_length(licence, *s.byte_range_span, b"/ByteRange [0 %d %d %d]" % (b, c, d))
    result = _never_passes(_verify(forged, policy))
    assert result is not None
    assert {"BYTERANGE_INVALID", "COVERAGE_PARTIAL", "DIGEST_MISMATCH"} & set(result.findings), (
        result.findings
    )


# -- shadow attacks (beyond tests/test_modifications.py) -----------------------------------------------


def _redefine(writer: IncrementalPdfFileWriter, ref: generic.IndirectObject, obj: generic.PdfObject) -> None:
    """Write ``obj`` under ``ref``'s object number: the shadow "replace" primitive."""
    writer.objects[(ref.generation, ref.idnum)] = obj


def _restream(old: generic.StreamObject, data: bytes) -> generic.StreamObject:
    """A stream with ``old``'s dictionary and new (unfiltered) data."""
    entries = {k: old.raw_get(k) for k in old if k not in ("/Length", "/Filter", "/DecodeParms")}
    return generic.StreamObject(entries, stream_data=data)


def _copy(old: generic.DictionaryObject, **changes: generic.PdfObject) -> generic.DictionaryObject:
    new = generic.DictionaryObject({k: old.raw_get(k) for k in old})
    for key, value in changes.items():
        new[generic.NameObject(f"/{key}")] = value
    return new


def _resources(writer) -> tuple[generic.DictionaryObject, generic.IndirectObject]:
    page, _ = _page(writer)
    ref = page.raw_get("/Resources")
    return ref.get_object(), ref


def _overlay_via_rewritten_resources(writer) -> None:
    """/Resources (an indirect object the page already used) redefined: /X1 is now a new overlay."""
    resources, ref = _resources(writer)
    x1 = resources["/XObject"]["/X1"]
    fake = _restream(x1, b"BT /F1 12 Tf 0 20 Td (Issued by Nobody) Tj 0 -20 Td (Fee: 0 yuan) Tj ET")
    xobjects = generic.DictionaryObject({"/X1": writer.add_object(fake)})
    _redefine(writer, ref, _copy(resources, XObject=xobjects))


def _nested_overlay_redefined(writer) -> None:
    """X2, drawn only from inside X1, redefined under its own number."""
    resources, _ = _resources(writer)
    x2_ref = resources["/XObject"]["/X1"]["/Resources"]["/XObject"].raw_get("/X2")
    _redefine(writer, x2_ref, _restream(x2_ref.get_object(), OVERLAY_X2.replace(b"100", b"900")))


def _font_reencoded(writer) -> None:
    """The page's font redefined with an /Encoding whose /Differences draw 0 and 1 as 9."""
    resources, _ = _resources(writer)
    font_ref = resources["/Font"].raw_get("/F1")
    encoding = generic.DictionaryObject(
        {
            "/Type": generic.NameObject("/Encoding"),
            "/BaseEncoding": generic.NameObject("/WinAnsiEncoding"),
            "/Differences": generic.ArrayObject(
                [generic.NumberObject(48), generic.NameObject("/nine"), generic.NameObject("/nine")]
            ),
        }
    )
    _redefine(writer, font_ref, _copy(font_ref.get_object(), Encoding=encoding))


def _planted_font_swapped_in(writer) -> None:
    """/F1 now names the font planted (unused) in the signed revision: hide-and-replace by font."""
    resources, ref = _resources(writer)
    fonts = generic.DictionaryObject({"/F1": writer.root.raw_get("/EsignPlantedFont")})
    _redefine(writer, ref, _copy(resources, Font=fonts))


def _layers(writer, on: tuple[int, ...], off: tuple[int, ...], base_state: str | None = None):
    ocprops = writer.root["/OCProperties"]
    ocgs = ocprops["/OCGs"]
    config = generic.DictionaryObject(
        {
            "/ON": generic.ArrayObject(ocgs.raw_get(i) for i in on),
            "/OFF": generic.ArrayObject(ocgs.raw_get(i) for i in off),
            "/Order": generic.ArrayObject(ocgs.raw_get(i) for i in range(len(ocgs))),
        }
    )
    if base_state:
        config["/BaseState"] = generic.NameObject(base_state)
    return _copy(ocprops, D=config)


def _visible_layer_hidden(writer) -> None:
    """/OCProperties (an indirect object) redefined in place, the catalog untouched: layer A is off."""
    _redefine(writer, writer.root.raw_get("/OCProperties"), _layers(writer, on=(), off=(0, 1)))


def _layers_swapped(writer) -> None:
    """Layer A (100 yuan) off, layer B (900 yuan, hidden at signing) on, in one redefinition."""
    _redefine(writer, writer.root.raw_get("/OCProperties"), _layers(writer, on=(1,), off=(0,)))


def _catalog_names_new_ocproperties(writer) -> None:
    """The catalog rewritten to point at fresh /OCProperties whose /BaseState is OFF, B alone on."""
    fresh = _layers(writer, on=(1,), off=(), base_state="/OFF")
    writer.root["/OCProperties"] = writer.add_object(fresh)
    writer.update_root()


def _membership_policy_redefined(writer) -> None:
    """The /OCMD the page uses redefined with /P /AllOff: what it governed disappears."""
    resources, _ = _resources(writer)
    md_ref = resources["/Properties"].raw_get("/md1")
    _redefine(writer, md_ref, _copy(md_ref.get_object(), P=generic.NameObject("/AllOff")))


SHADOW_ATTACKS = {
    "overlay_via_rewritten_resources": _overlay_via_rewritten_resources,
    "nested_overlay_xobject_redefined": _nested_overlay_redefined,
    "font_reencoded_in_place": _font_reencoded,
    "planted_font_swapped_in": _planted_font_swapped_in,
    "visible_layer_hidden": _visible_layer_hidden,
    "layers_swapped": _layers_swapped,
    "catalog_names_new_ocproperties": _catalog_names_new_ocproperties,
    "ocmd_policy_redefined": _membership_policy_redefined,
}


@pytest.mark.parametrize("attack", sorted(SHADOW_ATTACKS))
def test_shadow_attack_is_flagged_as_shadow(shadow, policy, attack) -> None:
    attacked = _update(shadow, SHADOW_ATTACKS[attack])
    result = _shows_change(_verify(attacked, policy), "SHADOW_ATTACK_SUSPECTED")
    assert result.checks.integrity == "ok" and result.checks.crypto == "ok"


# -- certification attacks: EAA and SSA ----------------------------------------------------------------


def _helvetica() -> generic.DictionaryObject:
    font = generic.DictionaryObject(
        {
            "/Type": generic.NameObject("/Font"),
            "/Subtype": generic.NameObject("/Type1"),
            "/BaseFont": generic.NameObject("/Helvetica"),
        }
    )
    return generic.DictionaryObject({"/Font": generic.DictionaryObject({"/Helv": font})})


def _annotate(
    subtype: str, rect: tuple[float, float, float, float], extra: dict[str, generic.PdfObject]
) -> Callable[[IncrementalPdfFileWriter], None]:
    """An update adding one annotation to page 1 with an opaque appearance (white box, new text)."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        page, page_ref = _page(writer)
        width, height = rect[2] - rect[0], rect[3] - rect[1]
        box = generic.ArrayObject(generic.FloatObject(v) for v in (0, 0, width, height))
        appearance = _stream(
            COVER, Type=generic.NameObject("/XObject"), Subtype=generic.NameObject("/Form"), BBox=box
        )
        appearance["/Resources"] = _helvetica()
        annot = generic.DictionaryObject(
            {
                "/Type": generic.NameObject("/Annot"),
                "/Subtype": generic.NameObject(subtype),
                "/Rect": generic.ArrayObject(generic.FloatObject(v) for v in rect),
                "/F": generic.NumberObject(4),
                "/P": page_ref,
                "/AP": generic.DictionaryObject({"/N": writer.add_object(appearance)}),
                **extra,
            }
        )
        annot_ref = writer.add_object(annot)
        annots = page["/Annots"]
        annots.append(annot_ref)
        if annots.container_ref is not None:
            writer.update_container(annots)
        writer.mark_update(page_ref)
        if subtype == "/Widget":
            fields = writer.root["/AcroForm"]["/Fields"]
            fields.append(annot_ref)
            writer.update_container(fields)
            writer.update_root()

    return change


EVIL_ANNOTATIONS = {
    "FreeText": {
        "/Contents": generic.TextStringObject("APPROVED - FEE WAIVED"),
        "/DA": generic.TextStringObject("/Helv 14 Tf 0 g"),
    },
    "Stamp": {"/Name": generic.NameObject("/Approved")},
    "Redact": {"/OverlayText": generic.TextStringObject("APPROVED")},
}


@pytest.mark.parametrize("subtype", sorted(EVIL_ANNOTATIONS))
@pytest.mark.parametrize("level", ["P1", "P2", "P3"])
def test_eaa_evil_annotation_over_content_of_a_certified_document(certified, policy, level, subtype) -> None:
    """EAA: FreeText, Stamp or Redact covering the title. P1/P2 forbid any annotation (DocMDP); P3
    allows comments, but these draw over signed ink — never a comment a person could overlook."""
    attacked = _update(certified[level], _annotate(f"/{subtype}", TITLE_RECT, EVIL_ANNOTATIONS[subtype]))
    expected = {"ANNOTATION_ADDED_OVER_CONTENT"} | ({"DOCMDP_VIOLATION"} if level != "P3" else set())
    result = _shows_change(_verify(attacked, policy), *expected)
    assert "FORM_FILLED_AFTER_SIGNING" not in result.findings  # no field was filled: say what happened


@pytest.mark.parametrize("level", ["P2", "P3"])
def test_eaa_free_text_on_blank_paper_of_a_certified_document(certified, policy, level) -> None:
    """EAA without covering anything: new text on blank paper still changes what the document says."""
    margin = (300.0, 120.0, 520.0, 160.0)
    attacked = _update(certified[level], _annotate("/FreeText", margin, EVIL_ANNOTATIONS["FreeText"]))
    expected = "DOCMDP_VIOLATION" if level == "P2" else "VISUAL_CHANGE_AFTER_SIGNING"
    _shows_change(_verify(attacked, policy), expected)


@pytest.mark.parametrize("level", ["P1", "P2", "P3"])
def test_ssa_unsigned_signature_field_drawing_over_content(certified, policy, level) -> None:
    """SSA: a new signature field whose widget appearance hides the title. Adding a signature field is
    allowed from P2 up; erasing signed ink with its appearance is not."""
    field = {"/FT": generic.NameObject("/Sig"), "/T": generic.TextStringObject("Sneaky")}
    sneaky = _annotate("/Widget", TITLE_RECT, field)
    attacked = _update(certified[level], sneaky)
    expected = {"ANNOTATION_ADDED_OVER_CONTENT"} | ({"DOCMDP_VIOLATION"} if level == "P1" else set())
    result = _shows_change(_verify(attacked, policy), *expected)
    assert "FORM_FILLED_AFTER_SIGNING" not in result.findings


#: an opaque appearance background the attacker chooses, to erase the signed title under it
_WHITE_BOX = RawContent(b"1 g 0 0 220 40 re f", box=BoxConstraints(220, 40))


def test_ssa_signed_by_another_trusted_agency_over_the_title(certified, policy, pki) -> None:
    """SSA with a real signature: agency B, trusted, seals the P2-certified form with an appearance
    that covers the title. Agency B's own signature may well be valid; the certification must not be."""
    agency_b = load_pkcs12(pki.pkcs12("agency-b", b"b"), b"b")
    # esign's sealer refuses a new visible seal on a certified document; an attacker's tool does not
    sneaky = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Sneaky"),
        agency_b,
        new_field_spec=SigFieldSpec("Sneaky", on_page=0, box=TITLE_RECT),
        stamp_style=TextStampStyle(
            stamp_text="APPROVED - FEE WAIVED", background=_WHITE_BOX, background_opacity=1
        ),
    )
    attacked = sneaky.sign_pdf(IncrementalPdfFileWriter(BytesIO(certified["P2"]))).getvalue()
    report = _verify(attacked, policy)
    assert isinstance(report, Report) and len(report.signatures) == 2
    certification = report.signatures[0]
    _shows_change(report, "ANNOTATION_ADDED_OVER_CONTENT", field=certification.field)
