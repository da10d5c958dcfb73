"""Drawing seal parts as PDF content: rims, the star and text laid along an arc or a line.

Everything is measured in millimetres from the seal's centre (the page content starts with a
``cm`` that maps mm to points), because seal specifications are written in millimetres.
Numbers are printed with a fixed precision, so the same seal always yields the same bytes.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from dataclasses import dataclass

from esign.seal.image.font import EM_BOX_BOTTOM, EM_BOX_TOP, SealFont
from esign.seal.image.page import PT_PER_MM

#: official seal red, RGB 230/0/18 (#E60012)
SEAL_RED = (230 / 255, 0.0, 18 / 255)
#: Bézier handle length for a quarter ellipse
_KAPPA = 4 * (math.sqrt(2) - 1) / 3
#: stroke added around glyph outlines, as a share of the glyph height: seal engravings are bolder
#: than the regular text face
_EMBOLDEN = 0.025


#: a position or a direction, in mm
Point = tuple[float, float]


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Ellipse:
    """An ellipse around the seal's centre; a circle when ``rx == ry``."""

    rx: float
    ry: float

    def point(self, t: float) -> tuple[float, float]:
        return self.rx * math.cos(t), self.ry * math.sin(t)

    def normal(self, t: float) -> tuple[float, float]:
        """Outward unit normal at parameter ``t``: the 'up' of a glyph standing on the rim."""
        nx, ny = math.cos(t) / self.rx, math.sin(t) / self.ry
        length = math.hypot(nx, ny)
        return nx / length, ny / length

    def params_at_lengths(self, t_from: float, t_to: float, fractions: list[float]) -> list[float]:
        """Parameters at the given fractions of the arc length from ``t_from`` to ``t_to``.

        Equal arc length (not equal angle) keeps glyphs evenly spaced on a flat oval.
        """
        ts, lengths = self._sample(t_from, t_to)
        result = []
        for fraction in fractions:
            target = fraction * lengths[-1]
            i = min(max(bisect_left(lengths, target), 1), len(ts) - 1)
            share = (target - lengths[i - 1]) / ((lengths[i] - lengths[i - 1]) or 1)
            result.append(ts[i - 1] + share * (ts[i] - ts[i - 1]))
        return result

    def arc_length(self, t_from: float, t_to: float) -> float:
        return self._sample(t_from, t_to)[1][-1]

    def _sample(self, t_from: float, t_to: float, steps: int = 720) -> tuple[list[float], list[float]]:
        """Parameters and cumulative chord lengths: micrometre-exact at seal sizes, no elliptic integrals."""
        ts = [t_from + (t_to - t_from) * i / steps for i in range(steps + 1)]
        lengths = [0.0]
        for a, b in itertools.pairwise(ts):
            lengths.append(lengths[-1] + math.dist(self.point(a), self.point(b)))
        return ts, lengths


