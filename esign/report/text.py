"""The report for people: Chinese by default, English on request, every finding with its remedy.

Every string that comes from the upload (its file name, the PDF's field names, the certificate's
names, finding details quoting the document) goes through :func:`visible`: a newline in a file
name must not start a line of its own that reads "Overall result: TOTAL_PASSED", and bidi controls
must not reorder what a clerk reads.
"""

from __future__ import annotations

import re
from typing import Any

from esign.report.labels import finding_detail, label, signing_times

__all__ = ["coded", "render_text", "visible"]

#: C0/C1 controls and line breaks, zero-width characters, bidi embeddings/overrides/isolates, BOM
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def visible(text: str) -> str:
    """``text`` with every character that could move, hide or fake report text shown as ``\\uXXXX``."""
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


_LABELS = {
    "zh": {
        "document": "文件",
        "indication": "总体结论",
        "signer": "签署者",
        "level": "格式",
        "checks": "检查",
        "reliable": "可靠电子签名（《电子签名法》第十三条）",
        "findings": "发现的问题",
        "remedy": "建议",
        "none": "无",
        "bytes": "字节",
        "sep": "；",
        "colon": "：",
    },
    "en": {
        "document": "Document",
        "indication": "Overall result",
        "signer": "Signer",
        "level": "Format",
        "checks": "Checks",
        "reliable": "Reliable e-signature (Electronic Signature Law art. 13)",
        "findings": "Findings",
        "remedy": "What to do",
        "none": "none",
        "bytes": "bytes",
        "sep": ", ",
        "colon": " ",
    },
}


def render_text(report: dict[str, Any], lang: str = "zh") -> str:
    """Render ``Report.to_dict()``; works from the dict so stored JSON reports can be re-rendered.

    Chinese shows labels only; English adds the stable codes in brackets for support staff.
    Signatures are numbered from 1, as on the web page (the JSON ``index`` stays 0-based).
    """
    key = "en" if lang == "en" else "zh"
    t = _LABELS[key]
    doc = report["document"]
    lines = [
        f"{t['document']}: {visible(doc['name'])}  ({doc['size']} {t['bytes']}, "
        f"sha256 {doc['sha256'][:16]}…)",
        f"{t['indication']}: {coded('indication', report['indication'], key)}",
    ]
    for sig in report["signatures"]:
        who = (
            (sig.get("signed_by") or {}).get("name")
            or (sig.get("signed_by") or {}).get("organization")
            or (sig.get("signed_by") or {}).get("subject")
            or "?"
        )
        verdict = coded("indication", sig["indication"], key)
        if sig["subindication"]:
            verdict += " / " + coded("subindication", sig["subindication"], key)
        checks = t["sep"].join(
            f"{label('check', name, key)}{t['colon']}{label('value', value, key)}"
            for name, value in sig["checks"].items()
        )
        times = signing_times(sig, report.get("validation_time"), key)
        lines += [
            "",
            f"[{sig['index'] + 1}] {label('kind', sig['kind'], key)} «{visible(sig['field'])}»: {verdict}",
            f"    {t['signer']}: {visible(who)}",
            *(f"    {name}: {value}" for name, value in times),
            f"    {t['level']}: {sig['format']}",
            f"    {t['checks']}: {checks}",
            f"    {t['reliable']}: {coded('reliability', sig['reliable_esignature']['verdict'], key)}",
        ]
    lines += ["", f"{t['findings']}:" if report["findings"] else f"{t['findings']}: {t['none']}"]
    for finding in report["findings"]:
        where = "" if finding["signature"] is None else f"[{finding['signature'] + 1}] "
        detail = finding_detail(finding, key)
        detail = f" ({visible(detail)})" if detail else ""
        severity = label("severity", finding["severity"], key)
        code = f" {finding['code']}" if key == "en" else ""
        lines.append(f"  - {where}{severity}{code}: {finding['message'][key]}{detail}")
        lines.append(f"      {t['remedy']}: {finding['remedy'][key]}")
    return "\n".join(lines) + "\n"


def coded(table: str, code: str, lang: str) -> str:
    """A code's label; English adds the code itself, which support staff and documentation use."""
    text = label(table, code, lang)
    return f"{text} ({code})" if lang == "en" and text != code else text
