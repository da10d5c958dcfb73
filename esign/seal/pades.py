"""Apply an electronic seal to a PDF: PAdES baseline B-B … B-LTA, approval or certification.

The core takes bytes and returns bytes. Everything slow or stateful — the signer (software key or
HSM session), the time-stamping client, the validation context used to gather revocation data —
is passed in by the caller, who reuses them across documents; that is what makes batches fast.

Sealing always appends an incremental update, so a document sealed by several agencies keeps
every earlier signature valid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from io import BytesIO
from typing import Protocol

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import read_certification_data
from pyhanko.stamp import BaseStampStyle, StaticStampStyle, TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, RevokedError

from esign.errors import ErrorCode, EsignError
from esign.pdf.open import PARSER_CRASHES, open_for_update
from esign.seal.appearance import (
    AtKeyword,
    AtPosition,
    CrossPage,
    Invisible,
    Placement,
    SealPdfContent,
    add_cross_page_strips,
    resolve_rect,
)
from esign.seal.placement import AvoidAnnotations, clear_of_annotations
from esign.seal.signers import check_signing_certificate
from esign.sync_bridge import run_sync

__all__ = [
    "AtKeyword",
    "AtPosition",
    "AvoidAnnotations",
    "Certification",
    "CrossPage",
    "Invisible",
    "Level",
    "SM2Format",
    "SealImageLike",
    "SealOptions",
    "aseal",
    "check_timestamper",
    "prepare_field",
    "seal",
    "validation_context_for",
]


class SM2Format(StrEnum):
    """What an SM2 key makes (RSA and ECDSA keys always make PAdES CMS)."""

    SES = "ses"  #: GB/T 38540 ``SES_Signature`` in ``/Contents`` (what unified seal systems issue)
    CMS = "cms"  #: SM2/SM3 PKCS#7 (GM/T 0010) in ``/Contents``


class Level(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1)."""

    B_B = "B-B"  #: signature only
    B_T = "B-T"  #: + signature timestamp from a TSA
    B_LT = "B-LT"  #: + certificates and revocation data in the document security store
    B_LTA = "B-LTA"  #: + a document timestamp over all of it

    @property
    def needs_tsa(self) -> bool:
        return self is not Level.B_B

    @property
    def embeds_validation_data(self) -> bool:
        return self in (Level.B_LT, Level.B_LTA)


class Certification(StrEnum):
    """Approval seal (``none``) or certification seal with the DocMDP level it allows afterwards."""

    NONE = "none"
    NO_CHANGES = "no-changes"
    FORM_FILLING = "form-filling"
    ANNOTATIONS = "annotations"

    @property
    def mdp(self) -> MDPPerm | None:
        return {
            Certification.NO_CHANGES: MDPPerm.NO_CHANGES,
            Certification.FORM_FILLING: MDPPerm.FILL_FORMS,
            Certification.ANNOTATIONS: MDPPerm.ANNOTATE,
        }.get(self)


class SealImageLike(Protocol):
    """What the core needs of a seal picture (``esign.seal.image.SealImage`` fits)."""

    @property
    def pdf(self) -> bytes: ...
    @property
    def width_mm(self) -> float: ...
    @property
    def height_mm(self) -> float: ...


@dataclass(frozen=True)
class SealOptions:
    level: Level = Level.B_B
    certification: Certification = Certification.NONE
    placement: Placement = field(default_factory=Invisible)
    #: signature field name; None = the next free "Seal<n>"
    field_name: str | None = None
    reason: str | None = None
    location: str | None = None
    md_algorithm: str = "sha256"
    #: text drawn over the seal picture, e.g. "%(signer)s\n%(ts)s" (CJK font embedded); None = picture only
    appearance_text: str | None = None
    #: a visible seal over an existing annotation: refused with a free spot (default), or moved there
    avoid_annotations: AvoidAnnotations = AvoidAnnotations.REFUSE
    #: the format an SM2 key seals in; ignored for RSA/ECDSA keys
    sm2_format: SM2Format = SM2Format.SES


