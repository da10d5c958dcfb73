"""GB/T 38540 electronic seals (``.esl``, version 4) for registered seals, made by the seal maker (制章者).

Other unified seal systems and OFD/PDF tools exchange seals in this format: the seal's picture, its
validity window and the certificates allowed to use it, signed by the seal maker with SM2. The
registry holds everything but the maker's key. An agency configures that key once
(``ESIGN_SEAL_MAKER_P12`` + ``ESIGN_SEAL_MAKER_PASSPHRASE``, see docs/gm.md); every SM2 seal then
carries an SESeal made from the registry's current version of the seal, dated when that version was
made, so the same registry row always describes the same seal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import x509

from esign.errors import ErrorCode, EsignError
from esign.gm import ses, sm2
from esign.gm.certs import is_sm2_certificate
from esign.gm.cms_signer import SM2Signer
from esign.gm.ses_make import SealInfo, make_seal
from esign.seal.image import SealImage
from esign.seal.signers import load_pkcs12
from keystore.models import Seal
from keystore.registry import SEAL_TYPES, seal_appearance, seal_chain
from keystore.secrets import read_secret

__all__ = ["SealMaker", "export_esl", "require_sm2_signer", "stored_seal"]

#: GB/T 38540 §7.2 seal types: 1 单位印章 (organisation), 2 个人印章 (personal)
_ORGANISATION, _PERSONAL = 1, 2
_PERSONAL_TYPES = frozenset({"05"})  # 法人章: the legal representative's seal
_PICTURE_DPI = 300


def require_sm2_signer(cert: x509.Certificate) -> None:
    """A seal listing a non-SM2 certificate can never be used validly: refuse to make one."""
    if not is_sm2_certificate(cert):
        public = cert.public_key
        curve = f" {public.curve[1]}" if public.algorithm == "ec" else f"-{public.bit_size}"
        raise EsignError(ErrorCode.SEAL_SIGNER_NOT_SM2, algorithm=public.algorithm.upper() + curve)


@dataclass(frozen=True)
class SealMaker:
    """The seal maker's SM2 key and certificate."""

    key: sm2.SM2PrivateKey
    cert: x509.Certificate

    @classmethod
    def from_p12(cls, path: Path, passphrase: bytes | None) -> SealMaker:
        signer = load_pkcs12(path.read_bytes(), passphrase)
        if not isinstance(signer, SM2Signer):
            raise EsignError(ErrorCode.KEY_FILE_INVALID, detail="the seal maker's key must be an SM2 key")
        return cls(signer.key, signer.signing_cert)

    @classmethod
    def from_env(cls) -> SealMaker | None:
        """The maker named by ``ESIGN_SEAL_MAKER_P12`` (its passphrase: the secret reference in
        ``ESIGN_SEAL_MAKER_PASSPHRASE``)."""
        path = os.environ.get("ESIGN_SEAL_MAKER_P12")
        if not path:
            return None
        passphrase = os.environ.get("ESIGN_SEAL_MAKER_PASSPHRASE")
        try:
            return cls.from_p12(Path(path), read_secret(passphrase).reveal() if passphrase else None)
        except OSError as exc:
            raise EsignError(ErrorCode.KEYSTORE_OFFLINE, detail=f"{path}: {exc.strerror}") from None

    def seal_for(self, seal: Seal, created: datetime | None = None) -> ses.SESeal:
        """The registered seal as an SESeal: its code, name, picture, window and certificate.

        Dated when this version of the registry row was made unless ``created`` is given.
        """
        chain = seal_chain(seal)
        purpose = "" if seal.seal_type in ("01", "99") else SEAL_TYPES[seal.seal_type]
        kind = _PERSONAL if seal.seal_type in _PERSONAL_TYPES else _ORGANISATION
        return self.make(
            seal.code, f"{seal.org_name}{purpose}", kind, seal_appearance(seal), chain[0],
            (seal.valid_from, seal.valid_to), created=created or seal.updated_at,
        )  # fmt: skip

    def issue(self, seal: Seal, created: datetime) -> bytes:
        """The DER SESeal the registry stores with ``seal`` (``keystore.registry.SesSealIssuer``)."""
        return self.seal_for(seal, created).dump()

    def make(
        self,
        code: str,
        name: str,
        kind: int,
        image: SealImage,
        signer: x509.Certificate,
        valid: tuple[datetime, datetime],
        created: datetime | None = None,
    ) -> ses.SESeal:
        """An SESeal that ``signer`` (an SM2 certificate) may use, showing ``image``."""
        require_sm2_signer(signer)
        info = SealInfo(
            es_id=code,
            name=name,
            seal_type=kind,
            picture=image.png(dpi=_PICTURE_DPI),
            picture_type="PNG",
            width_mm=round(image.width_mm),
            height_mm=round(image.height_mm),
            valid_start=valid[0],
            valid_end=valid[1],
        )
        return make_seal(info, [signer], self.key, self.cert, created)


def stored_seal(seal: Seal) -> ses.SESeal | None:
    """The SESeal stored with a registered SM2 seal (``seals.ses_seal``), if it has one."""
    if seal.ses_seal is None:
        return None
    parsed = ses.parse_seal(seal.ses_seal)
    return parsed if isinstance(parsed, ses.SESeal) else None


def export_esl(seal: Seal, maker: SealMaker | None) -> bytes:
    """The seal as a DER version-4 ``SESeal``: the stored one, else one ``maker`` makes now — then
    stored with the row by the caller, so every later export is the same. Refused unless the seal's
    certificate is SM2 (``SEAL_SIGNER_NOT_SM2``); without either ``SEAL_MAKER_MISSING``."""
    require_sm2_signer(seal_chain(seal)[0])
    if seal.ses_seal is not None:
        return seal.ses_seal
    if maker is None:
        raise EsignError(ErrorCode.SEAL_MAKER_MISSING)
    return maker.issue(seal, seal.created_at)
