"""The compositor: background colour or image, the avatar and asset images placed by Layout.

Everything static is flattened once when the scene is set: the background (colour, then the
image scaled to cover the output) with every asset behind the avatar, and the assets in front of
it (with the boxes they cover). Per frame only the avatar's rectangle is resampled and blended,
in premultiplied alpha with OpenCV's saturating uint8 arithmetic; an opaque avatar is copied.
Larger `layer` is in front; at equal layers the avatar is behind the assets, assets keep their
order. Outputs up to 1920×1080 / 1080×1920 (any size really); straight (not premultiplied) RGBA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Layout:
    """A placement in output pixels (origin top-left); larger `layer` is in front."""

    left: int
    top: int
    width: int
    height: int
    layer: int = 0


@dataclass(slots=True)
class Asset:
    """A decoration or background image (RGBA uint8) and where it goes."""

    rgba: np.ndarray
    layout: Layout


@dataclass(slots=True)
class Scene:
    """Everything around the avatar in the output picture."""

    width: int
    height: int
    background_rgba: tuple[int, int, int, int] = (0, 0, 0, 255)
    background_image: np.ndarray | None = None  # RGBA, any size: scaled to cover the output
    avatar_layout: Layout | None = None  # None: fit the avatar into the output, bottom-centred
    avatar_layer: int = 0
    assets: list[Asset] = field(default_factory=list)


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """RGBA with colour multiplied by alpha: the form in which resampling and 'over' are right."""
    a = rgba[..., 3]
    a4 = cv2.merge([a, a, a, np.full_like(a, 255)])
    return cv2.multiply(rgba, a4, scale=1.0 / 255.0)


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3].astype(np.float32)
    scale = np.where(a > 0, 255.0 / np.maximum(a, 1.0), 0.0)[..., None]
    out = rgba.astype(np.float32)
    out[..., :3] *= scale
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def over(dst: np.ndarray, src_pm: np.ndarray) -> None:
    """dst = src over dst; both premultiplied RGBA uint8 of one shape (dst changed in place)."""
    inv = 255 - src_pm[..., 3]
    inv4 = cv2.merge([inv, inv, inv, inv])
    dst[...] = cv2.add(src_pm, cv2.multiply(dst, inv4, scale=1.0 / 255.0))


def resample(img: np.ndarray, w: int, h: int, enlarge: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), `enlarge` (bicubic: sharp) when enlarging."""
    if (w, h) == (img.shape[1], img.shape[0]):
        return img
    shrink = w < img.shape[1] or h < img.shape[0]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else enlarge)


def cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale `img` to cover w×h, centre-cropped (a background image)."""
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * s)), max(h, round(ih * s))
    big = resample(img, nw, nh)
    x, y = (nw - w) // 2, (nh - h) // 2
    return np.ascontiguousarray(big[y : y + h, x : x + w])


def fit_layout(avatar_size: tuple[int, int], box: Layout) -> Layout:
    """The avatar scaled to fit inside `box` keeping its aspect, centred, standing on its bottom."""
    aw, ah = avatar_size
    s = min(box.width / aw, box.height / ah)
    w, h = max(1, round(aw * s)), max(1, round(ah * s))
    return Layout(box.left + (box.width - w) // 2, box.top + box.height - h, w, h, box.layer)


def _visible(lay: Layout, w: int, h: int) -> tuple[int, int, int, int, int, int] | None:
    """The part of a layout on the canvas: (x0, y0, x1, y1) and the offset into the image."""
    x0, y0 = max(lay.left, 0), max(lay.top, 0)
    x1, y1 = min(lay.left + lay.width, w), min(lay.top + lay.height, h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1, x0 - lay.left, y0 - lay.top


def _place(canvas: np.ndarray, rgba: np.ndarray, lay: Layout) -> tuple[int, int, int, int] | None:
    """Resample an image (premultiplied) to its layout and blend it onto a premultiplied canvas."""
    c = _visible(lay, canvas.shape[1], canvas.shape[0])
    if c is None or lay.width <= 0 or lay.height <= 0:
        return None
    x0, y0, x1, y1, ox, oy = c
    img = resample(premultiply(rgba), lay.width, lay.height)
    over(canvas[y0:y1, x0:x1], np.ascontiguousarray(img[oy : oy + y1 - y0, ox : ox + x1 - x0]))
    return x0, y0, x1, y1


class Compositor:
    """Composes avatar frames into the output picture. Static layers are prepared once."""

    def __init__(
        self,
        scene: Scene,
        avatar_size: tuple[int, int],
        *,
        enlarge: int = cv2.INTER_CUBIC,
        straight_alpha: bool = True,
        avatar_opaque: bool = False,
    ) -> None:
        """`enlarge`: interpolation of the avatar when it is scaled up (bilinear is cheaper for
        2K files); `straight_alpha=False` returns premultiplied frames (equal to straight alpha
        wherever alpha is 0 or 255), which encoders of opaque or keyed output can take as is;
        `avatar_opaque`: the avatar's frames are opaque everywhere (`AvatarRenderer.opaque`),
        so they need not be looked at."""
        self.scene = scene
        self._avatar_opaque = avatar_opaque
        self._enlarge = enlarge
        self._straight = straight_alpha
        w, h = scene.width, scene.height
        if scene.avatar_layout is None:
            self.avatar_layout = fit_layout(avatar_size, Layout(0, 0, w, h, scene.avatar_layer))
        else:
            self.avatar_layout = scene.avatar_layout
        back = np.empty((h, w, 4), np.uint8)
        back[:] = scene.background_rgba
        back = premultiply(back)
        if scene.background_image is not None:
            over(back, premultiply(cover(scene.background_image, w, h)))
        front = np.zeros((h, w, 4), np.uint8)
        self._front_boxes: list[tuple[int, int, int, int]] = []
        # Stable sort: equal layers keep the request's order; the avatar goes behind them.
        for asset in sorted(scene.assets, key=lambda a: a.layout.layer):
            if asset.layout.layer < scene.avatar_layer:
                _place(back, asset.rgba, asset.layout)
            else:
                box = _place(front, asset.rgba, asset.layout)
                if box is not None:
                    self._front_boxes.append(box)
        self._back = back
        self._front = front
        self._opaque_back = bool(back[..., 3].min() == 255)
        self._clip = _visible(self.avatar_layout, w, h)
        lay = self.avatar_layout
        # The avatar at the canvas's own size, covering it, nothing in front: an opaque frame
        # is the output as it is (a stream's usual case).
        self._whole = (
            not self._front_boxes
            and (lay.left, lay.top, lay.width, lay.height) == (0, 0, w, h)
            and tuple(avatar_size) == (w, h)
        )

    def compose(self, avatar_rgba: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Output H×W×4 RGBA (straight alpha) with the avatar frame placed by its layout,
        written into `out` if given (and returned)."""
        if (
            self._whole
            and avatar_rgba.shape == (self.scene.height, self.scene.width, 4)
            and avatar_rgba.flags.c_contiguous
            and (self._avatar_opaque or cv2.minMaxLoc(cv2.extractChannel(avatar_rgba, 3))[0] == 255)
        ):
            if out is None:
                return avatar_rgba.copy()
            np.copyto(out, avatar_rgba)
            return out
        if out is not None:
            out[...] = self.compose(avatar_rgba)
            return out
        out = self._back.copy()
        if self._clip is not None:
            x0, y0, x1, y1, ox, oy = self._clip
            lay = self.avatar_layout
            opaque = self._avatar_opaque or bool(avatar_rgba[..., 3].min() == 255)
            src = avatar_rgba if opaque else premultiply(avatar_rgba)
            img = resample(src, lay.width, lay.height, self._enlarge)
            img = img[oy : oy + y1 - y0, ox : ox + x1 - x0]
            if opaque:
                out[y0:y1, x0:x1] = img
            else:
                over(out[y0:y1, x0:x1], np.ascontiguousarray(img))
        for x0, y0, x1, y1 in self._front_boxes:
            over(out[y0:y1, x0:x1], np.ascontiguousarray(self._front[y0:y1, x0:x1]))
        if self._straight and not self._opaque_back:
            out = unpremultiply(out)
        return out
