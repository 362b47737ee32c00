"""The simplest renderer: the source picture with a dark ellipse where the mouth opens.

A fallback for avatars whose face could not be analysed and for tests of the runtime.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.types import AvatarRenderer, FrameParams


class StillImageRenderer(AvatarRenderer):
    """Draws the mouth opening as an ellipse at `mouth_xy` (pixels) over a still RGBA image."""

    def __init__(self, rgba: np.ndarray, mouth_xy: tuple[int, int] | None = None) -> None:
        self._rgba = rgba
        h, w = rgba.shape[:2]
        self.size = (w, h)
        self._mouth = mouth_xy or (w // 2, int(h * 0.62))
        self._mouth_w = max(4, w // 14)

    def render(self, params: FrameParams, t: float) -> np.ndarray:
        frame = self._rgba.copy()
        opening = params.mouth.jaw_open * (1 - params.mouth.lip_press)
        if opening > 0.02:
            axes = (self._mouth_w, max(1, int(self._mouth_w * 0.8 * opening)))
            cv2.ellipse(frame, self._mouth, axes, 0, 0, 360, (40, 10, 15, 255), -1, cv2.LINE_AA)
        return frame
