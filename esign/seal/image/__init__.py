"""Seal images: the visible appearance of an electronic seal (电子印章印模).

Draws the standard round official seal (公章 and its 专用章 variants) and the oval invoice seal
(发票专用章) as vector graphics with real, extractable CJK text, or wraps an uploaded transparent
PNG. Every result is a :class:`SealImage`: a one-page PDF of exactly the seal's size that the
signing core places as a form XObject, with PNG and SVG exports for previews. The same inputs
always give the same bytes, so a registry can cache images by content hash.

Layout follows the usual engraving conventions, scaled from the 42 mm reference: a 1–1.2 mm rim,
a star one third of the diameter wide, the organisation name on the upper arc, the purpose under
the star and an optional seal code on the lower arc.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable

import pikepdf

from esign.errors import ErrorCode, EsignError
from esign.seal.image.draw import Canvas, Ellipse
from esign.seal.image.font import SealFont
from esign.seal.image.page import SealImage, check_size_mm, single_page_pdf
from esign.seal.image.upload import seal_from_png

__all__ = ["SealImage", "oval_seal", "round_seal", "seal_from_png"]

#: accepted round-seal diameters; 40, 42 and 45 mm are the official sizes, the rest of the range is
#: for personal or departmental seals and previews
ROUND_DIAMETER_MM = (30.0, 60.0)
OVAL_WIDTH_MM = (30.0, 60.0)
OVAL_HEIGHT_MM = (20.0, 50.0)
MAX_NAME_CHARS = 40
MAX_PURPOSE_CHARS = 12
MAX_CODE_CHARS = 24
MAX_TAXPAYER_CHARS = 20
#: glyph condensing never goes below this; past it the glyphs get smaller instead
_MIN_SQUEEZE = 0.6
#: engraved names are set in a condensed face; glyphs are never wider than this share of their height
_NAME_SQUEEZE = 0.85
#: distance between neighbouring glyph centres on an arc, at most, in glyph heights
_MAX_SLOT = 1.4


def round_seal(
    org_name: str, purpose: str = "", code: str | None = None, diameter_mm: float = 42
) -> SealImage:
    """The round official seal: rim, star, name on the upper arc, purpose below, code on the lower arc.

    ``diameter_mm`` is 42 for an organisation's 公章 (40 and 45 are common too); any value from
    30 to 60 mm is accepted. The name spreads over 210–250° depending on its length; names under
    about eight characters keep a natural spacing and cover less.
    """
    org_name = _text("org_name", org_name, MAX_NAME_CHARS, required=True)
    purpose = _text("purpose", purpose, MAX_PURPOSE_CHARS)
    code = _text("code", code or "", MAX_CODE_CHARS)
    check_size_mm("diameter_mm", diameter_mm, ROUND_DIAMETER_MM)
    radius = diameter_mm / 2
    rim = min(max(diameter_mm * 1.2 / 42, 1.0), 1.2)
    gap = diameter_mm * 0.02
    inside = Ellipse(radius - rim - gap, radius - rim - gap)

    def draw(canvas: Canvas) -> None:
        canvas.rim(Ellipse(radius, radius), rim)
        star_radius = diameter_mm / 6
        canvas.star(0.0, star_radius)
        name_span = _name_span(len(org_name), minimum=210, maximum=250)
        _arc_text(canvas, org_name, inside, math.pi / 2, name_span, diameter_mm * 0.15, _NAME_SQUEEZE)
        if purpose:
            height = diameter_mm * 0.1
            star_bottom = star_radius * math.cos(math.radians(36))
            centre_y = -(star_bottom + diameter_mm * 0.035 + height / 2)
            canvas.text_line(purpose, centre_y, height, max_width=diameter_mm * 0.55)
        if code:
            height = diameter_mm * 0.06
            free_span = math.radians(360) - name_span - math.radians(20)
            natural = sum(canvas.font.advance(c) for c in code) * height * 1.3 / (inside.rx - height / 2)
            _arc_text(canvas, code, inside, -math.pi / 2, min(natural, free_span), height)

    return _render(diameter_mm, diameter_mm, draw)


def oval_seal(
    org_name: str,
    taxpayer_no: str,
    purpose: str = "发票专用章",
    width_mm: float = 40,
    height_mm: float = 30,
) -> SealImage:
    """The oval invoice seal (发票专用章): name on the upper arc, taxpayer number across the middle.

    The taxpayer number (usually the 18-character unified social credit code) is drawn condensed,
    as the engraving rules ask for a narrow face; the purpose text sits under it.
    """
    org_name = _text("org_name", org_name, MAX_NAME_CHARS, required=True)
    taxpayer_no = _text("taxpayer_no", taxpayer_no, MAX_TAXPAYER_CHARS, required=True)
    purpose = _text("purpose", purpose, MAX_PURPOSE_CHARS)
    check_size_mm("width_mm", width_mm, OVAL_WIDTH_MM)
    check_size_mm("height_mm", height_mm, OVAL_HEIGHT_MM)
    if height_mm > width_mm:
        raise EsignError(ErrorCode.BAD_OPTION, detail="an oval seal is wider than it is high")
    rim = min(max(height_mm / 30, 0.8), 1.2)
    gap = height_mm * 0.02

    def draw(canvas: Canvas) -> None:
        canvas.rim(Ellipse(width_mm / 2, height_mm / 2), rim)
        name_span = _name_span(len(org_name), minimum=170, maximum=210)
        inside = Ellipse(width_mm / 2 - rim - gap, height_mm / 2 - rim - gap)
        _arc_text(canvas, org_name, inside, math.pi / 2, name_span, height_mm * 0.14, _NAME_SQUEEZE)
        number_height = height_mm * 0.11
        canvas.text_line(taxpayer_no, 0.0, number_height, max_width=width_mm * 0.6, squeeze=0.8)
        if purpose:
            canvas.text_line(purpose, -height_mm * 0.27, height_mm * 0.14, max_width=width_mm * 0.55)

    return _render(width_mm, height_mm, draw)


def _render(width_mm: float, height_mm: float, draw: Callable[[Canvas], None]) -> SealImage:
    font = SealFont()
    canvas = Canvas(width_mm, height_mm, font)
    draw(canvas)
    content = canvas.content()  # glyphs are collected while drawing, so embed the font afterwards
    pdf = single_page_pdf(width_mm, height_mm, content, lambda doc: _font_resources(doc, font))
    return SealImage(pdf=pdf, width_mm=width_mm, height_mm=height_mm)


def _font_resources(doc: pikepdf.Pdf, font: SealFont) -> pikepdf.Dictionary:
    return pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font.embed(doc)))


def _arc_text(
    canvas: Canvas,
    text: str,
    inside: Ellipse,
    middle: float,
    span: float,
    height: float,
    max_squeeze: float = 1.0,
) -> None:
    """Lay ``text`` over ``span`` radians centred on ``middle``, its glyphs just within ``inside``.

    Text on the upper half runs clockwise with glyph tops facing the rim, text on the lower half
    counter-clockwise with tops facing the centre, so both read left to right. Crowded text (long
    names) is condensed down to ``_MIN_SQUEEZE``; beyond that the glyph height shrinks, which
    moves the track outwards a little, hence the few fixed-point rounds. Short text gets a narrower
    span so that its glyphs are at most ``_MAX_SLOT`` heights apart.
    """
    t_from, t_to = middle - span / 2, middle + span / 2
    if math.sin(middle) > 0:
        t_from, t_to = t_to, t_from
    widest = max(canvas.font.advance(c) for c in text)
    for _ in range(6):
        track = Ellipse(inside.rx - height / 2, inside.ry - height / 2)
        slot = track.arc_length(t_from, t_to) / len(text)
        fitting = 0.9 * slot / (_MIN_SQUEEZE * widest)
        if height <= fitting:
            break
        height = fitting
    if slot > _MAX_SLOT * height:  # short names keep a natural spacing instead of spreading thin
        shrink = _MAX_SLOT * height / slot
        t_from, t_to = middle + (t_from - middle) * shrink, middle + (t_to - middle) * shrink
    canvas.text_on_arc(text, track, t_from, t_to, height, max_squeeze)


def _name_span(chars: int, *, minimum: float, maximum: float) -> float:
    """Arc covered by the name, in radians: longer names wrap further round the rim."""
    return math.radians(min(max(180 + 4.5 * chars, minimum), maximum))


def _text(field: str, value: str, limit: int, *, required: bool = False) -> str:
    """NFC-normalised, trimmed text; refused when required but empty, too long, or with control characters."""
    value = unicodedata.normalize("NFC", (value or "").strip())
    if required and not value:
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"{field} must not be empty")
    if len(value) > limit:
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"{field} has {len(value)} characters (limit {limit})")
    if any(unicodedata.category(c).startswith(("C", "Z")) and c != " " for c in value):
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"{field} contains control or separator characters")
    return value
