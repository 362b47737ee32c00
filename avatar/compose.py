"""The compositor: background colour or image, the avatar and asset images placed by Layout.

Owned by the photo avatar engine (this first version: colour background and the avatar only).
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


class Compositor:
    """Composes avatar frames into the output picture. Static layers are prepared once."""

    def __init__(self, scene: Scene, avatar_size: tuple[int, int]) -> None:
        self.scene = scene
        aw, ah = avatar_size
        if scene.avatar_layout is None:
            s = min(scene.width / aw, scene.height / ah)
            w, h = round(aw * s), round(ah * s)
            self.avatar_layout = Layout((scene.width - w) // 2, scene.height - h, w, h)
        else:
            self.avatar_layout = scene.avatar_layout
        self._base = np.empty((scene.height, scene.width, 4), np.uint8)
        self._base[:] = scene.background_rgba

    def compose(self, avatar_rgba: np.ndarray) -> np.ndarray:
        out = self._base.copy()
        lay = self.avatar_layout
        img = cv2.resize(avatar_rgba, (lay.width, lay.height), interpolation=cv2.INTER_AREA)
        _blend(out, img, lay.left, lay.top)
        return out


def _blend(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    h, w = src.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    s = src[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    d = dst[y0:y1, x0:x1].astype(np.float32)
    a = s[..., 3:4] / 255.0
    d[..., :3] = s[..., :3] * a + d[..., :3] * (1 - a)
    d[..., 3:4] = np.maximum(d[..., 3:4], s[..., 3:4])
    dst[y0:y1, x0:x1] = d.astype(np.uint8)
