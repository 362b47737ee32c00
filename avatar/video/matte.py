"""Cutting the person out of the avatar's own background before composition.

Two sources of a matte: a green screen (video avatars filmed on chroma green: keyed per frame,
with spill suppression so the edges do not glow green) and a person mask saved by the photo
avatar builder (a still picture: one mask, applied to every frame).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

# Where builders may leave a person mask (8-bit, 255 = person), in order of preference.
MASK_FILES = ("person_mask.png", "mask.png", "matte.png")


def key_color(rgba: np.ndarray) -> tuple[float, float]:
    """The screen's chroma (Cb, Cr): the median of the picture's border, where the screen is."""
    rgb = rgba[..., :3]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).reshape(-1, 1, 3)
    ycc = cv2.cvtColor(np.ascontiguousarray(border), cv2.COLOR_RGB2YCrCb).reshape(-1, 3)
    greenish = ycc[(ycc[:, 1] < 120) & (ycc[:, 2] < 120)]  # green: low Cr and low Cb
    pick = greenish if len(greenish) > len(ycc) // 4 else ycc
    return float(np.median(pick[:, 2])), float(np.median(pick[:, 1]))


def chroma_key(
    rgba: np.ndarray, key: tuple[float, float] | None = None, near: float = 14.0, far: float = 34.0
) -> np.ndarray:
    """Key out the screen colour: alpha is 0 within `near` of the key's chroma (Cb, Cr in 0..255
    units), 255 beyond `far`, linear between. Returns a new RGBA array."""
    kb, kr = key or key_color(rgba)
    ycc = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2YCrCb).astype(np.float32)
    d = np.hypot(ycc[..., 2] - kb, ycc[..., 1] - kr)
    a = np.clip((d - near) / (far - near), 0.0, 1.0)
    # A light blur of the matte hides single-pixel noise at the edges.
    a = cv2.GaussianBlur(a, (3, 3), 0)
    out = rgba.copy()
    # Spill suppression: green never exceeds the larger of red and blue by much.
    rb = np.maximum(rgba[..., 0], rgba[..., 2]).astype(np.int16)
    out[..., 1] = np.minimum(rgba[..., 1].astype(np.int16), rb + 8).astype(np.uint8)
    out[..., 3] = np.minimum(rgba[..., 3], (a * 255.0 + 0.5).astype(np.uint8))
    return out


def load_person_mask(folder: Path, meta: dict[str, Any]) -> np.ndarray | None:
    """The person mask the builder saved (H×W uint8), or None when it has none."""
    names = [meta["person_mask"]] if meta.get("person_mask") else list(MASK_FILES)
    for name in names:
        p = folder / name
        if p.exists():
            m = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            if m is None:
                continue
            if m.ndim == 3:
                m = m[..., 3] if m.shape[2] == 4 else cv2.cvtColor(m, cv2.COLOR_BGR2GRAY)
            return m.astype(np.uint8)
    return None


class Matte:
    """Applies the avatar's matte to its frames (a no-op when there is nothing to remove)."""

    def __init__(self, mask: np.ndarray | None = None, green_screen: bool = False) -> None:
        self._mask = mask
        self._green = green_screen
        self._sized: np.ndarray | None = None
        self._key: tuple[float, float] | None = None

    @property
    def active(self) -> bool:
        return self._mask is not None or self._green

    def apply(self, rgba: np.ndarray) -> np.ndarray:
        if self._green:
            if self._key is None:
                self._key = key_color(rgba)  # the same screen in every frame
            rgba = chroma_key(rgba, self._key)
        if self._mask is not None:
            h, w = rgba.shape[:2]
            if self._sized is None or self._sized.shape != (h, w):
                self._sized = cv2.resize(self._mask, (w, h), interpolation=cv2.INTER_LINEAR)
            rgba = rgba.copy() if not self._green else rgba
            np.minimum(rgba[..., 3], self._sized, out=rgba[..., 3])
        return rgba