async def aseal(
    pdf: bytes,
    signer: signers.Signer,
    options: SealOptions = SealOptions(),
    *,
    image: SealImageLike | None = None,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
) -> bytes:
    """Seal ``pdf`` and return the sealed document.

    ``timestamper`` is required from B-T up. For B-LT/B-LTA, ``validation_context`` says where
    revocation data may be fetched from; without one, a context trusting the signer's own root and
    allowed to fetch from the URLs in the signer's certificates is built.
    """
    _check_options(options, image, timestamper)
    check_signing_certificate(signer.signing_cert)
    if options.level.embeds_validation_data and validation_context is None:
        validation_context = validation_context_for(signer)
    sign = functools.partial(_sign, pdf, signer, options, image, timestamper, validation_context)
    try:
        try:
            return await sign(_estimate_reserved(signer, options.level))
        except SigningError as exc:
            if _RESERVATION_TOO_SMALL not in str(exc):
                raise
            # An unusually large timestamp token or chain: let pyHanko measure with a trial signature.
            return await sign(None)
    except TimestampRequestError as exc:
        raise EsignError(ErrorCode.TSA_UNREACHABLE, detail=str(exc)) from exc
    except RevokedError as exc:
        raise EsignError(ErrorCode.CERT_REVOKED) from exc
    except PathValidationError as exc:
        raise EsignError(ErrorCode.REVOCATION_UNAVAILABLE, detail=type(exc).__name__) from exc
    except SigningError as exc:
        raise _signing_error(exc) from exc
    except PARSER_CRASHES as exc:
        # A structure pyHanko only trips over while signing (a page-tree cycle, a page that is
        # not there): the document is unusable, not our code broken.
        raise EsignError(ErrorCode.PDF_CORRUPT, detail=f"{type(exc).__name__}: {str(exc)[:160]}") from exc
    finally:
        if validation_context is not None:
            # the aiohttp session it opened for fetching belongs to this event loop: close it here, or
            # every B-LT/B-LTA seal ends with "ERROR asyncio: Unclosed client session"
            await validation_context.aclose()


#: pyHanko's message when the CMS blob outgrows the reserved /Contents
_RESERVATION_TOO_SMALL = "payload larger than expected"


async def _sign(
    pdf: bytes,
    signer: signers.Signer,
    options: SealOptions,
    image: SealImageLike | None,
    timestamper: TimeStamper | None,
    validation_context: ValidationContext | None,
    bytes_reserved: int | None,
) -> bytes:
    """One signing attempt on a fresh incremental writer (a failed attempt leaves nothing behind)."""
    writer = open_for_update(pdf)
    field_name, new_field, style = prepare_field(pdf, writer, options, image)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=options.md_algorithm,
        subfilter=SigSeedSubFilter.PADES,
        reason=options.reason,
        location=options.location,
        certify=options.certification is not Certification.NONE,
        docmdp_permissions=options.certification.mdp or MDPPerm.FILL_FORMS,
        embed_validation_info=options.level.embeds_validation_data,
        use_pades_lta=options.level is Level.B_LTA,
        validation_context=validation_context,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer,
        timestamper=timestamper if options.level.needs_tsa else None,
        stamp_style=style,
        new_field_spec=new_field,
    )
    out = await pdf_signer.async_sign_pdf(writer, bytes_reserved=bytes_reserved, output=BytesIO())
    return out.getvalue()


def seal(
    pdf: bytes,
    signer: signers.Signer,
    options: SealOptions = SealOptions(),
    *,
    image: SealImageLike | None = None,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
) -> bytes:
    """Synchronous :func:`aseal`, for scripts and the CLI (not for code already inside an event loop)."""
    return run_sync(
        aseal(
            pdf, signer, options, image=image, timestamper=timestamper, validation_context=validation_context
        )
    )


def check_timestamper(level: Level, timestamper: TimeStamper | None) -> None:
    """A level with a timestamp needs a time-stamping service (both seal formats)."""
    if level.needs_tsa and timestamper is None:
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"level {level} needs a time-stamping service (TSA)")


def _check_options(
    options: SealOptions, image: SealImageLike | None, timestamper: TimeStamper | None
) -> None:
    check_timestamper(options.level, timestamper)
    if not isinstance(options.placement, Invisible) and image is None:
        raise EsignError(ErrorCode.BAD_OPTION, detail="a visible seal needs a seal image")


def prepare_field(
    pdf: bytes, writer: IncrementalPdfFileWriter, options: SealOptions, image: SealImageLike | None
) -> tuple[str, SigFieldSpec | None, BaseStampStyle | None]:
    """The signature field's name, its spec and its stamp style, with cross-page strips already drawn.

    Shared by every signature format (PAdES here, SM2 and GB/T 38540 in ``esign.gm``), so a seal
    lands in the same place and looks the same whatever signs it.
    """
    field_name = options.field_name or _next_field_name(writer)
    return (field_name, *_prepare_appearance(pdf, writer, field_name, options, image))


def _next_field_name(writer: IncrementalPdfFileWriter) -> str:
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev, filled_status=None)}
    return next(f"Seal{n}" for n in range(1, len(taken) + 2) if f"Seal{n}" not in taken)


