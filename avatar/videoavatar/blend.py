"""Putting a canonical mouth crop into a frame: warp to the frame's head pose, match colour on
the feather ring, blend with the feathered mask. Pixels where the mask is 0 are left untouched."""

from __future__ import annotations

import cv2
import numpy as np

from avatar.videoavatar.geometry import invert_affine


class Placement:
    """Where the crop goes in one frame: the region of interest and the crop -> ROI warp."""

    __slots__ = ("m", "x0", "x1", "y0", "y1")

    def __init__(
        self, to_crop: np.ndarray, crop_size: tuple[int, int], frame_size: tuple[int, int]
    ):
        inv = invert_affine(to_crop.astype(np.float64))
        w, h = crop_size
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ inv[:, :2].T + inv[:, 2]
        fw, fh = frame_size
        self.x0 = int(np.clip(np.floor(corners[:, 0].min()), 0, fw))
        self.y0 = int(np.clip(np.floor(corners[:, 1].min()), 0, fh))
        self.x1 = int(np.clip(np.ceil(corners[:, 0].max()) + 1, 0, fw))
        self.y1 = int(np.clip(np.ceil(corners[:, 1].max()) + 1, 0, fh))
        m = inv.copy()
        m[:, 2] -= (self.x0, self.y0)
        self.m = m


def blend_mouth(
    frame: np.ndarray,
    place: Placement,
    crop: np.ndarray,
    mask: np.ndarray,
    weight: float = 1.0,
) -> None:
    """Blend `crop` (canonical, same channel count as `frame`) into `frame` (H×W×C uint8) in
    place. OpenCV's per-pixel weighted blend works on uint8 directly, so a 1080p frame costs
    about as much as its mouth box."""
    w, h = place.x1 - place.x0, place.y1 - place.y0
    if w <= 0 or h <= 0 or weight <= 0:
        return
    roi = frame[place.y0 : place.y1, place.x0 : place.x1]
    lib = cv2.warpAffine(
        crop, place.m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    m = cv2.warpAffine(mask, place.m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    if weight < 1.0:
        m *= weight
    ring = cv2.inRange(m, 0.02, 0.5)
    if cv2.countNonZero(ring) > 16:
        # same person, same light, but another moment: remove the mean colour difference
        base_mean = cv2.mean(roi, ring)
        lib_mean = cv2.mean(lib, ring)
        shift = [b - a for a, b in zip(lib_mean, base_mean, strict=True)]
        if lib.shape[2] == 4:
            shift[3] = 0.0
        lib = cv2.add(lib, np.array(shift, np.float64), dtype=cv2.CV_8U)
    # where m is 0 the result is exactly the frame: (0*lib + 1*roi) / (1 + 1e-5) rounds back
    roi[...] = cv2.blendLinear(lib, np.ascontiguousarray(roi), m, 1.0 - m)
