"""X.509 name comparison, remembered: asn1crypto compares names afresh on every call, we need not.

Finding the signer among a CMS value's certificates, checking the ESS signing-certificate attribute
and building a chain all compare distinguished names, by RFC 5280 §7.1 rules: LDAP string preparation
of every attribute, every time. That was a fifth of a one-page verification, spent comparing the
same few CA names over and over. Whether two names are equal, and a name's ``hashable`` key, depend on
nothing but their DER encodings, so :func:`install` makes asn1crypto's :class:`~asn1crypto.x509.Name`
answer both from a bounded cache keyed by those encodings (untagged: a name inside a GeneralName
is the same name). A miss (and any error) is asn1crypto's own
computation; byte-identical names are equal without one.
"""

from __future__ import annotations

from functools import lru_cache

from asn1crypto import x509

__all__ = ["install"]

_CACHED = 4096
_asn1crypto_eq = x509.Name.__eq__
_asn1crypto_hashable = x509.Name.hashable


@lru_cache(maxsize=_CACHED)
def _equal(first: bytes, second: bytes) -> bool:
    return bool(_asn1crypto_eq(x509.Name.load(first), x509.Name.load(second)))


@lru_cache(maxsize=_CACHED)
def _hashable(encoded: bytes) -> str:
    return _asn1crypto_hashable.fget(x509.Name.load(encoded))  # type: ignore[union-attr]


def _name_eq(self: x509.Name, other: object) -> bool:
    if not isinstance(other, x509.Name):
        return False
    first, second = _encoding(self), _encoding(other)
    return first == second or _equal(first, second)


def _name_hashable(self: x509.Name) -> str:
    return _hashable(_encoding(self))


def _encoding(name: x509.Name) -> bytes:
    """The name's DER without any tag around it (a GeneralName wraps it in an explicit [4])."""
    return name.chosen.dump()


def install() -> None:
    """Answer :class:`~asn1crypto.x509.Name` equality and ``hashable`` from the cache (idempotent)."""
    x509.Name.__eq__ = _name_eq  # type: ignore[method-assign,assignment]
    x509.Name.hashable = property(_name_hashable)  # type: ignore[method-assign,assignment]
