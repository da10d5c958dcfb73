"""The ETSI TS 119 102-2 XML report: schema-valid, complete (every entry and finding), consistent IDREFs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from asn1crypto import x509
from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.errors import ErrorCode, EsignError
from esign.findings import Finding, FindingCode
from esign.report.etsi import render_xml
from esign.report.model import (
    CONDITIONS,
    Checks,
    Condition,
    DocumentInfo,
    Indication,
    ReliableSignature,
    Report,
    SignatureResult,
    SignerIdentity,
    SubIndication,
)
from fixtures.documents import licence_pdf
from fixtures.pki import TestPKI

NS = {"vr": "http://uri.etsi.org/19102/v1.2.1#", "es": "urn:esign:validation-report:1"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CERT_A = "a1" * 32
CERT_TSA = "7e" * 32
DOC_SHA256 = "d0" * 32


@pytest.fixture(scope="module")
def schema(shared_dir: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(shared_dir / "schemas/etsi/ts_119102-2_v1.2.1.xsd"))


def _signer(subject: str, organization: str, sha256: str) -> dict[str, Any]:
    return {
        "subject": subject,
        "organization": organization,
        "uscc": "91350100M000100Y43",
        "issuer": "esign Test Intermediate CA",
        "serial": "4096",
        "sha256": sha256,
    }


def _conditions(status: str, codes: list[str]) -> dict[str, Any]:
    names = (
        "exclusive_to_signer",
        "sole_control",
        "signature_change_detectable",
        "content_change_detectable",
    )
    return {name: {"status": status, "findings": codes} for name in names}


def _entry(index: int, **overrides: Any) -> dict[str, Any]:
    """A passed PAdES B-T signature unless ``overrides`` say otherwise (keys of the JSON contract)."""
    entry: dict[str, Any] = {
        "index": index,
        "field": f"Signature{index + 1}",
        "kind": "signature",
        "subfilter": "ETSI.CAdES.detached",
        "format": "PAdES-BASELINE-T",
        "signed_by": _signer("Agency A", "Agency A Ltd", CERT_A),
        "claimed_signing_time": "2026-11-20T10:00:00+08:00",
        "best_signature_time": "2026-11-20T02:00:05Z",
        "indication": "TOTAL_PASSED",
        "subindication": None,
        "checks": {
            "integrity": "ok",
            "crypto": "ok",
            "chain": "trusted",
            "coverage": "entire_file",
            "modifications": "none",
        },
        "reliable_esignature": {"verdict": "reliable", "conditions": _conditions("met", [])},
        "findings": [],
    }
    entry.update(overrides)
    return entry


def _finding(code: str, signature: int | None, severity: str = "error") -> dict[str, Any]:
    return {
        "code": code,
        "severity": severity,
        "signature": signature,
        "message": {"zh": f"{code} 的说明", "en": f"{code} explained"},
        "remedy": {"zh": "请重新提交原始盖章文件。", "en": "Resubmit the original sealed file."},
        "detail": f"{code} at offset 1234",
    }


def _report(*entries: dict[str, Any], findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    worst = {e["indication"] for e in entries}
    indication = next(i for i in ("TOTAL_FAILED", "INDETERMINATE", "TOTAL_PASSED") if i in worst)
    return {
        "schema_version": 1,
        "document": {"name": "licence.pdf", "sha256": DOC_SHA256, "size": 12345, "pages": 2, "revisions": 3},
        "indication": indication,
        "policy": "default",
        "validation_time": "2026-11-25T08:00:00+08:00",
        "signatures": list(entries),
        "findings": findings or [],
    }


def _hash_failure(index: int) -> dict[str, Any]:
    return _entry(
        index,
        indication="TOTAL_FAILED",
        subindication="HASH_FAILURE",
        checks={**_entry(0)["checks"], "integrity": "broken"},
        reliable_esignature={
            "verdict": "not_reliable",
            "conditions": _conditions("not_met", ["DIGEST_MISMATCH"]),
        },
        findings=["DIGEST_MISMATCH"],
    )


def _no_chain(index: int) -> dict[str, Any]:
    return _entry(
        index,
        signed_by=_signer("Rogue Signer", "Rogue Org", "0b" * 32),
        indication="INDETERMINATE",
        subindication="NO_CERTIFICATE_CHAIN_FOUND",
        checks={**_entry(0)["checks"], "chain": "untrusted"},
        reliable_esignature={"verdict": "undetermined", "conditions": _conditions("undetermined", ["CHAIN"])},
        findings=["CHAIN_UNTRUSTED"],
    )


def _document_timestamp(index: int) -> dict[str, Any]:
    return _entry(
        index,
        field="DocTS1",
        kind="document_timestamp",
        subfilter="ETSI.RFC3161",
        format=None,
        signed_by=_signer("esign Test TSA", "esign Test PKI", CERT_TSA),
        claimed_signing_time=None,
        best_signature_time="2026-11-21T00:00:00Z",
        reliable_esignature=None,
    )


def _unsupported_seal(index: int) -> dict[str, Any]:
    return _entry(
        index,
        field="GBSeal",
        kind="unsupported",
        subfilter="GB/T 38540",
        format=None,
        signed_by=None,
        claimed_signing_time=None,
        best_signature_time=None,
        indication="INDETERMINATE",
        subindication="FORMAT_FAILURE",
        checks=dict.fromkeys(_entry(0)["checks"], "unknown"),
        reliable_esignature={"verdict": "undetermined", "conditions": _conditions("undetermined", [])},
        findings=["SES_SIGNATURE_UNSUPPORTED"],
    )


def _mixed_report() -> dict[str, Any]:
    """Every kind of entry in one file, with per-signature and document-level findings."""
    return _report(
        _entry(0, signed_by=_signer("上海市浦东新区市场监督管理局", "上海市浦东新区人民政府", CERT_A)),
        _hash_failure(1),
        _no_chain(2),
        _document_timestamp(3),
        _unsupported_seal(4),
        findings=[
            _finding("DIGEST_MISMATCH", 1),
            _finding("CHAIN_UNTRUSTED", 2),
            _finding("SES_SIGNATURE_UNSUPPORTED", 4, "warning"),
            _finding("TOLERANT_PARSE", None, "warning"),
        ],
    )


def _parse(report: dict[str, Any]) -> etree._Element:
    return etree.fromstring(render_xml(report))


def _signature_reports(root: etree._Element) -> list[etree._Element]:
    return root.findall("vr:SignatureValidationReport", NS)


SAMPLES = {
    "passed": lambda: _report(_entry(0)),
    "hash_failure": lambda: _report(_hash_failure(0), findings=[_finding("DIGEST_MISMATCH", 0)]),
    "no_chain": lambda: _report(_no_chain(0)),
    "document_timestamp": lambda: _report(_document_timestamp(0)),
    "unsupported_seal": lambda: _report(_unsupported_seal(0)),
    "mixed_with_cjk": _mixed_report,
}


@pytest.mark.parametrize("sample", SAMPLES)
def test_report_is_valid_against_the_etsi_schema(schema: xmlschema.XMLSchema, sample: str) -> None:
    schema.validate(render_xml(SAMPLES[sample]()).decode("utf-8"))


def test_one_signature_validation_report_per_signature_and_timestamp_in_file_order() -> None:
    report = _mixed_report()
    reports = _signature_reports(_parse(report))
    assert len(reports) == len(report["signatures"]) == 5
    kinds = [r.find("es:PdfSignature", NS).get("kind") for r in reports]
    assert kinds == ["signature", "signature", "signature", "document_timestamp", "unsupported"]
    fields = [r.findtext("vr:SignatureIdentifier/vr:DAIdentifier", namespaces=NS) for r in reports]
    assert fields == ["Signature1", "Signature2", "Signature3", "DocTS1", "GBSeal"]


def test_every_idref_resolves_to_a_validation_object() -> None:
    root = _parse(_mixed_report())
    objects = {vo.get("id") for vo in root.iterfind("vr:SignatureValidationObjects/vr:ValidationObject", NS)}
    references = [ref for node in root.iter() for ref in (node.get("VOReference") or "").split()]
    assert references, "the signer certificates and the document must be referenced"
    assert set(references) <= objects
    all_ids = [node.get("id") for node in root.iter() if node.get("id")]
    assert len(all_ids) == len(set(all_ids))


def test_a_certificate_used_twice_is_one_validation_object_referenced_twice() -> None:
    root = _parse(_report(_entry(0), _entry(1, field="Signature2")))
    certificates = root.findall(
        "vr:SignatureValidationObjects/vr:ValidationObject[vr:ObjectType="
        "'urn:etsi:019102:validationObject:certificate']",
        NS,
    )
    assert [vo.get("id") for vo in certificates] == [f"cert-{CERT_A}"]
    signer_refs = [
        r.get("VOReference") for r in root.iterfind(".//vr:SignerInformation/vr:SignerCertificate", NS)
    ]
    assert signer_refs == [f"cert-{CERT_A}", f"cert-{CERT_A}"]


@pytest.mark.parametrize(
    ("entry", "main", "sub"),
    [
        (_entry(0), "total-passed", None),
        (_hash_failure(0), "total-failed", "HASH_FAILURE"),
        (_no_chain(0), "indeterminate", "NO_CERTIFICATE_CHAIN_FOUND"),
        (_unsupported_seal(0), "indeterminate", "FORMAT_FAILURE"),
    ],
)
def test_indications_use_the_etsi_uris(entry: dict[str, Any], main: str, sub: str | None) -> None:
    status = _signature_reports(_parse(_report(entry)))[0].find("vr:SignatureValidationStatus", NS)
    assert status.findtext("vr:MainIndication", namespaces=NS) == f"urn:etsi:019102:mainindication:{main}"
    subs = [s.text for s in status.findall("vr:SubIndication", NS)]
    assert subs == ([f"urn:etsi:019102:subindication:{sub}"] if sub else [])


def test_unsupported_seal_is_present_without_a_signer() -> None:
    report = _signature_reports(_parse(_report(_unsupported_seal(0))))[0]
    assert report.find("vr:SignerInformation", NS) is None
    assert report.findtext("vr:SignatureAttributes/vr:SubFilter/vr:SubFilterElement", namespaces=NS) == (
        "GB/T 38540"
    )
    assert report.find("es:PdfSignature/es:Checks", NS).get("integrity") == "unknown"


def test_cjk_signer_names_and_messages_round_trip() -> None:
    subject, organization = "上海市浦东新区市场监督管理局", "上海市浦东新区人民政府"
    entry = _entry(0, field="签章域一", signed_by=_signer(subject, organization, CERT_A))
    report = _signature_reports(_parse(_report(entry, findings=[_finding("TOLERANT_PARSE", 0)])))[0]
    assert report.findtext("vr:SignerInformation/vr:Signer", namespaces=NS) == subject
    assert report.find("es:PdfSignature/es:SignedBy", NS).get("organization") == organization
    assert report.findtext("vr:SignatureIdentifier/vr:DAIdentifier", namespaces=NS) == "签章域一"
    remedies = report.findall(".//es:Finding/es:Remedy", NS)
    assert {r.get(XML_LANG): r.text for r in remedies}["zh"] == "请重新提交原始盖章文件。"


def test_every_finding_is_in_its_entry_and_document_findings_in_every_entry() -> None:
    report = _mixed_report()
    reports = _signature_reports(_parse(report))
    for entry, xml in zip(report["signatures"], reports, strict=True):
        findings = xml.findall(
            "vr:SignatureValidationStatus/vr:AssociatedValidationReportData/vr:AdditionalValidationReportData/"
            "vr:ReportData/vr:Value/es:Finding",
            NS,
        )
        expected = [(f["code"], "signature") for f in report["findings"] if f["signature"] == entry["index"]]
        assert [(f.get("code"), f.get("scope")) for f in findings] == [
            *expected,
            ("TOLERANT_PARSE", "document"),
        ]
        for finding in findings:
            messages = {m.get(XML_LANG): m.text for m in finding.findall("es:Message", NS)}
            assert messages == {
                "zh": f"{finding.get('code')} 的说明",
                "en": f"{finding.get('code')} explained",
            }


def test_checks_and_art13_verdict_are_in_the_extension() -> None:
    extension = _signature_reports(_parse(_report(_hash_failure(0))))[0].find("es:PdfSignature", NS)
    assert extension.find("es:Checks", NS).get("integrity") == "broken"
    verdict = extension.find("es:ReliableElectronicSignature", NS)
    assert verdict.get("verdict") == "not_reliable"
    conditions = verdict.findall("es:Condition", NS)
    assert len(conditions) == 4
    assert {c.get("status") for c in conditions} == {"not_met"}
    assert [r.get("code") for r in conditions[2].findall("es:FindingRef", NS)] == ["DIGEST_MISMATCH"]


def test_times_are_utc_and_without_timestamp_the_validation_is_the_proof_of_existence() -> None:
    report = _signature_reports(_parse(_report(_entry(0, best_signature_time=None))))[0]
    assert report.findtext("vr:ValidationTimeInfo/vr:ValidationTime", namespaces=NS) == "2026-11-25T00:00:00Z"
    best = report.find("vr:ValidationTimeInfo/vr:BestSignatureTime", NS)
    assert best.findtext("vr:POETime", namespaces=NS) == "2026-11-25T00:00:00Z"
    assert best.findtext("vr:TypeOfProof", namespaces=NS) == "urn:etsi:019102:poetype:validation"
    signing_time = report.findtext("vr:SignatureAttributes/vr:SigningTime/vr:Time", namespaces=NS)
    assert signing_time == "2026-11-20T02:00:00Z"


def test_document_timestamp_best_signature_time_is_its_own_time() -> None:
    report = _signature_reports(_parse(_report(_document_timestamp(0))))[0]
    poe_time = report.findtext("vr:ValidationTimeInfo/vr:BestSignatureTime/vr:POETime", namespaces=NS)
    assert poe_time == "2026-11-21T00:00:00Z"
    assert report.find("es:PdfSignature/es:ReliableElectronicSignature", NS) is None


def test_characters_xml_cannot_carry_are_replaced_and_the_report_stays_valid(
    schema: xmlschema.XMLSchema,
) -> None:
    hostile = _entry(0, field="Sig\x00\x1b1", signed_by=_signer("Bad\ud800Name\x07", "Org\x0c", CERT_A))
    xml = render_xml(_report(hostile))
    schema.validate(xml.decode("utf-8"))
    report = _signature_reports(etree.fromstring(xml))[0]
    assert report.findtext("vr:SignatureIdentifier/vr:DAIdentifier", namespaces=NS) == "Sig\ufffd\ufffd1"
    assert report.findtext("vr:SignerInformation/vr:Signer", namespaces=NS) == "Bad\ufffdName\ufffd"


def test_a_document_without_signatures_is_a_typed_error() -> None:
    report = _report(_entry(0))
    report["signatures"], report["indication"] = [], "NO_SIGNATURE_FOUND"
    with pytest.raises(EsignError) as refused:
        render_xml(report)
    assert refused.value.code is ErrorCode.XML_REPORT_UNAVAILABLE


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r["signatures"][0].update(claimed_signing_time="yesterday"),
        lambda r: r["signatures"][0]["signed_by"].update(sha256="not-a-digest"),
        lambda r: r["document"].update(sha256="abc"),
        lambda r: r["signatures"][0].update(indication="PASSED"),
        lambda r: r.update(validation_time=12),
    ],
    ids=["bad_time", "bad_cert_digest", "bad_document_digest", "unknown_indication", "non_string_time"],
)
def test_values_outside_the_json_contract_are_typed_errors(breakage: Any) -> None:
    report = copy.deepcopy(_report(_entry(0)))
    breakage(report)
    with pytest.raises(EsignError) as refused:
        render_xml(report)
    assert refused.value.code is ErrorCode.XML_REPORT_UNAVAILABLE


def test_policy_and_finding_detail_are_reported() -> None:
    xml = _signature_reports(_parse(_report(_hash_failure(0), findings=[_finding("DIGEST_MISMATCH", 0)])))[0]
    policy = xml.findtext("vr:SignatureValidationProcess/vr:SignatureValidationServicePolicy", namespaces=NS)
    assert policy == "urn:esign:validation-policy:default"
    assert xml.findtext(".//es:Finding/es:Detail", namespaces=NS) == "DIGEST_MISMATCH at offset 1234"


def test_the_report_model_renders_to_a_schema_valid_report(schema: xmlschema.XMLSchema) -> None:
    """In production the dict comes from the esign.report.model dataclasses: enums, datetimes, tuples."""
    signer = SignerIdentity(
        "浙江省市场监督管理局", "浙江省人民政府", "11330000002482061K", "CA", "12ab", CERT_A
    )
    conditions = {name: Condition("not_met", ("DIGEST_MISMATCH",)) for name in CONDITIONS}
    result = SignatureResult(
        index=0,
        field="Signature1",
        kind="signature",
        subfilter="ETSI.CAdES.detached",
        format="PAdES-BASELINE-B",
        signed_by=signer,
        claimed_signing_time=datetime(2026, 11, 20, 10, tzinfo=timezone(timedelta(hours=8))),
        best_signature_time=None,
        indication=Indication.TOTAL_FAILED,
        subindication=SubIndication.HASH_FAILURE,
        checks=Checks(integrity="broken", crypto="ok", chain="trusted"),
        reliable_esignature=ReliableSignature("not_reliable", conditions),
        findings=("DIGEST_MISMATCH",),
    )
    report = Report(
        document=DocumentInfo("licence.pdf", DOC_SHA256, 100, 1, 2),
        indication=Indication.TOTAL_FAILED,
        signatures=(result,),
        findings=(
            Finding(FindingCode.DIGEST_MISMATCH, 0, "digest differs"),
            Finding(FindingCode.PARSED_TOLERANTLY),
        ),
        validation_time=datetime(2026, 11, 25, tzinfo=UTC),
    )
    xml = render_xml(report.to_dict())
    schema.validate(xml.decode("utf-8"))
    signature = _signature_reports(etree.fromstring(xml))[0]
    assert signature.findtext("vr:SignerInformation/vr:Signer", namespaces=NS) == "浙江省市场监督管理局"
    codes = [(f.get("code"), f.get("scope")) for f in signature.iterfind(".//es:Finding", NS)]
    assert codes == [("DIGEST_MISMATCH", "signature"), ("PARSED_TOLERANTLY", "document")]


@pytest.fixture(scope="session")
def verify_pdf() -> Callable[[bytes, list[x509.Certificate]], dict[str, Any]]:
    """The report dict of the pipeline, default policy (before ``pki``: no pipeline, no services started)."""
    verify = pytest.importorskip("esign.verify.pipeline").verify
    policy = pytest.importorskip("esign.policy").ValidationPolicy
    return lambda pdf, roots: verify(pdf, policy.preset(trust_roots=roots)).to_dict()


def test_a_really_signed_and_timestamped_pdf_gives_a_schema_valid_report(
    verify_pdf: Callable[[bytes, list[x509.Certificate]], dict[str, Any]],
    schema: xmlschema.XMLSchema,
    pki: TestPKI,
) -> None:
    signer = signers.SimpleSigner(
        signing_cert=pki.cert("agency-a"),
        signing_key=pki.key("agency-a"),
        cert_registry=SimpleCertificateStore.from_certs(pki.chain("agency-a")),
    )
    signed = BytesIO()
    meta = signers.PdfSignatureMetadata(field_name="Seal1", subfilter=fields.SigSeedSubFilter.PADES)
    signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(licence_pdf())), meta, signer, output=signed)
    stamped = BytesIO()
    PdfTimeStamper(HTTPTimeStamper(pki.tsa_url), field_name="DocTS1").timestamp_pdf(
        IncrementalPdfFileWriter(signed), "sha256", output=stamped
    )
    report = verify_pdf(stamped.getvalue(), [pki.cert("root")])

    xml = render_xml(report)
    schema.validate(xml.decode("utf-8"))
    reports = _signature_reports(etree.fromstring(xml))
    assert len(reports) == len(report["signatures"]) == 2
    kinds = [r.find("es:PdfSignature", NS).get("kind") for r in reports]
    assert kinds == ["signature", "document_timestamp"]
    assert "杭州市市场监督管理局" in reports[0].findtext("vr:SignerInformation/vr:Signer", namespaces=NS)
    main = reports[0].findtext("vr:SignatureValidationStatus/vr:MainIndication", namespaces=NS)
    assert main == "urn:etsi:019102:mainindication:total-passed"
