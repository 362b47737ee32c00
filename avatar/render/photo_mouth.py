"""The synthesized mouth interior: dark cavity with the lips' inner rim, a tongue hint, the
upper and lower teeth, drawn where the warped inner lips part, lit like the face; and the soft
seam where closed lips meet.

The teeth are sprites drawn once per avatar (`build_teeth`): rows of individual teeth along the
arch, seen from the front, in the tooth colour of the photo's own teeth where its mouth shows
them (else a warm off-white scaled to the face's light). Where the photo's parted lips show the
upper teeth tall enough, those very teeth replace the synthetic ones (`add_photo_teeth`). The
upper row is fixed to the skull: each frame only moves it with the head and the parting lips
reveal more or less of it; the lower row rides on the jaw. Per frame the work is a small box
around the mouth."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_SUB = 4  # sub-pixel precision of polygon drawing (shift = 2 bits)
MM = 1.0 / 90.0  # one millimetre in units of the outer-eye-corner distance (about 90 mm)
# Upper teeth from the middle outwards along the arch (arc length, mm): central and lateral
# incisors, canine, two premolars, first molar; their visible lengths relative to the first.
_TOOTH_EDGES = np.array([0.0, 8.5, 15.0, 22.5, 29.5, 36.5, 46.5])
_TOOTH_LENGTH = np.array([1.0, 0.8, 0.95, 0.8, 0.72, 0.6])
_ARCH_RADIUS = 25.0  # mm, the front of the dental arch seen from the front
TIP_DEPTH = 4.2 * MM  # central incisors' tips below the line where the lips meet at rest
# Lower teeth: narrower, on a smaller arch, standing behind the upper ones; they ride on the
# jaw, which drops a little less than the lower lip, so a wide-open mouth shows their tips.
_LOWER_EDGES = np.array([0.0, 5.4, 11.3, 18.2, 25.2, 32.2, 43.2])
_LOWER_LENGTH = np.array([0.9, 0.9, 1.0, 0.85, 0.75, 0.6])
_LOWER_ARCH = 22.0
LOWER_BASE = 6.0  # mm below the closed lips' line: the lower teeth's tips stand 4.3 mm above
JAW_LAG = 0.8  # the lower teeth move this share of the lower lip's drop


@dataclass(slots=True)
class MouthLook:
    """Colours of the synthesized mouth interior, lit like the face (RGB floats)."""

    cavity: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    lip: np.ndarray
    light: float
    teeth_from_photo: bool = False


@dataclass(slots=True)
class TeethSprite:
    """The upper teeth row over a box of source pixels (premultiplied RGBA floats); `anchors`
    are three points of the rest lip line (corner, middle, corner) that carry it with the head."""

    rgba: np.ndarray
    origin: np.ndarray
    anchors: np.ndarray


def build_teeth(
    lip_line: np.ndarray, origin: np.ndarray, u_axis: np.ndarray, v_axis: np.ndarray, unit: float,
    colour: np.ndarray, lower: bool = False,
) -> TeethSprite:  # fmt: skip
    """Draw the upper teeth (supersampled, once) hanging from `lip_line` (K×2 source pixels,
    corner to corner, where the lips meet at rest) in the face frame (`origin`, axes, `unit`);
    with `lower`, the lower teeth standing below it."""
    mm = unit * MM
    edges, lengths = (_LOWER_EDGES, _LOWER_LENGTH) if lower else (_TOOTH_EDGES, _TOOTH_LENGTH)
    radius = _LOWER_ARCH if lower else _ARCH_RADIUS
    # Distance from the line towards each tooth's tip (down for the upper row, up for the lower).
    sgn, ref = (-1.0, LOWER_BASE * mm) if lower else (1.0, 0.0)
    d = lip_line - origin
    lu, lv = d @ u_axis, d @ v_axis
    # The teeth follow a smooth arc (the lip line's own curvature, not its wiggles).
    coef = np.polyfit(lu, lv, 2) if len(lu) >= 3 else np.array([0.0, 0.0, float(lv.mean())])
    coef[0] = np.clip(coef[0], -0.4 / max(unit, 1.0), 0.4 / max(unit, 1.0))
    half_w = radius * mm * 1.02
    if lower:
        v_top, v_bot = float(lv.min()) - 2 * mm, float(lv.max()) + 20 * mm
    else:
        v_top, v_bot = float(lv.min()) - 16 * mm, float(lv.max()) + 6 * mm
    corners = np.array([[-half_w, v_top], [half_w, v_top], [-half_w, v_bot], [half_w, v_bot]])
    img = origin + corners[:, :1] * u_axis + corners[:, 1:] * v_axis
    x0, y0 = np.floor(img.min(0)).astype(int) - 2
    x1, y1 = np.ceil(img.max(0)).astype(int) + 3
    S = 3  # supersampling: tips and gaps are finer than a pixel on small faces
    ys = y0 + (np.arange((y1 - y0) * S) + 0.5) / S - 0.5
    xs = x0 + (np.arange((x1 - x0) * S) + 0.5) / S - 0.5
    X, Y = np.meshgrid(xs, ys)
    dx, dy = X - origin[0], Y - origin[1]
    u = dx * u_axis[0] + dy * u_axis[1]
    y_rel = sgn * (dx * v_axis[0] + dy * v_axis[1] - np.polyval(coef, u) - ref)
    # Arc length along the arch from the middle (mm); past the arch's side: hidden.
    sin_t = np.clip(u / (radius * mm), -1.0, 1.0)
    s = np.abs(np.arcsin(sin_t)) * radius
    j = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(lengths) - 1)
    w_t = edges[j + 1] - edges[j]
    t = np.clip((s - edges[j]) / w_t, 0.0, 1.0)
    cd = np.abs(2 * t - 1)  # 0 in a tooth's middle, 1 at its edges
    # Tip line: each tooth rounded at its corners, the row curving up towards the back.
    reach = (LOWER_BASE - 1.7) * mm if lower else TIP_DEPTH * unit
    tip = reach * lengths[j] * (1 - 0.22 * cd**4) - 1.6 * mm * (s / 36.0) ** 2
    inside = (y_rel < tip) & (np.abs(sin_t) < 0.999)
    # Shade: each tooth convex (darker at its sides), dark thin gaps between them, the side
    # teeth turning away into the mouth's dark, the incisal edge a little translucent.
    gap_mm = np.minimum(t, 1 - t) * w_t
    shade = 0.84 + 0.16 * np.cos(0.5 * np.pi * cd)
    shade *= 1 - 0.3 * np.exp(-((gap_mm / 0.35) ** 2))
    shade *= 1 - 0.55 * np.clip(s / 40.0, 0, 1) ** 1.6
    edge = np.clip((tip - y_rel) / (0.9 * mm), 0, 1)
    shade *= 0.82 + 0.18 * edge
    shade *= 1 - 0.1 * np.clip(-y_rel / (9 * mm), 0, 1)  # towards the gums
    rng = np.random.default_rng(7)
    grain = cv2.GaussianBlur(rng.normal(0, 0.03, shade.shape).astype(np.float32), (0, 0), S * 0.5)
    shade = shade * (1 + grain)
    a = inside.astype(np.float32)
    rgba = np.empty((*a.shape, 4), np.float32)
    rgba[..., :3] = (colour[None, None, :] * shade[..., None]) * a[..., None]
    rgba[..., 3] = a
    rgba = cv2.resize(rgba, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    # As soft as the photo around it: a synthetic edge sharper than the lips looks pasted.
    rgba = cv2.GaussianBlur(rgba, (0, 0), max(0.45, 0.0035 * unit))
    k = len(lip_line)
    anchors = lip_line[[0, k // 2, k - 1]].astype(np.float32)
    return TeethSprite(rgba.astype(np.float32), np.array([x0, y0], np.float64), anchors)


def teeth_colour(
    rgb: np.ndarray, inner_poly: np.ndarray, skin: np.ndarray, lip: np.ndarray, unit: float
) -> tuple[np.ndarray, bool]:
    """The tooth colour: the photo's own teeth where its parted lips show them (bright, less
    saturated than the lips), else a warm off-white as bright as the light on the face allows.
    Never pure white: teeth sit in the mouth's shade."""
    luma_w = np.array([0.299, 0.587, 0.114])
    skin_l = float(skin @ luma_w)
    # Warm off-white, tinted a little by the skin's light (the photo's white balance).
    off = 0.85 * np.array([0.97, 0.93, 0.84]) / 0.93 + 0.15 * skin / max(skin_l, 1.0)
    off /= float(off @ luma_w)
    lum = min(0.8 * skin_l + 10.0, 205.0)
    sampled = _photo_teeth(rgb, inner_poly, skin_l, lip, unit)
    if sampled is None:
        return np.clip(off * lum, 0, 225), False
    # The photo's teeth seen in a narrow opening are shaded and mixed with the lips: keep
    # half of their hue, and at least most of the light of a tooth in the open.
    s_l = float(sampled @ luma_w)
    hue = 0.5 * sampled / max(s_l, 1.0) + 0.5 * off
    return np.clip(hue * min(max(s_l, 0.72 * skin_l), 225.0), 0, 235), True


