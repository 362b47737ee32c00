"""Putting a canonical mouth crop into a frame: warp to the frame's head pose, match colour on
the feather ring, blend with the feathered mask. Pixels where the mask is 0 are left untouched.

A library mouth opened wider than the frame's own comes with a lower chin: `jaw_field` gives the
displacement that moves the frame's chin (and the neck under it) onto the library mouth's jaw
line, fading to nothing at the mask's border, and `blend_mouth` applies it to the frame before
blending, so an open mouth does not sit above the loop's closed-mouth chin."""

from __future__ import annotations

import cv2
import numpy as np

from avatar.videoavatar.geometry import CHIN as CHIN_POINT
from avatar.videoavatar.geometry import JAW, invert_affine


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


FIELD_SCALE = 4  # the jaw displacement field is computed at a quarter of the crop resolution
CHIN = JAW.index(CHIN_POINT)  # the chin's index in the jaw line


def jaw_field(
    lib_jaw: np.ndarray, frame_jaw: np.ndarray, mask: np.ndarray, eye: float
) -> np.ndarray | None:
    """(h/4, w/4, 2) float32 displacement in crop pixels, defined where the library mouth's jaw
    points are: a pixel there shows the frame's content from `p - field(p)`. Each jaw point's
    offset spreads with a Gaussian (a quarter of the eye distance), weighted by the blend mask so
    that nothing moves where the mouth is not blended. None when the jaws already agree."""
    d = (lib_jaw - frame_jaw).astype(np.float32)
    d[:, 0] *= 0.5  # the chin mostly drops; sideways offsets are landmark noise more often
    if float(np.abs(d).max()) < 0.01 * eye:
        return None
    h, w = mask.shape
    s = FIELD_SCALE
    ys, xs = np.mgrid[0 : (h + s - 1) // s, 0 : (w + s - 1) // s].astype(np.float32) * s
    sigma2 = 2.0 * (0.25 * eye) ** 2
    g = np.exp(
        -((xs[..., None] - lib_jaw[:, 0]) ** 2 + (ys[..., None] - lib_jaw[:, 1]) ** 2) / sigma2
    )
    norm = g.sum(-1)
    reach = np.minimum(1.0, norm)  # 1 near the jaw line, fading with distance from it
    field = (g @ d) / np.maximum(norm, 1e-6)[..., None] * reach[..., None]
    m = cv2.resize(mask, (xs.shape[1], ys.shape[0]), interpolation=cv2.INTER_AREA)
    # only the chin and what is under it move: the frame's own lips stay where they are (moved,
    # they would show as a ghost beside the library lips)
    chin = min(float(lib_jaw[CHIN, 1]), float(frame_jaw[CHIN, 1]))
    below = np.clip((ys - (chin - 0.35 * eye)) / (0.2 * eye), 0.0, 1.0)
    return (field * (m * below)[..., None]).astype(np.float32)


def _warp_roi(
    roi: np.ndarray, place: Placement, field: np.ndarray, support: np.ndarray
) -> np.ndarray:
    """The ROI resampled by a crop-space displacement field (moved into ROI space); pixels
    outside the crop-space `support` mask keep their exact values."""
    h, w = roi.shape[:2]
    lin = place.m[:, :2].astype(np.float32)  # crop -> ROI, linear part
    ss = np.array([[FIELD_SCALE, 0, 0], [0, FIELD_SCALE, 0]], np.float32)
    m = place.m.astype(np.float32) @ np.vstack([ss, [0, 0, 1]])  # field grid -> ROI
    f_roi = field @ lin.T
    fxy = cv2.warpAffine(f_roi, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    fx, fy = fxy[..., 0], fxy[..., 1]
    outside = cv2.warpAffine(support, place.m, (w, h), flags=cv2.INTER_LINEAR) <= 0
    fx[outside] = 0.0
    fy[outside] = 0.0
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(roi, gx - fx, gy - fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out[outside] = roi[outside]  # (bit-exact: interpolation at integer positions may round)
    return out


def blend_mouth(
    frame: np.ndarray,
    place: Placement,
    crop: np.ndarray,
    mask: np.ndarray,
    weight: float = 1.0,
    field: np.ndarray | None = None,
    support: np.ndarray | None = None,
) -> None:
    """Blend `crop` (canonical, same channel count as `frame`) into `frame` (H×W×C uint8) in
    place, after moving the frame's jaw by `field` (see `jaw_field`) inside the crop-space
    mask `support` when given. OpenCV's
    per-pixel weighted blend works on uint8 directly, so a 1080p frame costs about as much as
    its mouth box."""
    w, h = place.x1 - place.x0, place.y1 - place.y0
    if w <= 0 or h <= 0 or weight <= 0:
        return
    roi = frame[place.y0 : place.y1, place.x0 : place.x1]
    if field is not None and support is not None:
        # the frame's chin follows the library mouth's; nothing moves outside `support`
        roi[...] = _warp_roi(np.ascontiguousarray(roi), place, field * weight, support)
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
