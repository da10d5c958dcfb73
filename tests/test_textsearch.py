"""Keyword search on real generated PDFs: positions in user space, split text, limits, hostile input."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from io import BytesIO

import pikepdf
import pytest

from esign.errors import ErrorCode, EsignError
from esign.pdf.textsearch import TextHit, find_first, find_last, find_text
from esign.seal.image.font import SealFont
from fixtures.documents import DEFAULT_AGENCY, SEAL_MARK, SEAL_MARK_TEXT, licence_pdf, long_pdf

TOLERANCE = 2.0  # points


@pytest.fixture(scope="module")
def licence() -> bytes:
    return licence_pdf()


@pytest.fixture(scope="module")
def long_document() -> bytes:
    return long_pdf(200)


def _box(hit: TextHit) -> tuple[float, float, float, float]:
    return (hit.x0, hit.y0, hit.x1, hit.y1)


def _assert_near(actual: tuple[float, ...], expected: tuple[float, ...]) -> None:
    assert all(abs(a - e) <= TOLERANCE for a, e in zip(actual, expected, strict=True)), (actual, expected)


Encoder = Callable[[str], bytes]


def _modified(pdf: bytes, change: Callable[[pikepdf.Pdf], None]) -> bytes:
    """``pdf`` after ``change(pikepdf.Pdf)``, saved without recompressing anything."""
    with pikepdf.open(BytesIO(pdf)) as document:
        change(document)
        out = BytesIO()
        document.save(out)
        return out.getvalue()


def _cjk_page(content_for: Callable[[Encoder], bytes]) -> bytes:
    """A one-page PDF whose content ``content_for(code)`` draws with the CJK font /F1, where
    ``code(text)`` gives the hex string operands of ``text``."""
    font = SealFont()

    def code(text: str) -> bytes:
        return b"".join(font.code(char) for char in text)

    content = content_for(code)
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(595, 842))
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font.embed(pdf)))
    page.obj.Contents = pdf.make_stream(content)
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


# --- positions ----------------------------------------------------------------------------------


def test_seal_mark_is_found_once_where_the_licence_drew_it(licence: bytes) -> None:
    hits = find_text(licence, SEAL_MARK_TEXT)
    assert len(hits) == 1
    assert hits[0].page == 0
    _assert_near(_box(hits[0]), SEAL_MARK.box(len(SEAL_MARK_TEXT)))


def test_agency_name_is_found_just_before_the_seal_mark(licence: bytes) -> None:
    [hit] = find_text(licence, DEFAULT_AGENCY)
    assert abs(hit.x1 - SEAL_MARK.x) <= TOLERANCE
    assert abs(hit.x1 - hit.x0 - len(DEFAULT_AGENCY) * SEAL_MARK.size) <= TOLERANCE
    assert abs(hit.y0 - SEAL_MARK.box(1)[1]) <= TOLERANCE


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotated_page_gives_the_same_user_space_box(licence: bytes, rotate: int) -> None:
    def rotate_page(pdf: pikepdf.Pdf) -> None:
        pdf.pages[0].obj.Rotate = rotate

    [hit] = find_text(_modified(licence, rotate_page), SEAL_MARK_TEXT)
    _assert_near(_box(hit), SEAL_MARK.box(len(SEAL_MARK_TEXT)))


@pytest.mark.parametrize("rotate", [0, 90])
def test_mediabox_offset_is_kept_in_user_space(licence: bytes, rotate: int) -> None:
    """A page whose MediaBox starts at (100, 50), its content drawn shifted by the same amount."""

    def shift_page(pdf: pikepdf.Pdf) -> None:
        page = pdf.pages[0]
        page.obj.MediaBox = pikepdf.Array([100, 50, 695.276, 891.89])
        page.obj.Rotate = rotate
        page.contents_add(pdf.make_stream(b"q 1 0 0 1 100 50 cm"), prepend=True)
        page.contents_add(pdf.make_stream(b"Q"))

    [hit] = find_text(_modified(licence, shift_page), SEAL_MARK_TEXT)
    x0, y0, x1, y1 = SEAL_MARK.box(len(SEAL_MARK_TEXT))
    _assert_near(_box(hit), (x0 + 100, y0 + 50, x1 + 100, y1 + 50))


def test_text_outside_the_cropbox_is_not_found(licence: bytes) -> None:
    def crop_to_upper_half(pdf: pikepdf.Pdf) -> None:
        pdf.pages[0].obj.CropBox = pikepdf.Array([0, 421, 595.276, 841.89])

    cropped = _modified(licence, crop_to_upper_half)
    assert find_text(cropped, SEAL_MARK_TEXT) == []
    assert len(find_text(cropped, "营业执照")) == 1


# --- matching -----------------------------------------------------------------------------------


def test_text_split_across_operators_and_spaced_out_is_found() -> None:
    def content(code: Encoder) -> bytes:
        return (
            b"BT /F1 14 Tf 1 0 0 1 100 500 Tm [%s] TJ ET\n"  # "（盖" in one operator
            b"BT /F1 14 Tf 3 Tc 1 0 0 1 128 500 Tm [%s -200 %s] TJ ET\n"  # "章）" spaced, kerned apart
            b"BT /F1 14 Tf 1 0 0 1 100 300 Tm [%s] TJ ET"  # a decoy: only half the keyword
            % (code("（盖"), code("章"), code("）"), code("（盖"))
        )

    [hit] = find_text(_cjk_page(content), SEAL_MARK_TEXT)
    assert abs(hit.x0 - 100) <= TOLERANCE
    assert abs(hit.y0 - (500 - 0.12 * 14)) <= TOLERANCE
    assert hit.x1 > 128 + 2 * 14  # the spaced-out tail is inside the box


def test_text_broken_over_two_lines_gives_one_box_around_both() -> None:
    def content(code: Encoder) -> bytes:
        return b"BT /F1 12 Tf 1 0 0 1 400 500 Tm [%s] TJ 0 -20 Td [%s] TJ ET" % (
            code("杭州市市场"),
            code("监督管理局"),
        )

    [hit] = find_text(_cjk_page(content), DEFAULT_AGENCY)
    assert hit.y0 < 480 < 500 < hit.y1


def test_whitespace_in_needle_or_document_is_ignored(long_document: bytes) -> None:
    assert find_first(long_document, "第150页", pages=[149]) is not None  # drawn as "第 150 页"
    assert find_first(long_document, "杭州市 市场监督\n管理局", pages=[-1]) is not None


def test_ascii_parentheses_find_full_width_ones(licence: bytes) -> None:
    [hit] = find_text(licence, "(盖章)")
    _assert_near(_box(hit), SEAL_MARK.box(len(SEAL_MARK_TEXT)))


def test_missing_needle_gives_no_hits(licence: bytes) -> None:
    assert find_text(licence, "不存在的关键字") == []
    assert find_first(licence, "不存在的关键字") is None
    assert find_last(licence, "不存在的关键字") is None


def test_every_occurrence_is_reported_in_reading_order(licence: bytes) -> None:
    hits = find_text(licence, "杭州")
    # the holder's name, the address line (浙江省杭州市…), then the agency near the bottom
    assert len(hits) == 3
    assert hits[0].y0 > hits[1].y0 > hits[2].y0


# --- order, pages, limit --------------------------------------------------------------------------


def test_last_first_search_finds_the_anchor_on_the_last_page(long_document: bytes) -> None:
    hit = find_last(long_document, SEAL_MARK_TEXT)
    assert hit is not None and hit.page == 199
    _assert_near(_box(hit), SEAL_MARK.box(len(SEAL_MARK_TEXT)))


def test_order_last_reverses_pages_and_occurrences(long_document: bytes) -> None:
    forward = find_text(long_document, "申请人", pages=[0, 1])
    backward = find_text(long_document, "申请人", pages=[0, 1], order="last")
    assert len(forward) == 6
    assert backward == forward[::-1]


def test_limit_stops_at_that_many_hits(long_document: bytes) -> None:
    hits = find_text(long_document, "示例条款", limit=3)  # on every page: heading and paragraph ×3
    assert len(hits) == 3
    assert [hit.page for hit in hits] == [0, 0, 0]


def test_last_first_search_does_not_read_earlier_pages(long_document: bytes) -> None:
    """Page 0 gets a content stream over the per-page limit: a full search refuses the document,
    a last-first search with a limit never reaches page 0."""

    def overload_first_page(pdf: pikepdf.Pdf) -> None:
        pdf.pages[0].obj.Contents = pdf.make_stream(b" " * (17 * 1024 * 1024))

    document = _modified(long_pdf(3), overload_first_page)
    hit = find_last(document, SEAL_MARK_TEXT)
    assert hit is not None and hit.page == 2
    with pytest.raises(EsignError) as refused:
        find_text(document, SEAL_MARK_TEXT)
    assert refused.value.code is ErrorCode.PDF_TOO_COMPLEX


def test_pages_restricts_the_search_and_accepts_negative_indexes(long_document: bytes) -> None:
    assert find_text(long_document, SEAL_MARK_TEXT, pages=[0, 1, 2]) == []
    assert [hit.page for hit in find_text(long_document, SEAL_MARK_TEXT, pages=[-1])] == [199]


def test_page_out_of_range_is_refused(licence: bytes) -> None:
    with pytest.raises(EsignError) as refused:
        find_text(licence, SEAL_MARK_TEXT, pages=[1])
    assert refused.value.code is ErrorCode.PAGE_OUT_OF_RANGE
    assert refused.value.params == {"page": 1, "pages": 1}


@pytest.mark.parametrize("needle, limit", [(" \n", None), (SEAL_MARK_TEXT, 0)])
def test_empty_needle_or_zero_limit_is_a_bad_option(licence: bytes, needle: str, limit: int | None) -> None:
    with pytest.raises(EsignError) as refused:
        find_text(licence, needle, limit=limit)
    assert refused.value.code is ErrorCode.BAD_OPTION


# --- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x89PNG\r\n\x1a\n" + bytes(100)])
def test_non_pdf_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(EsignError) as refused:
        find_text(data, SEAL_MARK_TEXT)
    assert refused.value.code is ErrorCode.NOT_A_PDF


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n",
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 1 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
    ],
    ids=["binary-noise", "dangling-page-tree", "self-referencing-page-tree"],
)
def test_broken_pdf_is_corrupt(data: bytes) -> None:
    with pytest.raises(EsignError) as refused:
        find_text(data, SEAL_MARK_TEXT)
    assert refused.value.code is ErrorCode.PDF_CORRUPT


@pytest.mark.parametrize("keep", [200, 0.5, -40])
def test_truncated_pdf_is_refused_as_truncated(licence: bytes, keep: float) -> None:
    cut = int(keep * len(licence)) if isinstance(keep, float) else keep
    with pytest.raises(EsignError) as refused:
        find_text(licence[:cut], SEAL_MARK_TEXT)
    assert refused.value.code is ErrorCode.PDF_TRUNCATED


@pytest.mark.parametrize("user_password", ["", "secret"])
def test_encrypted_pdf_is_refused(licence: bytes, user_password: str) -> None:
    with pikepdf.open(BytesIO(licence)) as pdf:
        out = BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(owner="owner", user=user_password))
    with pytest.raises(EsignError) as refused:
        find_text(out.getvalue(), SEAL_MARK_TEXT)
    assert refused.value.code is ErrorCode.PDF_ENCRYPTED


def test_decompression_bomb_is_refused_before_inflating() -> None:
    deflate = zlib.compressobj(9)
    megabyte = bytes(1024 * 1024)
    bomb = b"".join(deflate.compress(megabyte) for _ in range(260)) + deflate.flush()
    data = b"%%PDF-1.7\n1 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream\nendobj\n" % (
        len(bomb),
        bomb,
    )
    with pytest.raises(EsignError) as refused:
        find_text(data, SEAL_MARK_TEXT)
    assert refused.value.code is ErrorCode.PDF_TOO_COMPLEX


def test_exhausted_time_budget_is_too_complex(licence: bytes) -> None:
    with pytest.raises(EsignError) as refused:
        find_text(licence, SEAL_MARK_TEXT, time_budget=0)
    assert refused.value.code is ErrorCode.PDF_TOO_COMPLEX
