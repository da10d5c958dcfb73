"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

Agencies and companies are identified by an 18-character code whose last character is a
check digit. Seal certificates carry it (organizationIdentifier 2.5.4.97 or serialNumber),
the registry refuses seals whose code does not check out, and reports show it, so a typo
in a code is caught before it reaches a sealed licence.
"""

from __future__ import annotations

import re

__all__ = ["ALPHABET", "check_character", "find_uscc", "is_valid_uscc"]

#: The 31 characters GB 32100 allows (I, O, Z, S and V are excluded to avoid misreading).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_SHAPE = re.compile(rf"[{ALPHABET}]{{18}}")


def check_character(first17: str) -> str:
    """The 18th character for a 17-character body (weights 3^i mod 31, modulus 31)."""
    if len(first17) != 17 or any(ch not in ALPHABET for ch in first17):
        raise ValueError("a USCC body is 17 characters of the GB 32100 alphabet")
    total = sum(ALPHABET.index(ch) * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when ``code`` has the GB 32100 shape and its check character is right."""
    return bool(_SHAPE.fullmatch(code)) and check_character(code[:17]) == code[17]


def find_uscc(text: str) -> str | None:
    """The first valid USCC inside ``text`` (certificates often embed it in a longer value)."""
    for match in re.finditer(rf"(?=([{ALPHABET}]{{18}}))", text.upper()):
        if is_valid_uscc(match.group(1)):
            return match.group(1)
    return None
