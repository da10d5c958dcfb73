"""Turn pyHanko's CMS and certvalidator statuses into our checks, findings and verdict candidates.

Split from :mod:`esign.verify.validation`, which gathers the statuses: here each status is mapped
onto the report's integrity/crypto/chain values and the EN 319 102-1 sub-indications, with the
policy's algorithm limits and the time the signature is known to exist.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import cms, x509
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.general import CMSExtractionError, CMSStructuralError
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko_certvalidator.errors import AlgorithmNotSupported

from esign.findings import FindingCode
from esign.gm.certs import is_sm2_certificate
from esign.pdf.digests import UnsupportedDigestError
from esign.pdf.input import ParsedPdf
from esign.policy import ValidationPolicy
from esign.report.labels import label
from esign.report.model import Indication, SignerIdentity, SubIndication
from esign.uscc import find_uscc
from esign.verify.assessment import Assessment
from esign.verify.public_keys import (
    UnusableKeyError,
    invalid_value_detail,
    key_size,
    needs_lenient_reading,
    unsupported,
)


def judge_integrity_and_crypto(
    out: Assessment, status: dict, range_usable: bool, signer_info: cms.SignerInfo
) -> None:
    """Digest and signature value; an unusable ByteRange leaves nothing intact, whatever pyHanko says.

    A value that could not be checked at all (an algorithm or key nobody here supports) is not a
    forgery: INDETERMINATE, not TOTAL_FAILED.
    """
    if not range_usable:
        out.integrity = "broken"
    elif status["intact"]:
        out.integrity = "ok" if out.integrity != "broken" else "broken"
    else:
        out.integrity = "broken"
        out.fail(FindingCode.DIGEST_MISMATCH, Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    if status["valid"]:
        out.crypto = "ok"
        return
    key = status["signing_cert"].public_key
    reason = unsupported(signer_info["signature_algorithm"], key)
    if reason is not None:
        out.fail(
            FindingCode.UNSUPPORTED_ALGORITHM,
            Indication.INDETERMINATE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            reason,
        )
        return
    out.crypto = "failed"
    out.fail(
        FindingCode.SIGNATURE_VALUE_INVALID,
        Indication.TOTAL_FAILED,
        SubIndication.SIG_CRYPTO_FAILURE,
        invalid_value_detail(signer_info, key),
    )


def library_failure(exc: Exception) -> tuple[FindingCode, Indication, SubIndication, str]:
    """The finding, verdict and plain-language detail for an exception raised inside validation.

    pyHanko, asn1crypto and certvalidator raise on inputs they cannot handle; which exception tells what
    the file did wrong (an unsupported algorithm, a malformed CMS), and the applicant must hear that,
    not a Python class name. Only what none of them explains stays VALIDATION_ERROR.
    """
    message = str(exc)[:200]
    if isinstance(exc, UnsupportedDigestError | UnusableKeyError | AlgorithmNotSupported):
        return (
            FindingCode.UNSUPPORTED_ALGORITHM,
            Indication.INDETERMINATE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            message,
        )
    if isinstance(exc, SignatureValidationError):
        sub_name = getattr(exc.ades_subindication, "name", "FORMAT_FAILURE")
        failed = isinstance(exc.ades_subindication, AdESFailure)
        return (
            FindingCode.CMS_STRUCTURE_INVALID,
            Indication.TOTAL_FAILED if failed else Indication.INDETERMINATE,
            SubIndication.__members__.get(sub_name, SubIndication.FORMAT_FAILURE),
            str(exc.failure_message)[:200],
        )
    if isinstance(exc, CMSStructuralError | CMSExtractionError):
        detail = f"the CMS cannot be read: {str(exc.failure_message)[:180]}"
        format_failure = (Indication.INDETERMINATE, SubIndication.FORMAT_FAILURE)
        return (FindingCode.CMS_STRUCTURE_INVALID, *format_failure, detail)
    # anything else may be a library's (or our) limit rather than the file's fault: a doubt, not a defect
    if isinstance(exc, AssertionError) or not message:
        message = "a consistency check inside the validation library failed on this signature"
    return FindingCode.VALIDATION_ERROR, Indication.INDETERMINATE, SubIndication.FORMAT_FAILURE, message


def judge_sha1_subfilter(
    pdf: ParsedPdf, out: Assessment, signed_data: cms.SignedData, byte_range: tuple
) -> None:
    """adbe.pkcs7.sha1 signs SHA-1(ByteRange) as encapsulated content; the file must still hash to it."""
    content = signed_data["encap_content_info"]["content"]
    embedded = bytes(content.native) if content is not None and content.native is not None else b""
    if embedded != pdf.digests.of_ranges(byte_range, "sha1"):
        if out.integrity != "broken":
            out.fail(FindingCode.DIGEST_MISMATCH, Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
        out.integrity = "broken"


def judge_signature_timestamp(out: Assessment, tst: object) -> datetime | None:
    """The signature timestamp's time if it proves anything, with findings when it does not."""
    if tst is None:
        out.note(FindingCode.NO_TIMESTAMP)
        return None
    if not (tst.intact and tst.valid):  # type: ignore[attr-defined]
        out.fail(
            FindingCode.TIMESTAMP_INVALID, Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE
        )
        return None
    problem = tst.trust_problem_indic  # type: ignore[attr-defined]
    if problem is not None:  # its ETSI sub-indication in words (str() would be pyHanko's enum repr)
        out.note(
            FindingCode.TIMESTAMP_UNTRUSTED,
            label("subindication", problem.name, "en"),
            label("subindication", problem.name, "zh"),
        )
        return None
    return tst.timestamp  # type: ignore[attr-defined]


