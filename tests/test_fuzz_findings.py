"""Regressions for what the differential fuzz campaign (``bench/fuzz_verify.py``) found in the verifier.

Each case is rebuilt from a freshly sealed sample the way the fuzzer's mutator built it, and must end in a
report that does not pass or a typed refusal — never another exception.
"""

from __future__ import annotations

from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from esign.errors import EsignError
from esign.policy import ValidationPolicy
from esign.seal.pades import SealOptions, seal
from esign.seal.signers import load_pkcs12
from esign.verify.pipeline import verify
from fixtures.documents import licence_pdf
from fixtures.pki import TestPKI


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return TestPKI()


@pytest.fixture(scope="module")
def updated(pki: TestPKI) -> tuple[bytes, bytes]:
    """A sealed licence (xref streams) and the same with an update that sets a page entry."""
    sealed = seal(licence_pdf(), load_pkcs12(pki.pkcs12("agency-a", b"f"), b"f"), SealOptions())
    writer = IncrementalPdfFileWriter(BytesIO(sealed))
    ref, _ = writer.find_page_for_modification(0)
    ref.get_object()[pdf_name("/Rotate")] = generic.NumberObject(90)
    writer.mark_update(ref)
    out = BytesIO()
    writer.write(out)
    return sealed, out.getvalue()


@pytest.mark.parametrize("damaged", [b"/FlateDecod0", b"/FlateDeco9e"])
def test_an_unknown_filter_on_the_update_xref_stream_is_no_crash(
    updated: tuple[bytes, bytes], pki: TestPKI, damaged: bytes
) -> None:
    """Campaign cases 3705 and 3710: one byte of the update's xref stream /Filter changed; pyHanko raised
    NotImplementedError ("Stream filter … is not supported"), which escaped ``verify``."""
    sealed, changed = updated
    at = changed.rindex(b"/FlateDecode")
    assert at > len(sealed)
    mutant = changed[:at] + damaged + changed[at + len(damaged) :]
    policy = ValidationPolicy.preset("default", trust_roots=[pki.root])
    try:
        report = verify(mutant, policy)
    except EsignError:
        return
    assert report.indication != "TOTAL_PASSED"
    assert report.signatures, "the signed revision is still reported"
