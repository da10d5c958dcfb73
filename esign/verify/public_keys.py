"""Public keys and signature algorithms as the signature maths needs them, read as strict verifiers do.

``cryptography`` parses a SubjectPublicKeyInfo as strict DER and refuses certificates found in the field
("Could not deserialize key data"): an RSA modulus written as a negative INTEGER (no leading zero),
redundant leading zeros, BER lengths, explicit EC parameters with a compressed base point. BouncyCastle,
hence EU DSS, reads them, and the issuer's signature covers exactly those bytes, so the key itself is
not in doubt: asn1crypto reads it, and it is re-encoded in DER for ``cryptography``. Only the key handed
to the maths is re-encoded; the certificate (whose bytes its issuer signed) never changes.

Signing tools also name the algorithm in ways pyHanko's validator does not expect: the key's OID
(``id-ecPublicKey``) instead of ``ecdsa-with-SHA256``, BSI TR-03111 plain ECDSA (``r || s``), or an
algorithm of the wrong family for the key, where pyHanko trips over an ``assert``. The first two are
verified as what they are; a mismatch is a signature that does not verify with the signer's key.
"""

from __future__ import annotations

import contextlib

from asn1crypto import algos, cms, core, keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import AlgorithmUsageConstraint, DisallowWeakAlgorithmsPolicy
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
    SignatureValidator,
)

__all__ = [
    "LenientKeyAlgorithmPolicy",
    "LenientSignatureValidator",
    "UnusableKeyError",
    "invalid_value_detail",
    "key_size",
    "lenient_context",
    "needs_lenient_reading",
    "strict_key_info",
    "unsupported",
]

_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
#: BSI TR-03111 ecdsa-plain-SHA*: the signature is r || s, each padded to the order's length
_PLAIN_ECDSA = {
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}
#: RSASSA-PKCS1-v1_5 with SHA-3 (RFC 8702 / NIST), unknown to asn1crypto
_RSA_SHA3 = {
    "2.16.840.1.101.3.4.3.13": hashes.SHA3_224,
    "2.16.840.1.101.3.4.3.14": hashes.SHA3_256,
    "2.16.840.1.101.3.4.3.15": hashes.SHA3_384,
    "2.16.840.1.101.3.4.3.16": hashes.SHA3_512,
}
#: which signature families a key of each type can verify
_FAMILIES = {
    "rsa": {"rsassa_pkcs1v15", "rsassa_pss"},
    "rsassa_pss": {"rsassa_pss"},
    "ec": {"ecdsa"},
    "dsa": {"dsa"},
    "ed25519": {"ed25519"},
    "ed448": {"ed448"},
}
_DEFAULT_VALIDATOR = DefaultSignatureValidator()


class UnusableKeyError(ValueError):
    """A public key that neither its own encoding nor a DER re-encoding makes usable."""


def strict_key_info(info: keys.PublicKeyInfo) -> keys.PublicKeyInfo:
    """``info`` itself when ``cryptography`` loads it, else its DER re-encoding.

    Raises :class:`UnusableKeyError` when no reading gives a key (an unsupported curve, junk).
    """
    if _loads(info.dump()):
        return info
    try:
        repaired = _reencoded(info)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise UnusableKeyError(f"the public key cannot be read: {str(exc)[:120]}") from exc
    if repaired is None or not _loads(repaired.dump()):
        raise UnusableKeyError(f"unsupported {info['algorithm']['algorithm'].native} public key")
    return repaired


def needs_lenient_reading(info: keys.PublicKeyInfo) -> bool:
    """Whether the key was only usable after re-encoding (a report notes it; the key is not in doubt)."""
    try:
        return strict_key_info(info) is not info
    except UnusableKeyError:
        return False


def key_size(info: keys.PublicKeyInfo) -> int | None:
    """The key's strength in bits from the loaded key (asn1crypto miscounts compressed EC points and
    fails on a negative modulus); None for a key that cannot be loaded at all."""
    try:
        key = serialization.load_der_public_key(strict_key_info(info).dump())
    except (UnusableKeyError, ValueError):
        return None
    curve = getattr(key, "curve", None)
    size = curve.key_size if curve is not None else getattr(key, "key_size", None)
    return int(size) if size is not None else None


