"""SM object identifiers (GM/T 0006) registered with asn1crypto, idempotently and in one place.

asn1crypto maps OIDs to names through class-level tables; unknown OIDs parse as dotted strings, which
makes SM2 certificates and CMS look "unknown" to everything built on asn1crypto (pyHanko, certvalidator).
Registering the names lets those layers see ``sm2p256v1``/``sm3``/``sm2_sm3`` while we supply the maths.
"""

from __future__ import annotations

from asn1crypto import algos, keys

SM2_CURVE = "1.2.156.10197.1.301"
SM2_SIGN = "1.2.156.10197.1.301.1"
SM3 = "1.2.156.10197.1.401"
SM2_WITH_SM3 = "1.2.156.10197.1.501"

#: Names used by asn1crypto after :func:`register` (OpenSSL's short names, lower-cased).
SM2_CURVE_NAME = "sm2p256v1"
SM3_NAME = "sm3"
SM2_WITH_SM3_NAME = "sm2_sm3"
SM2_SIGN_NAME = "sm2sign"

#: Either OID may announce an SM2 signature in a SignerInfo or a seal (seen in the wild: both).
SM2_SIGNATURE_OIDS = frozenset({SM2_WITH_SM3, SM2_SIGN})


def register() -> None:
    """Make asn1crypto know the SM OIDs; safe to call any number of times."""
    if keys.NamedCurve._map.get(SM2_CURVE) != SM2_CURVE_NAME:
        keys.NamedCurve.register(SM2_CURVE_NAME, SM2_CURVE, 32)
    _add(algos.DigestAlgorithmId, SM3, SM3_NAME)
    _add(algos.SignedDigestAlgorithmId, SM2_WITH_SM3, SM2_WITH_SM3_NAME)
    _add(algos.SignedDigestAlgorithmId, SM2_SIGN, SM2_SIGN_NAME)


def _add(oid_class: type, dotted: str, name: str) -> None:
    """Adds to the forward map and, if asn1crypto already built it, the reverse map too."""
    oid_class._map[dotted] = name
    if oid_class._reverse_map is not None:
        oid_class._reverse_map[name] = dotted
