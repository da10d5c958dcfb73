"""Rendering with poppler and pixel comparison: thresholds, region mapping, rotation, hostile input."""

from __future__ import annotations

import time
from io import BytesIO

import pikepdf
import pytest
from pikepdf import Dictionary, Name

from esign.verify.modifications.page_changes import PageGeometry
from esign.verify.modifications.visual import RenderError, compare, min_changed_pixels, page_dpi, render_pages

BOX = (0.0, 0.0, 300.0, 200.0)
TEXT = b"BT /F1 14 Tf 20 150 Td (Amount 100 yuan) Tj ET "


def _pdf(*contents: bytes, rotate: int = 0) -> bytes:
    """One page per content stream, Helvetica as /F1, MediaBox :data:`BOX`."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    for content in contents:
        page = Dictionary(
            Type=Name.Page,
            MediaBox=list(BOX),
            Rotate=rotate,
            Resources=Dictionary(Font=Dictionary(F1=font)),
            Contents=pdf.make_stream(content),
        )
        pdf.pages.append(pikepdf.Page(pdf.make_indirect(page)))
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


def _render(pdf: bytes, page: int = 1, dpi: int = 72):
    return render_pages(pdf, [page], dpi, time.monotonic() + 30, batch=8)[page]


GEOMETRY = PageGeometry(BOX, 0)


def test_identical_input_renders_identically():
    pdf = _pdf(TEXT)
    diff = compare(_render(pdf), _render(pdf), GEOMETRY, [])
    assert diff.changed_outside == 0 and not diff.size_changed


def test_one_changed_digit_exceeds_the_threshold():
    before = _render(_pdf(TEXT))
    after = _render(_pdf(TEXT.replace(b"100", b"900")))
    assert compare(before, after, GEOMETRY, []).changed_outside > min_changed_pixels(72)


def test_white_box_over_text_counts_as_erased_inside_its_region():
    cover = b"1 g 15 140 150 30 re f"
    before, after = _render(_pdf(TEXT)), _render(_pdf(TEXT + cover))
    diff = compare(before, after, GEOMETRY, [(15, 140, 165, 170)])
    assert diff.erased_in[0] > min_changed_pixels(72)
    assert diff.ink_in[0] > 0
    assert diff.changed_outside == 0  # the whole change lies inside the masked region


def test_ink_added_in_blank_area_is_not_erasure():
    mark = b"0 0 1 rg 200 20 40 40 re f"
    before, after = _render(_pdf(TEXT)), _render(_pdf(TEXT + mark))
    diff = compare(before, after, GEOMETRY, [(200, 20, 240, 60)])
    assert diff.changed_in[0] > 0 and diff.erased_in[0] == 0 and diff.ink_in[0] == 0
    assert diff.changed_outside == 0


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_regions_follow_page_rotation(rotate):
    mark = b"0 g 10 10 40 30 re f"  # bottom-left corner of the unrotated page
    before, after = _render(_pdf(b"", rotate=rotate)), _render(_pdf(mark, rotate=rotate))
    geometry = PageGeometry(BOX, rotate)
    diff = compare(before, after, geometry, [(10, 10, 50, 40), (250, 160, 290, 190)])
    assert diff.changed_in[0] > 1000 and diff.changed_in[1] == 0 and diff.changed_outside == 0


def test_only_requested_pages_are_rendered_across_batches():
    pdf = _pdf(*(TEXT for _ in range(12)))
    images = render_pages(pdf, [2, 3, 4, 11], 36, time.monotonic() + 30, batch=2)
    assert sorted(images) == [2, 3, 4, 11]


def test_huge_page_renders_at_reduced_dpi():
    huge = PageGeometry((0.0, 0.0, 14400.0, 14400.0), 0)
    dpi = page_dpi(huge, 72)
    assert dpi < 72 and (14400 / 72 * dpi) ** 2 <= 16_000_000


def test_non_pdf_is_a_render_error_not_a_crash():
    with pytest.raises(RenderError):
        render_pages(b"this is not a pdf", [1], 72, time.monotonic() + 30, batch=1)


def test_exhausted_deadline_stops_before_rendering():
    with pytest.raises(RenderError, match="time budget"):
        render_pages(_pdf(TEXT), [1], 72, time.monotonic() - 1, batch=1)
