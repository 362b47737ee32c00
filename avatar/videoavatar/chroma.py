"""Green-screen detection and a chroma key with spill suppression (RGB -> RGB + alpha)."""

from __future__ import annotations

import cv2
import numpy as np

GREEN_FRACTION = 0.5  # share of border pixels that must be screen-green


def _border(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    m = max(2, min(h, w) // 20)
    return np.concatenate(
        [rgb[:m].reshape(-1, 3), rgb[:, :m].reshape(-1, 3), rgb[:, -m:].reshape(-1, 3)]
    )


def _is_green(px: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(px.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3)
    return (hsv[:, 0] >= 35) & (hsv[:, 0] <= 90) & (hsv[:, 1] >= 70) & (hsv[:, 2] >= 40)


def detect_key(frames: list[np.ndarray]) -> tuple[int, int, int] | None:
    """The screen colour when the frames' borders (top, left, right) are mostly green."""
    px = np.concatenate([_border(f) for f in frames])
    green = _is_green(px)
    if green.mean() < GREEN_FRACTION:
        return None
    return tuple(int(v) for v in np.median(px[green], axis=0))  # type: ignore[return-value]


class ChromaKey:
    """Keys one screen colour: alpha from the chroma distance (CrCb) to the key, then green spill
    on the edges and on semi-transparent pixels pulled down to max(red, blue)."""

    def __init__(self, key_rgb: tuple[int, int, int], near: float = 14.0, far: float = 34.0):
        ycc = cv2.cvtColor(np.uint8([[key_rgb]]), cv2.COLOR_RGB2YCrCb)[0, 0].astype(np.float32)
        self._key_cc = ycc[1:]
        self._near, self._far = near, far

    def apply(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (despilled RGB, alpha uint8)."""
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        d = np.hypot(ycc[..., 1] - self._key_cc[0], ycc[..., 2] - self._key_cc[1])
        a = np.clip((d - self._near) / (self._far - self._near), 0.0, 1.0)
        # isolated specks of screen inside the person and of person in the screen
        a = cv2.morphologyEx(a, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        alpha = (a * 255 + 0.5).astype(np.uint8)
        edge = cv2.dilate((alpha < 250).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        out = rgb.copy()
        r = rgb[..., 0].astype(np.int16)
        g = rgb[..., 1].astype(np.int16)
        b = rgb[..., 2].astype(np.int16)
        limit = np.maximum(r, b)
        spill = edge & (g > limit)
        out[..., 1][spill] = limit[spill].astype(np.uint8)
        return out, alpha