def judge_algorithms(
    out: Assessment, signer_info: cms.SignerInfo, cert: x509.Certificate, policy: ValidationPolicy
) -> None:
    """Digest and key strength against the policy: too weak is CRYPTO_CONSTRAINTS_FAILURE, not broken."""
    md = signer_info["digest_algorithm"]["algorithm"].native
    mechanism = signer_info["signature_algorithm"]["algorithm"].native
    weak = [a for a in (md, mechanism) if any(w in str(a).split("_") for w in policy.weak_digests)]
    if weak:
        out.fail(
            FindingCode.WEAK_DIGEST_ALGORITHM,
            Indication.INDETERMINATE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            ", ".join(sorted(set(map(str, weak)))),
        )
    key = cert.public_key
    minimum = {"rsa": policy.min_rsa_bits, "rsassa_pss": policy.min_rsa_bits, "ec": policy.min_ec_bits}
    needed = minimum.get(key.algorithm)
    bits = key_size(key) if needed is not None else None
    if needed is not None and bits is not None and bits < needed:
        out.fail(
            FindingCode.WEAK_KEY,
            Indication.INDETERMINATE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            f"{key.algorithm.upper()} {bits} bits (minimum {needed})",
        )


def judge_chain(out: Assessment, status: dict, cert: x509.Certificate, best: datetime) -> None:
    """Map certvalidator's verdict (pyHanko's AdES sub-indication) onto our chain check and findings."""
    _note_irregular_keys(out, status, cert)
    problem: AdESSubIndic | None = status.get("trust_problem_indic")
    if problem is None:
        out.chain = "trusted" if status.get("validation_path") is not None else "unknown"
        return
    if problem is AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        out.chain = "untrusted"
        out.fail(
            FindingCode.CHAIN_UNTRUSTED, Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
        )
    elif problem is AdESIndeterminate.REVOKED_NO_POE:
        out.chain = "revoked"
        _judge_revocation(out, status, best)
    elif problem is AdESIndeterminate.REVOKED_CA_NO_POE:
        out.chain = "revoked"
        out.fail(
            FindingCode.CA_CERTIFICATE_REVOKED, Indication.INDETERMINATE, SubIndication.REVOKED_CA_NO_POE
        )
    elif problem is AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE and best >= _not_before(cert):
        # broken whatever the time (e.g. issued by a non-CA): a proof of existence could not cure it,
        # so an expired certificate does not make it OUT_OF_BOUNDS_NO_POE (not-yet-valid still fails)
        out.chain = "untrusted"
        out.fail(
            FindingCode.CHAIN_INVALID,
            Indication.INDETERMINATE,
            SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
        )
    elif problem in (AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, AdESFailure.NOT_YET_VALID) or not _valid_at(
        cert, best
    ):
        _judge_validity_period(out, cert, best)
    elif problem is AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE and not _may_sign(cert):
        out.chain = "untrusted"
        out.fail(
            FindingCode.KEY_USAGE_NOT_ALLOWED,
            Indication.INDETERMINATE,
            SubIndication.CHAIN_CONSTRAINTS_FAILURE,
        )
    elif problem is AdESIndeterminate.TRY_LATER:
        out.fail(FindingCode.REVOCATION_DATA_STALE, Indication.INDETERMINATE, SubIndication.TRY_LATER)
    elif problem in (
        AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE,
        AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE,
    ):
        out.fail(
            FindingCode.WEAK_DIGEST_ALGORITHM,
            Indication.INDETERMINATE,
            SubIndication[problem.name],
            "in the certificate chain",
        )
    else:
        out.chain = "untrusted"
        name = getattr(problem, "name", "CERTIFICATE_CHAIN_GENERAL_FAILURE")
        sub = SubIndication.__members__.get(name, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE)
        out.fail(FindingCode.CHAIN_INVALID, Indication.INDETERMINATE, sub, name)


