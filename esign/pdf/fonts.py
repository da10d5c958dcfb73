"""Where the CJK font comes from.

Seals, appearance text and sample documents need a font with Chinese glyphs that can be embedded
(subset) so text can be extracted back. Debian's fonts-noto-cjk (installed by ``./tasks``) provides
Noto Serif/Sans CJK as OpenType collections; ``ESIGN_CJK_FONT`` overrides the choice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "NotoSerifCJKsc-Regular"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular"),
)


@dataclass(frozen=True)
class FontFile:
    path: Path
    #: index inside a .ttc collection (0 for a plain .otf/.ttf)
    index: int = 0


class FontNotFound(RuntimeError):
    pass


@cache
def cjk_font(serif: bool = True) -> FontFile:
    """The CJK font to embed, Simplified Chinese face of the collection."""
    override = os.environ.get("ESIGN_CJK_FONT")
    if override:
        return FontFile(Path(override), int(os.environ.get("ESIGN_CJK_FONT_INDEX", "0")))
    candidates = _CANDIDATES if serif else _CANDIDATES[::-1]
    for path, face in candidates:
        if Path(path).exists():
            return FontFile(Path(path), _face_index(Path(path), face))
    raise FontNotFound("no CJK font found: install fonts-noto-cjk or set ESIGN_CJK_FONT")


def _face_index(path: Path, postscript_name: str) -> int:
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(path), lazy=True)
    for i, font in enumerate(collection.fonts):
        if font["name"].getDebugName(6) == postscript_name:
            return i
    return 0


@cache
def cjk_font_otf(serif: bool = True) -> Path:
    """A single-face OpenType file of :func:`cjk_font`, extracted once into a cache directory.

    pyHanko's ``GlyphAccumulator`` opens fonts with ``TTFont(handle)``, which cannot pick a face
    out of a .ttc collection, so the face is written out as a plain .otf the first time it is needed.
    """
    font = cjk_font(serif)
    if font.path.suffix.lower() != ".ttc":
        return font.path
    cache_dir = Path(os.environ.get("ESIGN_CACHE_DIR", Path.home() / ".cache" / "esign"))
    target = cache_dir / f"{font.path.stem}-{font.index}.otf"
    if not target.exists():
        from fontTools.ttLib import TTFont

        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        TTFont(str(font.path), fontNumber=font.index).save(str(tmp))
        tmp.replace(target)  # atomic: concurrent processes never see a half-written font
    return target