def _photo_teeth(
    rgb: np.ndarray, inner_poly: np.ndarray, skin_l: float, lip: np.ndarray, unit: float
) -> np.ndarray | None:
    """Median colour of the lit teeth between the photo's parted lips, or None."""
    h, w = rgb.shape[:2]
    x0, y0 = np.maximum(np.floor(inner_poly.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(inner_poly.max(0)).astype(int) + 2, [w, h])
    if x1 - x0 <= 2 or y1 - y0 <= 2:
        return None
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round(inner_poly - [x0, y0]).astype(np.int32)], 1)
    px = rgb[y0:y1, x0:x1][m > 0].astype(np.float64)
    if not len(px):
        return None
    luma_w = np.array([0.299, 0.587, 0.114])
    luma = px @ luma_w
    sat = (px.max(1) - px.min(1)) / np.maximum(px.max(1), 1)
    lip_sat = (lip.max() - lip.min()) / max(float(lip.max()), 1.0)
    cand = (luma > 0.55 * skin_l) & (sat < max(0.75 * lip_sat, 0.12))
    if cand.sum() < max(12, 4e-4 * unit * unit):
        return None
    c = px[cand]
    return np.median(c[(c @ luma_w) >= np.median(c @ luma_w)], 0)


def draw_mouth_interior(
    frame: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    teeth_map: np.ndarray,
    teeth: TeethSprite,
    unit: float,
    look: MouthLook,
    opacity: float = 1.0,
    rounding: float = 0.0,
    lower_teeth: TeethSprite | None = None,
    jaw_drop: np.ndarray | None = None,
) -> None:
    """Paint the interior into `frame` (RGBA, in place) inside the polygon between the inner-lip
    curves `upper` and `lower` (each K×2, corner to corner, in frame pixels). `teeth_map` (2×3)
    takes source pixels to frame pixels as the head has moved (the teeth ride on the skull);
    `rounding` (lip_round) pushes the lips forward, the teeth back into shade. The lower teeth
    ride on the jaw: `jaw_drop` is how far (frame pixels) the lower lip has dropped from where
    the lips meet at rest."""
    mid = len(upper) // 2
    gap = float(np.max(np.linalg.norm(lower - upper, axis=1)))
    if gap < 0.5:
        return
    # A smooth outline through the lip points: straight chords between so few points cut the
    # rounded ends of an "o" off square.
    poly = smooth_closed_curve(np.concatenate([upper, lower[::-1]]))
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
    maskf = mask.astype(np.float32) * (1.0 / 255.0)

    # Cavity, darkest deep in the middle; next to the lips their wet inner rim, dark red.
    centre = (upper[mid] + lower[mid]) / 2
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    mouth_w = float(np.linalg.norm(upper[-1] - upper[0]))
    r = np.sqrt(((xx - centre[0]) / (0.5 * mouth_w + 1)) ** 2 + ((yy - centre[1]) / (gap + 1)) ** 2)
    depth = 0.7 + 0.4 * np.clip(r, 0, 1)
    rim_w = max(0.6, 0.018 * unit)
    inner = cv2.GaussianBlur(maskf, (0, 0), rim_w)
    rim = np.clip(1.0 - 2.0 * (inner - 0.5), 0, 1) * maskf
    rim_col = look.lip * 0.42
    col = look.cavity[None, None, :] * depth[..., None]
    col += (rim_col[None, None, :] - col) * (0.75 * rim)[..., None]

    # Tongue hint: a soft lobe resting on the lower lip, shown once the mouth is fairly open.
    if gap > 0.12 * unit:
        tongue = np.zeros((h, w), np.uint8)
        lc = lower[mid] - off
        axes = (max(1, int(0.3 * mouth_w * _SUB)), max(1, int(0.28 * gap * _SUB)))
        c = (int((lc[0]) * _SUB), int((lc[1] - 0.05 * gap) * _SUB))
        cv2.ellipse(tongue, c, axes, 0, 180, 360, 255, -1, cv2.LINE_AA, shift=2)
        tongue = cv2.GaussianBlur(tongue, (0, 0), max(0.8, 0.08 * gap))
        show = min((gap - 0.12 * unit) / (0.1 * unit), 1.0)
        ta = (tongue.astype(np.float32) * (0.8 * show / 255.0))[..., None]
        shade = 0.7 + 0.3 * np.clip((yy - (lc[1] + y0 - 0.3 * gap)) / (0.3 * gap + 1), 0, 1)
        col = col * (1 - ta) + (look.tongue * shade[..., None]) * ta

    # Lower teeth first (behind the upper ones), carried by the head and dropped with the jaw,
    # in the shade of the upper lip and the tongue's dark.
    keep = 1 - 0.75 * rounding
    if lower_teeth is not None and jaw_drop is not None:
        low = _place(lower_teeth, teeth_map, off, w, h, JAW_LAG * np.asarray(jaw_drop))
        la = low[..., 3]
        if la.max() > 0.01:
            lit_low = 0.78 * (0.7 + 0.3 * min(gap / (0.25 * unit), 1.0)) * keep
            col = col * (1 - la * keep)[..., None] + low[..., :3] * lit_low
    # Upper teeth: the sprite carried by the head into this box.
    spr = _place(teeth, teeth_map, off, w, h, None)
    ta = spr[..., 3]
    if ta.max() > 0.01:
        # The upper lip shades the teeth just under it; a barely open mouth is dark inside.
        if upper[0, 0] < upper[-1, 0]:
            lip_y = np.interp(xx[0], upper[:, 0], upper[:, 1])[None, :]
        else:
            lip_y = np.full((1, w), float(upper[:, 1].min()), np.float32)
        dy = np.clip((yy - lip_y) / (0.035 * unit + 1.0), 0, 1)
        # Rounded lips push forward over the teeth: they mostly leave the view (fading them
        # would only grey them over the dark).
        lit = (0.62 + 0.38 * min(gap / (0.2 * unit), 1.0)) * (1 - 0.2 * rounding)
        shade = (0.45 + 0.55 * dy * dy * (3 - 2 * dy)) * lit
        col = col * (1 - ta * keep)[..., None] + spr[..., :3] * (shade * keep)[..., None]

    a = (maskf * opacity)[..., None]
    roi = frame[y0:y1, x0:x1, :3]
    roi[:] = (col * a + roi.astype(np.float32) * (1 - a)).astype(np.uint8)


