"""Fast composition for file rendering: static layers prepared once, premultiplied uint8 blends.

A video file's scene does not change during the video: the background colour, the background
image and every decoration behind the avatar are flattened once into one picture, and the
decorations in front of it into another (with the boxes they cover). Per frame only the avatar's
rectangle is blended, in premultiplied alpha with OpenCV's saturating uint8 arithmetic (SIMD,
no float copies of the frame); a fully opaque avatar is simply copied. Placement follows
avatar.compose (its Layout rules, its fit when the request gives no layout), so streams and
files put the avatar in the same place.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.compose import Compositor, Layout, Scene


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """RGBA with colour multiplied by alpha (the form in which resampling and 'over' are right)."""
    a = rgba[..., 3]
    a4 = cv2.merge([a, a, a, np.full_like(a, 255)])
    return cv2.multiply(rgba, a4, scale=1.0 / 255.0)


def over(dst: np.ndarray, src_pm: np.ndarray) -> None:
    """dst = src over dst, both premultiplied RGBA uint8 of the same shape (dst modified,
    views included)."""
    inv = 255 - src_pm[..., 3]
    inv4 = cv2.merge([inv, inv, inv, inv])
    dst[...] = cv2.add(src_pm, cv2.multiply(dst, inv4, scale=1.0 / 255.0))


def _cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale and centre-crop `img` to cover w×h (a background image)."""
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * s)), max(h, round(ih * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    big = cv2.resize(img, (nw, nh), interpolation=interp)
    x, y = (nw - w) // 2, (nh - h) // 2
    return big[y : y + h, x : x + w]


def _clip(lay: Layout, w: int, h: int) -> tuple[int, int, int, int, int, int] | None:
    """Visible part of a layout: (x0, y0, x1, y1) on the canvas and the offset into the image."""
    x0, y0 = max(lay.left, 0), max(lay.top, 0)
    x1, y1 = min(lay.left + lay.width, w), min(lay.top + lay.height, h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1, x0 - lay.left, y0 - lay.top


def _place(canvas: np.ndarray, rgba: np.ndarray, lay: Layout) -> tuple[int, int, int, int] | None:
    """Resize an image to its layout and blend it (premultiplied) onto the canvas."""
    h, w = canvas.shape[:2]
    c = _clip(lay, w, h)
    if c is None:
        return None
    x0, y0, x1, y1, ox, oy = c
    interp = cv2.INTER_AREA if lay.width < rgba.shape[1] else cv2.INTER_LINEAR
    img = premultiply(cv2.resize(rgba, (lay.width, lay.height), interpolation=interp))
    over(canvas[y0:y1, x0:x1], np.ascontiguousarray(img[oy : oy + y1 - y0, ox : ox + x1 - x0]))
    return x0, y0, x1, y1


class FastCompositor:
    """Same contract as avatar.compose.Compositor: compose(avatar RGBA) -> output RGBA. The
    output is premultiplied (identical to straight alpha wherever alpha is 0 or 255)."""

    def __init__(self, scene: Scene, avatar_size: tuple[int, int]) -> None:
        self.scene = scene
        self.avatar_layout = Compositor(scene, avatar_size).avatar_layout
        w, h = scene.width, scene.height
        back = np.empty((h, w, 4), np.uint8)
        back[:] = scene.background_rgba
        back = premultiply(back)
        if scene.background_image is not None:
            over(back, premultiply(np.ascontiguousarray(_cover(scene.background_image, w, h))))
        front = np.zeros((h, w, 4), np.uint8)
        self._front_boxes: list[tuple[int, int, int, int]] = []
        # Stable sort: equal layers keep the request's order; the avatar sits between.
        for asset in sorted(scene.assets, key=lambda a: a.layout.layer):
            if asset.layout.layer < scene.avatar_layer:
                _place(back, asset.rgba, asset.layout)
            else:
                box = _place(front, asset.rgba, asset.layout)
                if box is not None:
                    self._front_boxes.append(box)
        self._back = back
        self._front = front
        self._clip = _clip(self.avatar_layout, w, h)

    def compose(self, avatar_rgba: np.ndarray) -> np.ndarray:
        out = self._back.copy()
        if self._clip is not None:
            x0, y0, x1, y1, ox, oy = self._clip
            lay = self.avatar_layout
            opaque = bool(avatar_rgba[..., 3].min() == 255)
            src = avatar_rgba if opaque else premultiply(avatar_rgba)
            interp = cv2.INTER_AREA if lay.width < avatar_rgba.shape[1] else cv2.INTER_LINEAR
            img = cv2.resize(src, (lay.width, lay.height), interpolation=interp)
            img = img[oy : oy + y1 - y0, ox : ox + x1 - x0]
            if opaque:
                out[y0:y1, x0:x1] = img
            else:
                over(out[y0:y1, x0:x1], np.ascontiguousarray(img))
        for x0, y0, x1, y1 in self._front_boxes:
            region = out[y0:y1, x0:x1]
            over(region, np.ascontiguousarray(self._front[y0:y1, x0:x1]))
        return out
