"""Person mask of a picture (mediapipe selfie segmentation, shipped in the wheel), made sure to
cover the face, for background replacement and to keep the background still while warping."""

from __future__ import annotations

import cv2
import numpy as np

from avatar.face.geometry import FACE_OVAL


def person_mask(rgb: np.ndarray, face_points: np.ndarray | None = None) -> np.ndarray:
    """H×W uint8 mask (255 = person) of an RGB uint8 picture.

    The face oval (grown upwards to take in hair) is always part of the person, because the
    segmenter can miss painted or cartoon faces that the landmarks still found.
    """
    from mediapipe.python.solutions import selfie_segmentation

    h, w = rgb.shape[:2]
    with selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        res = seg.process(np.ascontiguousarray(rgb[..., :3]))
    prob = res.segmentation_mask
    if prob is None:
        prob = np.zeros((h, w), np.float32)
    prob = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    mask = (prob > 0.5).astype(np.uint8) * 255
    if face_points is not None:
        oval = face_points[FACE_OVAL].astype(np.float32)
        centre = oval.mean(0)
        # Grow the oval by a third (more upwards) to take in hair and ears.
        grown = centre + (oval - centre) * np.array([1.3, 1.35], np.float32)
        grown[:, 1] -= 0.12 * (oval[:, 1].max() - oval[:, 1].min())
        hull = cv2.convexHull(np.concatenate([oval, grown]).astype(np.int32))
        face = np.zeros_like(mask)
        cv2.fillConvexPoly(face, hull, 255)
        # Only keep the grown part where the segmenter is not sure it is background.
        face[(prob < 0.15) & ~_inside(oval.astype(np.int32), (h, w))] = 0
        mask = np.maximum(mask, face)
    key = chroma_key_colour(rgb)
    if key is not None:
        # A green/blue screen: its colour says exactly where the person is not.
        mask[_key_alpha(rgb, key) < 128] = 0
    # Keep the largest parts only and close small holes.
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8))
    if n > 2:
        biggest = 1 + np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1]
        keep = [biggest[0]] + [i for i in biggest[1:] if stats[i, 4] > 0.05 * stats[biggest[0], 4]]
        mask = np.where(np.isin(labels, keep), mask, 0).astype(np.uint8)
    return mask


def _inside(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [poly], 1)
    return m.astype(bool)


def chroma_key_colour(rgb: np.ndarray) -> np.ndarray | None:
    """The screen colour if the picture's border is a saturated, even green or blue screen."""
    h, w = rgb.shape[:2]
    b = max(2, min(h, w) // 30)
    border = np.concatenate(
        [rgb[:b].reshape(-1, 3), rgb[:, :b].reshape(-1, 3), rgb[:, -b:].reshape(-1, 3)]
    ).astype(np.float32)
    key = np.median(border, 0)
    near = np.linalg.norm(border - key, axis=1) < 40
    r, g, bl = key
    screen = (g > r + 40 and g > bl + 20) or (bl > r + 40 and bl > g + 20)
    return key if screen and near.mean() > 0.6 else None


def _key_alpha(rgb: np.ndarray, key: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(rgb.astype(np.float32) - key, axis=2)
    return np.clip((d - 45.0) * (255.0 / 50.0), 0, 255).astype(np.uint8)


def despill(rgb: np.ndarray, key: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Screen colour spilled onto the person's edge, taken out near the outline."""
    out = rgb.copy()
    ch = int(np.argmax(key))  # 1 green, 2 blue
    others = [c for c in range(3) if c != ch]
    limit = np.maximum(rgb[..., others[0]], rgb[..., others[1]])
    edge = cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0
    edge &= cv2.erode(mask, np.ones((9, 9), np.uint8)) == 0
    out[..., ch] = np.where(edge, np.minimum(rgb[..., ch], limit), rgb[..., ch])
    return out
