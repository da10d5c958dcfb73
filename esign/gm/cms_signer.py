"""A pyHanko ``Signer`` that signs with SM2, so pyHanko's whole CMS/PDF machinery produces style-2 seals.

pyHanko builds the SignerInfo (signed attributes, ESS signing-certificate, messageDigest) and asks the
signer only for the raw signature over the DER of the signed attributes. SM2 hashes that input itself
(SM3 over Z_A || message), so the signer receives the message, not a digest: exactly what
``async_sign_raw`` is given. The SignerInfo names the mechanism this signer reports — SM2-with-SM3
(1.2.156.10197.1.501) by default, or sm2sign (1.2.156.10197.1.301.1) which some validators expect.
"""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import algos, x509
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.gm import oids, sm2

__all__ = ["SM2Signer"]

#: DER of (r, s) for a 256-bit curve is at most 72 bytes; the dry run reserves that much.
_PLACEHOLDER = bytes(72)


class SM2Signer(Signer):
    """Signs with an SM2 key held in memory; ``algorithm`` is the SignerInfo's signature OID."""

    def __init__(
        self,
        key: sm2.SM2PrivateKey,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        *,
        algorithm: str = oids.SM2_WITH_SM3,
        distinguishing_id: bytes = sm2.DEFAULT_ID,
    ) -> None:
        if algorithm not in oids.SM2_SIGNATURE_OIDS:
            raise ValueError(f"{algorithm} is not an SM2 signature algorithm")
        super().__init__(
            signing_cert=cert,
            # the issuers only: pyHanko adds the signing certificate itself, and a registry holding it
            # too would put it into the CMS certificates set twice
            cert_registry=SimpleCertificateStore.from_certs(c for c in chain if c.dump() != cert.dump()),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": algorithm}),
        )
        self._key = key
        self._distinguishing_id = distinguishing_id

    @property
    def key(self) -> sm2.SM2PrivateKey:
        """The SM2 key, for the GB/T 38540 path that signs ``TBS_Sign`` itself (``esign.seal.gm``)."""
        return self._key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return _PLACEHOLDER
        return sm2.sign(self._key, data, self._distinguishing_id)
