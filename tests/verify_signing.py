"""Signed test documents for the verify tests, made directly with pyHanko and the test PKI."""

from __future__ import annotations

import asyncio
import urllib.request
from io import BytesIO

from asn1crypto import crl, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.policy import ValidationPolicy
from fixtures.pki import TestPKI


def blank_pdf(text: str = "esign verify test") -> bytes:
    """A one-page PDF built with pyHanko's writer, so these tests need no other fixture module."""
    writer = PdfFileWriter()
    font = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
            generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {
            generic.pdf_name("/Font"): generic.DictionaryObject(
                {generic.pdf_name("/F1"): writer.add_object(font)}
            )
        }
    )
    content = generic.StreamObject(stream_data=f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode())
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 612, 792))),
            generic.pdf_name("/Resources"): resources,
            generic.pdf_name("/Contents"): writer.add_object(content),
        }
    )
    writer.insert_page(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def signer_for(pki: TestPKI, label: str) -> signers.SimpleSigner:
    return signers.SimpleSigner(
        signing_cert=pki.cert(label),
        signing_key=pki.key(label),
        cert_registry=SimpleCertificateStore.from_certs(pki.chain(label)),
    )


def sign(
    pdf: bytes,
    pki: TestPKI,
    label: str = "agency-a",
    *,
    field: str = "Seal1",
    timestamp: bool = False,
    embed_revocation: bool = False,
    subfilter: fields.SigSeedSubFilter = fields.SigSeedSubFilter.PADES,
    md_algorithm: str = "sha256",
    reserve: int = 16384,
) -> bytes:
    """Sign ``pdf`` incrementally; B-T with ``timestamp``, B-LT with ``embed_revocation`` too."""
    from pyhanko_certvalidator import ValidationContext

    meta = signers.PdfSignatureMetadata(
        field_name=field,
        subfilter=subfilter,
        md_algorithm=md_algorithm,
        embed_validation_info=embed_revocation,
        validation_context=ValidationContext(trust_roots=[pki.root], allow_fetching=True)
        if embed_revocation
        else None,
    )
    stamper = timestamps.HTTPTimeStamper(pki.tsa_url) if timestamp else None
    pdf_signer = signers.PdfSigner(meta, signer=signer_for(pki, label), timestamper=stamper)
    out = BytesIO()
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    asyncio.run(pdf_signer.async_sign_pdf(writer, output=out, bytes_reserved=reserve))
    return out.getvalue()


def doc_timestamp(pdf: bytes, pki: TestPKI) -> bytes:
    out = BytesIO()
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    ts = signers.PdfTimeStamper(timestamps.HTTPTimeStamper(pki.tsa_url))
    asyncio.run(ts.async_timestamp_pdf(writer, md_algorithm="sha256", output=out))
    return out.getvalue()


def trusted(
    pki: TestPKI, name: str = "default", roots: tuple[x509.Certificate, ...] | None = None
) -> ValidationPolicy:
    return ValidationPolicy.preset(name, trust_roots=roots if roots is not None else (pki.root,))


def with_crls_in_dss(pdf: bytes, pki: TestPKI, label: str) -> bytes:
    """Add the CRLs of ``label``'s chain to the DSS as B-LT would (pyHanko refuses for revoked certs)."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    crls = []
    for cert in pki.chain(label)[:-1]:
        for point in cert.crl_distribution_points or ():
            with urllib.request.urlopen(point["distribution_point"].native[0], timeout=10) as response:
                crls.append(crl.CertificateList.load(response.read()))
    out = BytesIO(pdf)
    DocumentSecurityStore.add_dss(out, None, crls=crls, certs=pki.chain(label), strict=False)
    return out.getvalue()
