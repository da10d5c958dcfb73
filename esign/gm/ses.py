"""Codec for electronic seals (``SESeal``) and seal signatures (``SES_Signature``).

Three versions exist in the field:

* version 1 — GM/T 0031-2014: the maker's signature sits in a nested ``SES_SignInfo``, times are
  UTCTime, the signer's certificate and algorithm are inside ``TBS_Sign``;
* version 4 — GB/T 38540-2020: flat ``SESeal``/``SES_Signature``, GeneralizedTime, ``certListType``
  choosing certificates or certificate digests, optional timestamp on the signature;
* version 5 — GM/T 0031-2025: version 4's layout plus an optional timestamp on the seal itself.

Versions 4 and 5 therefore share one set of classes (the version number is data, in the header and
in ``TBS_Sign``). Parsing is lazy in asn1crypto, so :func:`parse_seal` and :func:`parse_signature`
force a full parse inside a guard: hostile bytes give :class:`EsignError` (``SES_MALFORMED``), never
an asn1crypto exception. Unchanged parsed values dump to the very bytes they were read from — the
signatures cover those bytes, so a verifier must never re-encode.
"""

from __future__ import annotations

from typing import ClassVar

from asn1crypto import core

from esign.errors import ErrorCode, EsignError

#: A seal is a few certificates and one picture; anything far larger is not a seal but an attack.
MAX_SES_BYTES = 16 * 1024 * 1024

#: ``certListType`` values (GB/T 38540 §7.2): whole certificates, or (digest type, digest) pairs.
CERT_LIST_CERTIFICATES = 1
CERT_LIST_DIGESTS = 2


class SESHeader(core.Sequence):
    """``id`` is always "ES"; ``vid`` names the vendor of the seal system."""

    _fields: ClassVar[list[tuple]] = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class ExtData(core.Sequence):
    _fields: ClassVar[list[tuple]] = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    _child_spec = ExtData


class CertInfoList(core.SequenceOf):
    """DER certificates, each wrapped in an OCTET STRING."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    _fields: ClassVar[list[tuple]] = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(core.SequenceOf):
    _child_spec = CertDigestObj


class SESPictureInfo(core.Sequence):
    """The seal's picture (``SES_ESPictrueInfo`` in the standard); width and height in millimetres."""

    _fields: ClassVar[list[tuple]] = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class SESPropertyInfo(core.Sequence):
    """Versions 4/5. ``cert_list`` is a CHOICE of two SEQUENCE OFs told apart only by ``cert_list_type``."""

    _fields: ClassVar[list[tuple]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]

    def certificates(self) -> list[bytes]:
        """DER certificates of the authorised signers (empty when the list holds digests)."""
        if self["cert_list_type"].native != CERT_LIST_CERTIFICATES:
            return []
        return [entry.native for entry in CertInfoList.load(self["cert_list"].dump())]

    def cert_digests(self) -> list[tuple[str, bytes]]:
        """(digest algorithm name as written, digest) pairs (empty when the list holds certificates)."""
        if self["cert_list_type"].native != CERT_LIST_DIGESTS:
            return []
        return [(d["type"].native, d["value"].native) for d in CertDigestList.load(self["cert_list"].dump())]


class SESPropertyInfoV1(core.Sequence):
    _fields: ClassVar[list[tuple]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", CertInfoList),
        ("create_date", core.UTCTime),
        ("valid_start", core.UTCTime),
        ("valid_end", core.UTCTime),
    ]

    def certificates(self) -> list[bytes]:
        return [entry.native for entry in self["cert_list"]]

    def cert_digests(self) -> list[tuple[str, bytes]]:
        return []


