"""Standalone GB/T 38540 files: a seal (``.esl``, ``SESeal``) or a seal signature (``SignedValue.dat``,
``SES_Signature``) verified on its own, outside any PDF.

OFD documents and seal systems exchange these files as they are, so an intake clerk gets them
without a PDF around them. The kind is told by content — a DER SEQUENCE that parses as one or the
other — never by the file's name. The report has the PDF report's vocabulary (indication,
sub-indication, findings with zh/en messages and remedies) plus what the seal says about itself:
its maker, validity window, ``certList`` and picture; for a signature also its signer and claimed
time, and the document hash check when the signed document is given. Without that document the
signature cannot be said to cover anything: INDETERMINATE (``SIGNED_DATA_NOT_FOUND``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from asn1crypto import x509

from esign.errors import EsignError
from esign.findings import Finding, FindingCode
from esign.gm import ses
from esign.gm.checks import CheckResult
from esign.gm.ses_verify import SesVerification, verify_ses_seal, verify_ses_signature
from esign.policy import ValidationPolicy
from esign.report.model import SCHEMA_VERSION, Indication, SubIndication
from esign.sync_bridge import run_sync
from esign.verify.cms_judgements import signer_identity
from esign.verify.gm import GmResult, gm_validation_context

__all__ = ["SealFileKind", "seal_file_kind", "verify_seal_file"]

SealFileKind = Literal["seal", "seal_signature"]
_DER_SEQUENCE = 0x30
#: GB/T 38540 §7.2 seal types
_SEAL_TYPES = {1: "organisation", 2: "personal"}


def seal_file_kind(data: bytes) -> SealFileKind | None:
    """``seal_signature`` / ``seal`` when ``data`` is one whole DER ``SES_Signature`` / ``SESeal``."""
    if not data or data[0] != _DER_SEQUENCE or len(data) > ses.MAX_SES_BYTES:
        return None
    for kind, parse in (("seal_signature", ses.parse_signature), ("seal", ses.parse_seal)):
        try:
            parsed = parse(data)
        except EsignError:
            continue
        if parsed.dump() == data:  # the whole file, not a seal followed by anything else
            return kind  # type: ignore[return-value]
    return None


def verify_seal_file(
    data: bytes,
    policy: ValidationPolicy,
    *,
    name: str = "seal",
    document: bytes | None = None,
    document_name: str = "",
) -> dict[str, Any]:
    """The report for a standalone seal or seal signature (``kind`` from :func:`seal_file_kind`).

    ``document``: the bytes the seal signature signed (its ``dataHash`` is their SM3 digest).
    """
    kind = seal_file_kind(data)
    if kind is None:
        raise ValueError("not a GB/T 38540 seal or seal signature; call seal_file_kind first")
    moment = policy.validation_time or datetime.now(UTC)
    context = gm_validation_context(policy, moment=moment)
    if kind == "seal":
        outcome = run_sync(verify_ses_seal(data, context, moment))
        parsed: ses.AnySeal = ses.parse_seal(data)
    else:
        outcome = run_sync(verify_ses_signature(data, context, document))
        signature = ses.parse_signature(data)
        parsed = signature["to_sign"]["eseal"]
    result = GmResult(outcome.format, outcome.checks, outcome.signer, outcome.signing_time)
    indication, sub = result.indication
    findings = [Finding(c.finding, None, c.detail) for c in outcome.checks if c.finding is not None]
    if kind == "seal_signature" and document is None:
        findings.append(Finding(FindingCode.SES_DOCUMENT_NOT_GIVEN))
        if indication is Indication.TOTAL_PASSED:
            indication, sub = Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "document": _file_info(name, data),
        "kind": kind,
        "policy": policy.name,
        "validation_time": moment.isoformat(),
        "indication": indication.value,
        "subindication": None if sub is None else sub.value,
        "format": outcome.format,
        "seal": _seal_dict(parsed),
        "checks": [_check_dict(c) for c in outcome.checks],
        "findings": [f.to_dict() for f in findings],
    }
    if kind == "seal_signature":
        report["signature"] = _signature_dict(outcome, signature, document, document_name)
    return report


def _file_info(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _check_dict(check: CheckResult) -> dict[str, Any]:
    result = "not_checked" if check.passed is None else ("passed" if check.passed else "failed")
    finding = None if check.finding is None else check.finding.name
    return {"check": check.check.value, "result": result, "finding": finding, "detail": check.detail}


def _identity(der: bytes) -> dict[str, Any]:
    try:
        cert = x509.Certificate.load(der)
        who = signer_identity(cert)
    except (ValueError, TypeError, KeyError):
        return {"unreadable": True, "sha256": hashlib.sha256(der).hexdigest()}
    return {
        "name": who.name,
        "subject": who.subject,
        "organization": who.organization,
        "uscc": who.uscc,
        "issuer": who.issuer,
        "serial": who.serial,
        "sha256": who.sha256,
        "not_before": cert.not_valid_before.isoformat(),
        "not_after": cert.not_valid_after.isoformat(),
    }


def _seal_dict(seal: ses.AnySeal) -> dict[str, Any]:
    info = seal["e_seal_info"]
    prop, picture = info["property"], info["picture"]
    if prop.certificates() or not prop.cert_digests():
        cert_list: list[dict[str, Any]] = [_identity(der) for der in prop.certificates()]
        list_type = "certificates"
    else:
        cert_list = [{"digest_algorithm": a, "digest": d.hex()} for a, d in prop.cert_digests()]
        list_type = "digests"
    return {
        "version": ses.seal_version(seal),
        "es_id": info["es_id"].native,
        "vendor": info["header"]["vid"].native,
        "name": prop["name"].native,
        "type": _SEAL_TYPES.get(prop["type"].native, str(prop["type"].native)),
        "created": prop["create_date"].native.isoformat(),
        "valid_start": prop["valid_start"].native.isoformat(),
        "valid_end": prop["valid_end"].native.isoformat(),
        "maker": _identity(ses.seal_maker_signature(seal)[0]),
        "cert_list_type": list_type,
        "cert_list": cert_list,
        "picture": {
            "type": picture["type"].native,
            "size": len(picture["data"].native),
            "width_mm": picture["width"].native,
            "height_mm": picture["height"].native,
        },
    }


def _signature_dict(
    outcome: SesVerification, signature: ses.AnySignature, document: bytes | None, document_name: str
) -> dict[str, Any]:
    tbs = signature["to_sign"]
    return {
        "signed_by": None if outcome.signer is None else _identity(outcome.signer.dump()),
        "claimed_signing_time": None if outcome.signing_time is None else outcome.signing_time.isoformat(),
        "property_info": outcome.property_info,
        "data_hash": tbs["data_hash"].native.hex(),
        "timestamp": "time_stamp" in signature and signature["time_stamp"].native is not None,
        "signed_document": None if document is None else _file_info(document_name, document),
    }
