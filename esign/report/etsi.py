"""The ETSI TS 119 102-2 validation report: ONE XML document for every signature and document timestamp.

Testers compare our verdicts with other validators (DSS and friends) that speak this XML, so the whole
verification report dict (``Report.to_dict()``, see docs/report.md) is rendered here into the v1.2.1
schema — one ``SignatureValidationReport`` per entry, in file order, document timestamps and unsupported
contents (GB/T 38540 seals) included. pyHanko 0.38's ``generate_report`` is not used: it covers one
signature and its output fails the schema. The tree is built with lxml rather than pyHanko's xsdata
bindings because our input is the report dict, not pyHanko objects, and half of what we write sits in
the schema's open ``xs:any`` slots, which the bindings only type as ``object``. The mapping is
documented in docs/report-xml.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote

from lxml import etree

from esign.errors import ErrorCode, EsignError
from esign.report.etsi_extensions import append_finding, append_pdf_signature
from esign.report.etsi_objects import ValidationObjects
from esign.report.etsi_syntax import ES, TSL, VR, append_sha256, checked_sha256, element, xs_datetime

__all__ = ["render_xml"]

_MAIN_INDICATION = {
    "TOTAL_PASSED": "urn:etsi:019102:mainindication:total-passed",
    "TOTAL_FAILED": "urn:etsi:019102:mainindication:total-failed",
    "INDETERMINATE": "urn:etsi:019102:mainindication:indeterminate",
}
_SUBINDICATION = "urn:etsi:019102:subindication:"
#: esign's named validation policies (docs/report.md): default, online, strict.
_POLICY = "urn:esign:validation-policy:"
#: The best signature time is a POE the validation derived (timestamps, or the validation time itself).
_POE_FROM_VALIDATION = "urn:etsi:019102:poetype:validation"


@dataclass(frozen=True)
class _Document:
    """What every signature report of the document shares."""

    validation_time: str
    policy: str | None
    sha256: str | None
    findings: Sequence[Mapping[str, Any]]
    objects: ValidationObjects


def render_xml(report: Mapping[str, Any]) -> bytes:
    """The report dict as a UTF-8 ETSI TS 119 102-2 v1.2.1 ``ValidationReport``.

    Raises :class:`EsignError` ``XML_REPORT_UNAVAILABLE`` when the dict has no signature or timestamp
    (the schema requires at least one ``SignatureValidationReport``; such documents are reported as
    NO_SIGNATURE_FOUND in JSON and text only) or when a value breaks the JSON contract.
    """
    entries = report.get("signatures") or []
    if not entries:
        raise EsignError(
            ErrorCode.XML_REPORT_UNAVAILABLE,
            detail="no signature or document timestamp to report (ETSI TS 119 102-2 needs at least one)",
        )
    document_sha256 = (report.get("document") or {}).get("sha256")
    document = _Document(
        validation_time=xs_datetime(
            report.get("validation_time") or datetime.now(UTC).isoformat(), "validation_time"
        ),
        policy=report.get("policy"),
        sha256=checked_sha256(document_sha256, "the document digest") if document_sha256 else None,
        findings=report.get("findings") or [],
        objects=ValidationObjects(),
    )
    root = element(None, VR, "ValidationReport")
    for position, entry in enumerate(entries):
        _append_signature_report(root, position, entry, document)
    document.objects.append_to(root)
    _append_validator(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _append_signature_report(
    root: etree._Element, position: int, entry: Mapping[str, Any], document: _Document
) -> None:
    """One entry in the order the schema's sequence demands."""
    report = element(root, VR, "SignatureValidationReport")
    _append_identifier(report, position, entry)
    _append_time_info(report, entry, document.validation_time)
    if document.sha256:
        signers_document = element(report, VR, "SignersDocument")
        append_sha256(signers_document, document.sha256)
        reference = document.objects.document(document.sha256)
        element(signers_document, VR, "SignersDocumentRef", VOReference=reference)
    _append_attributes(report, entry)
    signer_certificate = _append_signer(report, entry.get("signed_by") or {}, document.objects)
    if document.policy:
        process = element(report, VR, "SignatureValidationProcess")
        element(
            process, VR, "SignatureValidationServicePolicy", _POLICY + quote(str(document.policy), safe="")
        )
    _append_status(report, entry, signer_certificate, document.findings)
    append_pdf_signature(report, entry)


