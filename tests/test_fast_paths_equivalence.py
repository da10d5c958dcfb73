"""The speed-ups that stand in for library code must answer exactly as the code they replace.

Each fast path (esign.pdf.fast_tokens, esign.verify.name_cache, esign.pdf.digests and the strided
hex-string scan in esign.pdf.input) is compared with the original on generated and mutated input:
same value, same stream position, same error class.
"""

from __future__ import annotations

import hashlib
import random
import re
from io import BytesIO

import pytest
from asn1crypto import x509
from pyhanko.pdf_utils import generic

from esign.pdf import fast_tokens
from esign.pdf import input as pdf_input
from esign.pdf.digests import FileDigests, digest_byte_range
from esign.verify import name_cache

_TOKENS = [
    b"<",
    b">",
    b"a",
    b"F",
    b"0",
    b"9",
    b" ",
    b"\n",
    b"%",
    b"z",
    b"#",
    b"/",
    b"(",
    b"\x80",
    b"]",
    b"41",
]


def _outcome(reader, data: bytes, start: int) -> tuple[object, ...]:
    stream = BytesIO(data)
    stream.seek(start)
    try:
        value = reader(stream)
    except Exception as exc:  # the comparison is about which error, not about handling it
        return ("error", type(exc).__name__)
    return (
        "value",
        type(value).__name__,
        bytes(value) if isinstance(value, bytes) else str(value),
        stream.tell(),
    )


def _samples(first: bytes, count: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    out = [first + b"", first + b">", first + b"4>", first + b"41 42 4>", first + b"%c\n41>"]
    for _ in range(count):
        body = b"".join(rnd.choice(_TOKENS) for _ in range(rnd.randint(0, 24)))
        out.append(b"x" + first + body + rnd.choice([b"", b">", b" ", b"/N", b"<<"]))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_hex_strings_read_as_pyhanko_reads_them(seed: int) -> None:
    original = fast_tokens._pyhanko_hex_string
    for data in _samples(b"<", 500, seed):
        start = data.index(b"<")
        assert _outcome(fast_tokens.read_hex_string, data, start) == _outcome(original, data, start), data


@pytest.mark.parametrize("seed", range(4))
def test_names_read_as_pyhanko_reads_them(seed: int) -> None:
    original = fast_tokens._pyhanko_name
    for data in [*_samples(b"/", 500, seed), b"/Type/Page", b"/A#20B ", b"/\xc3\xa9 ", b"/ok"]:
        start = data.index(b"/")
        assert _outcome(fast_tokens.read_name, data, start) == _outcome(original, data, start), data


def test_the_fast_readers_are_the_ones_pyhanko_uses() -> None:
    assert generic.read_hex_string_from_stream is fast_tokens.read_hex_string
    parsed = generic.read_object(BytesIO(b"<< /Contents <4142> /T (x) >>"), generic.Reference(1, 0, None))
    assert parsed["/Contents"] == "AB" and isinstance(next(iter(parsed)), generic.NameObject)


def _name(**attrs: str) -> x509.Name:
    return x509.Name.build(attrs)


def test_names_compare_and_key_as_asn1crypto_says() -> None:
    printable = x509.Name.build({"common_name": "Agency CA", "country_name": "CN"})
    utf8 = x509.Name.build({"common_name": "agency  ca", "country_name": "CN"}, use_printable=False)
    other = x509.Name.build({"common_name": "Agency CB", "country_name": "CN"})
    wrapped = x509.GeneralName(name="directory_name", value=printable).chosen
    pairs = [(printable, utf8), (printable, other), (utf8, other), (printable, wrapped), (wrapped, utf8)]
    for first, second in pairs:
        assert (first == second) is name_cache._asn1crypto_eq(first, second)
    for name in (printable, utf8, other):
        assert name.hashable == name_cache._asn1crypto_hashable.fget(name)
    assert printable == utf8 and printable != other and printable != "Agency CA"


def test_file_digests_match_hashing_each_range_afresh() -> None:
    rnd = random.Random(7)
    data = rnd.randbytes(3_000_000)
    byte_range = (0, 1_000_000, 1_000_100, 1_999_900)
    digests = FileDigests(data)
    assert digests.of_ranges(byte_range, "sha256") == digest_byte_range(data, byte_range, "sha256")
    assert digests.sha256_hex() == hashlib.sha256(data).hexdigest()
    assert digests.of_ranges(byte_range, "sha512") == digest_byte_range(data, byte_range, "sha512")
    broken = FileDigests(data)
    assert broken.of_ranges((0, 9_000_000), "sha256") == digest_byte_range(data, (0, 9_000_000), "sha256")
    assert broken.sha256_hex() == hashlib.sha256(data).hexdigest()


def test_the_strided_hex_scan_finds_what_a_full_regex_finds() -> None:
    rnd = random.Random(3)
    alphabet = [b"<", b">", b"a", b"0", b" ", b"z", b"\n", b"F"]
    for _ in range(5000):
        limit = rnd.randint(1, 120)
        data = b"".join(rnd.choice(alphabet if rnd.random() < 0.3 else alphabet[2:5]) for _ in range(400))
        if rnd.random() < 0.3:
            data += b"<" + b"ab" * rnd.randint(0, 90) + data
        full = re.search(b"<[0-9A-Fa-f\x00\t\n\x0c\r ]{%d}" % limit, data)
        assert pdf_input._long_hex_string(data, limit) == (full.start() if full else None)


def test_a_forged_stream_length_falls_back_to_the_endstream_keyword() -> None:
    limit = 1000
    honest = b"1 0 obj\n<< /Length 5 >>\nstream\nABCDE\nendstream\nendobj\n"
    assert pdf_input.oversized_syntax(b"%PDF-1.7\n" + honest * 300, limit) is None
    lying = b"1 0 obj\n<< /Length 2 >>\nstream\n" + b"\x80" * 3000 + b"\nendstream\nendobj\n"
    assert pdf_input.oversized_syntax(b"%PDF-1.7\n" + lying, limit) is None
    past_a_bomb = b"1 0 obj\n<< /Length 1 >>\nstream\nX\nendstream\nendobj\n2 0 obj\n[" + b"0 " * 600 + b"]\n"
    assert pdf_input.oversized_syntax(b"%PDF-1.7\n" + past_a_bomb, limit) is not None
