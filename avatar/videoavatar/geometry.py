"""Face geometry from MediaPipe face-mesh landmarks: head pose, the alignment of a frame to the
avatar's canonical face, and raw mouth measures (opening, width, lip thickness).

Measures are in units of the eye-corner distance (landmarks 33-263) so that they do not depend on
the face's size in the frame; the canonical alignment removes roll, scale and position.
"""

from __future__ import annotations

import numpy as np

EYE_R, EYE_L = 33, 263
LIP_UP_IN, LIP_LO_IN = 13, 14
LIP_UP_OUT, LIP_LO_OUT = 0, 17
MOUTH_R, MOUTH_L = 61, 291
CHIN = 152
NOSE_BASE = 2
# Points that do not move with the mouth or the jaw: eye corners, nose bridge and nose.
STABLE = [33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 2, 98, 327]
INNER_LIPS = [
    78,
    191,
    80,
    81,
    82,
    13,
    312,
    311,
    310,
    415,
    308,
    324,
    318,
    402,
    317,
    14,
    87,
    178,
    88,
    95,
]
OUTER_LIPS = [
    61,
    185,
    40,
    39,
    37,
    0,
    267,
    269,
    270,
    409,
    291,
    375,
    321,
    405,
    314,
    17,
    84,
    181,
    91,
    146,
]
# Jaw line from the left cheek round the chin to the right cheek (face-oval landmarks).
JAW = [132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361]


def eye_distance(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[EYE_L, :2] - lm[EYE_R, :2]))


def head_pose(lm: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the 3-D landmarks; 0, 0, 0 is a frontal face."""
    right = lm[EYE_L] - lm[EYE_R]
    down = lm[CHIN] - (lm[EYE_L] + lm[EYE_R]) / 2
    n = np.cross(right, down)
    n /= np.linalg.norm(n) + 1e-9
    # the normal points away from the camera (+z) for a frontal face
    yaw = float(np.degrees(np.arctan2(n[0], n[2])))
    pitch = float(np.degrees(np.arctan2(-n[1], n[2])))
    roll = float(np.degrees(np.arctan2(right[1], right[0])))
    return yaw, pitch, roll


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2×3 least-squares similarity (rotation, uniform scale, shift) taking src points to dst."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    # complex-number form of the 2-D similarity: dst = z * src
    zs = a[:, 0] + 1j * a[:, 1]
    zd = b[:, 0] + 1j * b[:, 1]
    z = np.vdot(zs, zd) / max(np.vdot(zs, zs).real, 1e-9)
    c, s = z.real, z.imag
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = md - m[:, :2] @ ms
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    a = m[:, :2]
    ai = np.linalg.inv(a)
    return np.hstack([ai, (-ai @ m[:, 2])[:, None]])


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts[:, :2] @ m[:, :2].T + m[:, 2]


def mouth_measures(lm: np.ndarray) -> np.ndarray:
    """Raw measures of one frame: [gap, width, thickness, outer height], in eye distances.

    gap: inner-lip opening (13-14); width: corner to corner (61-291); thickness: upper plus lower
    red-lip height; outer height: 0-17.
    """
    d = eye_distance(lm) + 1e-9

    def dist(i: int, j: int) -> float:
        return float(np.linalg.norm(lm[i, :2] - lm[j, :2]))

    gap = dist(LIP_UP_IN, LIP_LO_IN)
    width = dist(MOUTH_R, MOUTH_L)
    thick = dist(LIP_UP_OUT, LIP_UP_IN) + dist(LIP_LO_IN, LIP_LO_OUT)
    outer = dist(LIP_UP_OUT, LIP_LO_OUT)
    return np.array([gap, width, thick, outer], np.float32) / d


class ShapeScale:
    """Maps raw mouth measures of one person to MouthShape units (jaw_open, lip_width,
    lip_round, lip_press), from that person's own range in the recording."""

    def __init__(self, measures: np.ndarray) -> None:
        gap, width, thick = measures[:, 0], measures[:, 1], measures[:, 2]
        self.gap_open = max(float(np.percentile(gap, 97)), 1e-3)
        closed = gap < np.percentile(gap, 30) + 1e-6
        self.width_rest = (
            float(np.median(width[closed])) if closed.any() else float(np.median(width))
        )
        self.width_hi = max(float(np.percentile(width, 97)) - self.width_rest, 1e-3)
        self.width_lo = max(self.width_rest - float(np.percentile(width, 3)), 1e-3)
        self.thick_rest = (
            float(np.median(thick[closed])) if closed.any() else float(np.median(thick))
        )

    def to_params(self, m: np.ndarray) -> np.ndarray:
        """(..., 4) raw measures -> (..., 4) [jaw_open, lip_width, lip_round, lip_press]."""
        gap, width, thick = m[..., 0], m[..., 1], m[..., 2]
        jaw = np.clip(gap / self.gap_open, 0.0, 1.0)
        dw = width - self.width_rest
        lip_w = np.where(dw >= 0, dw / self.width_hi, dw / self.width_lo).clip(-1.0, 1.0)
        lip_round = np.clip(-lip_w, 0.0, 1.0) * np.clip(0.5 + jaw, 0.0, 1.0)
        press = np.clip((self.thick_rest - thick) / (0.35 * self.thick_rest), 0, 1) * (jaw < 0.1)
        return np.stack([jaw, lip_w, lip_round, press], -1).astype(np.float32)

    def to_dict(self) -> dict[str, float]:
        return {
            "gap_open": self.gap_open,
            "width_rest": self.width_rest,
            "width_hi": self.width_hi,
            "width_lo": self.width_lo,
            "thick_rest": self.thick_rest,
        }