def _prepare_appearance(
    pdf: bytes,
    writer: IncrementalPdfFileWriter,
    field_name: str,
    options: SealOptions,
    image: SealImageLike | None,
) -> tuple[SigFieldSpec | None, BaseStampStyle | None]:
    """The new field (None = an existing one is filled) and its stamp style for the placement."""
    placement = options.placement
    if isinstance(placement, Invisible) or image is None:
        return SigFieldSpec(field_name), None
    size = (image.width_mm, image.height_mm)
    if isinstance(placement, CrossPage):
        if any(True for _ in fields.enumerate_sig_fields(writer.prev, filled_status=True)):
            # The strips change page content, which earlier signatures would rightly flag.
            raise EsignError(
                ErrorCode.BAD_PLACEMENT,
                detail="a cross-page seal must be applied before any other signature",
            )
        add_cross_page_strips(writer, image.pdf, size, placement)
        return SigFieldSpec(field_name), None
    assert isinstance(placement, AtPosition | AtKeyword)
    _check_certification_allows_widget(writer, field_name)
    rect = resolve_rect(pdf, writer.prev, placement, size)
    rect = clear_of_annotations(writer.prev, rect, options.avoid_annotations, field_name)
    spec = SigFieldSpec(field_name, on_page=rect.page_index, box=rect.box)
    background = SealPdfContent(image.pdf)
    if options.appearance_text is None:
        return spec, StaticStampStyle(background=background, border_width=0)
    return spec, _text_style(background, options.appearance_text)


def _check_certification_allows_widget(writer: IncrementalPdfFileWriter, field_name: str) -> None:
    """Refuse a new visible signature field on a certified document, before anything is written.

    After a certification at P2 or P3 a later seal may fill an existing signature field or add an
    invisible one; a new widget is a change the certification does not allow (pyHanko's diff policy
    and our verifier say DocMDP violation), so sealing would silently break the agency's
    certification seal. P1 allows nothing at all: pyHanko refuses it as DOCUMENT_LOCKED.
    """
    certification = read_certification_data(writer.prev)
    if certification is None or certification.permission is MDPPerm.NO_CHANGES:
        return
    empty = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev, filled_status=False)}
    if field_name not in empty:
        raise EsignError(ErrorCode.CERTIFIED_VISIBLE_SEAL)


def _text_style(background: SealPdfContent, text: str) -> TextStampStyle:
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.text import TextBoxStyle

    from esign.pdf.fonts import cjk_font_otf

    font = GlyphAccumulatorFactory(str(cjk_font_otf(serif=False)), font_size=8)
    return TextStampStyle(
        stamp_text=text,
        text_box_style=TextBoxStyle(font=font),
        background=background,
        background_opacity=1.0,
        border_width=0,
        timestamp_format="%Y-%m-%d %H:%M:%S %Z",
    )


def validation_context_for(signer: signers.Signer) -> ValidationContext:
    """Trust the signer's own root and fetch revocation data from the URLs in its certificates.

    Build it once per signer and pass it to every :func:`aseal` of a batch: the context keeps what it
    fetched, so later documents reuse the OCSP responses and CRLs instead of fetching them again.
    """
    roots = [c for c in signer.cert_registry if c.self_signed != "no"]  # asn1crypto: "no" | "maybe" | "yes"
    return ValidationContext(trust_roots=roots, allow_fetching=True)


def _estimate_reserved(signer: signers.Signer, level: Level) -> int:
    """Bytes for the CMS blob, computed instead of pyHanko's trial signature (which signs twice).

    Certificates dominate; a signature timestamp adds the TSA's token and chain. The margins are
    generous because /Contents is zero-padded anyway and a too-small guess fails the seal.
    """
    certs = sum(len(c.dump()) for c in signer.cert_registry)
    if signer.signing_cert not in signer.cert_registry:
        certs += len(signer.signing_cert.dump())
    timestamp = 12_000 if level.needs_tsa else 0
    return 2 * (certs + 4_096 + timestamp)  # pyHanko counts hex digits of /Contents


def _signing_error(exc: SigningError) -> EsignError:
    """pyHanko wraps most causes in SigningError; the cause says which typed error it is."""
    cause = exc.__cause__
    if isinstance(cause, RevokedError):
        return EsignError(ErrorCode.CERT_REVOKED)
    if isinstance(cause, PathValidationError | PathBuildingError):
        return EsignError(ErrorCode.REVOCATION_UNAVAILABLE, detail=str(cause)[:200])
    message = str(exc)
    if "forbid" in message.lower() or "docmdp" in message.lower() or "certif" in message.lower():
        return EsignError(ErrorCode.DOCUMENT_LOCKED)
    return EsignError(ErrorCode.SIGNING_FAILED, detail=message[:200])
