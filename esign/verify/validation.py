"""Judge one signature or document timestamp: integrity, crypto, signer, chain, time, algorithms.

Each check appends findings and, when it fails, a candidate (indication, sub-indication); the
verdict is the worst candidate (TOTAL_FAILED beats INDETERMINATE; the first of a rank names the
sub-indication), so every defect is listed while the verdict stays the EN 319 102-1 one. pyHanko
checks the CMS and the chain (with a permissive *CMS* algorithm policy, because algorithm strength
is our policy's call and must yield CRYPTO_CONSTRAINTS_FAILURE, not SIG_CRYPTO_FAILURE). This module
gathers the statuses; :mod:`esign.verify.cms_judgements` maps them onto checks and findings.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import AcceptAllAlgorithms

from esign.findings import FindingCode
from esign.gm.property_info import recorded_byte_range
from esign.pdf.digests import hash_for
from esign.pdf.input import ParsedPdf
from esign.policy import ValidationPolicy
from esign.report.model import Indication, SubIndication
from esign.verify import name_cache
from esign.verify.assessment import Assessment, DocumentTimes
from esign.verify.cms_judgements import (
    judge_algorithms,
    judge_chain,
    judge_integrity_and_crypto,
    judge_sha1_subfilter,
    judge_signature_timestamp,
    library_failure,
    signer_identity,
)
from esign.verify.evidence import (
    NOTHING_EMBEDDED,
    Evidence,
    cms_revocation_data,
    revocation_gap,
    validation_context,
)
from esign.verify.gm import (
    gm_format,
    gm_validation_context,
    proven_signature_time,
    verify_gm_signature,
)
from esign.verify.public_keys import lenient_context
from esign.verify.sigformat import (
    parse_contents,
    signature_level,
    signed_attributes_in_der_order,
    with_der_signed_attributes,
)
from esign.verify.signatures import SignatureSlot, check_byte_range

_log = logging.getLogger(__name__)
name_cache.install()
_CMS_ALGORITHMS = CMSAlgorithmUsagePolicy.lift_policy(AcceptAllAlgorithms())
_SIGNING_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)
_PADES = "/ETSI.CAdES.detached"
_DETACHED = {_PADES, "/adbe.pkcs7.detached"}
_SHA1_SUBFILTER = "/adbe.pkcs7.sha1"


async def assess(
    pdf: ParsedPdf,
    slot: SignatureSlot,
    index: int,
    policy: ValidationPolicy,
    dss: Evidence,
    times: DocumentTimes,
) -> Assessment:
    """Every check on one slot; any exception from the libraries below becomes a finding, never a crash."""
    out = Assessment(index=index, slot=slot, kind="document_timestamp" if slot.is_timestamp else "signature")
    try:
        await _assess(pdf, out, policy, dss, times)
    except Exception as exc:  # the boundary: pyHanko/asn1crypto/certvalidator on hostile input
        _log.info("validation of signature %d stopped", index, exc_info=exc)
        out.fail(*library_failure(exc))
    return out


async def _assess(
    pdf: ParsedPdf, out: Assessment, policy: ValidationPolicy, dss: Evidence, times: DocumentTimes
) -> None:
    slot = out.slot
    ranges = check_byte_range(pdf, slot)
    out.coverage, out.signed_end = ranges.coverage, ranges.signed_end
    for problem in ranges.problems:
        code = (
            FindingCode.COVERAGE_PARTIAL if ranges.signed_end is not None else FindingCode.BYTERANGE_INVALID
        )
        out.fail(code, Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, problem)
    if ranges.signed_end is None:
        out.integrity = "broken"
    if gm_format(slot.contents or b"") is not None:
        await _assess_gm(pdf, out, policy, dss, times)
        return
    parsed = parse_contents(slot.contents or b"")
    if parsed.kind == "gbt38540":
        out.kind, out.format = "unsupported", "GBT38540"
        out.fail(FindingCode.GBT38540_SIGNATURE, Indication.INDETERMINATE, SubIndication.FORMAT_FAILURE)
        return
    if parsed.kind == "malformed_cms":
        out.fail(
            FindingCode.CMS_STRUCTURE_INVALID,
            Indication.INDETERMINATE,
            SubIndication.FORMAT_FAILURE,
            parsed.detail,
        )
        return
    if parsed.kind == "not_cms" or parsed.signed_data is None:
        out.fail(
            FindingCode.CONTENTS_NOT_CMS, Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, parsed.detail
        )
        return
    signed_data = parsed.signed_data
    signer_count = len(signed_data["signer_infos"])
    is_timestamp = signed_data["encap_content_info"]["content_type"].native == "tst_info"
    if signer_count == 0 or (signer_count > 1 and is_timestamp):
        out.fail(
            FindingCode.CMS_STRUCTURE_INVALID,
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            f"{signer_count} SignerInfos (exactly one is allowed)",
        )
        return
    # Several SignerInfos over the same content: the first is the signature, and every other one
    # must verify too, or the whole signature is not intact (never pass on doubt).
    signed_data, *others = (_with_one_signer(signed_data, i) for i in range(signer_count))
    try:
        signer_cert = generic_cms.extract_certs_for_validation(signed_data).signer_cert
    except Exception as exc:  # pyHanko raises bare ValueErrors and its own CMS errors here
        out.fail(
            FindingCode.SIGNING_CERTIFICATE_NOT_FOUND,
            Indication.INDETERMINATE,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            str(exc)[:200],
        )
        return
    out.signed_by = signer_identity(signer_cert)
    byte_range = slot.byte_range if ranges.problems == () or ranges.signed_end is not None else None
    if is_timestamp:
        await _assess_timestamp(pdf, out, signed_data, byte_range, policy, dss, times)
        return
    await _assess_signature(pdf, out, signed_data, byte_range, policy, dss, times)
    for number, other in enumerate(others, start=2):
        await _check_other_signer(pdf, out, other, byte_range, number)


async def _assess_gm(
    pdf: ParsedPdf, out: Assessment, policy: ValidationPolicy, dss: Evidence, times: DocumentTimes
) -> None:
    """SM2 CMS (style 2) or GB/T 38540 seal signature (style 3): esign.gm checks instead of pyHanko's.

    As for PAdES, the best signature time is the earliest proof of existence: the signature's own
    timestamp (verified whole) or a later document timestamp; the chain and the seal are judged then.
    """
    slot = out.slot
    evidence = {"other_certs": dss.certs, "crls": dss.crls, "ocsps": dss.ocsps}
    tst_time = await proven_signature_time(slot.contents or b"", gm_validation_context(policy, **evidence))
    proofs = [t for t in (tst_time, times.covering(out.signed_end)) if t is not None]
    best = min(proofs) if proofs else times.validation_time
    context = gm_validation_context(policy, **evidence, moment=best)
    usable = out.signed_end is not None and slot.byte_range is not None
    document = partial(pdf.digests.of_ranges, slot.byte_range) if usable else b""
    result = await verify_gm_signature(slot.contents or b"", document, context)
    out.format = result.format
    out.integrity = "broken" if out.integrity == "broken" else result.integrity
    out.crypto, out.chain = result.crypto, result.chain
    out.claimed_signing_time = result.signing_time or _pdf_signing_time(slot)
    out.best_signature_time, out.timestamped = best, bool(proofs)
    if result.signer is not None:
        out.signed_by = signer_identity(result.signer)
    for check in result.checks:
        if check.finding is not None:
            out.note(check.finding, check.detail)
    recorded = recorded_byte_range(result.property_info)
    if recorded is not None and slot.byte_range is not None and recorded != tuple(slot.byte_range):
        out.note(
            FindingCode.SES_PROPERTY_INFO_MISMATCH,
            f"propertyInfo {result.property_info[:120]!r}, /ByteRange {list(slot.byte_range)}",
        )
    indication, sub = result.indication
    if indication is not Indication.TOTAL_PASSED and sub is not None:
        out.fail_verdict(indication, sub)
    if out.kind == "document_timestamp":
        out.proven_time = result.signing_time if indication is Indication.TOTAL_PASSED else None
        return
    if tst_time is None:
        out.note(FindingCode.NO_TIMESTAMP)
    path = context.check_validation(result.signer) if result.signer is not None else None
    if out.chain == "trusted" and path is not None:
        await _judge_revocation_data(out, policy, dss, path, context)


def _with_one_signer(signed_data: cms.SignedData, index: int) -> cms.SignedData:
    """A copy of ``signed_data`` that keeps only its ``index``-th SignerInfo (pyHanko verifies one)."""
    single = signed_data.copy()
    single["signer_infos"] = cms.SignerInfos([signed_data["signer_infos"][index].copy()])
    return single


async def _check_other_signer(
    pdf: ParsedPdf,
    out: Assessment,
    signed_data: cms.SignedData,
    byte_range: tuple[int, ...] | None,
    number: int,
) -> None:
    """Digest and signature value of an additional SignerInfo; its chain is not what the report is about."""
    md = signed_data["signer_infos"][0]["digest_algorithm"]["algorithm"].native
    raw_digest = pdf.digests.of_ranges(byte_range, md) if byte_range else b""
    status = await generic_cms.cms_basic_validation(
        signed_data,
        raw_digest=raw_digest,
        validation_context=_value_only_context(),
        key_usage_settings=KeyUsageConstraints(),
        algorithm_policy=_CMS_ALGORITHMS,
    )
    if not status["intact"] and out.integrity != "broken":
        out.integrity = "broken"
        out.fail(
            FindingCode.DIGEST_MISMATCH,
            Indication.TOTAL_FAILED,
            SubIndication.HASH_FAILURE,
            f"SignerInfo {number}",
        )
    if not status["valid"] and out.crypto != "failed":
        out.crypto = "failed"
        out.fail(
            FindingCode.SIGNATURE_VALUE_INVALID,
            Indication.TOTAL_FAILED,
            SubIndication.SIG_CRYPTO_FAILURE,
            f"SignerInfo {number}",
        )


async def _assess_timestamp(
    pdf: ParsedPdf,
    out: Assessment,
    signed_data: cms.SignedData,
    byte_range: tuple[int, ...] | None,
    policy: ValidationPolicy,
    dss: Evidence,
    times: DocumentTimes,
) -> None:
    out.kind, out.format = "document_timestamp", "RFC3161"
    if out.slot.subfilter != "/ETSI.RFC3161":
        out.note(FindingCode.UNSUPPORTED_SUBFILTER, f"timestamp token under SubFilter {out.slot.subfilter}")

    def imprint(algorithm: str) -> bytes:
        return pdf.digests.of_ranges(byte_range, algorithm) if byte_range else b""

    context = validation_context(policy, dss, times.validation_time, times.validation_time)
    status = await generic_cms.validate_tst_signed_data(signed_data, context, imprint, _CMS_ALGORITHMS)
    out.claimed_signing_time = status.get("timestamp")
    out.best_signature_time = times.covering(out.signed_end) or times.validation_time
    judge_integrity_and_crypto(out, status, byte_range is not None, signed_data["signer_infos"][0])
    judge_algorithms(out, signed_data["signer_infos"][0], status["signing_cert"], policy)
    judge_chain(out, status, status["signing_cert"], out.best_signature_time)
    if out.integrity == "ok" and out.crypto == "ok" and out.chain == "trusted":
        out.proven_time = out.claimed_signing_time


async def _assess_signature(
    pdf: ParsedPdf,
    out: Assessment,
    signed_data: cms.SignedData,
    byte_range: tuple[int, ...] | None,
    policy: ValidationPolicy,
    dss: Evidence,
    times: DocumentTimes,
) -> None:
    slot = out.slot
    signer_info = signed_data["signer_infos"][0]
    md = signer_info["digest_algorithm"]["algorithm"].native
    sha1_subfilter = slot.subfilter == _SHA1_SUBFILTER
    if sha1_subfilter:
        out.note(FindingCode.DEPRECATED_SUBFILTER)
    elif slot.subfilter not in _DETACHED:
        out.fail(
            FindingCode.UNSUPPORTED_SUBFILTER,
            Indication.INDETERMINATE,
            SubIndication.FORMAT_FAILURE,
            f"SubFilter {slot.subfilter}",
        )
    if slot.declared_type not in (None, "/Sig"):
        out.note(FindingCode.CMS_STRUCTURE_INVALID, f"signature dictionary typed {slot.declared_type}")

    def digest(algorithm: str) -> bytes:
        return pdf.digests.of_ranges(byte_range, algorithm) if byte_range else b""

    revinfo = dss.plus(cms_revocation_data(signer_info))
    ts_context = validation_context(policy, revinfo, times.validation_time, times.validation_time)
    try:
        timing = await generic_cms.collect_timing_info(signer_info, ts_context, digest, _CMS_ALGORITHMS)
        tst_time = judge_signature_timestamp(out, timing.get("timestamp_validity"))
    except Exception as exc:  # a malformed timestamp token must not hide the signature's own verdict
        out.fail(
            FindingCode.TIMESTAMP_INVALID,
            Indication.INDETERMINATE,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            f"the signature timestamp cannot be checked: {library_failure(exc)[3]}",
        )
        timing, tst_time = {}, None
    out.claimed_signing_time = timing.get("signer_reported_dt") or _pdf_signing_time(slot)
    covering = times.covering(out.signed_end)
    proofs = [t for t in (tst_time, covering) if t is not None]
    out.timestamped = bool(proofs)
    best = min(proofs) if proofs else times.validation_time
    out.best_signature_time = best
    context = validation_context(policy, revinfo, best, times.validation_time)
    encapsulated = not sha1_subfilter and signed_data["encap_content_info"]["content"].native is not None
    checked = _detached(signed_data) if encapsulated else signed_data
    # an unknown digest algorithm stops here (after the timestamp was judged), whichever path computes it
    hash_for(md)
    raw_digest = None if sha1_subfilter else digest(md)
    status = await generic_cms.cms_basic_validation(
        checked,
        raw_digest=raw_digest,
        validation_context=context,
        key_usage_settings=_SIGNING_USAGE,
        algorithm_policy=_CMS_ALGORITHMS,
    )
    judge_integrity_and_crypto(out, status, byte_range is not None, signer_info)
    if out.crypto == "ok" and not signed_attributes_in_der_order(signer_info):
        await _judge_der_signed_attributes(out, checked, raw_digest)
    if encapsulated:
        # CMS then signs the encapsulated content, and the signed message digest (over the file) cannot
        # match it: the signature value does not verify for what it claims to sign
        out.crypto = "failed"
        out.fail(
            FindingCode.CMS_STRUCTURE_INVALID,
            Indication.TOTAL_FAILED,
            SubIndication.SIG_CRYPTO_FAILURE,
            "a detached signature that encapsulates content",
        )
    if sha1_subfilter and byte_range is not None:
        judge_sha1_subfilter(pdf, out, signed_data, byte_range)
    judge_algorithms(out, signer_info, status["signing_cert"], policy)
    judge_chain(out, status, status["signing_cert"], best)
    if out.chain == "trusted":
        await _judge_revocation_data(out, policy, revinfo, status["validation_path"], context)
    out.format = signature_level(
        pades=slot.subfilter == _PADES,
        timestamped=tst_time is not None,
        revocation_embedded=out.revocation_data,
        archived=covering is not None,
    )


async def _judge_revocation_data(
    out: Assessment,
    policy: ValidationPolicy,
    revinfo: Evidence,
    path: ValidationPath,
    context: ValidationContext,
) -> None:
    """Does the embedded revocation data establish the trusted chain's status (B-LT), or why not?

    Only asked for a trusted chain with revocation data, so a B-B signature pays nothing; the
    context is the one that validated the path (offline unless the policy fetches at "now", and
    then nothing is embedded about the signature's time: such a signature is never B-LT).
    """
    if not revinfo.has_revocation_data:
        gap: str | None = NOTHING_EMBEDDED
    elif context.fetching_allowed:
        gap = "revocation data was fetched, not embedded"
    else:
        gap = await revocation_gap(path, context)
    out.revocation_data = gap is None
    if gap is not None and not policy.allow_fetching:
        out.note(FindingCode.REVOCATION_DATA_MISSING, gap)


def _value_only_context() -> ValidationContext:
    """For checks where only the signature value matters: no trust anchors, no network.

    Without a context pyHanko builds one from the operating system's trust list, which must never
    decide anything here (the policy's anchors are the only ones).
    """
    return lenient_context(trust_roots=[], allow_fetching=False)


async def _judge_der_signed_attributes(
    out: Assessment, signed_data: cms.SignedData, raw_digest: bytes | None
) -> None:
    """Signed attributes out of DER order: the signature must also verify over their DER encoding.

    That is what RFC 5652 signs, and what strict verifiers check; a value that only verifies over the
    order found in the file is not a valid CMS signature (and would not be one for them either).
    """
    status = await generic_cms.cms_basic_validation(
        with_der_signed_attributes(signed_data),
        raw_digest=raw_digest,
        validation_context=_value_only_context(),
        key_usage_settings=KeyUsageConstraints(),
        algorithm_policy=_CMS_ALGORITHMS,
    )
    if not status["valid"]:
        out.crypto = "failed"
        out.fail(
            FindingCode.CMS_STRUCTURE_INVALID,
            Indication.TOTAL_FAILED,
            SubIndication.SIG_CRYPTO_FAILURE,
            "signed attributes not in DER order; the signature does not verify over their DER encoding",
        )


def _detached(signed_data: cms.SignedData) -> cms.SignedData:
    """A copy without encapsulated content, so pyHanko checks the message digest against the file."""
    detached = signed_data.copy()
    # asn1crypto types the field by version: ContentInfo for a v1 (PKCS #7) SignedData,
    # EncapsulatedContentInfo otherwise; a value of the other class is refused with a TypeError
    encap_class = type(signed_data["encap_content_info"])
    detached["encap_content_info"] = encap_class(
        {"content_type": signed_data["encap_content_info"]["content_type"]}
    )
    return detached


def _pdf_signing_time(slot: SignatureSlot) -> datetime | None:
    """The /M entry of the signature dictionary: PAdES puts the claimed time there, not in the CMS."""
    raw = slot.value.get("/M") if slot.value is not None else None
    try:
        return generic.parse_pdf_date(str(raw), strict=False) if raw is not None else None
    except (ValueError, TypeError, PdfError):
        return None
