"""The CJK font of seal images: glyph metrics and an embedded, subset Type0 font.

Seal text must stay real text (a verifier or a screen reader extracts the organisation name back),
so every glyph is drawn from an embedded CID-keyed CFF subset with a ToUnicode map. pyHanko's
``GlyphAccumulator`` is not used because it cannot open a face inside a ``.ttc`` collection, names
its subset with a random prefix (seal images must be byte-for-byte reproducible) and shapes whole
runs, while a seal places every glyph on its own.
"""

from __future__ import annotations

import hashlib
from functools import cache
from io import BytesIO

import pikepdf
from fontTools import subset
from fontTools.ttLib import TTFont

from esign.errors import ErrorCode, EsignError
from esign.pdf.fonts import cjk_font

#: the CJK ideographic em box sits from -120 to 880 units in a 1000-unit em (Adobe-Japan1 convention)
EM_BOX_BOTTOM = -0.12
EM_BOX_TOP = 0.88


@cache
def _metrics_font() -> TTFont:
    """The face opened once per process, read-only (cmap, widths, CFF charset).

    Opening is lazy, so only the tables actually looked up are parsed out of the 26 MB collection.
    """
    font = cjk_font()
    return TTFont(str(font.path), fontNumber=font.index, lazy=True)


@cache
def _cmap() -> dict[int, str]:
    return _metrics_font().getBestCmap()


class SealFont:
    """Collects the glyphs one seal image uses, then embeds exactly those as a subset font.

    Content streams address glyphs by CID (``Identity-H``: a two-byte code is the CID), which the
    CID-keyed CFF charset of Noto CJK keeps stable through subsetting.
    """

    def __init__(self) -> None:
        self._cid_by_char: dict[str, int] = {}

    def code(self, char: str) -> bytes:
        """The hex string operand (``<0a1b>``) that shows ``char``; refuses characters the font lacks."""
        cid = self._cid_by_char.get(char)
        if cid is None:
            cid = self._cid_by_char[char] = int(_glyph_name(char).removeprefix("cid"))
        return b"<%04x>" % cid

    @staticmethod
    def advance(char: str) -> float:
        """Advance width of ``char`` in em (1.0 for ideographs, about 0.5 for digits)."""
        font = _metrics_font()
        return font["hmtx"][_glyph_name(char)][0] / font["head"].unitsPerEm

    def embed(self, pdf: pikepdf.Pdf) -> pikepdf.Object:
        """The Type0 font dictionary (indirect) holding a subset with exactly the glyphs used."""
        cids = sorted(set(self._cid_by_char.values()))
        program = _subset_program(tuple(self._cid_by_char))
        base_font = f"{_subset_tag(cids)}+{_metrics_font()['name'].getDebugName(6)}"
        descriptor = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.FontDescriptor,
                FontName=pikepdf.Name("/" + base_font),
                Flags=4 | 2,  # symbolic, serif
                FontBBox=pikepdf.Array(_font_bbox()),
                ItalicAngle=0,
                Ascent=round(EM_BOX_TOP * 1000),
                Descent=round(EM_BOX_BOTTOM * 1000),
                CapHeight=_metrics_font()["OS/2"].sCapHeight,
                StemV=80,  # regular weight; only used by viewers that synthesise a substitute font
                FontFile3=pdf.make_stream(program, Subtype=pikepdf.Name.CIDFontType0C),
            )
        )
        cid_font = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Font,
                Subtype=pikepdf.Name.CIDFontType0,
                BaseFont=pikepdf.Name("/" + base_font),
                CIDSystemInfo=pikepdf.Dictionary(
                    Registry=pikepdf.String("Adobe"), Ordering=pikepdf.String("Identity"), Supplement=0
                ),
                FontDescriptor=descriptor,
                W=pikepdf.Array(self._widths()),
            )
        )
        return pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Font,
                Subtype=pikepdf.Name.Type0,
                BaseFont=pikepdf.Name("/" + base_font),
                Encoding=pikepdf.Name("/Identity-H"),
                DescendantFonts=pikepdf.Array([cid_font]),
                ToUnicode=pdf.make_stream(self._to_unicode()),
            )
        )

    def _widths(self) -> list[object]:
        """``/W`` as ``cid [width]`` pairs, in 1/1000 em, so viewers advance exactly as the font does."""
        entries: list[object] = []
        for char, cid in sorted(self._cid_by_char.items(), key=lambda item: item[1]):
            entries += [cid, pikepdf.Array([round(self.advance(char) * 1000)])]
        return entries

    def _to_unicode(self) -> bytes:
        pairs = sorted((cid, char) for char, cid in self._cid_by_char.items())
        blocks = []
        for start in range(0, len(pairs), 100):  # a bfchar block may hold at most 100 entries
            chunk = pairs[start : start + 100]
            lines = "\n".join(f"<{cid:04x}> <{char.encode('utf-16-be').hex()}>" for cid, char in chunk)
            blocks.append(f"{len(chunk)} beginbfchar\n{lines}\nendbfchar")
        return (
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <ffff>\nendcodespacerange\n"
            + "\n".join(blocks)
            + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
        ).encode("ascii")


def _glyph_name(char: str) -> str:
    """The CID-keyed glyph name (``cid12345``) of ``char``; characters the font lacks are refused."""
    glyph_name = _cmap().get(ord(char))
    if glyph_name is None or not glyph_name.startswith("cid"):
        raise EsignError(
            ErrorCode.BAD_OPTION, detail=f"the seal font has no glyph for {char!r} (U+{ord(char):04X})"
        )
    return glyph_name


def _subset_tag(cids: list[int]) -> str:
    """Six capitals derived from the glyph set: the subset name PDF requires, yet reproducible."""
    digest = hashlib.sha256(",".join(map(str, cids)).encode()).digest()
    return "".join(chr(ord("A") + byte % 26) for byte in digest[:6])


@cache
def _font_bbox() -> tuple[int, int, int, int]:
    head = _metrics_font()["head"]
    return head.xMin, head.yMin, head.xMax, head.yMax


def _subset_program(chars: tuple[str, ...]) -> bytes:
    """The bare CFF table of a subset holding ``chars`` (plus .notdef).

    Subsetting rewrites the font in place, so it works on a fresh lazy handle instead of the cached
    one; lazy loading keeps that cheap.
    """
    font_file = cjk_font()
    font = TTFont(str(font_file.path), fontNumber=font_file.index, lazy=True)
    options = subset.Options(layout_closure=False, notdef_outline=True)
    options.drop_tables += ["GPOS", "GDEF", "GSUB"]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    buffer = BytesIO()
    font["CFF "].cff.compile(buffer, font)
    return buffer.getvalue()
