"""A registered seal as a GB/T 38540 electronic seal file (``.esl``, version 4).

Other unified seal systems and OFD/PDF tools exchange seals in this format: the seal's picture, its
validity window and the certificates allowed to use it, signed by the seal maker (制章者) with SM2.
The registry holds everything but the maker's key, which the caller passes in.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import x509

from esign.gm import sm2
from esign.gm.ses_make import SealInfo, make_seal
from keystore.models import Seal
from keystore.registry import SEAL_TYPES, seal_appearance, seal_chain

__all__ = ["export_esl"]

#: GB/T 38540 §7.2 seal types: 1 单位印章 (organisation), 2 个人印章 (personal)
_ORGANISATION, _PERSONAL = 1, 2
_PERSONAL_TYPES = frozenset({"05"})  # 法人章: the legal representative's seal
_PICTURE_DPI = 300


def export_esl(
    seal: Seal, maker_key: sm2.SM2PrivateKey, maker_cert: x509.Certificate, created: datetime | None = None
) -> bytes:
    """The seal as DER-encoded version-4 ``SESeal``; its signer certificate is the seal's certificate."""
    image = seal_appearance(seal)
    purpose = "" if seal.seal_type in ("01", "99") else SEAL_TYPES[seal.seal_type]
    info = SealInfo(
        es_id=seal.code,
        name=f"{seal.org_name}{purpose}",
        seal_type=_PERSONAL if seal.seal_type in _PERSONAL_TYPES else _ORGANISATION,
        picture=image.png(dpi=_PICTURE_DPI),
        picture_type="PNG",
        width_mm=round(image.width_mm),
        height_mm=round(image.height_mm),
        valid_start=seal.valid_from,
        valid_end=seal.valid_to,
    )
    return make_seal(info, seal_chain(seal)[:1], maker_key, maker_cert, created).dump()
