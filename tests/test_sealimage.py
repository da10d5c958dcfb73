"""Seal images: real text in an embedded subset font, exact sizes, transparent exports, hostile uploads."""

from __future__ import annotations

import math
import struct
import subprocess
import zlib
from collections import Counter
from io import BytesIO
from xml.etree import ElementTree

import pikepdf
import pytest
from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar, LTContainer
from PIL import Image

from esign.errors import ErrorCode, EsignError
from esign.seal.image import SealImage, oval_seal, round_seal, seal_from_png
from esign.seal.image.upload import MAX_PNG_BYTES

NAME = "北京市朝阳区市场监督管理局"
PURPOSE = "合同专用章"
CODE = "1101050012345"
COMPANY = "北京某某科技有限公司"
TAXPAYER_NO = "91110105MA01ABCD3X"


@pytest.fixture(scope="module")
def round_image() -> SealImage:
    return round_seal(NAME, PURPOSE, CODE)


@pytest.fixture(scope="module")
def oval_image() -> SealImage:
    return oval_seal(COMPANY, TAXPAYER_NO)


@pytest.fixture(scope="module")
def round_png(round_image: SealImage) -> Image.Image:
    return Image.open(BytesIO(round_image.png(dpi=300)))


def _pdftotext(pdf: bytes) -> str:
    result = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True, timeout=30)
    return result.stdout.decode()


def _pdffonts(pdf: bytes, tmp_path) -> list[str]:
    path = tmp_path / "seal.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, timeout=30)
    return result.stdout.decode().splitlines()[2:]


def _media_box(pdf: bytes) -> list[float]:
    with pikepdf.open(BytesIO(pdf)) as doc:
        return [float(v) for v in doc.pages[0].MediaBox]


def _chars(pdf: bytes) -> list[LTChar]:
    def walk(item):
        if isinstance(item, LTChar):
            yield item
        elif isinstance(item, LTContainer):
            for child in item:
                yield from walk(child)

    return [char for page in extract_pages(BytesIO(pdf)) for char in walk(page)]


def _is_seal_red(pixel: tuple[int, int, int, int]) -> bool:
    red, green, blue, alpha = pixel
    return alpha > 200 and red > 180 and green < 80 and blue < 90


