"""The PDFium rendering process has a memory limit: a page that needs more is a doubt, never a crash.

PDFium decodes every image whole, so a small file can make it allocate gigabytes (a 420 KB file with a
12000 × 12000 image: 450 MB). The limit (``Limits.render_memory_mb``) ends the process; the change
analysis reports RENDER_LIMIT_EXCEEDED and the signature is INDETERMINATE. Real files, real engines.
"""

from __future__ import annotations

import time
import zlib

import pytest
from pyhanko.pdf_utils.generic import pdf_string

from esign.policy import Limits, ValidationPolicy
from esign.report.model import Indication
from esign.seal.pades import Invisible, SealOptions, seal
from esign.verify.modifications.visual import PDFIUM, POPPLER, RenderLimitExceeded, render_pages
from tests import test_verify_attacks as attacks
from tests.test_verify_bombs import pdf_from_objects

pki, policy, signer = attacks.pki, attacks.policy, attacks.signer

#: one gray 6000 × 6000 RGB image: 108 MB decoded from about 100 KB
SIDE = 6000
#: above what a PDFium process needs for itself (about 110 MB of address space), below it plus the image
SMALL_LIMIT_MB = 160


def _image_page_pdf() -> bytes:
    """A one-page PDF that draws one big image, like a scan: 108 MB decoded, about 100 KB on disk."""
    squeeze = zlib.compressobj(1)
    row = b"\x80" * (SIDE * 3)
    data = b"".join(squeeze.compress(row) for _ in range(SIDE)) + squeeze.flush()
    content = b"q 500 0 0 700 50 70 cm /Im1 Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 842] /Resources << /XObject << /Im1 5 0 R >> >>"
        b" /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8"
        b" /Filter /FlateDecode /Length %d >>\nstream\n" % (SIDE, SIDE, len(data)) + data + b"\nendstream",
    ]
    return pdf_from_objects(objects)


@pytest.fixture(scope="module")
def scan() -> bytes:
    return _image_page_pdf()


def test_pdfium_beyond_its_limit_is_stopped_and_says_so(scan) -> None:
    deadline = time.monotonic() + 60
    with pytest.raises(RenderLimitExceeded, match="memory limit"):
        render_pages(scan, [1], 72, deadline, 1, PDFIUM, memory_mb=SMALL_LIMIT_MB)
    (image,) = render_pages(scan, [1], 72, deadline, 1, PDFIUM).values()  # the default limit is enough
    assert image.getextrema()[0] < 200  # and the image is really drawn (not left out)
    (image,) = render_pages(scan, [1], 72, deadline, 1, POPPLER, memory_mb=SMALL_LIMIT_MB).values()
    assert image.getextrema()[0] < 200  # poppler streams images: no limit needed here


def test_a_page_pdfium_cannot_render_within_the_limit_leaves_the_signature_indeterminate(
    scan, signer, pki
) -> None:
    """A comment on the big page after sealing: the page must be rendered, PDFium runs out of room."""
    sealed = seal(scan, signer, SealOptions(placement=Invisible()))
    commented = attacks._update(
        sealed,
        attacks._annotate(
            "/FreeText", (60.0, 780.0, 280.0, 820.0), {"/Contents": pdf_string("Received, see file 7")}
        ),
    )
    tight = ValidationPolicy.preset(
        "default", trust_roots=[pki.root], limits=Limits(render_memory_mb=SMALL_LIMIT_MB)
    )
    result = attacks._signature(attacks._verify(commented, tight))
    assert result.indication is Indication.INDETERMINATE
    assert {"RENDER_LIMIT_EXCEEDED", "MODIFICATION_CHECK_UNAVAILABLE"} <= set(result.findings)
    assert result.checks.modifications == "unknown"
    roomy = attacks._signature(
        attacks._verify(commented, ValidationPolicy.preset("default", trust_roots=[pki.root]))
    )
    assert roomy.checks.modifications == "permitted", roomy.findings
    assert "COMMENT_ADDED_AFTER_APPROVAL" in roomy.findings
