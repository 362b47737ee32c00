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
    """Blend `crop` (canonical RGB) into `frame` (H×W×C uint8, C ≥ 3) in place."""
    w, h = place.x1 - place.x0, place.y1 - place.y0
    if w <= 0 or h <= 0 or weight <= 0:
        return
    roi = frame[place.y0 : place.y1, place.x0 : place.x1, :3]
    lib = cv2.warpAffine(
        crop, place.m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    m = cv2.warpAffine(mask, place.m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    if weight < 1.0:
        m *= weight
    base = roi.astype(np.float32)
    libf = lib.astype(np.float32)
    ring = (m > 0.02) & (m < 0.5)
    if ring.sum() > 16:
        # same person, same light, but another moment: remove the mean colour difference
        libf += base[ring].mean(0) - libf[ring].mean(0)
    out = base + m[..., None] * (libf - base)
    roi[...] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
