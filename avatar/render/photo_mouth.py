"""The synthesized mouth interior: dark cavity, upper teeth and a tongue hint, drawn where the
warped inner lips part, lit like the face. Works on a small box around the mouth only."""

from __future__ import annotations

import cv2
import numpy as np

from avatar.render.photo_rig import MouthLook

_SUB = 4  # sub-pixel precision of polygon drawing (shift = 2 bits)


def draw_mouth_interior(
    frame: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    teeth_line: np.ndarray,
    v_axis: np.ndarray,
    unit: float,
    look: MouthLook,
    opacity: float = 1.0,
) -> None:
    """Paint the interior into `frame` (RGBA, in place) inside the polygon between the inner-lip
    curves `upper` and `lower` (each K×2, corner to corner, in frame pixels); `teeth_line` is
    where the lips meet at rest, moved with the head."""
    gap = float(np.max((lower - upper) @ v_axis))
    if gap < 0.5:
        return
    poly = np.concatenate([upper, lower[::-1]])
    fh, fw = frame.shape[:2]
    x0 = max(int(np.floor(poly[:, 0].min())) - 2, 0)
    y0 = max(int(np.floor(poly[:, 1].min())) - 2, 0)
    x1 = min(int(np.ceil(poly[:, 0].max())) + 3, fw)
    y1 = min(int(np.ceil(poly[:, 1].max())) + 3, fh)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    h, w = y1 - y0, x1 - x0
    off = np.array([x0, y0], np.float64)

    def ipoly(p: np.ndarray) -> np.ndarray:
        return np.round((p - off + 0.5) * _SUB - 0.5).astype(np.int32)

    # Coverage by supersampling: an anti-aliased outline would paint a dark line even where
    # the lips just touch.
    hi = np.zeros((h * _SUB, w * _SUB), np.uint8)
    cv2.fillPoly(hi, [ipoly(poly)], 255)
    mask = cv2.resize(hi, (w, h), interpolation=cv2.INTER_AREA)

    # Cavity, darker towards the back (the middle of the opening).
    col = np.empty((h, w, 3), np.float32)
    col[:] = look.cavity
    centre = (upper[len(upper) // 2] + lower[len(lower) // 2]) / 2
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    mouth_w = float(np.linalg.norm(upper[-1] - upper[0]))
    r = np.sqrt(((xx - centre[0]) / (0.5 * mouth_w + 1)) ** 2 + ((yy - centre[1]) / (gap + 1)) ** 2)
    col *= (0.75 + 0.35 * np.clip(r, 0, 1))[..., None]

    # Tongue hint: a soft lobe resting on the lower lip, shown once the mouth is fairly open.
    if gap > 0.12 * unit:
        tongue = np.zeros((h, w), np.uint8)
        lc = lower[len(lower) // 2] - off
        axes = (max(1, int(0.3 * mouth_w * _SUB)), max(1, int(0.28 * gap * _SUB)))
        c = (int((lc[0]) * _SUB), int((lc[1] - 0.05 * gap) * _SUB))
        cv2.ellipse(tongue, c, axes, 0, 180, 360, 255, -1, cv2.LINE_AA, shift=2)
        tongue = cv2.GaussianBlur(tongue, (0, 0), max(0.6, 0.06 * gap))
        ta = (tongue.astype(np.float32) / 255.0)[..., None] * 0.85
        shade = 0.8 + 0.2 * np.clip((yy - (lc[1] + y0 - 0.3 * gap)) / (0.3 * gap + 1), 0, 1)
        col = col * (1 - ta) + (look.tongue * shade[..., None]) * ta

    # Upper teeth are fixed to the skull: their edge hangs a fixed depth below where the lips
    # meet at rest (moved with the head), so a rising upper lip shows more of them.
    xs = np.linspace(0.12, 0.88, 33)
    t_idx = np.linspace(0, 1, len(teeth_line))
    line = np.stack([np.interp(xs, t_idx, teeth_line[:, k]) for k in (0, 1)], -1)
    depth = 0.07 * unit
    notch = np.abs(np.cos(np.pi * (xs - 0.5) * 6.0)) ** 24
    tips = depth * (1.0 - 0.05 * notch - 0.5 * np.abs(xs - 0.5) ** 2)
    teeth_poly = np.concatenate(
        [line - v_axis * (0.5 * unit), (line + v_axis * tips[:, None])[::-1]]
    )
    teeth = np.zeros((h, w), np.uint8)
    cv2.fillPoly(teeth, [ipoly(teeth_poly)], 255, cv2.LINE_AA, shift=2)
    teeth = cv2.GaussianBlur(teeth, (0, 0), 0.6)
    ta = (teeth.astype(np.float32) / 255.0)[..., None]
    # Shade: the upper lip's shadow at the top, darker towards the corners (teeth curve away).
    c0 = line[len(line) // 2]
    lip_y = np.interp(xx, upper[:, 0], upper[:, 1]) if upper[0, 0] < upper[-1, 0] else yy * 0
    dy = np.clip((yy - lip_y) / (0.04 * unit + 1), 0, 1)
    teeth_w = float(np.linalg.norm(line[-1] - line[0])) + 1.0
    side = np.clip(np.abs(xx - c0[0]) / (0.5 * teeth_w), 0, 1)
    rel_x = (xx - c0[0]) / teeth_w + 0.5
    gaps = 1 - 0.08 * np.abs(np.cos(np.pi * (rel_x - 0.5) * 6.0)) ** 24
    shade = (0.55 + 0.45 * dy) * (1 - 0.5 * side**2) * gaps
    # The side teeth turn away into the dark of the mouth.
    fade = np.clip((1.0 - side) / 0.3, 0, 1)
    ta = ta * (fade * fade * (3 - 2 * fade))[..., None]
    tcol = look.teeth * shade[..., None]
    col = col * (1 - ta) + tcol * ta

    a = (mask.astype(np.float32) * (opacity / 255.0))[..., None]
    roi = frame[y0:y1, x0:x1, :3]
    roi[:] = (col * a + roi.astype(np.float32) * (1 - a)).astype(np.uint8)
