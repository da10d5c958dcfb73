"""What a signature's /Contents holds (CMS, a GB/T 38540 seal, or junk), which level it reaches, and
whether its CMS is encoded as the standards require.

Recognising a GB/T 38540 SES_Signature that esign.gm cannot parse still matters: an applicant holding
a damaged Chinese seal must be told "unsupported format", not "forged".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asn1crypto import cms, core, parser

_GM_OID_PREFIX = "1.2.156.10197."

ContentsKind = Literal["cms", "malformed_cms", "gbt38540", "not_cms"]
#: the SignerInfo fields every verification reads; attributes are read (and judged) one by one where used,
#: since signers put values in them that asn1crypto's specs do not expect (DSS plugtests)
_VERIFIED_FIELDS = ("sid", "digest_algorithm", "signature_algorithm", "signature")
#: bound on the ASN.1 nodes inspected for malformed integers (a CMS with embedded CRLs stays far below)
MAX_ASN1_NODES = 200_000


@dataclass(frozen=True)
class ParsedContents:
    kind: ContentsKind
    signed_data: cms.SignedData | None = None
    detail: str = ""


def parse_contents(contents: bytes) -> ParsedContents:
    """Classify /Contents; a CMS value is checked deep enough that later code can index it safely."""
    try:
        info = cms.ContentInfo.load(contents)
        if info["content_type"].native != "signed_data":
            raise ValueError(f"content type is {info['content_type'].native}, not signed_data")
        signed_data = info["content"]
        _ = signed_data["encap_content_info"]["content_type"].native
        _ = len(signed_data["signer_infos"])
        malformed = _unreadable_part(signed_data) or malformed_integer(contents)
        if malformed is not None:
            return ParsedContents("malformed_cms", signed_data, malformed)
        return ParsedContents("cms", signed_data)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        if _is_ses_signature(contents):
            return ParsedContents("gbt38540", detail="GB/T 38540 SES_Signature")
        return ParsedContents("not_cms", detail=str(exc)[:200] or type(exc).__name__)


def _unreadable_part(signed_data: cms.SignedData) -> str | None:
    """Which part of the CMS asn1crypto cannot parse, or None.

    asn1crypto parses lazily, so a malformed SignerInfo would otherwise surface as a bare parsing error
    deep inside pyHanko; here it is a malformed CMS, said once, before anything is judged. Certificates
    are left to certvalidator: one extension asn1crypto cannot read must not sink a valid signature.
    """
    parts = [
        (f"SignerInfo {name.replace('_', ' ')}", signer_info[name])
        for signer_info in signed_data["signer_infos"]
        for name in _VERIFIED_FIELDS
    ]
    for name, value in parts:
        try:
            _ = value.native
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            return f"the CMS {name} cannot be read: {str(exc)[:160]}"
    return None


def der_value(contents: bytes) -> bytes:
    """The DER value at the start of a /Contents string, without the zero padding that follows it.

    The padding cannot simply be stripped: a DER value may itself end in 00 (a signature value, one
    time in 256), and stripping it would make a well-formed signature unreadable. The value's own
    length says where it ends; a value whose header cannot be read is returned as it is.
    """
    try:
        _, _, _, header, content, trailer = parser.parse(contents)
    except ValueError:
        return contents
    return contents[: len(header) + len(content) + len(trailer)]


def malformed_integer(der: bytes) -> str | None:
    """Where the first INTEGER with redundant leading octets is, or None.

    X.690 §8.3.2 forbids them in BER as well as DER (a serial number ``00 50 …``), so such a CMS is not
    a well-formed PKCS#7 object, as ISO 32000 requires of /Contents; asn1crypto reads it anyway, strict
    parsers (BouncyCastle, Go) refuse it. Only constructed values are descended into.
    """
    stack = [(der_value(der), 0)]
    nodes = 0
    while stack:
        buffer, base = stack.pop()
        at = 0
        while at < len(buffer):
            nodes += 1
            if nodes > MAX_ASN1_NODES:
                return None
            try:
                cls, constructed, tag, header, content, trailer = parser.parse(buffer[at:])
            except ValueError:
                return None  # not for this check to judge: the CMS parser has its say
            if constructed:
                stack.append((content, base + at + len(header)))
            elif cls == 0 and tag == 2 and len(content) > 1 and _redundant(content[0], content[1]):
                return f"INTEGER with a redundant leading octet at offset {base + at} (X.690 8.3.2)"
            at += len(header) + len(content) + len(trailer)
    return None


def _redundant(first: int, second: int) -> bool:
    return (first == 0x00 and second < 0x80) or (first == 0xFF and second >= 0x80)


def _is_ses_signature(contents: bytes) -> bool:
    """SES_Signature (v1–v5): SEQUENCE { TBS_Sign SEQUENCE { version INTEGER, … }, …, SM2 OID, signature }."""
    try:
        outer = core.Sequence.load(der_value(contents))
        children = [outer[i] for i in range(len(outer))]
        if len(children) < 3 or children[0].tag != 16:
            return False
        tbs = core.Sequence.load(children[0].dump())
        if len(tbs) < 3 or tbs[0].tag != 2:
            return False
        oids = [c for c in children[1:3] if c.tag == 6]
        return any(core.ObjectIdentifier.load(o.dump()).dotted.startswith(_GM_OID_PREFIX) for o in oids)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return False


def signature_level(*, pades: bool, timestamped: bool, revocation_embedded: bool, archived: bool) -> str:
    """PAdES-BASELINE-B/T/LT/LTA for ETSI.CAdES.detached, PKCS7-B/T/LT/LTA for the Adobe SubFilters."""
    prefix = "PAdES-BASELINE" if pades else "PKCS7"
    if not timestamped:
        return f"{prefix}-B"
    if not revocation_embedded:
        return f"{prefix}-T"
    return f"{prefix}-LTA" if archived else f"{prefix}-LT"


def signed_attributes_in_der_order(signer_info: cms.SignerInfo) -> bool:
    """Whether the signed attributes are a DER SET OF (children in ascending order of their encodings).

    RFC 5652 §5.4 computes the signature over the DER encoding of the signed attributes. Some signers
    sign them in another order; lenient verifiers (pyHanko, NSS) check the bytes as found, strict ones
    (BouncyCastle, hence DSS) re-encode them in DER first.
    """
    attributes = signer_info["signed_attrs"]
    encodings = [attributes[i].dump() for i in range(len(attributes))]
    return encodings == sorted(encodings)


def with_der_signed_attributes(signed_data: cms.SignedData) -> cms.SignedData:
    """A copy whose first SignerInfo carries its signed attributes in DER order."""
    copy = signed_data.copy()
    signer_info = copy["signer_infos"][0].copy()
    attributes = signer_info["signed_attrs"]
    ordered = sorted((attributes[i].copy() for i in range(len(attributes))), key=lambda a: a.dump())
    signer_info["signed_attrs"] = cms.CMSAttributes(ordered)
    copy["signer_infos"] = cms.SignerInfos([signer_info])
    return copy
