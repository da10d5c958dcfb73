"""Hostile input, generated: any change to signed bytes is never TOTAL_PASSED, and nothing ever crashes.

Property tests over a real sealed document (esign.seal.pades with the test PKI), with a fixed seed so a
failure reproduces: byte flips anywhere inside the signed ranges, flips anywhere at all, truncations,
and appended garbage. The verifier must answer every one with a report or a typed EsignError.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esign.errors import EsignError
from esign.policy import ValidationPolicy
from esign.seal.image import round_seal
from esign.seal.pades import AtPosition, SealOptions, seal
from esign.seal.signers import load_pkcs12
from esign.verify.pipeline import verify
from fixtures.documents import licence_pdf
from fixtures.pki import TestPKI

FUZZ = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def sealed() -> tuple[bytes, tuple[int, int, int, int]]:
    pki = TestPKI()
    signer = load_pkcs12(pki.pkcs12("agency-a", b"f"), b"f")
    pdf = seal(
        licence_pdf(),
        signer,
        SealOptions(placement=AtPosition(1, 150, 235)),
        image=round_seal("杭州市市场监督管理局"),
    )
    start = pdf.rindex(b"/ByteRange")
    numbers = pdf[pdf.index(b"[", start) + 1 : pdf.index(b"]", start)].split()
    a, b, c, d = (int(n) for n in numbers)
    return pdf, (a, b, c, d)


@pytest.fixture(scope="module")
def policy() -> ValidationPolicy:
    return ValidationPolicy.preset("default", trust_roots=[TestPKI().root])


def test_the_untouched_document_passes(sealed, policy) -> None:
    assert verify(sealed[0], policy).indication == "TOTAL_PASSED"


def _judge(pdf: bytes, policy: ValidationPolicy) -> str:
    """The document indication, or the error code: anything else (an exception) fails the test."""
    try:
        return str(verify(pdf, policy).indication)
    except EsignError as exc:
        return exc.code.name


@FUZZ
@given(data=st.data())
def test_a_flipped_byte_inside_the_signed_ranges_never_passes(sealed, policy, data) -> None:
    pdf, (a, b, c, d) = sealed
    offset = data.draw(st.one_of(st.integers(a, a + b - 1), st.integers(c, c + d - 1)))
    mask = data.draw(st.integers(1, 255))
    tampered = bytearray(pdf)
    tampered[offset] ^= mask
    assert _judge(bytes(tampered), policy) != "TOTAL_PASSED"


@FUZZ
@given(data=st.data())
def test_a_flipped_byte_anywhere_never_crashes(sealed, policy, data) -> None:
    pdf, _ = sealed
    offset = data.draw(st.integers(0, len(pdf) - 1))
    tampered = bytearray(pdf)
    tampered[offset] ^= data.draw(st.integers(1, 255))
    _judge(bytes(tampered), policy)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_a_truncated_document_never_passes(sealed, policy, cut) -> None:
    pdf, _ = sealed
    truncated = pdf[: max(0, len(pdf) - 1 - cut * (len(pdf) // 10_001))]
    assert _judge(truncated, policy) != "TOTAL_PASSED"


@FUZZ
@given(tail=st.binary(min_size=1, max_size=2_000))
def test_appended_garbage_never_crashes(sealed, policy, tail) -> None:
    _judge(sealed[0] + tail, policy)
