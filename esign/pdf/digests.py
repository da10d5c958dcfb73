"""Digests of one uploaded file, each byte range hashed once per algorithm.

A 50 MB upload was hashed three times: the report's SHA-256 of the file, the signature's message
digest over its ByteRange, and again for a timestamp imprint or a second look at the same range. The
report's hash and a PAdES digest share everything up to the /Contents hole, so when a signed range
starts at the beginning of the file, :class:`FileDigests` hashes that prefix once and forks the state
(``hashes.Hash.copy``) for the whole-file digest. Every result is memoised by (ranges, algorithm).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from pyhanko.sign.general import get_pyca_cryptography_hash

__all__ = ["FileDigests", "UnsupportedDigestError", "digest_byte_range", "hash_for"]

_CHUNK = 1024 * 1024


class UnsupportedDigestError(ValueError):
    """A digest algorithm that cannot be computed: an unknown OID, or a signature OID in its place."""


def hash_for(algorithm: str) -> hashes.HashAlgorithm:
    """The hash for a CMS digest algorithm name; :class:`UnsupportedDigestError` when there is none."""
    try:
        return get_pyca_cryptography_hash(algorithm)
    except (AttributeError, TypeError, ValueError) as exc:  # pyHanko looks the name up on the module
        raise UnsupportedDigestError(f"digest algorithm {algorithm} is not supported") from exc


def digest_byte_range(data: bytes, byte_range: Sequence[int], algorithm: str) -> bytes:
    """Hash the signed ranges straight from the buffer, chunk by chunk, without copying the file."""
    h = hashes.Hash(hash_for(algorithm))
    _feed(h, data, byte_range)
    return h.finalize()


class FileDigests:
    """The digests a verification needs of one file's bytes, none computed twice."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._known: dict[tuple[tuple[int, ...], str], bytes] = {}

    def of_ranges(self, byte_range: Sequence[int], algorithm: str) -> bytes:
        """The digest of the bytes in ``byte_range`` (offset, length pairs)."""
        key = (tuple(byte_range), algorithm)
        if key not in self._known:
            self._known[key] = self._compute(key[0], algorithm)
        return self._known[key]

    def sha256_hex(self) -> str:
        """The whole file's SHA-256, as the report gives it."""
        return self.of_ranges((0, len(self._data)), "sha256").hex()

    def _compute(self, byte_range: tuple[int, ...], algorithm: str) -> bytes:
        whole = (0, len(self._data))
        forks = (
            algorithm == "sha256"
            and byte_range != whole
            and (whole, "sha256") not in self._known
            and len(byte_range) >= 2
            and byte_range[0] == 0
            and 0 <= byte_range[1] <= len(self._data)
        )
        if not forks:
            return digest_byte_range(self._data, byte_range, algorithm)
        h = hashes.Hash(hashes.SHA256())
        prefix = byte_range[1]
        _feed(h, self._data, (0, prefix))
        file_hash = h.copy()
        _feed(h, self._data, byte_range[2:])
        _feed(file_hash, self._data, (prefix, len(self._data) - prefix))
        self._known[(whole, "sha256")] = file_hash.finalize()
        return h.finalize()


def _feed(h: hashes.Hash, data: bytes, byte_range: Sequence[int]) -> None:
    view = memoryview(data)
    for offset, length in zip(byte_range[::2], byte_range[1::2], strict=True):
        for pos in range(offset, offset + length, _CHUNK):
            h.update(view[pos : min(pos + _CHUNK, offset + length)])
