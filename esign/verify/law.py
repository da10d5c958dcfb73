"""PRC Electronic Signature Law art. 13: the four conditions of a reliable electronic signature.

Each condition is decided from the signature's checks and findings by one table row: findings that
*defeat* it (not met), findings that leave it *in doubt* (undetermined), and checks that must hold
for it to be met. The mapping and its reasons are documented in docs/reliable-signature.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from esign.findings import FindingCode as F
from esign.policy import ValidationPolicy
from esign.report.model import CONDITIONS, Checks, Condition, ConditionStatus, Indication, ReliableSignature


@dataclass(frozen=True)
class _Rule:
    defeats: frozenset[F]
    doubts: frozenset[F]
    holds: Callable[[Checks, ValidationPolicy, frozenset[F]], bool]


def _codes(*codes: F) -> frozenset[F]:
    return frozenset(codes)


_RULES: dict[str, _Rule] = {
    # 电子签名制作数据用于电子签名时，属于电子签名人专有 — the key is the named signer's alone
    "exclusive_to_signer": _Rule(
        # GB/T 38540: a seal the maker did not sign, or whose certList does not name the signer, was
        # never this signer's to use
        defeats=_codes(
            F.SIGNATURE_VALUE_INVALID,
            F.WEAK_KEY,
            F.CERTIFICATE_REVOKED,
            F.KEY_USAGE_NOT_ALLOWED,
            F.SES_SEAL_SIGNATURE_INVALID,
            F.SES_SIGNER_NOT_IN_SEAL,
        ),
        doubts=_codes(
            F.SIGNING_CERTIFICATE_NOT_FOUND,
            F.CHAIN_UNTRUSTED,
            F.CHAIN_INVALID,
            F.CA_CERTIFICATE_REVOKED,
            F.CERTIFICATE_REVOKED_LATER,
            F.GBT38540_SIGNATURE,
            F.CONTENTS_NOT_CMS,
            F.VALIDATION_ERROR,
        ),
        holds=lambda c, p, f: c.crypto == "ok" and c.chain == "trusted",
    ),
    # 签署时电子签名制作数据仅由电子签名人控制 — at signing time the key was valid and not compromised
    "sole_control": _Rule(
        # a seal used outside its validity window was not the signer's to use at that time
        defeats=_codes(F.CERTIFICATE_REVOKED, F.CERTIFICATE_NOT_YET_VALID, F.SES_SEAL_OUTSIDE_VALIDITY),
        doubts=_codes(
            F.CERTIFICATE_REVOKED_LATER,
            F.CA_CERTIFICATE_REVOKED,
            F.CERTIFICATE_EXPIRED,
            F.REVOCATION_DATA_STALE,
            F.TIMESTAMP_INVALID,
            F.CHAIN_UNTRUSTED,
            F.CHAIN_INVALID,
            F.VALIDATION_ERROR,
        ),
        holds=lambda c, p, f: (
            c.chain == "trusted"
            and not (p.require_revocation_data and F.REVOCATION_DATA_MISSING in f)
            and not (p.require_timestamp and F.NO_TIMESTAMP in f)
            and not (p.require_timestamp and F.TIMESTAMP_UNTRUSTED in f)
        ),
    ),
    # 签署后对电子签名的任何改动能够被发现 — the signature itself is intact and strong
    "signature_change_detectable": _Rule(
        defeats=_codes(
            F.DIGEST_MISMATCH,
            F.SIGNATURE_VALUE_INVALID,
            F.WEAK_DIGEST_ALGORITHM,
            F.BYTERANGE_INVALID,
            F.CONTENTS_NOT_CMS,
            F.CMS_STRUCTURE_INVALID,
        ),
        doubts=_codes(
            F.GBT38540_SIGNATURE, F.UNSUPPORTED_SUBFILTER, F.UNSUPPORTED_ALGORITHM, F.VALIDATION_ERROR
        ),
        holds=lambda c, p, f: c.integrity == "ok" and c.crypto == "ok",
    ),
    # 签署后对数据电文内容和形式的任何改动能够被发现 — what was signed is what is shown
    "content_change_detectable": _Rule(
        defeats=_codes(F.DIGEST_MISMATCH, F.BYTERANGE_INVALID, F.COVERAGE_PARTIAL, F.MODIFIED_AFTER_SIGNING),
        doubts=_codes(
            F.MODIFICATION_CHECK_UNAVAILABLE,
            F.TIME_BUDGET_EXCEEDED,
            F.VALIDATION_ERROR,
            F.UPDATE_NOT_WELL_FORMED,
            F.ANNOTATIONS_OVERLAP,
            F.RENDER_LIMIT_EXCEEDED,
        ),
        holds=lambda c, p, f: (
            c.integrity == "ok"
            and c.coverage in ("entire_file", "entire_revision")
            and c.modifications in ("none", "permitted")
        ),
    ),
}


def reliable_signature(
    checks: Checks,
    indication: Indication,
    findings: frozenset[F],
    policy: ValidationPolicy,
    change_defeats: frozenset[F] = frozenset(),
) -> ReliableSignature:
    """The art. 13 verdict; ``change_defeats`` are change-analysis codes that were not permitted."""
    conditions: dict[str, Condition] = {}
    for name in CONDITIONS:
        rule = _RULES[name]
        defeats = rule.defeats | change_defeats if name == "content_change_detectable" else rule.defeats
        relevant = tuple(sorted(code.name for code in findings & (defeats | rule.doubts)))
        status: ConditionStatus
        if findings & defeats:
            status = "not_met"
        elif findings & rule.doubts or not rule.holds(checks, policy, findings):
            status = "undetermined"
        else:
            status = "met"
        conditions[name] = Condition(status, relevant)
    statuses = {c.status for c in conditions.values()}
    if "not_met" in statuses:
        verdict = "not_reliable"
    elif statuses == {"met"} and indication is Indication.TOTAL_PASSED:
        verdict = "reliable"
    else:
        verdict = "undetermined"
    return ReliableSignature(verdict, conditions)  # type: ignore[arg-type]