def smooth_closed_curve(points: np.ndarray, steps: int = 4) -> np.ndarray:
    """A closed centripetal Catmull-Rom curve through `points` (N×2; repeats are dropped),
    `steps` samples per span. Centripetal knots keep it free of cusps and loops where the
    points are unevenly spaced."""
    pts = np.asarray(points, np.float64)
    keep = np.linalg.norm(np.diff(pts, axis=0, append=pts[:1]), axis=1) > 1e-3
    pts = pts[keep]
    n = len(pts)
    if n < 3:
        return pts
    p0, p1, p2, p3 = (np.roll(pts, k, axis=0) for k in (1, 0, -1, -2))  # span p1 -> p2

    def knot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.maximum(np.linalg.norm(b - a, axis=1), 1e-6) ** 0.5

    t1 = knot(p0, p1)
    t2 = t1 + knot(p1, p2)
    t3 = t2 + knot(p2, p3)
    u = np.linspace(0.0, 1.0, steps, endpoint=False)[None, :]
    t = t1[:, None] + u * (t2 - t1)[:, None]  # n × steps, in each span's own knots
    t1, t2, t3 = (x[:, None, None] for x in (t1, t2, t3))
    t = t[..., None]
    p0, p1, p2, p3 = (x[:, None, :] for x in (p0, p1, p2, p3))
    a1 = (t1 - t) / t1 * p0 + t / t1 * p1
    a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
    a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
    b1 = (t2 - t) / t2 * a1 + t / t2 * a2
    b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
    return ((t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2).reshape(-1, 2)


def _place(
    sprite: TeethSprite, m: np.ndarray, off: np.ndarray, w: int, h: int, shift: np.ndarray | None
) -> np.ndarray:
    """The sprite warped by `m` (source -> frame pixels), moved by `shift`, into the w×h box at
    `off`."""
    m = np.asarray(m, np.float64)
    m_box = m.copy()
    m_box[:, 2] = m[:, :2] @ sprite.origin + m[:, 2] - off
    if shift is not None:
        m_box[:, 2] += shift
    return cv2.warpAffine(
        sprite.rgba, m_box, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def draw_lip_seam(
    frame: np.ndarray, upper: np.ndarray, lower: np.ndarray, unit: float, strength: float
) -> None:
    """Shade where closed lips meet (in place): a soft, anti-aliased darker line along the
    seam, fading at the corners and where the lips part. Drawn where the seam is synthetic (a
    parted source closed by the warp), whose edge would otherwise be a hard pixel step."""
    seam = (upper + lower) / 2
    gap = np.linalg.norm(lower - upper, axis=1)
    k = len(seam)
    along = np.abs(np.linspace(-1.0, 1.0, k))
    weight = strength * np.clip(1 - gap / (0.03 * unit), 0, 1) * np.clip((1 - along) / 0.25, 0, 1)
    if float(weight.max()) < 0.02:
        return
    fh, fw = frame.shape[:2]
    pad = int(np.ceil(0.03 * unit)) + 3
    x0 = max(int(np.floor(seam[:, 0].min())) - pad, 0)
    y0 = max(int(np.floor(seam[:, 1].min())) - pad, 0)
    x1 = min(int(np.ceil(seam[:, 0].max())) + pad + 1, fw)
    y1 = min(int(np.ceil(seam[:, 1].max())) + pad + 1, fh)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    line = np.zeros((y1 - y0, x1 - x0), np.float32)
    pts = np.round((seam - [x0, y0]) * _SUB).astype(np.int32)
    thick = max(1, int(round(0.008 * unit)))
    for i in range(k - 1):  # segment by segment: the darkness follows the weights
        w = float(min(weight[i], weight[i + 1]))
        if w > 0.0:
            p, q = (int(pts[i, 0]), int(pts[i, 1])), (int(pts[i + 1, 0]), int(pts[i + 1, 1]))
            cv2.line(line, p, q, w, thick, cv2.LINE_AA, shift=2)
    line = cv2.GaussianBlur(line, (0, 0), max(0.5, 0.006 * unit))
    roi = frame[y0:y1, x0:x1, :3]
    dark = 1.0 - 0.3 * np.clip(line, 0, 1)
    roi[:] = (roi.astype(np.float32) * dark[..., None]).astype(np.uint8)


def add_photo_teeth(
    sprite: TeethSprite, rgb: np.ndarray, upper: np.ndarray, lower: np.ndarray, unit: float
) -> bool:
    """Put the photo's own upper teeth into the sprite (in place) where its parted lips show
    them tall enough to read: per column from the upper lip down to the teeth's edge (the
    darkest row in the opening's lower part: the gap to the lower teeth or the mouth's dark),
    carried up under the upper lip by repeating the top row (teeth run on towards the gums).
    The synthetic row stays beside them, for what a wider mouth reveals. False if unused."""
    mm = unit * MM
    order_u, order_l = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
    xs_u, ys_u = upper[order_u, 0], upper[order_u, 1]
    xs_l, ys_l = lower[order_l, 0], lower[order_l, 1]
    ox, oy = sprite.origin.astype(int)
    sh, sw = sprite.rgba.shape[:2]
    h, w = rgb.shape[:2]
    x0 = max(int(np.ceil(max(xs_u[0], xs_l[0]))), ox, 0)
    x1 = min(int(np.floor(min(xs_u[-1], xs_l[-1]))), ox + sw - 1, w - 1)
    if x1 - x0 < 4:
        return False
    cols = np.arange(x0, x1 + 1)
    top = np.interp(cols, xs_u, ys_u) + 1.0  # just inside the upper lip
    bot = np.interp(cols, xs_l, ys_l) - 1.0
    tall = (bot - top) > 8.0 * mm  # a narrower slit shows too little to carry up
    if tall.sum() < 6:
        return False
    luma = rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    luma = cv2.GaussianBlur(luma, (0, 0), 1.0)
    tips = np.full(len(cols), np.nan)
    for i, (x, t, b) in enumerate(zip(cols, top, bot, strict=True)):
        if not tall[i]:
            continue
        lo = int(np.ceil(t + 0.35 * (b - t)))
        hi = int(np.floor(min(b, t + 12 * mm)))
        if hi - lo < 2 or lo < 0 or hi >= h:
            continue
        tips[i] = lo + int(np.argmin(luma[lo : hi + 1, x]))
    ok = ~np.isnan(tips)
    if ok.sum() < 6:
        return False
    # Teeth are bright from the lip down to their edge; a column that is not (lip, shadow,
    # tongue) keeps the synthetic row.
    means = np.array(
        [
            luma[int(np.ceil(t)) : int(tp) + 1, x].mean() if o and tp > t + 1 else 0.0
            for x, t, tp, o in zip(cols, top, np.nan_to_num(tips), ok, strict=True)
        ]
    )
    ok &= means >= 0.75 * np.percentile(means[ok], 75)
    if ok.sum() < 6:
        return False
    # A smooth edge: the median along the row, then light smoothing.
    k = max(3, int(round(2.5 * mm)) | 1)
    filled = np.interp(cols, cols[ok], tips[ok])
    pad = np.pad(filled, k // 2, mode="edge")
    med = np.array([np.median(pad[i : i + k]) for i in range(len(cols))])
    tips = np.where(ok, med, np.nan)
    # Horizontal weight: full where the opening is tall, fading over ~3 mm at its ends.
    wgt = cv2.GaussianBlur(ok.astype(np.float32)[None], (0, 0), max(1.0, 1.2 * mm))[0]
    wgt = np.clip((wgt - 0.5) * 2.0, 0, 1) * ok
    lift = int(np.ceil(16 * mm))
    rgba = sprite.rgba
    for i, x in enumerate(cols):
        if wgt[i] <= 0.0:
            continue
        t0 = int(np.floor(top[i])) + 1
        tip = float(tips[i])
        ys = np.arange(t0 - lift, int(np.ceil(tip)) + 2)
        src_y = np.clip(ys, t0, h - 1)  # above the lip: the top row repeated
        col = rgb[src_y, x, :3].astype(np.float32)
        # Towards the gums the repeated row darkens a little, as the sprite's own teeth do.
        col *= (1 - 0.1 * np.clip((t0 - ys) / (9 * mm), 0, 1))[:, None]
        a = np.clip(tip + 0.5 - ys, 0, 1).astype(np.float32)  # soft edge at the tips
        sy, sx = ys - oy, x - ox
        keep = (sy >= 0) & (sy < sh)
        sy, col, a = sy[keep], col[keep], a[keep]
        wi = float(wgt[i])
        rgba[sy, sx, :3] = rgba[sy, sx, :3] * (1 - wi) + col * a[:, None] * wi
        rgba[sy, sx, 3] = rgba[sy, sx, 3] * (1 - wi) + a * wi
        below = np.arange(int(np.ceil(tip)) + 2, sh + oy) - oy
        below = below[(below >= 0) & (below < sh)]
        rgba[below, sx] *= 1 - wi  # nothing of the synthetic row under the real teeth' edge
    return True