class LenientSignatureValidator(SignatureValidator):
    """pyHanko's validator, fed a usable key and the algorithm the signature really uses."""

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        key_info = strict_key_info(public_key_info)
        sha3 = _RSA_SHA3.get(signature_algorithm["algorithm"].dotted)
        if sha3 is not None:
            _verify_rsa_sha3(signature, signed_data, key_info, sha3(), context.prehashed)
            return
        algorithm, signature = effective_algorithm(signature_algorithm, signature)
        if not fits_key(algorithm, key_info):
            raise InvalidSignature("the signature algorithm does not fit the signer's key")
        _DEFAULT_VALIDATOR.validate_signature(signature, signed_data, key_info, algorithm, context)


def _verify_rsa_sha3(
    signature: bytes, data: bytes, key_info: keys.PublicKeyInfo, md: hashes.HashAlgorithm, prehashed: bool
) -> None:
    key = serialization.load_der_public_key(key_info.dump())
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidSignature("an RSA signature algorithm for a key that is not RSA")
    key.verify(signature, data, padding.PKCS1v15(), Prehashed(md) if prehashed else md)


class LenientKeyAlgorithmPolicy(DisallowWeakAlgorithmsPolicy):
    """certvalidator's default policy, sizing keys from their usable reading (a negative modulus
    makes asn1crypto's ``bit_size`` raise a ``math domain error``)."""

    def signature_algorithm_allowed(
        self,
        algo: algos.SignedDigestAlgorithm,
        moment: object,
        public_key: keys.PublicKeyInfo | None,
    ) -> AlgorithmUsageConstraint:
        if public_key is not None:
            with contextlib.suppress(UnusableKeyError):  # the signature check itself reports it
                public_key = strict_key_info(public_key)
        return super().signature_algorithm_allowed(algo, moment, public_key)  # type: ignore[arg-type]


def lenient_context(**kwargs: object) -> ValidationContext:
    """A certvalidator context whose every signature check (CMS, certificates, CRLs, OCSP responses)
    reads keys and algorithms as above."""
    return ValidationContext(
        signature_validator=LenientSignatureValidator(),
        algorithm_usage_policy=LenientKeyAlgorithmPolicy(),
        **kwargs,  # type: ignore[arg-type]
    )


def effective_algorithm(
    algorithm: algos.SignedDigestAlgorithm, signature: bytes
) -> tuple[algos.SignedDigestAlgorithm, bytes]:
    """The algorithm a signature named by a key OID or as plain ECDSA is, and its DER signature value."""
    oid = algorithm["algorithm"].dotted
    if oid in _RSA_SHA3:
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}), signature
    if oid == _EC_PUBLIC_KEY:
        return algos.SignedDigestAlgorithm({"algorithm": "ecdsa"}), signature
    if oid in _PLAIN_ECDSA:
        half = len(signature) // 2
        if half == 0 or len(signature) % 2:
            raise InvalidSignature("a plain ECDSA signature value must be r || s of equal length")
        der = algos.DSASignature(
            {"r": int.from_bytes(signature[:half], "big"), "s": int.from_bytes(signature[half:], "big")}
        ).dump()
        return algos.SignedDigestAlgorithm({"algorithm": f"{_PLAIN_ECDSA[oid]}_ecdsa"}), der
    return algorithm, signature


def unsupported(algorithm: algos.SignedDigestAlgorithm, key_info: keys.PublicKeyInfo) -> str | None:
    """Why a signature under ``algorithm`` by ``key_info`` cannot be checked at all, or None.

    pyHanko reports an unsupported algorithm as a signature that does not verify (its
    ``AlgorithmNotSupported`` is an ``InvalidSignature``); that would call an unverifiable file forged.
    """
    try:
        strict_key_info(key_info)
    except UnusableKeyError as exc:
        return str(exc)
    try:
        effective, _ = effective_algorithm(algorithm, b"\x00\x00")
        effective.signature_algo  # noqa: B018 -- raises ValueError for an unknown mechanism
    except (ValueError, InvalidSignature):
        return f"signature algorithm {algorithm['algorithm'].native} is not supported"
    return None


