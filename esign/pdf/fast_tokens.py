"""Faster token readers for pyHanko's parser: one regular-expression scan instead of a call per byte.

pyHanko reads hex strings and names one byte at a time, each byte a few Python calls. A signature's
/Contents is a hex string tens of kilobytes long (40% of a one-page verification went there), and
names are most of what a page dictionary is made of (a 200-page document spent half its time reading
them). :func:`install` puts the readers below in pyHanko's place, process-wide: pyHanko's
``read_object`` looks them up on its module and on :class:`~pyhanko.pdf_utils.generic.NameObject`,
so no narrower hook exists.

Only the plain case is taken — a hex string of hex digits and whitespace up to its ``>``; a name of
regular characters without ``#`` escapes, followed by a delimiter, whitespace or the end. Anything
else goes to pyHanko's own reader from the same position, so every result and every error stays
exactly pyHanko's; ``tests/test_fast_tokens.py`` compares both on generated and mutated input.
"""

from __future__ import annotations

import binascii
import re
from io import BytesIO
from typing import IO

from pyhanko.pdf_utils import generic

__all__ = [
    "DELIMITERS",
    "HEX_STRING",
    "NAME",
    "WHITESPACE",
    "hex_string_value",
    "install",
    "read_hex_string",
    "read_name",
]

#: PDF whitespace and delimiters, as pyHanko's tokenizer has them (``pyhanko.pdf_utils.misc``)
WHITESPACE = b" \n\r\t\f\x00"
DELIMITERS = b"()<>[]{}/%"
#: a plain hex string: hex digits and whitespace, no comment, up to its ``>``
HEX_STRING = rb"<[0-9A-Fa-f \n\r\t\f\x00]*>"
_NAME_CHARS = bytes(b for b in range(0x21, 0x7F) if b not in DELIMITERS and b != ord("#"))
#: a plain name: regular ASCII characters without ``#`` escapes, ended by a delimiter, whitespace or the end
NAME = b"/[" + re.escape(_NAME_CHARS) + b"]*(?=[" + re.escape(WHITESPACE + DELIMITERS) + b"]|$)"
_HEX_STRING = re.compile(HEX_STRING)
_NAME = re.compile(NAME)

_pyhanko_hex_string = generic.read_hex_string_from_stream
_pyhanko_name = generic.NameObject.read_from_stream


def read_hex_string(stream: IO[bytes]) -> generic.ByteStringObject | generic.TextStringObject:
    """The hex string at the stream's position, as pyHanko's reader would return it."""
    token = _plain(_HEX_STRING, stream)
    if token is None:
        return _pyhanko_hex_string(stream)
    return hex_string_value(token)


def hex_string_value(token: bytes) -> generic.ByteStringObject | generic.TextStringObject:
    """The string a plain hex-string token (``HEX_STRING``, brackets included) stands for."""
    digits = token[1:-1].translate(None, WHITESPACE)
    if len(digits) % 2:
        digits += b"0"  # ISO 32000-1 §7.3.4.3: a missing final digit is 0
    return generic.pdf_string(binascii.unhexlify(digits))


def read_name(stream: IO[bytes]) -> generic.NameObject:
    """The name at the stream's position, as pyHanko's reader would return it."""
    token = _plain(_NAME, stream)
    if token is None:
        return _pyhanko_name(stream)
    return generic.NameObject(token.decode("ascii"))


def _plain(pattern: re.Pattern[bytes], stream: IO[bytes]) -> bytes | None:
    """The token ``pattern`` matches at the stream's position, the stream moved past it; else ``None``.

    ``getvalue`` of a reader's BytesIO is the very bytes object it was made from (no copy, unlike
    ``getbuffer``, which would copy a 50 MB upload on its first call).
    """
    if not isinstance(stream, BytesIO):
        return None
    start = stream.tell()
    match = pattern.match(stream.getvalue(), start)
    if match is None:
        return None
    stream.seek(match.end())
    return match.group()


def install() -> None:
    """Make pyHanko's parser use these readers (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string  # type: ignore[assignment]
    generic.NameObject.read_from_stream = staticmethod(read_name)  # type: ignore[method-assign]