def _png(size: tuple[int, int], transparent: bool = True) -> bytes:
    image = Image.new("RGBA", size, (255, 255, 255, 0 if transparent else 255))
    for x in range(size[0] // 4, 3 * size[0] // 4):
        for y in range(size[1] // 4, 3 * size[1] // 4):
            image.putpixel((x, y), (230, 0, 18, 255))
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG header announcing ``width``×``height`` pixels: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )


# --- text is real, extractable text in an embedded subset font -------------------------------------


def test_round_seal_text_extracts_back_with_every_character(round_image: SealImage) -> None:
    extracted = Counter(_pdftotext(round_image.pdf))
    expected = Counter(NAME + PURPOSE + CODE)
    assert not expected - extracted, f"missing: {expected - extracted}"
    assert PURPOSE in _pdftotext(round_image.pdf)


def test_oval_seal_text_extracts_back_with_taxpayer_number_as_one_line(oval_image: SealImage) -> None:
    text = _pdftotext(oval_image.pdf)
    assert not Counter(COMPANY + "发票专用章") - Counter(text)
    assert TAXPAYER_NO in text
    assert "发票专用章" in text


@pytest.mark.parametrize("kind", ["round", "oval"])
def test_font_is_embedded_as_a_subset_with_tounicode(kind: str, request, tmp_path) -> None:
    image = request.getfixturevalue(f"{kind}_image")
    (font,) = _pdffonts(image.pdf, tmp_path)
    fields = font.split()
    assert "CID" in fields and "Type" in fields and "Identity-H" in fields
    assert fields[-5:-2] == ["yes", "yes", "yes"]  # emb, sub, uni
    assert fields[0][6] == "+" and fields[0][:6].isupper()


def test_character_the_font_lacks_is_refused() -> None:
    with pytest.raises(EsignError) as error:
        round_seal("某某\U0001f600公司")
    assert error.value.code is ErrorCode.BAD_OPTION
    assert "U+1F600" in error.value.message_en


# --- geometry -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("diameter", "points"), [(40, 113.386), (42, 119.055), (45, 127.559)])
def test_round_seal_media_box_is_the_diameter_in_points(diameter: float, points: float) -> None:
    image = round_seal("某某市人民政府", diameter_mm=diameter)
    assert _media_box(image.pdf) == pytest.approx([0, 0, points, points], abs=0.001)
    assert (image.width_mm, image.height_mm) == (diameter, diameter)


def test_oval_seal_media_box_is_width_by_height(oval_image: SealImage) -> None:
    assert _media_box(oval_image.pdf) == pytest.approx([0, 0, 113.386, 85.039], abs=0.001)


@pytest.mark.parametrize("diameter", [29.9, 61, float("nan")])
def test_round_seal_outside_30_to_60_mm_is_refused(diameter: float) -> None:
    with pytest.raises(EsignError) as error:
        round_seal("某某市人民政府", diameter_mm=diameter)
    assert error.value.code is ErrorCode.BAD_OPTION


@pytest.mark.parametrize("name", ["", "   ", "某某\n公司", "某" * 41])
def test_empty_multiline_or_overlong_name_is_refused(name: str) -> None:
    with pytest.raises(EsignError) as error:
        round_seal(name)
    assert error.value.code is ErrorCode.BAD_OPTION


def test_name_glyphs_stand_upright_on_the_upper_arc_reading_left_to_right(round_image: SealImage) -> None:
    centre = round_image.width_mm / 2 * 72 / 25.4
    name = [c for c in _chars(round_image.pdf) if c.get_text() in NAME]
    assert "".join(c.get_text() for c in sorted(name, key=lambda c: _clockwise_from_top(c, centre))) == NAME
    angles = [_clockwise_from_top(c, centre) for c in name]
    assert 200 < max(angles) - min(angles) < 250
    for char in name:
        # tops face the rim: the glyph's vertical axis is (nearly) the outward radius
        assert _cosine(char.matrix[2:4], _outward(char, centre)) > 0.97


def test_code_glyphs_on_the_lower_arc_read_left_to_right_with_tops_inward(round_image: SealImage) -> None:
    centre = round_image.width_mm / 2 * 72 / 25.4
    code = [c for c in _chars(round_image.pdf) if c.get_text().isdigit()]
    assert "".join(c.get_text() for c in sorted(code, key=lambda c: c.x0)) == CODE
    for char in code:
        assert char.y1 < centre
        assert _cosine(char.matrix[2:4], _outward(char, centre)) < -0.97


def test_purpose_is_horizontal_below_the_star(round_image: SealImage) -> None:
    centre = round_image.width_mm / 2 * 72 / 25.4
    star_bottom = centre - round_image.width_mm / 6 * math.cos(math.radians(36)) * 72 / 25.4
    purpose = [c for c in _chars(round_image.pdf) if c.get_text() in PURPOSE]
    assert len(purpose) == len(PURPOSE)
    assert all(c.matrix[1] == 0 and c.matrix[2] == 0 and c.y1 < star_bottom for c in purpose)
    assert sum(c.x0 + c.x1 for c in purpose) / (2 * len(purpose)) == pytest.approx(centre, abs=1)


def _outward(char: LTChar, centre: float) -> tuple[float, float]:
    return (char.x0 + char.x1) / 2 - centre, (char.y0 + char.y1) / 2 - centre


def _clockwise_from_top(char: LTChar, centre: float) -> float:
    """Degrees from 12 o'clock, clockwise positive, in (-180, 180]."""
    x, y = _outward(char, centre)
    return -((math.degrees(math.atan2(y, x)) - 90 + 180) % 360 - 180)


def _cosine(a, b) -> float:
    return (a[0] * b[0] + a[1] * b[1]) / (math.hypot(*a) * math.hypot(*b))


# --- exports --------------------------------------------------------------------------------------


def test_png_export_is_transparent_around_a_red_rim_with_the_size_of_the_dpi(round_png: Image.Image) -> None:
    assert round_png.format == "PNG" and round_png.mode == "RGBA"
    expected = 42 / 25.4 * 300
    assert all(abs(side - expected) <= 1 for side in round_png.size)
    width, height = round_png.size
    for corner in [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]:
        assert round_png.getpixel(corner)[3] == 0
    rim_depth = round(0.6 / 25.4 * 300)  # the middle of the 1.2 mm rim
    for point in [(width // 2, rim_depth), (rim_depth, height // 2), (width - 1 - rim_depth, height // 2)]:
        assert _is_seal_red(round_png.getpixel(point)), point


def test_star_is_solid_and_centred(round_png: Image.Image) -> None:
    width, height = round_png.size
    assert _is_seal_red(round_png.getpixel((width // 2, height // 2)))
    star_box = round_png.crop((width // 3, height // 3, width - width // 3, height - height // 3))
    mask = star_box.getchannel("A").point(lambda a: 255 if a > 128 else 0)
    mirrored = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    left_right = sum(1 for a, b in zip(mask.tobytes(), mirrored.tobytes(), strict=True) if a != b)
    assert left_right < 0.02 * mask.width * mask.height
    # the star spans about a third of the seal: its topmost ink is 7 mm above the centre
    top = next(y for y in range(height) if round_png.getpixel((width // 2, y))[3] > 128 and y > height // 4)
    assert (height / 2 - top) / 300 * 25.4 == pytest.approx(7, abs=0.3)


def test_png_resolution_follows_dpi(round_image: SealImage) -> None:
    image = Image.open(BytesIO(round_image.png(dpi=100)))
    assert all(abs(side - 42 / 25.4 * 100) <= 1 for side in image.size)


def test_absurd_dpi_is_refused(round_image: SealImage) -> None:
    with pytest.raises(EsignError) as error:
        round_image.png(dpi=20000)
    assert error.value.code is ErrorCode.BAD_OPTION


def test_svg_export_is_xml_with_paths(oval_image: SealImage) -> None:
    root = ElementTree.fromstring(oval_image.svg())
    assert root.tag.endswith("svg")
    assert sum(1 for element in root.iter() if element.tag.endswith("path")) > 5


def test_same_inputs_give_the_same_bytes(round_image: SealImage) -> None:
    assert round_seal(NAME, PURPOSE, CODE).pdf == round_image.pdf
    assert round_seal(NAME, PURPOSE, "1101050012346").pdf != round_image.pdf


# --- uploaded PNG ---------------------------------------------------------------------------------


def test_transparent_png_becomes_an_image_with_a_soft_mask() -> None:
    image = seal_from_png(_png((200, 100)), width_mm=40)
    assert image.height_mm == pytest.approx(20)
    assert _media_box(image.pdf) == pytest.approx([0, 0, 113.386, 56.693], abs=0.001)
    with pikepdf.open(BytesIO(image.pdf)) as doc:
        xobject = doc.pages[0].Resources.XObject.Seal
        assert (int(xobject.Width), int(xobject.Height)) == (200, 100)
        smask = xobject.SMask
        assert smask.ColorSpace == pikepdf.Name.DeviceGray
        assert set(smask.read_bytes()) == {0, 255}
    rendered = Image.open(BytesIO(image.png(dpi=72)))
    assert rendered.getpixel((0, 0))[3] == 0
    assert _is_seal_red(rendered.getpixel((rendered.width // 2, rendered.height // 2)))
    assert seal_from_png(_png((200, 100)), width_mm=40).pdf == image.pdf


def _refusal(data: bytes) -> EsignError:
    with pytest.raises(EsignError) as error:
        seal_from_png(data, width_mm=40)
    assert error.value.code is ErrorCode.BAD_IMAGE
    assert error.value.message_zh.startswith("印章图片无效")
    return error.value


def test_non_png_upload_is_refused() -> None:
    assert "not a PNG" in _refusal(b"%PDF-1.7\n" + b"0" * 100).message_en


def test_truncated_png_is_refused() -> None:
    data = _png((300, 300))
    _refusal(data[: len(data) // 2])
    _refusal(data[:20])


def test_png_header_claiming_100000_pixels_square_is_refused_before_decoding() -> None:
    assert "100000×100000" in _refusal(_png_claiming(100_000, 100_000)).message_en


def test_oversized_upload_is_refused() -> None:
    assert "larger than" in _refusal(_png((10, 10)) + b"\0" * MAX_PNG_BYTES).message_en


def test_corrupt_image_data_is_refused() -> None:
    _refusal(_png_claiming(64, 64).replace(b"IDAT", b"IDAT\xff\xff", 1))


def test_opaque_png_is_refused_as_it_would_hide_the_document() -> None:
    assert "transparent" in _refusal(_png((50, 50), transparent=False)).message_en
