"""Burned-in subtitles: sentence cues drawn with Pillow in a band at the bottom of the picture.

Each cue is drawn once into a small RGBA patch (a CJK-capable font from Debian's fonts-noto-cjk,
white text with a dark outline), then alpha-blended onto every frame it covers, so the per-frame
cost is one small blend.
"""

from __future__ import annotations

import collections
import functools
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from avatar.video.layers import over, premultiply
from avatar.video.spec import SubtitleSpec

# Debian's fonts-noto-cjk; fc-match finds it (or another CJK font) elsewhere.
_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)

_CLAUSE_END = re.compile(r"(?<=[,，、:：])\s*")


class FontNotFound(RuntimeError):
    """No CJK-capable font is installed (Debian: apt-get install fonts-noto-cjk)."""


@functools.cache
def find_cjk_font() -> str:
    for p in _FONT_CANDIDATES:
        if Path(p).exists():
            return p
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}", "sans-serif:lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except OSError:
        out = ""
    if out and Path(out).exists():
        return out
    raise FontNotFound("no CJK font: install Debian's fonts-noto-cjk")


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle: text shown from `start` to `end` seconds."""

    text: str
    start: float
    end: float


def split_long_cue(cue: Cue, max_chars: int) -> list[Cue]:
    """Break a sentence too long for two lines at clauses, timing parts by character count."""
    if len(cue.text) <= max_chars:
        return [cue]
    parts: list[str] = []
    for clause in (c for c in _CLAUSE_END.split(cue.text) if c):
        if parts and len(parts[-1]) + len(clause) <= max_chars:
            parts[-1] += clause if _is_cjk(clause) else " " + clause
        else:
            parts.append(clause)
    # A clause still too long is cut into nearly equal pieces: between words for Latin text,
    # anywhere for CJK.
    pieces: list[str] = []
    for p in parts:
        n = -(-len(p) // max_chars)
        if n == 1:
            pieces.append(p)
        elif _is_cjk(p):
            size = -(-len(p) // n)
            pieces += [p[i : i + size].strip() for i in range(0, len(p), size)]
        else:
            pieces += _balanced_words(p.split(), n)
    total = sum(len(p) for p in pieces) or 1
    out, t = [], cue.start
    for p in pieces:
        d = (cue.end - cue.start) * len(p) / total
        out.append(Cue(p, t, t + d))
        t += d
    return out


def _balanced_words(words: list[str], n: int) -> list[str]:
    """Greedy split of words into about n pieces of similar length."""
    target = sum(len(w) + 1 for w in words) / n
    out: list[str] = []
    cur: list[str] = []
    for w in words:
        if cur and len(" ".join([*cur, w])) > target and len(out) < n - 1:
            out.append(" ".join(cur))
            cur = []
        cur.append(w)
    if cur:
        out.append(" ".join(cur))
    return out


def _is_cjk(s: str) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in s)


class SubtitleOverlay:
    """Draws the cue active at time t onto RGBA frames of one output size."""

    def __init__(self, cues: list[Cue], width: int, height: int, style: SubtitleSpec) -> None:
        self.width, self.height = width, height
        # Sized by the short side, so portrait videos do not get giant letters.
        self.font_size = style.font_size or max(16, round(min(width, height) * 0.045))
        self.bottom = height - (style.bottom_margin or round(height * 0.06))
        self._font = ImageFont.truetype(find_cjk_font(), self.font_size)
        self._style = style
        # Two lines at most: longer sentences become several cues.
        max_w = int(width * 0.86)
        self.cues = [c for cue in cues for c in split_long_cue(cue, self._two_lines(cue, max_w))]
        self._max_w = max_w
        # Drawn cues, the last few only (cues come in order); FreeType is not thread-safe, so
        # one lock covers drawing and the cache.
        self._patches: collections.OrderedDict[int, tuple[np.ndarray, int, int]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def _two_lines(self, cue: Cue, max_w: int) -> int:
        """How many characters of this cue's text fit on two lines (with a margin for the
        ragged ends of wrapped lines)."""
        avg = self._font.getlength(cue.text) / max(1, len(cue.text))
        return max(8, int(2 * 0.9 * max_w / max(avg, 1.0)))

    def band(self) -> tuple[int, int]:
        """Rows [top, bottom) the subtitles can touch."""
        top = self.bottom - 2 * int(self.font_size * 1.35) - 2 * self._stroke()
        return max(0, top), self.bottom

    def cue_at(self, t: float) -> int | None:
        for i, c in enumerate(self.cues):
            if c.start <= t < c.end:
                return i
        return None

    def apply(self, frame: np.ndarray, t: float) -> None:
        """Blend the cue at time t into `frame` (H×W×4 RGBA, modified in place)."""
        i = self.cue_at(t)
        if i is None:
            return
        with self._lock:
            patch = self._patches.get(i)
            if patch is None:
                patch = self._patches[i] = self._draw(self.cues[i].text)
                while len(self._patches) > 4:
                    self._patches.popitem(last=False)
        pm, x, y = patch
        _over_at(frame, pm, x, y)

    def _stroke(self) -> int:
        return max(2, self.font_size // 14)

    def _draw(self, text: str) -> tuple[np.ndarray, int, int]:
        lines = _wrap(text, self._font, self._max_w)
        stroke = self._stroke()
        line_h = int(self.font_size * 1.35)
        widths = [int(self._font.getlength(line)) for line in lines]
        w = max(widths) + 2 * stroke + 4
        h = line_h * len(lines) + 2 * stroke
        img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        for k, (line, lw) in enumerate(zip(lines, widths, strict=True)):
            draw.text(
                ((w - lw) // 2, stroke + k * line_h),
                line,
                font=self._font,
                fill=self._style.color,
                stroke_width=stroke,
                stroke_fill=self._style.stroke_color,
            )
        pm = premultiply(np.asarray(img).copy())
        return pm, (self.width - w) // 2, self.bottom - h


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_w: int) -> list[str]:
    """Greedy wrap: at spaces for Latin text, at any character for CJK."""
    tokens = list(text) if _is_cjk(text) else text.split(" ")
    sep = "" if _is_cjk(text) else " "
    lines: list[str] = []
    cur = ""
    for tok in tokens:
        cand = cur + sep + tok if cur else tok
        if cur and font.getlength(cand) > max_w:
            lines.append(cur)
            cur = tok.lstrip()
        else:
            cur = cand
    if cur:
        lines.append(cur)
    return lines


def _over_at(dst: np.ndarray, src_pm: np.ndarray, x: int, y: int) -> None:
    """Premultiplied 'over' of a patch at (x, y); pixels under transparent patch pixels stay
    bit-identical (their weight is exactly 255/255)."""
    h, w = src_pm.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    region = np.ascontiguousarray(dst[y0:y1, x0:x1])
    over(region, np.ascontiguousarray(src_pm[y0 - y : y1 - y, x0 - x : x1 - x]))
    dst[y0:y1, x0:x1] = region
