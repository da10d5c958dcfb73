"""pyHanko signers that parse their private key once.

Stock ``SimpleSigner.sign_raw`` re-parses the DER private key on every signature (≈58 ms for
RSA-2048 with cryptography 50, more than the signature itself). An agency sealing thousands of
licences pays that every time, so :class:`CachedKeySigner` keeps the parsed key object.
"""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import keys, x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko.sign.signers import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.errors import ErrorCode, EsignError
from esign.gm import pkcs12 as sm2_pkcs12
from esign.gm.cms_signer import SM2Signer

__all__ = ["CachedKeySigner", "check_signing_certificate", "load_pkcs12", "signer_from_key"]

#: key usages that allow a seal certificate to sign documents
SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})
#: the smallest keys the verifier's default algorithm policy accepts (esign.policy.ValidationPolicy)
MIN_KEY_BITS = {"rsa": 2048, "ec": 256}


class CachedKeySigner(SimpleSigner):
    """A ``SimpleSigner`` holding the parsed ``cryptography`` key next to its DER form."""

    def __init__(self, *args: object, pyca_key: PrivateKeyTypes | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._pyca_key = pyca_key or serialization.load_der_private_key(self.signing_key.dump(), None)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        key = self._pyca_key
        if mechanism == "rsassa_pkcs1v15" and isinstance(key, RSAPrivateKey):
            return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if mechanism == "ecdsa" and isinstance(key, EllipticCurvePrivateKey):
            return key.sign(data, ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        # PSS, EdDSA, … are rare for seals: the stock path handles them correctly, if slower.
        return super().sign_raw(data, digest_algorithm)


def signer_from_key(
    key: PrivateKeyTypes, cert: x509.Certificate, chain: list[x509.Certificate]
) -> CachedKeySigner:
    """Build a signer from an already parsed key, its certificate and the issuing chain."""
    key_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return CachedKeySigner(
        signing_cert=cert,
        signing_key=keys.PrivateKeyInfo.load(key_der),
        # issuers only: pyHanko adds the signing certificate to the CMS itself (else it is there twice)
        cert_registry=SimpleCertificateStore.from_certs(c for c in chain if c.dump() != cert.dump()),
        pyca_key=key,
    )


def load_pkcs12(data: bytes, passphrase: bytes | None) -> CachedKeySigner | SM2Signer:
    """Open an encrypted PKCS#12 file once; the passphrase is never echoed in errors.

    An SM2 key (which ``cryptography`` refuses) gives an :class:`SM2Signer`; callers that seal pick
    the GB/T 38540 or SM2 CMS path by that type (``esign.seal.gm.aseal_with``).
    """
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except UnsupportedAlgorithm:
        return _load_sm2_pkcs12(data, passphrase)
    except ValueError as exc:
        # cryptography says "Invalid password or PKCS12 data" for both cases; keep it that vague.
        raise EsignError(ErrorCode.WRONG_PASSPHRASE) from exc
    except Exception as exc:  # malformed DER surfaces as assorted exception types
        raise EsignError(ErrorCode.KEY_FILE_INVALID, detail=type(exc).__name__) from exc
    if key is None or cert is None:
        raise EsignError(ErrorCode.KEY_FILE_INVALID, detail="no private key or no certificate in the file")
    to_asn1 = [x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in (cert, *extra)]
    return signer_from_key(key, to_asn1[0], to_asn1[1:])


def _load_sm2_pkcs12(data: bytes, passphrase: bytes | None) -> SM2Signer:
    try:
        opened = sm2_pkcs12.read(data, passphrase)
    except sm2_pkcs12.WrongPassphrase as exc:
        raise EsignError(ErrorCode.WRONG_PASSPHRASE) from exc
    except sm2_pkcs12.Pkcs12Error as exc:
        raise EsignError(ErrorCode.KEY_FILE_INVALID, detail=str(exc)) from exc
    return SM2Signer(opened.key, opened.cert, opened.chain)


def check_signing_certificate(cert: x509.Certificate, at: datetime | None = None) -> None:
    """Refuse to seal with a certificate that would make every seal it produces invalid."""
    at = at or datetime.now(UTC)
    validity = cert["tbs_certificate"]["validity"]
    not_before, not_after = validity["not_before"].native, validity["not_after"].native
    if at < not_before:
        raise EsignError(ErrorCode.CERT_NOT_YET_VALID, not_before=not_before.isoformat())
    if at > not_after:
        raise EsignError(ErrorCode.CERT_EXPIRED, not_after=not_after.isoformat())
    usage = cert.key_usage_value
    if usage is not None and not (set(usage.native) & SIGNING_KEY_USAGES):
        raise EsignError(ErrorCode.CERT_KEY_USAGE)
    algorithm, bits = cert.public_key.algorithm, cert.public_key.bit_size
    if bits < MIN_KEY_BITS.get(algorithm, 0):
        raise EsignError(ErrorCode.CERT_WEAK_KEY, detail=f"{algorithm.upper()}-{bits}")
