"""A mean-shaped face mesh (478 points) placed from a user's hint, for faces the detector misses.

The template was measured once from the public-domain NASA portrait in scikit-image
(`skimage.data.astronaut`), its mouth closed, in face-frame units (outer-eye distance = 1, origin
between the lips). A hint of three points fixes an affine placement; a face box a scaled one.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

from avatar.face.geometry import EYE_A_LOWER, EYE_A_UPPER, EYE_B_LOWER, EYE_B_UPPER, FACE_OVAL
from avatar.face.landmarks import FaceLandmarks, _box_of


@cache
def template() -> np.ndarray:
    """478×3 float32 (u, v, z) in outer-eye-distance units."""
    return np.load(Path(__file__).with_name("template_478.npy"))


def _anchors(t: np.ndarray) -> np.ndarray:
    eye_a = t[EYE_A_UPPER + EYE_A_LOWER, :2].mean(0)
    eye_b = t[EYE_B_UPPER + EYE_B_LOWER, :2].mean(0)
    mouth = (t[13, :2] + t[14, :2]) / 2
    return np.stack([eye_a, eye_b, mouth]).astype(np.float32)


def fit_to_points(
    eye_left: tuple[float, float], eye_right: tuple[float, float], mouth: tuple[float, float]
) -> FaceLandmarks:
    """Template placed so its eye centres and mouth land on the given image points."""
    t = template()
    eyes = sorted([tuple(map(float, eye_left)), tuple(map(float, eye_right))])  # image-left first
    dst = np.array([eyes[0], eyes[1], tuple(map(float, mouth))], np.float32)
    m = cv2.getAffineTransform(_anchors(t), dst)
    pts = t[:, :2] @ m[:, :2].T + m[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    return _landmarks(pts, t[:, 2] * scale)


def fit_to_box(box: tuple[float, float, float, float]) -> FaceLandmarks:
    """Template scaled into a face box (x, y, w, h) that spans the face oval."""
    t = template()
    oval = t[FACE_OVAL, :2]
    lo, hi = oval.min(0), oval.max(0)
    x, y, w, h = map(float, box)
    s = np.array([w, h], np.float32) / (hi - lo)
    pts = (t[:, :2] - lo) * s + np.array([x, y], np.float32)
    return _landmarks(pts, t[:, 2] * float(s.mean()))


def _landmarks(pts: np.ndarray, z: np.ndarray) -> FaceLandmarks:
    pts = pts.astype(np.float32)
    return FaceLandmarks(pts, z.astype(np.float32), _box_of(pts, 0, 0), 0.0)