class Canvas:
    """Accumulates content-stream operators for one seal image."""

    def __init__(self, width_mm: float, height_mm: float, font: SealFont) -> None:
        self.font = font
        red = " ".join(_num(c) for c in SEAL_RED)
        scale = _num(PT_PER_MM)
        self._ops = [
            f"{scale} 0 0 {scale} {_num(width_mm / 2 * PT_PER_MM)} {_num(height_mm / 2 * PT_PER_MM)} cm",
            f"{red} rg {red} RG",
        ]

    def content(self) -> bytes:
        return "\n".join(self._ops).encode("ascii")

    def rim(self, shape: Ellipse, stroke_mm: float) -> None:
        """Stroke an ellipse whose outer edge is ``shape`` (the stroke lies fully inside the seal)."""
        rx, ry = shape.rx - stroke_mm / 2, shape.ry - stroke_mm / 2
        kx, ky = rx * _KAPPA, ry * _KAPPA
        self._ops += [
            f"{_num(stroke_mm)} w",
            f"{_num(rx)} 0 m",
            f"{_num(rx)} {_num(ky)} {_num(kx)} {_num(ry)} 0 {_num(ry)} c",
            f"{_num(-kx)} {_num(ry)} {_num(-rx)} {_num(ky)} {_num(-rx)} 0 c",
            f"{_num(-rx)} {_num(-ky)} {_num(-kx)} {_num(-ry)} 0 {_num(-ry)} c",
            f"{_num(kx)} {_num(-ry)} {_num(rx)} {_num(-ky)} {_num(rx)} 0 c",
            "h S",
        ]

    def star(self, centre_y: float, outer_radius: float) -> None:
        """A solid five-pointed star, one point straight up, centred at (0, ``centre_y``)."""
        # the inner vertices of a regular pentagram lie at outer · sin 18° / sin 126°
        inner_radius = outer_radius * math.sin(math.radians(18)) / math.sin(math.radians(126))
        points = []
        for i in range(10):
            radius = outer_radius if i % 2 == 0 else inner_radius
            angle = math.pi / 2 + i * math.pi / 5
            points.append((radius * math.cos(angle), centre_y + radius * math.sin(angle)))
        path = [f"{_num(x)} {_num(y)} {'m' if i == 0 else 'l'}" for i, (x, y) in enumerate(points)]
        self._ops += [*path, "h f"]

    def text_on_arc(
        self, text: str, track: Ellipse, t_from: float, t_to: float, height: float, max_squeeze: float = 1.0
    ) -> None:
        """Glyphs centred at equal arc-length steps along ``track`` from ``t_from`` to ``t_to``.

        Each glyph stands on the arc: its vertical axis follows the outward normal when the text
        runs clockwise (upper arc, tops facing the rim) and the inward normal when it runs
        counter-clockwise (lower arc, tops facing the centre), so both read left to right. Glyphs
        narrower than their slot are not stretched; wider ones are condensed to fit, and none is
        wider than ``max_squeeze`` of its natural width (engraved lettering is taller than wide).
        """
        count = len(text)
        fractions = [(i + 0.5) / count for i in range(count)]
        slot = track.arc_length(t_from, t_to) / count
        clockwise = t_to < t_from
        # centre the em box vertically on the track: the baseline sits below its middle
        baseline_shift = (EM_BOX_TOP + EM_BOX_BOTTOM) / 2 * height
        glyphs = []
        for char, t in zip(text, track.params_at_lengths(t_from, t_to, fractions), strict=True):
            nx, ny = track.normal(t)
            up = (nx, ny) if clockwise else (-nx, -ny)
            cx, cy = track.point(t)
            glyphs.append((char, (cx - up[0] * baseline_shift, cy - up[1] * baseline_shift), up))
        widest = max(self.font.advance(char) for char in text) * height
        self._show(glyphs, height, min(max_squeeze, 0.9 * slot / widest))

    def text_line(
        self, text: str, centre_y: float, height: float, max_width: float, squeeze: float = 1
    ) -> None:
        """Horizontal text centred on (0, ``centre_y``), condensed further if wider than ``max_width``."""
        natural = sum(self.font.advance(char) for char in text) * height * squeeze
        squeeze *= min(1.0, max_width / natural)
        x = -natural * min(1.0, max_width / natural) / 2
        baseline = centre_y - (EM_BOX_TOP + EM_BOX_BOTTOM) / 2 * height
        glyphs = []
        for char in text:
            width = self.font.advance(char) * height * squeeze
            glyphs.append((char, (x + width / 2, baseline), (0.0, 1.0)))
            x += width
        self._show(glyphs, height, squeeze)

    def _show(self, glyphs: list[tuple[str, Point, Point]], height: float, squeeze: float) -> None:
        """Draw each glyph centred horizontally on its baseline point, its top facing ``up``.

        Text render mode 2 (fill, then stroke the outline) thickens the strokes the way an engraved
        seal looks, while the glyphs stay extractable text.
        """
        self._ops += [f"{_num(height * _EMBOLDEN)} w", "BT", "/F1 1 Tf", "2 Tr"]
        for char, (bx, by), (ux, uy) in glyphs:
            # the glyph's x axis is 'up' turned a quarter clockwise
            xx, xy = uy, -ux
            half = self.font.advance(char) * height * squeeze / 2
            origin_x, origin_y = bx - xx * half, by - xy * half
            width = height * squeeze
            matrix = (xx * width, xy * width, ux * height, uy * height, origin_x, origin_y)
            code = self.font.code(char).decode()
            self._ops.append(" ".join(_num(v) for v in matrix) + f" Tm {code} Tj")
        self._ops.append("ET")
