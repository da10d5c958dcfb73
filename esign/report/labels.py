"""What people read for the report's codes: labels in Chinese and English, and times a clerk can trust.

The JSON report keeps the stable codes (``TOTAL_PASSED``, ``integrity: ok``); the text report and the
web page (api/web/app.js mirrors these tables) show these labels instead, because a Chinese clerk
should not have to read enum names. Signing time is the subtle one: without a timestamp,
``best_signature_time`` is merely the moment of verification, so people are shown the time the
signer claims — marked as a claim — and, when there is one, the timestamp's time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from esign.errors import chinese_detail

__all__ = ["BEIJING", "finding_detail", "label", "moment", "signing_times"]

BEIJING = timezone(timedelta(hours=8))

_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "indication": {
        "zh": {
            "TOTAL_PASSED": "验证通过",
            "TOTAL_FAILED": "验证失败",
            "INDETERMINATE": "无法确定",
            "NO_SIGNATURE_FOUND": "没有电子签名",
        },
        "en": {
            "TOTAL_PASSED": "Passed",
            "TOTAL_FAILED": "Failed",
            "INDETERMINATE": "Indeterminate",
            "NO_SIGNATURE_FOUND": "No signature",
        },
    },
    "subindication": {
        "zh": {
            "FORMAT_FAILURE": "签名格式错误",
            "HASH_FAILURE": "文件摘要不符（签名后被改动）",
            "SIG_CRYPTO_FAILURE": "签名值验证失败",
            "REVOKED": "证书已吊销",
            "SIG_CONSTRAINTS_FAILURE": "不满足签名要求",
            "CHAIN_CONSTRAINTS_FAILURE": "不满足证书链要求",
            "CERTIFICATE_CHAIN_GENERAL_FAILURE": "证书链验证失败",
            "CRYPTO_CONSTRAINTS_FAILURE": "算法强度不满足要求",
            "EXPIRED": "证书已过期",
            "NOT_YET_VALID": "证书尚未生效",
            "POLICY_PROCESSING_ERROR": "验证策略处理出错",
            "SIGNATURE_POLICY_NOT_AVAILABLE": "签名策略不可用",
            "TIMESTAMP_ORDER_FAILURE": "时间戳顺序错误",
            "NO_SIGNING_CERTIFICATE_FOUND": "找不到签名证书",
            "NO_CERTIFICATE_CHAIN_FOUND": "找不到可信的证书链",
            "REVOKED_NO_POE": "证书已吊销，且无签名早于吊销的证明",
            "REVOKED_CA_NO_POE": "上级证书已吊销，且无签名早于吊销的证明",
            "OUT_OF_BOUNDS_NO_POE": "验证时间不在证书有效期内，且无签名时间证明",
            "OUT_OF_BOUNDS_NOT_REVOKED": "验证时间不在证书有效期内（证书未被吊销）",
            "REVOCATION_OUT_OF_BOUNDS_NO_POE": "吊销信息不在有效期内，且无签名时间证明",
            "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "算法强度不足，且无签名时间证明",
            "NO_POE": "缺少签名时间证明",
            "TRY_LATER": "暂时无法获取吊销信息，请稍后重试",
            "SIGNED_DATA_NOT_FOUND": "找不到被签名的数据",
        },
        "en": {},  # the EN 319 102-1 names are the English labels
    },
    "kind": {
        "zh": {"signature": "签名", "document_timestamp": "文档时间戳", "unsupported": "不支持的签名"},
        "en": {
            "signature": "Signature",
            "document_timestamp": "Document timestamp",
            "unsupported": "Unsupported signature",
        },
    },
    "check": {
        "zh": {
            "integrity": "完整性",
            "crypto": "签名值",
            "chain": "证书链",
            "coverage": "签名范围",
            "modifications": "签名后改动",
        },
        "en": {
            "integrity": "integrity",
            "crypto": "signature value",
            "chain": "certificate chain",
            "coverage": "coverage",
            "modifications": "changes after signing",
        },
    },
    "value": {
        "zh": {
            "ok": "正常",
            "broken": "已被破坏",
            "failed": "验证失败",
            "unknown": "无法确定",
            "trusted": "可信",
            "untrusted": "不可信",
            "revoked": "已吊销",
            "expired": "已过期",
            "not_yet_valid": "尚未生效",
            "entire_file": "整个文件",
            "entire_revision": "整个签名版本",
            "partial": "仅部分内容",
            "none": "无",
            "permitted": "仅有允许的改动",
            "suspicious": "有可疑改动",
        },
        "en": {
            "ok": "ok",
            "broken": "broken",
            "failed": "failed",
            "unknown": "unknown",
            "trusted": "trusted",
            "untrusted": "untrusted",
            "revoked": "revoked",
            "expired": "expired",
            "not_yet_valid": "not yet valid",
            "entire_file": "entire file",
            "entire_revision": "entire revision",
            "partial": "partial",
            "none": "none",
            "permitted": "permitted only",
            "suspicious": "suspicious",
        },
    },
    "reliability": {
        "zh": {"reliable": "可靠", "not_reliable": "不可靠", "undetermined": "无法确定"},
        "en": {"reliable": "reliable", "not_reliable": "not reliable", "undetermined": "undetermined"},
    },
    "severity": {
        "zh": {"error": "错误", "warning": "警告", "info": "提示"},
        "en": {"error": "Error", "warning": "Warning", "info": "Info"},
    },
}


def label(table: str, code: str | None, lang: str = "zh") -> str:
    """The ``lang`` label of a report code; an unknown code (a newer verifier) shows as it is."""
    if code is None:
        return ""
    return _LABELS[table]["en" if lang == "en" else "zh"].get(code, code)


def moment(iso: str | None, lang: str = "zh") -> str | None:
    """An ISO time as people read it: Beijing time with its zone for zh, UTC for en, whole seconds."""
    if not iso:
        return None
    when = datetime.fromisoformat(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if lang == "en":
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S 北京时间 (UTC+8)")


_TIME_TEXT = {
    "zh": {
        "claimed": "签署时间",
        "claimed_note": "签署人自述时间，无可信时间戳",
        "timestamp": "可信时间戳时间",
        "signer_says": "签署人自述时间",
        "unknown": "未知",
    },
    "en": {
        "claimed": "Signing time",
        "claimed_note": "claimed by the signer, no trusted timestamp",
        "timestamp": "Trusted timestamp time",
        "signer_says": "Time claimed by the signer",
        "unknown": "unknown",
    },
}


def signing_times(
    signature: dict[str, Any], validation_time: str | None, lang: str = "zh"
) -> list[tuple[str, str]]:
    """(label, value) rows for a signature's times, read from ``SignatureResult.to_dict()``.

    ``best_signature_time`` is a proven time only when it is not the validation time (pyHanko and
    our pipeline fall back to the validation time when nothing proves an earlier one).
    """
    t = _TIME_TEXT["en" if lang == "en" else "zh"]
    claimed = moment(signature.get("claimed_signing_time"), lang)
    best = signature.get("best_signature_time")
    if signature.get("kind") == "document_timestamp":
        return [(t["timestamp"], claimed or t["unknown"])]
    if best and best != validation_time:
        rows = [(t["timestamp"], moment(best, lang) or t["unknown"])]
        if claimed:
            rows.append((t["signer_says"], claimed))
        return rows
    note = f" ({t['claimed_note']})" if lang == "en" else f"（{t['claimed_note']}）"
    return [(t["claimed"], (claimed or t["unknown"]) + note)]


def finding_detail(finding: dict[str, Any], lang: str = "zh") -> str:
    """A finding's technical detail in ``lang``; reports stored before ``detail_zh`` existed still work."""
    detail = str(finding.get("detail") or "")
    if lang == "en" or not detail:
        return detail
    return finding.get("detail_zh") or chinese_detail(None, detail)
