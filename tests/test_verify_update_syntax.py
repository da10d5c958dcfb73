"""Bytes after a signed range are vouched for only when they parse as strict incremental updates.

A forged update with ONE damaged byte in its cross-reference section used to pass: our tolerant reader
repaired it one way (the signed page), poppler and MuPDF another (the forged page). Each attack here is
checked against poppler as the referee: it really shows something else than what was signed, and the
verifier must then never answer TOTAL_PASSED. Harmless tails (whitespace, a repeated ``%%EOF``) must not
turn a good document into a refused one either.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.sign.validation import DocumentSecurityStore

from esign.errors import EsignError
from esign.report.model import Indication, Report, SignatureResult
from esign.verify import verify
from fixtures.documents import licence_pdf
from tests import test_verify_attacks as attacks
from tests.test_verify_attacks import (
    ERASE,
    SEAL,
    _classic_update,
    _deface,
    _page_objects,
    _raw_stream,
    _startxref,
    _update,
)

# the attack battery's module-scoped documents (sealed once per module), shared rather than rebuilt
pki, policy, signer = attacks.pki, attacks.policy, attacks.signer
licence, shadow = attacks.licence, attacks.shadow

needs_viewers = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("mutool")),
    reason="poppler-utils and mupdf-tools are needed",
)


def _outcome(pdf: bytes, policy) -> Report | EsignError:
    try:
        return verify(pdf, policy)
    except EsignError as refused:
        return refused


def _seal_result(report: Report) -> SignatureResult:
    return next(s for s in report.signatures if s.field == SEAL)


def _doubted(outcome: Report | EsignError) -> SignatureResult:
    """The seal is reported, never passed, and the report says why: the update is not well-formed."""
    assert isinstance(outcome, Report), f"the file is readable, so it must be reported: {outcome}"
    result = _seal_result(outcome)
    assert result.indication is not Indication.TOTAL_PASSED
    assert result.reliable_esignature.verdict != "reliable"
    assert "UPDATE_NOT_WELL_FORMED" in result.findings, result.findings
    return result


def _renderings(pdf: bytes) -> tuple[bytes, bytes]:
    """Page 1 as poppler and as MuPDF draw it (b"" when one cannot): the referees for "what a viewer
    shows". Grey, low resolution: enough to tell one page from another."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "in.pdf")
        source.write_bytes(pdf)
        draw = ["-r", "24"]
        commands = {
            "poppler": ["pdftoppm", "-f", "1", "-l", "1", *draw, "-gray", str(source), f"{tmp}/poppler"],
            "mupdf": ["mutool", "draw", "-q", *draw, "-c", "gray", "-o", f"{tmp}/mupdf.pgm", f"{source}"],
        }
        for command in commands.values():
            subprocess.run(command, capture_output=True, timeout=60, check=False)
        found = {name: sorted(Path(tmp).glob(f"{name}*.pgm")) for name in commands}
        return tuple(paths[0].read_bytes() if paths else b"" for paths in found.values())  # type: ignore[return-value]


def _a_viewer_shows_something_else(attacked: bytes, signed: bytes) -> bool:
    """The attack is real: poppler or MuPDF no longer draws the page that was signed."""
    return any(a != s for a, s in zip(_renderings(attacked), _renderings(signed), strict=True))


# -- the forged update with one damaged cross-reference entry --------------------------------------------


@pytest.fixture(scope="module")
def forged(licence) -> tuple[bytes, int]:
    """The licence with a hand-written update that redefines page 1's content; and that object number."""
    _, contents, data = _page_objects(licence)
    return _classic_update(licence, {contents: _raw_stream(data + ERASE)}), contents


def _entry_edit(edit: Callable[[bytes], bytes]) -> Callable[[bytes, int, int], bytes]:
    """Apply ``edit`` to the 20-byte entry (with its subsection header) of object ``number``."""

    def damage(pdf: bytes, signed: int, number: int) -> bytes:
        header = b"\n%d 1\n" % number
        at = pdf.index(header, signed) + 1
        end = at + len(header) - 1 + 20
        return pdf[:at] + edit(pdf[at:end]) + pdf[end:]

    return damage


def _in_entry(position: int, byte: bytes) -> Callable[[bytes], bytes]:
    def edit(chunk: bytes) -> bytes:
        header_len = chunk.index(b"\n") + 1
        i = header_len + position
        return chunk[:i] + byte + chunk[i + 1 :]

    return edit


ENTRY_DAMAGE = {
    "type_x_instead_of_n": _entry_edit(_in_entry(17, b"x")),
    "type_0_instead_of_n": _entry_edit(_in_entry(17, b"0")),
    "space_inside_the_offset": _entry_edit(_in_entry(4, b" ")),
    "nul_inside_the_offset": _entry_edit(_in_entry(0, b"\x00")),
    "no_end_of_line_after_the_subsection_header": _entry_edit(lambda c: c.replace(b" 1\n", b" 1 ", 1)),
}


def test_the_well_formed_forgery_is_total_failed(forged, licence, policy) -> None:
    """The control: with an intact entry, the same forgery is caught as a change after signing."""
    pdf, _ = forged
    result = _seal_result(verify(pdf, policy))
    assert result.indication is Indication.TOTAL_FAILED
    assert "UPDATE_NOT_WELL_FORMED" not in result.findings  # a strict update is not doubted for its syntax


