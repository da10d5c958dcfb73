"""Seal a PDF the Chinese way: SM2 + SM3 CMS (style 2) or a GB/T 38540 ``SES_Signature`` (style 3).

Both go through the same PDF machinery as RSA seals (style 1), so placement, keyword anchoring,
appearance and incremental saving behave identically:

* style 2 is :func:`esign.seal.pades.aseal` with an :class:`~esign.gm.cms_signer.SM2Signer` and SM3 as the
  digest — pyHanko writes the CMS, the signer only supplies SM2 signature values;
* style 3 lets pyHanko lay out the signature dictionary and reserve ``/Contents`` (SubFilter
  ``adbe.pkcs7.detached``, as deployed systems write it), hashes the ByteRange with SM3, and fills the
  hole with an ``SES_Signature`` instead of CMS: ``dataHash`` is that SM3 digest and ``propertyInfo``
  records the ByteRange. The visible seal is the picture inside the seal (``.esl``), so what the page
  shows is what the seal maker signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from io import BytesIO

from asn1crypto import cms, core, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathError, RevokedError, ValidationError
from pyhanko_certvalidator.path import ValidationPath

from esign.errors import ErrorCode, EsignError
from esign.gm import certs, ses, ses_make, sm2
from esign.gm.checks import find_certificate
from esign.gm.cms_signer import SM2Signer
from esign.gm.property_info import byte_range_property
from esign.pdf.open import open_for_update
from esign.seal.image import SealImage, seal_from_png
from esign.seal.pades import (
    Certification,
    Invisible,
    Level,
    SealImageLike,
    SealOptions,
    SM2Format,
    aseal,
    check_timestamper,
    prepare_field,
)
from esign.seal.signers import check_signing_certificate
from esign.sync_bridge import run_sync

__all__ = ["aseal_ses", "aseal_sm2_cms", "aseal_with", "seal_picture", "seal_ses", "seal_sm2_cms"]

#: the SM3 name pyHanko (and pyca) know; the SignerInfo then carries 1.2.156.10197.1.401
SM3 = "sm3"
#: room for the SES_Signature around the seal and the signer certificate (signature, times, OIDs)
_SES_OVERHEAD = 1024
#: picture types this module can draw as the visible seal (GB/T 38540 names them in upper case)
_DRAWABLE_PICTURES = frozenset({"PNG"})
#: room for a timestamp token in an SES_Signature (TSA certificate chain included)
_TOKEN_RESERVE = 12_000
#: an invisible B-B approval seal, as for RSA seals
_DEFAULTS = SealOptions()


async def aseal_with(
    pdf: bytes,
    signer: signers.Signer,
    options: SealOptions = _DEFAULTS,
    *,
    image: SealImageLike | None = None,
    timestamper: TimeStamper | None = None,
    ses_seal: ses.SESeal | None = None,
) -> bytes:
    """Seal with whatever key ``signer`` holds: the one entry point of every door (CLI, batch, HTTP).

    RSA/ECDSA keys make PAdES CMS (:func:`esign.seal.pades.aseal`). An SM2 key makes what
    ``options.sm2_format`` says: a GB/T 38540 seal signature with ``ses_seal`` (the electronic seal
    the seal maker issued for this key; the visible seal is its picture), or SM2 CMS with ``image``.
    """
    if not isinstance(signer, SM2Signer):
        return await aseal(pdf, signer, options, image=image, timestamper=timestamper)
    if options.sm2_format is SM2Format.CMS:
        return await aseal_sm2_cms(pdf, signer, options, image=image, timestamper=timestamper)
    if ses_seal is None:
        raise EsignError(ErrorCode.SEAL_MAKER_MISSING)
    if signer.signing_cert.dump() not in ses_seal["e_seal_info"]["property"].certificates():
        raise EsignError(ErrorCode.ESL_NOT_FOR_SIGNER)
    context = _own_root_context(signer) if options.level.embeds_validation_data else None
    return await aseal_ses(
        pdf,
        ses_seal,
        signer.key,
        signer.signing_cert,
        options,
        timestamper=timestamper,
        validation_context=context,
        chain=list(signer.cert_registry),
    )


async def aseal_sm2_cms(
    pdf: bytes,
    signer: SM2Signer,
    options: SealOptions = _DEFAULTS,
    *,
    image: SealImageLike | None = None,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
) -> bytes:
    """Style 2: a PAdES (``ETSI.CAdES.detached``) seal whose SignerInfo is SM3 + SM2, at any level.

    B-T adds a signature timestamp (imprint SM3 of the signature value) from ``timestamper``; B-LT and
    B-LTA embed the chain's certificates and revocation data in the DSS (and B-LTA a document
    timestamp over it), judged by ``validation_context`` — which must check SM2 signatures
    (:func:`esign.gm.certs.validation_context`). Without one, a context trusting the signer's own
    root and fetching revocation data from the URLs in the certificates is built.
    """
    if options.level.embeds_validation_data and validation_context is None:
        validation_context = _own_root_context(signer)
    return await aseal(
        pdf,
        signer,
        replace(options, md_algorithm=SM3),
        image=image,
        timestamper=timestamper,
        validation_context=validation_context,
    )


def seal_sm2_cms(
    pdf: bytes,
    signer: SM2Signer,
    options: SealOptions = _DEFAULTS,
    *,
    image: SealImageLike | None = None,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
) -> bytes:
    """Synchronous :func:`aseal_sm2_cms`."""
    return run_sync(
        aseal_sm2_cms(
            pdf, signer, options, image=image, timestamper=timestamper, validation_context=validation_context
        )
    )


async def aseal_ses(
    pdf: bytes,
    seal: ses.SESeal,
    signer_key: sm2.SM2PrivateKey,
    signer_cert: x509.Certificate,
    options: SealOptions = _DEFAULTS,
    *,
    signing_time: datetime | None = None,
    distinguishing_id: bytes = sm2.DEFAULT_ID,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """Style 3: ``seal`` (a version-4 ``SESeal``) applied by the holder of ``signer_cert``.

    ``options.placement`` places the seal's own picture; ``certification`` must be none (an
    ``SES_Signature`` has no place for DocMDP). From B-T the token from ``timestamper`` (imprint: SM3
    of the signature value, GB/T 38540 §7.3) goes into ``SES_Signature.timeStamp``; an
    ``SES_Signature`` carries only end-entity certificates, so at B-T the signer's issuers
    (``chain``) and the TSA's certificates go into a DSS, for verifiers to build the paths. B-LT appends a
    DSS with the chains of the signer, the seal maker and the TSA and their revocation data, as
    ``validation_context`` (SM2-capable, :func:`esign.gm.certs.validation_context`) finds them;
    B-LTA then a document timestamp from ``timestamper`` over all of it.
    """
    _check_ses_options(options, timestamper, validation_context)
    check_signing_certificate(signer_cert)
    image = None if isinstance(options.placement, Invisible) else seal_picture(seal)
    writer = open_for_update(pdf)
    field_name, new_field, style = prepare_field(pdf, writer, options, image)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=SM3,
        subfilter=SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
        reason=options.reason,
        location=options.location,
    )
    # The signer is only consulted for its certificate (appearance text, field metadata); the
    # signature itself is the SES_Signature made below.
    pdf_signer = signers.PdfSigner(
        meta, SM2Signer(signer_key, signer_cert), stamp_style=style, new_field_spec=new_field
    )
    token_room = _TOKEN_RESERVE if options.level.needs_tsa else 0
    reserved = 2 * (len(seal.dump()) + len(signer_cert.dump()) + _SES_OVERHEAD + token_room)
    try:
        session = pdf_signer.init_signing_session(writer)
        if signing_time is not None:
            session.system_time = signing_time  # the PDF's /M and the seal's timeInfo say the same
        tbs_document = session.prepare_tbs_document(validation_info=None, bytes_reserved=reserved)
        prepared, output = tbs_document.digest_tbs_document(output=BytesIO())
        end = output.seek(0, 2)
        byte_range = (
            0,
            prepared.reserved_region_start,
            prepared.reserved_region_end,
            end - prepared.reserved_region_end,
        )
        signature = ses_make.make_signature(
            seal,
            prepared.document_digest,
            byte_range_property(byte_range),
            signer_key,
            signer_cert,
            signing_time=session.system_time,
            distinguishing_id=distinguishing_id,
        )
        if timestamper is not None and options.level.needs_tsa:
            value = signature["signature"].native
            token = await timestamper.async_timestamp(sm2.sm3(value), SM3)
            signature["time_stamp"] = core.OctetBitString(token.dump())
        prepared.fill_reserved_region(output, signature.dump())
    except SigningError as exc:
        raise EsignError(ErrorCode.SIGNING_FAILED, detail=str(exc)[:200]) from exc
    contents = output.getvalue()[prepared.reserved_region_start + 1 : prepared.reserved_region_end - 1]
    if options.level is Level.B_T:
        return _with_dss(output.getvalue(), contents, certs=[*chain, *_token_certificates(signature)])
    if validation_context is None or not options.level.embeds_validation_data:
        return output.getvalue()
    try:
        sealed = await _with_validation_data(
            output.getvalue(), contents, signature, signer_cert, validation_context
        )
        if options.level is Level.B_LTA and timestamper is not None:
            sealed = await _with_document_timestamp(sealed, timestamper, validation_context)
    except RevokedError as exc:
        raise EsignError(ErrorCode.CERT_REVOKED) from exc
    except (PathError, ValidationError) as exc:  # no chain to the anchors, no revocation data
        raise EsignError(
            ErrorCode.REVOCATION_UNAVAILABLE, detail=f"{type(exc).__name__}: {exc}"[:200]
        ) from exc
    finally:
        await validation_context.aclose()
    return sealed


def _token_certificates(signature: ses.SESSignature) -> list[x509.Certificate]:
    token = cms.ContentInfo.load(signature["time_stamp"].native)["content"]
    return [c.chosen for c in token["certificates"] or () if c.name == "certificate"]


def _with_dss(sealed: bytes, contents_hex: bytes, **material: object) -> bytes:
    """``sealed`` plus an incremental update adding ``material`` (certs, CRLs, paths, …) to the DSS,
    with a VRI entry for the signature whose /Contents is ``contents_hex``."""
    writer = IncrementalPdfFileWriter(BytesIO(sealed))
    DocumentSecurityStore.supply_dss_in_writer(writer, contents_hex, **material)  # type: ignore[arg-type]
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


async def _with_validation_data(
    sealed: bytes,
    contents_hex: bytes,
    signature: ses.SESSignature,
    signer_cert: x509.Certificate,
    context: ValidationContext,
) -> bytes:
    """B-LT for a seal signature: the DSS (and a VRI entry for it) with every certificate a verifier
    must validate — the signer's, the seal maker's and the TSA's — their chains and the revocation
    data found while validating them now (which fails with a typed error when the signer is revoked)."""
    maker = x509.Certificate.load(ses.seal_maker_signature(signature["to_sign"]["eseal"])[0])
    token = cms.ContentInfo.load(signature["time_stamp"].native)["content"]
    token_certs = _token_certificates(signature)
    tsa = find_certificate(token, token["signer_infos"][0]["sid"])
    paths: list[ValidationPath] = []
    for cert in (signer_cert, maker, *([tsa] if tsa is not None else [])):
        validator = CertificateValidator(cert, intermediate_certs=token_certs, validation_context=context)
        paths.append(await validator.async_validate_usage(set()))
    return _with_dss(sealed, contents_hex, paths=paths, validation_context=context)


async def _with_document_timestamp(
    sealed: bytes, timestamper: TimeStamper, context: ValidationContext
) -> bytes:
    """B-LTA: a document timestamp (SM3 imprint) over the document and its DSS; pyHanko adds the TSA's
    validation data to the DSS as well."""
    out = BytesIO()
    await signers.PdfTimeStamper(timestamper).async_timestamp_pdf(
        IncrementalPdfFileWriter(BytesIO(sealed)), SM3, validation_context=context, output=out
    )
    return out.getvalue()


def seal_ses(
    pdf: bytes,
    seal: ses.SESeal,
    signer_key: sm2.SM2PrivateKey,
    signer_cert: x509.Certificate,
    options: SealOptions = _DEFAULTS,
    *,
    signing_time: datetime | None = None,
    distinguishing_id: bytes = sm2.DEFAULT_ID,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """Synchronous :func:`aseal_ses`."""
    return run_sync(
        aseal_ses(
            pdf,
            seal,
            signer_key,
            signer_cert,
            options,
            signing_time=signing_time,
            distinguishing_id=distinguishing_id,
            timestamper=timestamper,
            validation_context=validation_context,
            chain=chain,
        )
    )


def seal_picture(seal: ses.AnySeal) -> SealImage:
    """The seal's own picture at its own size (mm), as the one-page PDF the appearance code places."""
    picture = seal["e_seal_info"]["picture"]
    kind = str(picture["type"].native).upper()
    if kind not in _DRAWABLE_PICTURES:
        raise EsignError(
            ErrorCode.BAD_IMAGE, detail=f"a {kind} seal picture cannot be drawn; seal invisibly instead"
        )
    return seal_from_png(picture["data"].native, picture["width"].native, picture["height"].native)


def _own_root_context(signer: SM2Signer) -> ValidationContext:
    """What B-LT validates against when the caller gives nothing: the signer's own root (its chain as
    path material), revocation data fetched from the URLs in the certificates."""
    registry = list(signer.cert_registry)
    roots = [c for c in registry if c.self_signed != "no"]
    return certs.validation_context(roots, other_certs=registry, allow_fetching=True)


def _check_ses_options(
    options: SealOptions, timestamper: TimeStamper | None, validation_context: ValidationContext | None
) -> None:
    check_timestamper(options.level, timestamper)
    if options.level.embeds_validation_data and validation_context is None:
        raise EsignError(
            ErrorCode.BAD_OPTION,
            detail=f"{options.level} needs a validation context (where revocation data comes from)",
        )
    if options.certification is not Certification.NONE:
        raise EsignError(ErrorCode.BAD_OPTION, detail="a GB/T 38540 seal signature cannot certify (DocMDP)")
