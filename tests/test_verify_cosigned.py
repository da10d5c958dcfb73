"""A PDF co-signed by poppler's pdfsig, pyHanko and PDFBox: every signature verifies as it should.

Issue 13 measured such a file flagged "suspicious" — the writers' different ways of laying out an
incremental update looked like tampering. The file is built by the real tools (``fixtures/cosigned.py``).
"""

from __future__ import annotations

from io import BytesIO

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from esign.policy import ValidationPolicy
from esign.report.model import Indication
from esign.verify.pipeline import verify
from fixtures.cosigned import SIGNERS, cosigned_by_three_tools, missing_tools

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"not installed: {', '.join(missing_tools())}")


@pytest.fixture(scope="module")
def cosigned(pki, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return cosigned_by_three_tools(pki, tmp_path_factory.mktemp("cosigned"))


def test_every_signature_of_three_tools_verifies(cosigned, pki) -> None:
    report = verify(cosigned, ValidationPolicy.preset("default", trust_roots=[pki.root]))
    by_field = {s.field: s for s in report.signatures}
    assert list(by_field) == list(SIGNERS), by_field
    for field, result in by_field.items():
        assert (result.checks.integrity, result.checks.crypto, result.checks.chain) == ("ok", "ok", "trusted")
        assert result.checks.modifications in ("none", "permitted"), (field, result.findings)
        assert result.indication is Indication.TOTAL_PASSED, (field, result.indication, result.findings)
    assert report.indication is Indication.TOTAL_PASSED
    assert "LATER_SIGNATURE_ADDED" in by_field["Poppler"].findings
    assert "LATER_SIGNATURE_ADDED" in by_field["PyHanko"].findings


def test_objects_appended_after_the_three_signatures_fail_them_all(cosigned, pki) -> None:
    """The tolerance for each writer's layout is no tolerance for content: an appended object fails."""
    forged = cosigned + b"\n9999 0 obj\n(forged)\nendobj\n"
    report = verify(forged, ValidationPolicy.preset("default", trust_roots=[pki.root]))
    assert all(s.indication is not Indication.TOTAL_PASSED for s in report.signatures)


def test_each_tool_wrote_its_own_revision(cosigned) -> None:
    """Poppler, pyHanko and PDFBox each appended one update to the unsigned original, in this order."""
    reader = PdfFileReader(BytesIO(cosigned), strict=False)
    assert reader.xrefs.total_revisions == 4
    reasons = [str(sig.sig_object["/Reason"]) for sig in reader.embedded_regular_signatures]
    assert reasons == ["Signed with poppler", "Co-signed with pyHanko", "Co-signed with PDFBox"]