class SESSealInfo(core.Sequence):
    """What the seal maker signs (versions 4/5): the DER of this structure, not of the whole seal."""

    _fields: ClassVar[list[tuple]] = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", SESPropertyInfo),
        ("picture", SESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESSealInfoV1(core.Sequence):
    _fields: ClassVar[list[tuple]] = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", SESPropertyInfoV1),
        ("picture", SESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):
    """Versions 4 and 5 (``time_stamp`` only in 5). ``cert`` is the seal maker's DER certificate."""

    _fields: ClassVar[list[tuple]] = [
        ("e_seal_info", SESSealInfo),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class SESSignInfoV1(core.Sequence):
    _fields: ClassVar[list[tuple]] = [
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", core.OctetBitString),
    ]


class SESealV1(core.Sequence):
    _fields: ClassVar[list[tuple]] = [
        ("e_seal_info", SESSealInfoV1),
        ("sign_info", SESSignInfoV1),
    ]


class SealSignedDataV1(core.Sequence):
    """Version 1's maker signs SEQUENCE { sealInfo, cert, signatureAlgorithm } (GM/T 0031-2014 §7.1)."""

    _fields: ClassVar[list[tuple]] = [
        ("e_seal_info", SESSealInfoV1),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class TBSSign(core.Sequence):
    """Versions 4/5: what the signer signs (the DER of this structure)."""

    _fields: ClassVar[list[tuple]] = [
        ("version", core.Integer),
        ("eseal", SESeal),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESSignature(core.Sequence):
    """Versions 4/5. ``time_stamp`` is an RFC 3161 TimeStampToken over the signature value."""

    _fields: ClassVar[list[tuple]] = [
        ("to_sign", TBSSign),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class TBSSignV1(core.Sequence):
    """Version 1: ``time_info`` is a BIT STRING (a UTCTime text or a timestamp, by the 2014 text)."""

    _fields: ClassVar[list[tuple]] = [
        ("version", core.Integer),
        ("eseal", SESealV1),
        ("time_info", core.OctetBitString),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SESSignatureV1(core.Sequence):
    _fields: ClassVar[list[tuple]] = [
        ("to_sign", TBSSignV1),
        ("signature", core.OctetBitString),
    ]


AnySeal = SESeal | SESealV1
AnySignature = SESSignature | SESSignatureV1

#: Versions this codec reads; 2 and 3 were drafts never deployed.
KNOWN_VERSIONS = frozenset({1, 4, 5})

_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def parse_seal(der: bytes) -> AnySeal:
    """An electronic seal (``.esl``) of version 1, 4 or 5, fully parsed."""
    return _parse(der, "SESeal", _seal_class)


def parse_signature(der: bytes) -> AnySignature:
    """A seal signature (``SES_Signature``) of version 1, 4 or 5, fully parsed."""
    return _parse(der, "SES_Signature", _signature_class)


def seal_version(seal: AnySeal) -> int:
    return int(seal["e_seal_info"]["header"]["version"].native)


def seal_signed_bytes(seal: AnySeal) -> bytes:
    """The bytes the seal maker signed, built from the stored encodings (never re-encoded).

    Versions 4/5: the DER of ``SES_SealInfo``. Version 1: the DER of :class:`SealSignedDataV1`.
    """
    if isinstance(seal, SESealV1):
        info = seal["sign_info"]
        return SealSignedDataV1(
            {
                "e_seal_info": seal["e_seal_info"],
                "cert": info["cert"],
                "signature_algorithm": info["signature_algorithm"],
            }
        ).dump()
    return seal["e_seal_info"].dump()


def seal_maker_signature(seal: AnySeal) -> tuple[bytes, str, bytes]:
    """(maker certificate DER, signature algorithm OID, signature value)."""
    if isinstance(seal, SESealV1):
        info = seal["sign_info"]
        return info["cert"].native, info["signature_algorithm"].dotted, info["sign_data"].native
    return seal["cert"].native, seal["sign_alg_id"].dotted, seal["signed_value"].native


def signature_signer(signature: AnySignature) -> tuple[bytes, str, bytes]:
    """(signer certificate DER, signature algorithm OID, signature value)."""
    if isinstance(signature, SESSignatureV1):
        tbs = signature["to_sign"]
        return tbs["cert"].native, tbs["signature_algorithm"].dotted, signature["signature"].native
    return signature["cert"].native, signature["signature_algorithm"].dotted, signature["signature"].native


def _seal_class(version: int) -> type[AnySeal]:
    return SESealV1 if version == 1 else SESeal


def _signature_class(version: int) -> type[AnySignature]:
    return SESSignatureV1 if version == 1 else SESSignature


def _parse(der: bytes, what: str, class_for: object) -> core.Sequence:
    if len(der) > MAX_SES_BYTES:
        raise EsignError(ErrorCode.SES_MALFORMED, what=what, detail=f"larger than {MAX_SES_BYTES} bytes")
    try:
        version = _peek_version(der, what)
        if version not in KNOWN_VERSIONS:
            raise EsignError(ErrorCode.SES_MALFORMED, what=what, detail=f"unknown version {version}")
        parsed = class_for(version).load(der, strict=True)  # type: ignore[operator]
        _ = parsed.native  # force the lazy parse of every field, here, inside the guard
        if isinstance(parsed, SESeal):
            parsed["e_seal_info"]["property"].certificates()
            parsed["e_seal_info"]["property"].cert_digests()
        elif isinstance(parsed, SESSignature):
            parsed["to_sign"]["eseal"]["e_seal_info"]["property"].certificates()
            parsed["to_sign"]["eseal"]["e_seal_info"]["property"].cert_digests()
    except EsignError:
        raise
    except _PARSE_ERRORS as exc:
        raise EsignError(ErrorCode.SES_MALFORMED, what=what, detail=str(exc)[:200]) from None
    return parsed


class _Elements(core.SequenceOf):
    """Any SEQUENCE, element by element: lets us read the version before choosing the version's classes."""

    _child_spec = core.Any


def _peek_version(der: bytes, what: str) -> int:
    """The version number, found where every version keeps it (header of the seal info, or TBS_Sign)."""
    first = _Elements.load(der)[0]
    if what == "SESeal":
        header = _Elements.load(first.dump())[0]
        return int(SESHeader.load(header.dump())["version"].native)
    return int(core.Integer.load(_Elements.load(first.dump())[0].dump()).native)
