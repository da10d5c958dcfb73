"""esign's additions to the ETSI report, placed only where TS 119 102-2 leaves the schema open.

The ETSI vocabulary has no words for our findings catalogue (code, severity, zh/en message and remedy),
for the per-check summary or for the art. 13 "reliable electronic signature" verdict, yet an intake
system reading the XML must learn every defect at once, exactly as from the JSON. So these travel in the
``urn:esign:validation-report:1`` namespace: findings as ``ReportData`` of the signature's
``AdditionalValidationReportData`` (the slot ETSI provides for validator-specific data), the rest as
an ``es:PdfSignature`` element in the open tail of ``SignatureValidationReport``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

from esign.report.etsi_syntax import ES, VR, XML_LANG, element

__all__ = ["FINDING_TYPE", "append_finding", "append_pdf_signature"]

#: ReportData/Type of a finding; its Value holds one es:Finding.
FINDING_TYPE = "urn:esign:validation-report:finding"
_CHECKS = ("integrity", "crypto", "chain", "coverage", "modifications")
_LANGUAGES = ("zh", "en")
_SIGNER_KEYS = ("subject", "organization", "uscc", "issuer", "serial", "sha256")


def append_finding(additional: etree._Element, finding: Mapping[str, Any], scope: str) -> None:
    """One catalogue finding in both languages, with its detail; ``scope``: the signature's or the file's."""
    data = element(additional, VR, "ReportData")
    element(data, VR, "Type", FINDING_TYPE)
    node = element(
        element(data, VR, "Value"),
        ES,
        "Finding",
        code=finding.get("code"),
        severity=finding.get("severity"),
        scope=scope,
    )
    for kind, tag in (("message", "Message"), ("remedy", "Remedy")):
        texts = finding.get(kind) or {}
        for lang in _LANGUAGES:
            if texts.get(lang):
                element(node, ES, tag, texts[lang], **{XML_LANG: lang})
    if finding.get("detail"):
        element(node, ES, "Detail", finding["detail"])


def append_pdf_signature(report: etree._Element, entry: Mapping[str, Any]) -> None:
    """Where the entry sits in the PDF, who signed, the check summary and the art. 13 verdict."""
    node = element(report, ES, "PdfSignature", index=entry.get("index"), kind=entry.get("kind"))
    field_name = entry.get("field")
    if field_name is not None:
        element(node, ES, "Field", field_name)
    signed_by = entry.get("signed_by")
    if signed_by:
        # Organisation and USCC are what a Chinese intake clerk checks; ETSI's SignerInformation only
        # admits schema-validated extensions, so the whole signer identity travels here.
        element(node, ES, "SignedBy", **{key: signed_by.get(key) for key in _SIGNER_KEYS})
    checks = entry.get("checks") or {}
    element(node, ES, "Checks", **{name: checks.get(name) for name in _CHECKS})
    reliable = entry.get("reliable_esignature")
    if reliable:
        verdict = element(node, ES, "ReliableElectronicSignature", verdict=reliable.get("verdict"))
        for name, condition in (reliable.get("conditions") or {}).items():
            _append_condition(verdict, name, condition.get("status"), condition.get("findings") or ())


def _append_condition(verdict: etree._Element, name: str, status: str | None, codes: Iterable[str]) -> None:
    condition = element(verdict, ES, "Condition", name=name, status=status)
    for code in codes:
        element(condition, ES, "FindingRef", code=code)