@needs_viewers
@pytest.mark.parametrize("damage", sorted(ENTRY_DAMAGE))
def test_forged_update_with_one_damaged_xref_entry_never_passes(forged, licence, policy, damage) -> None:
    pdf, contents = forged
    attacked = ENTRY_DAMAGE[damage](pdf, len(licence), contents)
    assert attacked != pdf and len(attacked) == len(pdf)
    assert _a_viewer_shows_something_else(attacked, licence)
    _doubted(_outcome(attacked, policy))


def test_xref_stream_with_an_absurd_w_array_never_passes(licence, policy) -> None:
    """/W [9 4 2] instead of [1 4 2]: our reader guessed the entries, MuPDF repairs and shows the forgery."""
    pdf = _update(licence, _deface)
    w = re.compile(rb"/W\s*\[\s*(1)\s").search(pdf, len(licence))
    assert w is not None, "pyHanko writes its update with an xref stream here"
    attacked = pdf[: w.start(1)] + b"9" + pdf[w.end(1) :]
    _doubted(_outcome(attacked, policy))


def _full_table_without_prev(pdf: bytes, changed: dict[int, bytes]) -> bytes:
    """An update whose xref lists every object of the file and has no /Prev: it reads as one revision."""
    offsets = {int(m.group(1)): m.start() for m in re.finditer(rb"(?<![0-9])(\d+) 0 obj\b", pdf)}
    out = bytearray(pdf)
    for number, body in changed.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    size = max(offsets) + 1
    start = len(out)
    out += b"xref\n0 %d\n" % size
    for number in range(size):
        out += b"%010d 00000 n\r\n" % offsets[number] if number in offsets else b"0000000000 65535 f\r\n"
    root = re.findall(rb"/Root (\d+) 0 R", pdf)[-1]
    out += b"trailer\n<< /Size %d /Root %s 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, start)
    return bytes(out)


@needs_viewers
def test_update_that_hides_the_signed_revision_without_prev_never_passes(shadow, policy) -> None:
    _, contents, data = _page_objects(shadow)
    attacked = _full_table_without_prev(shadow, {contents: _raw_stream(data + ERASE)})
    assert _a_viewer_shows_something_else(attacked, shadow)
    result = _doubted(_outcome(attacked, policy))
    assert result.checks.modifications in ("unknown", "suspicious")


# -- the end of the file -------------------------------------------------------------------------------


def test_non_pdf_bytes_after_the_final_eof_never_pass(licence, policy) -> None:
    attacked = licence + b"\nPK\x03\x04 this is a zip archive, not an incremental update\n" * 50
    result = _doubted(_outcome(attacked, policy))
    assert result.indication is Indication.INDETERMINATE


def test_a_whole_unsigned_pdf_appended_never_passes(licence, policy) -> None:
    """The appended document is what a viewer opens: the report shows no passed seal, and no crash."""
    outcome = _outcome(licence + licence_pdf(), policy)
    assert isinstance(outcome, Report)
    assert outcome.indication is not Indication.TOTAL_PASSED
    if any(s.field == SEAL for s in outcome.signatures):
        _doubted(outcome)


@pytest.mark.parametrize(
    "tail",
    [b"\r\n" * 1500, b"   \n\n\t\n", b"%%EOF\n", b"\n%%EOF\n%%EOF\r\n"],
    ids=["3000_bytes_of_newlines", "spaces_and_tabs", "a_second_eof", "two_more_eof_lines"],
)
def test_harmless_tails_do_not_change_the_verdict(licence, policy, tail) -> None:
    """Whitespace and stray %%EOF markers mean nothing to any reader: the seal still passes."""
    result = _seal_result(verify(licence + tail, policy))
    assert result.indication is Indication.TOTAL_PASSED, result.findings
    assert "UPDATE_NOT_WELL_FORMED" not in result.findings


def test_a_legitimate_later_update_is_accounted_for(licence, policy, pki) -> None:
    """pyHanko's own incremental update (an xref stream with /Prev) parses strictly: no doubt raised."""
    out = BytesIO(licence)
    DocumentSecurityStore.add_dss(out, None, certs=pki.chain("agency-a"))
    result = _seal_result(verify(out.getvalue(), policy))
    assert "UPDATE_NOT_WELL_FORMED" not in result.findings
    assert _startxref(out.getvalue()) > len(licence)


def test_an_update_with_an_unreadable_xref_stream_reports_the_signed_revision(licence, policy) -> None:
    """/Type /XRex: pyHanko asserted, the verifier crashed. Now the signed revision is read and reported,
    and the unreadable update keeps the seal from passing."""
    pdf = _update(licence, _deface)
    at = pdf.rindex(b"/Type /XRef")
    attacked = pdf[:at] + b"/Type /XRex" + pdf[at + len(b"/Type /XRex") :]
    result = _seal_result(verify(attacked, policy))
    assert result.indication is not Indication.TOTAL_PASSED
    assert "UPDATE_NOT_WELL_FORMED" in result.findings