def invalid_value_detail(signer_info: cms.SignerInfo, key_info: keys.PublicKeyInfo) -> str:
    """Why a signature value that did not verify cannot have: the algorithm does not fit the key, or an
    ECDSA value is not DER (X9.62; OpenSSL and BouncyCastle, hence DSS, refuse BER values too)."""
    algorithm = signer_info["signature_algorithm"]
    try:
        effective, _ = effective_algorithm(algorithm, b"\x00\x00")
        if not fits_key(effective, strict_key_info(key_info)):
            return (
                f"the signature algorithm {algorithm['algorithm'].native} does not fit "
                f"the signer's {key_info.algorithm.upper()} key"
            )
        if effective.signature_algo == "ecdsa" and algorithm["algorithm"].dotted not in _PLAIN_ECDSA:
            value = bytes(signer_info["signature"].native)
            parsed = algos.DSASignature.load(value)
            canonical = algos.DSASignature({"r": parsed["r"].native, "s": parsed["s"].native}).dump()
            if canonical != value:
                return "the ECDSA signature value is not DER-encoded (X9.62 requires DER)"
    except (ValueError, TypeError, InvalidSignature):
        pass
    return ""


def fits_key(algorithm: algos.SignedDigestAlgorithm, key_info: keys.PublicKeyInfo) -> bool:
    """False when the (effective) algorithm is of another family than the key; unknown ones pass on."""
    try:
        family = algorithm.signature_algo
    except ValueError:
        return True  # not ours to judge: pyHanko raises AlgorithmNotSupported
    allowed = _FAMILIES.get(key_info.algorithm)
    return allowed is None or family in allowed


def _loads(der: bytes) -> bool:
    try:
        serialization.load_der_public_key(der)
    except Exception:  # ValueError, and UnsupportedAlgorithm (not a ValueError) for some key types
        return False
    return True


def _reencoded(info: keys.PublicKeyInfo) -> keys.PublicKeyInfo | None:
    algorithm = info["algorithm"]["algorithm"].native
    if algorithm in ("rsa", "rsaes_oaep", "rsassa_pss"):
        parsed = info["public_key"].parsed
        rsa_key = keys.RSAPublicKey(
            {"modulus": _unsigned(parsed["modulus"]), "public_exponent": _unsigned(parsed["public_exponent"])}
        )
        if algorithm == "rsassa_pss":
            key_algorithm = keys.PublicKeyAlgorithm(
                {"algorithm": "rsassa_pss", "parameters": info["algorithm"]["parameters"].native}
            )
        else:
            key_algorithm = keys.PublicKeyAlgorithm({"algorithm": "rsa", "parameters": core.Null()})
        return keys.PublicKeyInfo({"algorithm": key_algorithm, "public_key": rsa_key})
    if algorithm == "ec":
        params = info["algorithm"]["parameters"]
        domain = (
            keys.ECDomainParameters({"specified": _explicit_domain(params.chosen)})
            if params.name == "specified"
            else keys.ECDomainParameters({params.name: params.chosen.native})
        )
        point = bytes(info["public_key"])
        return keys.PublicKeyInfo(
            {"algorithm": {"algorithm": "ec", "parameters": domain}, "public_key": point}
        )
    return None


def _unsigned(value: core.Integer) -> int:
    """The INTEGER's content octets read as unsigned (a modulus is never negative; BC reads it so)."""
    return int.from_bytes(value.contents or b"\x00", "big")


def _explicit_domain(domain: keys.SpecifiedECDomain) -> dict:
    """Explicit EC parameters in the shape ``cryptography`` maps to a named curve: uncompressed base
    point, no seed, minimal integers."""
    native = domain.native
    p = native["field_id"]["parameters"]
    a = int.from_bytes(native["curve"]["a"], "big")
    b = int.from_bytes(native["curve"]["b"], "big")
    base = native["base"]
    if base[:1] in (b"\x02", b"\x03") and isinstance(p, int) and p % 4 == 3:
        x = int.from_bytes(base[1:], "big")
        y = pow((x * x * x + a * x + b) % p, (p + 1) // 4, p)
        if (y * y) % p != (x * x * x + a * x + b) % p:
            raise ValueError("the base point is not on the curve")
        if y % 2 != base[0] - 2:
            y = p - y
        size = len(base) - 1
        base = b"\x04" + x.to_bytes(size, "big") + y.to_bytes(size, "big")
    return {
        "version": native["version"],
        "field_id": native["field_id"],
        "curve": {"a": native["curve"]["a"], "b": native["curve"]["b"]},
        "base": base,
        "order": native["order"],
        "cofactor": native["cofactor"],
    }