def _append_identifier(report: etree._Element, position: int, entry: Mapping[str, Any]) -> None:
    """The signature field name is the identifier an intake clerk can find again in a PDF reader."""
    identifier = element(report, VR, "SignatureIdentifier", id=f"sig-{position}")
    element(identifier, VR, "HashOnly", "false")
    element(identifier, VR, "DocHashOnly", "false")
    if entry.get("field") is not None:
        element(identifier, VR, "DAIdentifier", entry["field"])


def _append_time_info(report: etree._Element, entry: Mapping[str, Any], validation_time: str) -> None:
    """Without a timestamp the only proof of existence is the validation itself (ETSI's default)."""
    time_info = element(report, VR, "ValidationTimeInfo")
    element(time_info, VR, "ValidationTime", validation_time)
    best = entry.get("best_signature_time")
    poe = element(time_info, VR, "BestSignatureTime")
    element(poe, VR, "POETime", xs_datetime(best, "best_signature_time") if best else validation_time)
    element(poe, VR, "TypeOfProof", _POE_FROM_VALIDATION)


def _append_attributes(report: etree._Element, entry: Mapping[str, Any]) -> None:
    """Claimed signing time, SubFilter and level; the schema forbids the element when all are unknown."""
    claimed, subfilter, level = entry.get("claimed_signing_time"), entry.get("subfilter"), entry.get("format")
    if not (claimed or subfilter or level):
        return
    attributes = element(report, VR, "SignatureAttributes")
    if claimed:
        signing_time = element(attributes, VR, "SigningTime")
        element(signing_time, VR, "Time", xs_datetime(claimed, "claimed_signing_time"))
    if subfilter:
        element(element(attributes, VR, "SubFilter"), VR, "SubFilterElement", subfilter)
    if level:
        element(attributes, ES, "SignatureFormat", level)


def _append_signer(
    report: etree._Element, signed_by: Mapping[str, Any], objects: ValidationObjects
) -> str | None:
    """SignerInformation requires a certificate reference: no identified certificate, no element."""
    if not signed_by.get("sha256"):
        return None
    certificate = objects.certificate(signed_by["sha256"])
    information = element(report, VR, "SignerInformation")
    element(information, VR, "SignerCertificate", VOReference=certificate)
    if signed_by.get("subject"):
        element(information, VR, "Signer", signed_by["subject"])
    return certificate


def _append_status(
    report: etree._Element,
    entry: Mapping[str, Any],
    signer_certificate: str | None,
    findings: Sequence[Mapping[str, Any]],
) -> None:
    """Indications as ETSI URIs, then the signer's chain and EVERY finding that concerns this entry.

    Document-level findings (a tolerant parse, an oversized file …) are repeated in each entry: the
    ETSI report has no document-level slot, and each of them limits what every signature proves.
    """
    indication = entry.get("indication")
    if indication not in _MAIN_INDICATION:
        raise EsignError(ErrorCode.XML_REPORT_UNAVAILABLE, detail=f"unknown indication {indication!r}")
    status = element(report, VR, "SignatureValidationStatus")
    element(status, VR, "MainIndication", _MAIN_INDICATION[indication])
    if entry.get("subindication"):
        element(status, VR, "SubIndication", _SUBINDICATION + quote(str(entry["subindication"]), safe=""))
    index = entry.get("index")
    own = [f for f in findings if f.get("signature") is not None and f.get("signature") == index]
    shared = [f for f in findings if f.get("signature") is None]
    if not (signer_certificate or own or shared):
        return
    data = element(status, VR, "AssociatedValidationReportData")
    if signer_certificate:
        chain = element(data, VR, "CertificateChain")
        element(chain, VR, "SigningCertificate", VOReference=signer_certificate)
    if own or shared:
        additional = element(data, VR, "AdditionalValidationReportData")
        for finding in own:
            append_finding(additional, finding, "signature")
        for finding in shared:
            append_finding(additional, finding, "document")


def _append_validator(root: etree._Element) -> None:
    """esign is software, not a certificate holder: TS 119 612's ``Other`` digital identity names it."""
    try:
        esign_version = version("esign")
    except PackageNotFoundError:  # running from a source tree that was never installed
        esign_version = "unknown"
    digital_id = element(element(root, VR, "SignatureValidator"), VR, "DigitalId")
    element(element(digital_id, TSL, "Other"), ES, "Software", name="esign", version=esign_version)
