"""The report for people: Chinese by default, English on request, every finding with its remedy.

Every string that comes from the upload (its file name, the PDF's field names, the certificate's
names, finding details quoting the document) goes through :func:`visible`: a newline in a file
name must not start a line of its own that reads "Overall result: TOTAL_PASSED", and bidi controls
must not reorder what a clerk reads.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["render_text", "visible"]

#: C0/C1 controls and line breaks, zero-width characters, bidi embeddings/overrides/isolates, BOM
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def visible(text: str) -> str:
    """``text`` with every character that could move, hide or fake report text shown as ``\\uXXXX``."""
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


_LABELS = {
    "zh": {
        "document": "文件",
        "indication": "总体结论",
        "signature": "签名",
        "timestamp": "文档时间戳",
        "unsupported": "不支持的签名",
        "signer": "签署者",
        "time": "签署时间",
        "level": "格式",
        "checks": "检查",
        "reliable": "可靠电子签名（《电子签名法》第十三条）",
        "findings": "发现的问题",
        "remedy": "建议",
        "none": "无",
    },
    "en": {
        "document": "Document",
        "indication": "Overall result",
        "signature": "Signature",
        "timestamp": "Document timestamp",
        "unsupported": "Unsupported signature",
        "signer": "Signer",
        "time": "Signing time",
        "level": "Format",
        "checks": "Checks",
        "reliable": "Reliable e-signature (Electronic Signature Law art. 13)",
        "findings": "Findings",
        "remedy": "What to do",
        "none": "none",
    },
}
_KIND_LABEL = {"signature": "signature", "document_timestamp": "timestamp", "unsupported": "unsupported"}


def render_text(report: dict[str, Any], lang: str = "zh") -> str:
    """Render ``Report.to_dict()``; works from the dict so stored JSON reports can be re-rendered."""
    t = _LABELS["en" if lang == "en" else "zh"]
    doc = report["document"]
    lines = [
        f"{t['document']}: {visible(doc['name'])}  ({doc['size']} bytes, sha256 {doc['sha256'][:16]}…)",
        f"{t['indication']}: {report['indication']}",
    ]
    for sig in report["signatures"]:
        who = (
            (sig.get("signed_by") or {}).get("name")
            or (sig.get("signed_by") or {}).get("organization")
            or (sig.get("signed_by") or {}).get("subject")
            or "?"
        )
        verdict = sig["indication"] + (f" / {sig['subindication']}" if sig["subindication"] else "")
        checks = ", ".join(f"{k}={v}" for k, v in sig["checks"].items())
        lines += [
            "",
            f"[{sig['index']}] {t[_KIND_LABEL[sig['kind']]]} «{visible(sig['field'])}»: {verdict}",
            f"    {t['signer']}: {visible(who)}",
            f"    {t['time']}: {sig['best_signature_time'] or sig['claimed_signing_time'] or '?'}",
            f"    {t['level']}: {sig['format']}",
            f"    {t['checks']}: {checks}",
            f"    {t['reliable']}: {sig['reliable_esignature']['verdict']}",
        ]
    lines += ["", f"{t['findings']}:" if report["findings"] else f"{t['findings']}: {t['none']}"]
    key = "en" if lang == "en" else "zh"
    for finding in report["findings"]:
        where = "" if finding["signature"] is None else f"[{finding['signature']}] "
        detail = f" ({visible(str(finding['detail']))})" if finding.get("detail") else ""
        lines.append(
            f"  - {where}{finding['severity'].upper()} {finding['code']}: {finding['message'][key]}{detail}"
        )
        lines.append(f"      {t['remedy']}: {finding['remedy'][key]}")
    return "\n".join(lines) + "\n"