def _note_irregular_keys(out: Assessment, status: dict, cert: x509.Certificate) -> None:
    """Say which certificates' keys were only usable re-encoded (context for the CA, not a defect)."""
    path = status.get("validation_path")
    certs = list(path.iter_certs(include_root=True)) if path is not None else [cert]
    for irregular in (c for c in certs if needs_lenient_reading(c.public_key)):
        out.note(FindingCode.CERTIFICATE_ENCODING_IRREGULAR, irregular.subject.human_friendly[:160])


def _judge_revocation(out: Assessment, status: dict, best: datetime) -> None:
    """Revoked before the time the signature is known (or claimed) to exist → TOTAL_FAILED/REVOKED."""
    details = status.get("revocation_details")
    revoked_at = getattr(details, "revocation_date", None)
    claimed = out.claimed_signing_time
    if revoked_at is not None and (
        (revoked_at <= best and out.timestamped) or (claimed and revoked_at <= claimed)
    ):
        out.fail(
            FindingCode.CERTIFICATE_REVOKED, Indication.TOTAL_FAILED, SubIndication.REVOKED, str(revoked_at)
        )
    else:
        out.fail(
            FindingCode.CERTIFICATE_REVOKED_LATER,
            Indication.INDETERMINATE,
            SubIndication.REVOKED_NO_POE,
            str(revoked_at),
        )


def _not_before(cert: x509.Certificate) -> datetime:
    return cert["tbs_certificate"]["validity"]["not_before"].native


def _judge_validity_period(out: Assessment, cert: x509.Certificate, best: datetime) -> None:
    not_before = _not_before(cert)
    if best < not_before:
        # the signature provably existed before the certificate did
        out.chain = "not_yet_valid"
        out.fail(
            FindingCode.CERTIFICATE_NOT_YET_VALID,
            Indication.TOTAL_FAILED,
            SubIndication.NOT_YET_VALID,
            str(not_before),
        )
    else:
        out.chain = "expired"
        not_after = cert["tbs_certificate"]["validity"]["not_after"].native
        out.fail(
            FindingCode.CERTIFICATE_EXPIRED,
            Indication.INDETERMINATE,
            SubIndication.OUT_OF_BOUNDS_NO_POE,
            str(not_after),
        )


def _valid_at(cert: x509.Certificate, moment: datetime) -> bool:
    validity = cert["tbs_certificate"]["validity"]
    return validity["not_before"].native <= moment <= validity["not_after"].native


def _may_sign(cert: x509.Certificate) -> bool:
    usage = cert.key_usage_value
    return usage is None or bool({"digital_signature", "non_repudiation"} & set(usage.native))


def signer_identity(cert: x509.Certificate) -> SignerIdentity:
    """Who signed, as the report names them: subject, organisation, USCC (if the certificate has one)."""
    subject = cert.subject.native
    org = subject.get("organization_name", "")
    org = org[0] if isinstance(org, list) else org
    candidates = [
        str(v) for k, v in subject.items() if k in ("organization_identifier", "serial_number", "2.5.4.97")
    ]
    uscc = next((u for u in map(find_uscc, candidates) if u), None)
    # GM/T 0015 SM2 certificates name the seal holder in CN (O is often the CA's grouping)
    common_name = subject.get("common_name") if is_sm2_certificate(cert) else None
    return SignerIdentity(
        subject=cert.subject.human_friendly,
        organization=str(org),
        uscc=uscc,
        name=str(common_name or org or cert.subject.human_friendly),
        issuer=cert.issuer.human_friendly,
        serial=format(cert.serial_number, "x"),
        sha256=cert.sha256.hex(),
    )
