"""``propertyInfo`` of a PDF seal signature: the ByteRange the signer hashed, written and read back.

GB/T 38540 leaves ``propertyInfo`` free-form; for PDFs we record ``ByteRange=[a b c d]`` so that the
signed statement itself says which bytes ``dataHash`` covers. Other producers write other things
(OFD paths such as ``/Doc_0/Signs/Sign_0/Signature.xml``): those are simply not ByteRanges.
"""

from __future__ import annotations

import re

__all__ = ["byte_range_property", "recorded_byte_range"]

_RECORDED = re.compile(r"ByteRange\s*[=:]?\s*\[\s*(\d+(?:\s+\d+)*)\s*\]", re.IGNORECASE)


def byte_range_property(byte_range: tuple[int, ...]) -> str:
    return "ByteRange=[" + " ".join(str(n) for n in byte_range) + "]"


def recorded_byte_range(property_info: str) -> tuple[int, ...] | None:
    """The ByteRange a ``propertyInfo`` records, or None when it records none."""
    match = _RECORDED.search(property_info)
    return tuple(int(n) for n in match.group(1).split()) if match else None
