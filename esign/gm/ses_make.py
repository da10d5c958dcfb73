"""Writing version-4 (GB/T 38540-2020) seals and seal signatures — the only version we produce.

A seal (``.esl``) is made once, by the seal maker (制章者), when a seal is registered: it binds the
picture, the validity window and the certificates of those allowed to use it, under the maker's SM2
signature. A seal signature is made for each sealed document: the signer signs ``TBS_Sign`` (the seal,
the time, the document hash and where the hash came from) with a certificate from the seal's list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509

from esign.gm import oids, sm2
from esign.gm.ses import CERT_LIST_CERTIFICATES, CertInfoList, SESeal, SESSealInfo, SESSignature, TBSSign

SES_VERSION = 4


@dataclass(frozen=True)
class SealInfo:
    """What a seal says about itself. ``seal_type``: 1 单位印章 … (GB/T 38540 §7.2); sizes in mm."""

    es_id: str
    name: str
    seal_type: int
    picture: bytes
    picture_type: str  # "PNG", "JPG", "SVG", "OFD" …
    width_mm: int
    height_mm: int
    valid_start: datetime
    valid_end: datetime
    vendor_id: str = "esign"


def make_seal(
    info: SealInfo,
    signer_certs: Sequence[x509.Certificate],
    maker_key: sm2.SM2PrivateKey,
    maker_cert: x509.Certificate,
    created: datetime | None = None,
) -> SESeal:
    """A version-4 seal signed by the seal maker; ``signer_certs`` may use it."""
    cert_list = CertInfoList([cert.dump() for cert in signer_certs])
    seal_info = SESSealInfo(
        {
            "header": {"id": "ES", "version": SES_VERSION, "vid": info.vendor_id},
            "es_id": info.es_id,
            "property": {
                "type": info.seal_type,
                "name": info.name,
                "cert_list_type": CERT_LIST_CERTIFICATES,
                "cert_list": cert_list,
                "create_date": _utc(created or datetime.now(UTC)),
                "valid_start": _utc(info.valid_start),
                "valid_end": _utc(info.valid_end),
            },
            "picture": {
                "type": info.picture_type,
                "data": info.picture,
                "width": info.width_mm,
                "height": info.height_mm,
            },
        }
    )
    return SESeal(
        {
            "e_seal_info": seal_info,
            "cert": maker_cert.dump(),
            "sign_alg_id": oids.SM2_WITH_SM3,
            "signed_value": sm2.sign(maker_key, seal_info.dump()),
        }
    )


def make_signature(
    seal: SESeal,
    document_hash: bytes,
    property_info: str,
    signer_key: sm2.SM2PrivateKey,
    signer_cert: x509.Certificate,
    signing_time: datetime | None = None,
    distinguishing_id: bytes = sm2.DEFAULT_ID,
) -> SESSignature:
    """A version-4 seal signature over ``document_hash`` (SM3 of the protected bytes).

    ``property_info`` records what was hashed — for PDFs the ByteRange, e.g. ``"ByteRange=[0 840 960 1234]"``.
    """
    tbs = TBSSign(
        {
            "version": SES_VERSION,
            "eseal": seal,
            "time_info": _utc(signing_time or datetime.now(UTC)),
            "data_hash": document_hash,
            "property_info": property_info,
        }
    )
    return SESSignature(
        {
            "to_sign": tbs,
            "cert": signer_cert.dump(),
            "signature_algorithm": oids.SM2_WITH_SM3,
            "signature": sm2.sign(signer_key, tbs.dump(), distinguishing_id),
        }
    )


def _utc(moment: datetime) -> datetime:
    """GeneralizedTime in DER is whole seconds in UTC; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)
