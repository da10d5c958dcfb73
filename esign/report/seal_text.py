"""The text report of a standalone GB/T 38540 seal or seal signature (``esign.verify.seal_file``).

Same conventions as :mod:`esign.report.text`: Chinese by default, English with the stable codes in
brackets, every string from the file through :func:`~esign.report.text.visible`.
"""

from __future__ import annotations

from typing import Any

from esign.report.labels import finding_detail, label, moment
from esign.report.text import coded, visible

__all__ = ["render_seal_text"]

_TEXT = {
    "zh": {
        "document": "文件",
        "bytes": "字节",
        "seal": "电子印章（GB/T 38540 SESeal）",
        "seal_signature": "电子签章数据（GB/T 38540 SES_Signature）",
        "kind": "类型",
        "indication": "总体结论",
        "format": "格式",
        "seal_name": "印章名称",
        "es_id": "印章编码",
        "seal_type": "印章类型",
        "organisation": "单位印章",
        "personal": "个人印章",
        "validity": "有效期",
        "maker": "制章者",
        "cert_list": "可使用印章的证书",
        "picture": "印章图片",
        "signer": "签章人",
        "claimed": "签章时间（签章人自述）",
        "property_info": "签名范围（propertyInfo）",
        "signed_document": "被签章文件",
        "not_given": "未提供",
        "checks": "检查",
        "passed": "通过",
        "failed": "未通过",
        "not_checked": "未检查",
        "findings": "发现的问题",
        "remedy": "建议",
        "none": "无",
    },
    "en": {
        "document": "Document",
        "bytes": "bytes",
        "seal": "Electronic seal (GB/T 38540 SESeal)",
        "seal_signature": "Seal signature (GB/T 38540 SES_Signature)",
        "kind": "Kind",
        "indication": "Overall result",
        "format": "Format",
        "seal_name": "Seal name",
        "es_id": "Seal code",
        "seal_type": "Seal type",
        "organisation": "organisation seal",
        "personal": "personal seal",
        "validity": "Valid",
        "maker": "Seal maker",
        "cert_list": "Certificates allowed to use the seal",
        "picture": "Seal picture",
        "signer": "Signer",
        "claimed": "Signing time (claimed by the signer)",
        "property_info": "Signed range (propertyInfo)",
        "signed_document": "Signed document",
        "not_given": "not given",
        "checks": "Checks",
        "passed": "passed",
        "failed": "failed",
        "not_checked": "not checked",
        "findings": "Findings",
        "remedy": "What to do",
        "none": "none",
    },
}


_CHECKS = {
    "zh": {
        "structure": "数据结构",
        "signature_value": "签章人签名值",
        "signer_in_seal_cert_list": "签章人证书在印章证书列表中",
        "seal_maker_signature": "制章者签名",
        "seal_maker_certificate": "制章者证书",
        "seal_validity_window": "印章有效期",
        "signer_certificate": "签章人证书",
        "document_hash": "文件摘要",
        "timestamp": "时间戳",
        "seal_timestamp": "印章时间戳",
    },
    "en": {},
}


def render_seal_text(report: dict[str, Any], lang: str = "zh") -> str:
    """Render ``verify_seal_file``'s report for people."""
    key = "en" if lang == "en" else "zh"
    t = _TEXT[key]
    doc, seal = report["document"], report["seal"]
    verdict = coded("indication", report["indication"], key)
    if report["subindication"]:
        verdict += " / " + coded("subindication", report["subindication"], key)
    picture = seal["picture"]
    lines = [
        f"{t['document']}: {visible(doc['name'])}  "
        f"({doc['size']} {t['bytes']}, sha256 {doc['sha256'][:16]}…)",
        f"{t['kind']}: {t[report['kind']]}",
        f"{t['indication']}: {verdict}",
        f"{t['format']}: {report['format']}",
        "",
        f"{t['seal_name']}: {visible(seal['name'])}",
        f"{t['es_id']}: {visible(seal['es_id'])}",
        f"{t['seal_type']}: {t.get(seal['type'], visible(seal['type']))}",
        f"{t['validity']}: {moment(seal['valid_start'], key)} – {moment(seal['valid_end'], key)}",
        f"{t['maker']}: {_who(seal['maker'], key)}",
        f"{t['cert_list']}:",
        *(f"    - {_who(entry, key)}" for entry in seal["cert_list"]),
        f"{t['picture']}: {visible(picture['type'])}, {picture['size']} {t['bytes']}, "
        f"{picture['width_mm']} × {picture['height_mm']} mm",
    ]
    signature = report.get("signature")
    if signature is not None:
        given = signature["signed_document"]
        lines += [
            "",
            f"{t['signer']}: {_who(signature['signed_by'] or {}, key)}",
            f"{t['claimed']}: {moment(signature['claimed_signing_time'], key) or '?'}",
            f"{t['property_info']}: {visible(signature['property_info'])}",
            f"{t['signed_document']}: "
            + (
                t["not_given"]
                if given is None
                else f"{visible(given['name'])} (sha256 {given['sha256'][:16]}…)"
            ),
        ]
    lines += ["", f"{t['checks']}:"]
    names = _CHECKS[key]
    lines += [f"    {names.get(c['check'], c['check'])}: {t[c['result']]}" for c in report["checks"]]
    lines += ["", f"{t['findings']}:" if report["findings"] else f"{t['findings']}: {t['none']}"]
    for finding in report["findings"]:
        detail = finding_detail(finding, key)
        detail = f" ({visible(detail)})" if detail else ""
        code = f" {finding['code']}" if key == "en" else ""
        lines.append(
            f"  - {label('severity', finding['severity'], key)}{code}: {finding['message'][key]}{detail}"
        )
        lines.append(f"      {t['remedy']}: {finding['remedy'][key]}")
    return "\n".join(lines) + "\n"


def _who(identity: dict[str, Any], lang: str) -> str:
    if "digest" in identity:
        return f"{identity['digest_algorithm']} {identity['digest'][:16]}…"
    name = identity.get("name") or identity.get("subject") or "?"
    uscc = f", {identity['uscc']}" if identity.get("uscc") else ""
    serial = "序列号" if lang == "zh" else "serial"
    return visible(f"{name}{uscc} ({serial} {identity.get('serial', '?')})")
