"""Named landmark groups of the 478-point face mesh and a face-aligned coordinate frame.

The frame puts the origin between the inner lips, `u` along the line from the image-left eye to
the image-right eye and `v` perpendicular to it, pointing down the face; `unit` is the distance of
the outer eye corners. Warps are designed in this frame so a tilted source face works the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UPPER_INNER_LIP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_INNER_LIP = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
UPPER_OUTER_LIP = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LOWER_OUTER_LIP = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
# Eyes as seen in the image: "a" is the image-left eye (the subject's right), "b" the other.
EYE_A_UPPER = [33, 246, 161, 160, 159, 158, 157, 173, 133]
EYE_A_LOWER = [33, 7, 163, 144, 145, 153, 154, 155, 133]
EYE_B_UPPER = [263, 466, 388, 387, 386, 385, 384, 398, 362]
EYE_B_LOWER = [263, 249, 390, 373, 374, 380, 381, 382, 362]
BROW_A = [70, 63, 105, 66, 107, 46, 53, 52, 65, 55]
BROW_B = [300, 293, 334, 296, 336, 276, 283, 282, 295, 285]
FACE_OVAL = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
]  # fmt: skip
NOSE_TIP = 1
SUBNASALE = 2
CHIN = 152
FOREHEAD = 10
LIP_SKIN = [0, 17, 37, 267, 84, 314]  # on the lips, for the lip colour
CHEEK_SKIN = [50, 280, 101, 330, 118, 347]  # on the cheeks, for the skin colour and light


@dataclass(slots=True)
class FaceFrame:
    """Face-aligned frame: origin (between the inner lips), unit axes and scale in pixels."""

    origin: np.ndarray  # (2,)
    u_axis: np.ndarray  # (2,), image-left eye -> image-right eye
    v_axis: np.ndarray  # (2,), down the face
    unit: float  # outer-eye-corner distance in pixels

    @classmethod
    def from_points(cls, pts: np.ndarray) -> FaceFrame:
        eye_a, eye_b = pts[33].astype(np.float64), pts[263].astype(np.float64)
        u = eye_b - eye_a
        unit = float(np.linalg.norm(u))
        u /= max(unit, 1e-6)
        v = np.array([-u[1], u[0]])
        origin = (pts[13].astype(np.float64) + pts[14]) / 2
        return cls(origin, u, v, unit)

    def to_local(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2) -> (u, v) in pixels of the face frame."""
        d = np.asarray(xy, np.float64) - self.origin
        return np.stack([d @ self.u_axis, d @ self.v_axis], -1)

    def to_image(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, np.float64)
        return self.origin + uv[..., :1] * self.u_axis + uv[..., 1:2] * self.v_axis

    def vec_to_image(self, duv: np.ndarray) -> np.ndarray:
        duv = np.asarray(duv, np.float64)
        return duv[..., :1] * self.u_axis + duv[..., 1:2] * self.v_axis
