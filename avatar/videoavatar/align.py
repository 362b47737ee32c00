"""The avatar's canonical mouth frame: where every recorded frame's mouth region is mapped so that
mouth crops of different frames line up, and the feathered mask used to blend them back.

Each frame gets a similarity transform fitted on landmarks that do not move with speech (eyes,
nose), so a crop taken from one frame can be put into any other frame at that frame's head pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.videoavatar import geometry as g


@dataclass(slots=True)
class Canon:
    """Canonical crop geometry: size, per-frame transforms (frame -> crop), the blend mask."""

    size: tuple[int, int]  # crop width, height in pixels
    to_crop: np.ndarray  # (N, 2, 3) frame pixels -> crop pixels
    mask: np.ndarray  # (h, w) float32 in [0, 1], feathered, 0 on the crop border
    lips: np.ndarray  # (N, 20, 2) inner-lip landmarks in crop pixels
    jaw: np.ndarray  # (N, 17, 2) jaw-line landmarks in crop pixels
    eye: float  # canonical eye distance in crop pixels


def _smooth_in_time(pts: np.ndarray, ok: np.ndarray, ref: int) -> np.ndarray:
    """Landmark jitter makes a pasted mouth shimmer: smooth the stable points over 5 frames
    (binomial weights), using only tracked frames; untracked frames take the reference's."""
    kernel = np.array([1, 4, 6, 4, 1], np.float64)
    out = np.empty(pts.shape, np.float64)
    n = len(pts)
    for i in range(n):
        acc = np.zeros(pts.shape[1:])
        wsum = 0.0
        for d, w in zip(range(-2, 3), kernel, strict=True):
            j = i + d
            if 0 <= j < n and ok[j]:
                acc += w * pts[j]
                wsum += w
        out[i] = acc / wsum if wsum > 0 and ok[i] else pts[ref]
    return out


def build_canon(landmarks: np.ndarray, ok: np.ndarray, ref: int) -> Canon:
    """Fit every tracked frame to the reference frame `ref` (a frontal one)."""
    ref_pts = landmarks[ref, g.STABLE, :2]
    iod = np.array([g.eye_distance(lm) for lm in landmarks[ok]])
    # crops at about the face's own resolution, bounded so a 2K recording stays compact
    c = float(np.clip(np.median(iod), 64.0, 200.0))
    s = c / g.eye_distance(landmarks[ref])
    ref_c = (ref_pts - ref_pts.mean(0)) * s
    n = len(landmarks)
    stable = _smooth_in_time(landmarks[:, g.STABLE, :2], ok, ref)
    mats = np.zeros((n, 2, 3))
    for i in range(n):
        mats[i] = g.fit_similarity(stable[i], ref_c)
    canon = np.stack([g.apply_affine(mats[i], landmarks[i]) for i in range(n)])
    good = canon[ok]
    mouth_c = good[:, [g.MOUTH_R, g.MOUTH_L, g.LIP_UP_OUT, g.LIP_LO_OUT]].mean((0, 1))
    # the widest mouths (smiles), not the typical one: a loop frame's lip corners left in the
    # mask's feather show as a ghost line beside a narrower library mouth
    half_w = float(np.percentile(np.abs(good[:, g.MOUTH_L, 0] - good[:, g.MOUTH_R, 0]), 97)) / 2
    top = float(np.median(good[:, g.NOSE_BASE, 1]))
    chin = float(np.percentile(good[:, g.CHIN, 1], 98))
    x0 = mouth_c[0] - half_w - 0.45 * c
    x1 = mouth_c[0] + half_w + 0.45 * c
    y0 = top - 0.12 * c
    y1 = chin + 0.3 * c
    w, h = int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0))
    mats[:, :, 2] -= (x0, y0)
    canon[..., 0] -= x0
    canon[..., 1] -= y0

    # mask: an ellipse from just under the nose to below the chin, over the mouth corners
    mask = np.zeros((h, w), np.float32)
    cx = mouth_c[0] - x0
    ty = top - y0 + 0.1 * c
    by = chin - y0 + 0.12 * c
    cv2.ellipse(
        mask,
        (int(round(cx)), int(round((ty + by) / 2))),
        (int(round(half_w + 0.25 * c)), int(round((by - ty) / 2))),
        0,
        0,
        360,
        1.0,
        -1,
        cv2.LINE_AA,
    )
    # and a flatter one along the mouth line: the ellipse above narrows at the height of the
    # lip corners, where a smile's corners would sit in the feather
    my = float(np.median(good[:, [g.MOUTH_R, g.MOUTH_L], 1])) - y0
    cv2.ellipse(
        mask,
        (int(round(cx)), int(round(my))),
        (int(round(half_w + 0.25 * c)), int(round(0.3 * c))),
        0,
        0,
        360,
        1.0,
        -1,
        cv2.LINE_AA,
    )
    sigma = 0.07 * c
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    # the feather must reach zero inside the crop, so nothing outside the crop is touched
    edge = np.ones_like(mask)
    m = max(2, int(2 * sigma))
    edge[:m], edge[-m:], edge[:, :m], edge[:, -m:] = 0, 0, 0, 0
    edge = cv2.GaussianBlur(edge, (0, 0), sigma / 2)
    mask = mask * edge
    mask[mask < 1e-3] = 0.0
    lips = canon[:, g.INNER_LIPS, :2].astype(np.float32)
    jaw = canon[:, g.JAW, :2].astype(np.float32)
    return Canon((w, h), mats.astype(np.float32), mask.astype(np.float32), lips, jaw, c)


REGION_SCALE = 2  # face-region masks are kept at half the crop resolution


def face_region(jaw: np.ndarray, size: tuple[int, int], eye: float) -> np.ndarray:
    """uint8 mask (half resolution) of the part of the crop that is this frame's face: inside
    the jaw line, shrunk so that its feather stays on skin. Multiplying the masks of the frame
    and of the library mouth keeps neck, collar and background out of the blend."""
    w, h = size
    s = REGION_SCALE
    pts = jaw / s
    top = np.array([[pts[-1, 0], -1.0], [pts[0, 0], -1.0]])
    poly = np.round(np.vstack([pts, top]) * 4).astype(np.int32)  # 2 fractional bits
    m = np.zeros(((h + s - 1) // s, (w + s - 1) // s), np.float32)
    cv2.fillPoly(m, [poly], 1.0, cv2.LINE_AA, shift=2)
    r = max(1, int(round(0.05 * eye / s)))
    m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    m = cv2.GaussianBlur(m, (0, 0), max(0.5, 0.6 * r))
    return (m * 255 + 0.5).astype(np.uint8)


def teeth_fraction(crop_rgb: np.ndarray, inner_lips: np.ndarray) -> tuple[float, float]:
    """(share of the mouth opening that looks like teeth, opening area in crop pixels)."""
    poly = np.round(inner_lips).astype(np.int32)
    m = np.zeros(crop_rgb.shape[:2], np.uint8)
    cv2.fillPoly(m, [poly], 1)
    area = float(m.sum())
    if area < 12:
        return 0.0, area
    hsv = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2HSV)
    v = hsv[..., 2][m > 0].astype(np.float32)
    s = hsv[..., 1][m > 0].astype(np.float32)
    skin_v = float(np.median(hsv[..., 2]))
    teeth = (v > max(100.0, 0.8 * skin_v)) & (s < 95)
    return float(teeth.mean()), area
