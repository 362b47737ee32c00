"""Everything the photo renderer precomputes per avatar: warp bases, knot tables, eye and mouth
models. Built once when a renderer loads, so each frame is only small sums and one remap.

The person (mask from the build, grown by a few pixels) is a layer that moves over a still
background plate: the picture with the band just inside the person's outline inpainted, so what
the moving head uncovers looks like background. Three warps, all backward maps (output pixel ->
where to read in the source):
- body: a coarse image-aligned grid of displacement bases (head shift/roll/yaw/pitch, breathing,
  sway), combined linearly per frame;
- face: per column of the face frame a chain of knots (brow, eye line, cheek, lips, chin, neck)
  whose vertical positions move linearly with the parameters; the piecewise-linear chain is
  inverted exactly, so lips part along their own line and a closed mouth can open (and an open
  one close) without folds; mouth corners move along a second, horizontal chain;
- eyelids: the same chain idea per eye at full resolution in a small box, so lids meet fully.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from avatar.face import geometry as g
from avatar.face.geometry import FaceFrame
from avatar.render.photo_mouth import MouthLook, add_photo_teeth, build_teeth, teeth_colour

ALPHA_UPPER = 0.2  # share of a mouth opening taken by the upper lip; the jaw takes the rest
TABLE_SIZE = 160  # samples of the knot tables along u
SMILE_LIFT = 0.11  # how far a full smile lifts the mouth corners (units of the eye distance)


def smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((np.asarray(x, np.float64) - a) / max(b - a, 1e-9), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _curve(uv: np.ndarray, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(u sorted, v) of landmark points, for np.interp (constant beyond the ends)."""
    p = uv[idx]
    order = np.argsort(p[:, 0])
    u, v = p[order, 0], p[order, 1]
    u = u + np.arange(len(u)) * 1e-6  # np.interp wants increasing u
    return u, v


@dataclass(slots=True)
class EyeModel:
    """One eye in its own frame: lid curves over u, the box in source pixels."""

    origin: np.ndarray
    u_axis: np.ndarray
    v_axis: np.ndarray
    u_tab: np.ndarray
    top_tab: np.ndarray
    bot_tab: np.ndarray
    v_above: float
    v_below: float
    gap_max: float
    half_width: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels


@dataclass(slots=True)
class WarpGrid:
    """Points of an image-aligned grid (cell centres) where a face warp is evaluated."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels
    cell: int
    shape: tuple[int, int]
    uv: np.ndarray  # (N, 2) face-frame coordinates of the points
    h_taper: np.ndarray  # (N,) weight of the horizontal (mouth corner) chain
    pos_closed: np.ndarray  # knot table read when the source's parted lips are closed


class PhotoRig:
    """Precomputed warp model of one photo avatar (see the module docstring)."""

    def __init__(
        self, rgba: np.ndarray, mask: np.ndarray, points: np.ndarray, z: np.ndarray
    ) -> None:
        self.rgba = np.ascontiguousarray(rgba)
        self.h, self.w = rgba.shape[:2]
        self.points = points.astype(np.float64)
        self.frame = FaceFrame.from_points(self.points)
        self.uv = self.frame.to_local(self.points)
        E = self.frame.unit
        self.E = E
        uv = self.uv
        oval = uv[g.FACE_OVAL]
        self.W = float(np.abs(oval[:, 0]).max())  # face half width
        self.face_h = float(oval[:, 1].max() - oval[:, 1].min())
        self.v_chin0 = float(uv[g.CHIN, 1])
        self.v_forehead = float(oval[:, 1].min())
        self.z_source = z.astype(np.float32)
        # Forward relief of each landmark (nose > cheeks > face edge), for yaw/pitch parallax.
        zr = float(np.median(z[g.FACE_OVAL])) - z.astype(np.float64)
        self._z = np.clip(zr, 0, None) * 0.7
        self._build_mask(mask)
        self._build_body()
        self._build_face_chain()
        self._build_face_grid()
        self.eyes = [
            self._build_eye(g.EYE_A_UPPER, g.EYE_A_LOWER),
            self._build_eye(g.EYE_B_UPPER, g.EYE_B_LOWER),
        ]
        self.look = self._mouth_look()
        self.inner_upper = np.array(g.UPPER_INNER_LIP)
        self.inner_lower = np.array(g.LOWER_INNER_LIP)
        # Where the lips meet when closed (the upper lip takes its share of the closing).
        up, lo = self.points[g.UPPER_INNER_LIP], self.points[g.LOWER_INNER_LIP]
        share = np.interp(uv[g.UPPER_INNER_LIP, 0], *self.close_share)[:, None]
        self.lip_line = up + share * (lo - up)
        fr = self.frame
        args = (self.lip_line, fr.origin, fr.u_axis, fr.v_axis, E, self.look.teeth)
        self.teeth = build_teeth(*args)
        # A photo whose parted lips show the teeth keeps its own (the synthetic row beside).
        self.photo_teeth = self.look.teeth_from_photo and add_photo_teeth(
            self.teeth, self.rgba[..., :3], up, lo, E
        )
        self.teeth_lower = build_teeth(*args, lower=True)
        gap = uv[g.LOWER_INNER_LIP, 1] - uv[g.UPPER_INNER_LIP, 1]
        self.rest_gap = float(max(gap.max(), 0.0))
        self.max_gap = 0.36 * E  # inner-lip gap at jaw_open = 1 ("a")

    # --- person mask and the body layer --------------------------------------------------------

    def _build_mask(self, mask: np.ndarray) -> None:
        E = self.E
        binary = (mask > 127).astype(np.uint8)
        ys, xs = np.nonzero(binary)
        if len(xs) == 0:
            binary[:] = 1
            ys, xs = np.nonzero(binary)
        self.person_alpha = binary * 255
        # The layer that moves takes a few pixels past the segmenter's edge, so the picture's
        # soft outline moves with the person instead of staying behind as a ghost line.
        grown = cv2.dilate(binary, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        self.layer_alpha = grown * 255
        # Distance inside the person, with the picture's edges counted as inside: a body cut
        # by the frame may move at the frame's edge.
        pad = 1
        padded = cv2.copyMakeBorder(binary, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[pad:-pad, pad:-pad]
        # The person is a layer that moves over a still background plate. Where it moves away
        # from its outline the plate shows what was behind it: inpainted from the background
        # around, within `reach` of the outline (the largest motion there).
        self.reach = reach = max(4.0, 0.3 * E)
        self.plate = self._plate(grown, dist, reach)
        r = int(np.ceil(reach)) + 2
        x0, y0 = max(int(xs.min()) - r, 0), max(int(ys.min()) - r, 0)
        x1, y1 = min(int(xs.max()) + r + 1, self.w), min(int(ys.max()) + r + 1, self.h)
        self.roi = (x0, y0, x1, y1)
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self.identity = np.ascontiguousarray(np.stack([gx, gy], -1))
        self.person_bottom = float(ys.max())
        self.person_top = float(ys.min())
        self.person_cx = float(xs.mean())

    def _build_body(self) -> None:
        E, fr = self.E, self.frame
        x0, y0, x1, y1 = self.roi
        # Integer cells with points at cell centres, so cv2.resize by the cell size upsamples
        # the grid exactly onto the pixels (faster than a remap).
        cell = int(max(4, min(12, round(E / 10))))
        gw = int(np.ceil((x1 - x0) / cell)) + 1
        gh = int(np.ceil((y1 - y0) / cell)) + 1
        gx = x0 + np.arange(gw) * cell + (cell - 1) / 2
        gy = y0 + np.arange(gh) * cell + (cell - 1) / 2
        X, Y = np.meshgrid(gx, gy)
        pts = np.stack([X, Y], -1)
        uv = fr.to_local(pts)
        u, v = uv[..., 0], uv[..., 1]
        # Head weight: 1 on the head, fading down the neck.
        w_h = 1 - smoothstep(self.v_chin0 + 0.05 * E, self.v_chin0 + 0.6 * E, v)
        # Depth of a head-shaped ellipsoid plus the face's own relief (nose), for yaw/pitch.
        vc = v - (self.v_chin0 + self.v_forehead) / 2
        ell = 1 - (u / (1.1 * self.W)) ** 2 - (vc / (0.62 * self.face_h + 0.2 * E)) ** 2
        depth = 0.85 * self.W * np.sqrt(np.clip(ell, 0, None))
        depth += self._relief(pts)
        # Roll about the lower face: the head outline moves less than about the neck.
        pivot = fr.to_image(np.array([0.0, 0.3 * self.v_chin0]))
        dxp, dyp = X - pivot[0], Y - pivot[1]
        # Breathing lifts everything above the shoulders, fading to zero at the bottom.
        y_sh = fr.to_image(np.array([0.0, self.v_chin0 + 0.6 * E]))[1]
        y_b = max(self.person_bottom, y_sh + 1)
        r_breath = np.clip((y_b - Y) / max(y_b - y_sh, 1.0), 0, 1)
        # Sway: a lean about the bottom centre of the person.
        pb = np.array([self.person_cx, max(self.person_bottom, self.h - 1)])
        r_sway = np.clip((pb[1] - Y) / max(pb[1] - self.person_top, 1.0), 0, 1) ** 1.5
        sx, sy = X - pb[0], Y - pb[1]
        zero = np.zeros_like(X)
        bases = [
            (-w_h, zero),  # head shift x (px)
            (zero, -w_h),  # head shift y (px)
            (w_h * dxp, w_h * dyp),  # roll: * (cos - 1)
            (-w_h * dyp, w_h * dxp),  # roll: * (-sin)
            (-w_h * depth, zero),  # yaw: * sin
            (zero, -w_h * depth),  # pitch: * sin
            (zero, r_breath),  # breath (px up)
            (-sy * r_sway, sx * r_sway),  # sway: * (-angle)
        ]
        self.body_bases = np.stack([np.stack(b, -1) for b in bases]).astype(np.float32)
        self.body_grid_shape = (gh, gw)
        self.body_bases_flat = self.body_bases.reshape(len(bases), -1)
        self.body_cell = cell
        self.body_origin = (float(x0), float(y0))

    def _plate(self, binary: np.ndarray, dist: np.ndarray, reach: float) -> np.ndarray:
        """The picture with the person's outer band replaced by inpainted background."""
        band = ((binary > 0) & (dist < reach + 4)).astype(np.uint8)
        plate = self.rgba.copy()
        if not band.any() or band.mean() > 0.97:
            return plate
        # Inpaint on a small copy (a blurred background is right there), paste the band back.
        s = min(1.0, 384.0 / max(self.h, self.w))
        size = (max(1, round(self.w * s)), max(1, round(self.h * s)))
        small = cv2.resize(
            np.ascontiguousarray(self.rgba[..., :3]), size, interpolation=cv2.INTER_AREA
        )
        small_mask = cv2.resize(binary * 255, size, interpolation=cv2.INTER_AREA)
        small_mask = cv2.dilate((small_mask > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
        filled = cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA)
        big = cv2.resize(filled, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        # Better than a smooth fill: the background mirrored across the outline keeps its
        # texture (grass, fabric, paint); the smooth fill is left where no mirror exists.
        _, lab = cv2.distanceTransformWithLabels(
            binary, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
        )
        zeros = np.argwhere(binary == 0)
        py, px = np.nonzero(band)
        if len(zeros):
            q0 = zeros[np.clip(lab[py, px] - 1, 0, len(zeros) - 1)]
            qy, qx = 2 * q0[:, 0] - py, 2 * q0[:, 1] - px
            ok = (qy >= 0) & (qy < self.h) & (qx >= 0) & (qx < self.w)
            ok[ok] &= binary[qy[ok], qx[ok]] == 0
            mirrored = big[py, px].copy()
            mirrored[ok] = self.rgba[qy[ok], qx[ok], :3]
            plate[py, px, :3] = mirrored
        else:
            plate[band > 0, :3] = big[band > 0]
        return plate

    def _relief(self, pts: np.ndarray) -> np.ndarray:
        """Forward relief of the face (nose > cheeks) on a regular grid `pts` (H×W×2), 0 away
        from the face: landmark depths splatted onto the grid and normalised-blurred."""
        gh, gw = pts.shape[:2]
        x0, y0 = pts[0, 0]
        step = max(float(pts[0, 1, 0] - x0), 1e-6) if gw > 1 else 1.0
        ix = np.clip(np.round((self.points[:, 0] - x0) / step).astype(int), 0, gw - 1)
        iy = np.clip(np.round((self.points[:, 1] - y0) / step).astype(int), 0, gh - 1)
        val = np.zeros((gh, gw), np.float32)
        wt = np.zeros((gh, gw), np.float32)
        np.add.at(val, (iy, ix), self._z.astype(np.float32))
        np.add.at(wt, (iy, ix), 1.0)
        sigma = max(0.7, 0.06 * self.E / step)
        val = cv2.GaussianBlur(val, (0, 0), sigma)
        wt = cv2.GaussianBlur(wt, (0, 0), sigma)
        face = np.zeros((gh, gw), np.uint8)
        hull = cv2.convexHull(np.stack([ix, iy], -1).astype(np.int32))
        cv2.fillConvexPoly(face, hull, 1)
        rel = np.where(wt > 1e-3, val / np.maximum(wt, 1e-3), 0.0) * face
        return cv2.GaussianBlur(rel.astype(np.float32), (0, 0), 1.0)

    # --- face chains ---------------------------------------------------------------------------

    def _build_face_chain(self) -> None:
        E, W, uv = self.E, self.W, self.uv
        U = 1.35 * W
        ut = np.linspace(-U, U, TABLE_SIZE)
        self.u_tab0, self.u_tab_step = float(ut[0]), float(ut[1] - ut[0])

        def cv(idx: list[int]) -> np.ndarray:
            cu, cvv = _curve(uv, idx)
            return np.interp(ut, cu, cvv)

        brow = cv(g.BROW_A + g.BROW_B)
        # The eye knot follows the upper lids, so raised brows stretch the skin above the eyes,
        # not the eyes.
        eye = cv(g.EYE_A_UPPER + g.EYE_B_UPPER)
        eye_mid = cv(g.EYE_A_UPPER + g.EYE_A_LOWER + g.EYE_B_UPPER + g.EYE_B_LOWER)
        ulo, ul = cv(g.UPPER_OUTER_LIP), cv(g.UPPER_INNER_LIP)
        ll, llo = cv(g.LOWER_INNER_LIP), cv(g.LOWER_OUTER_LIP)
        lower_oval = [i for i in g.FACE_OVAL if uv[i, 1] > 0]
        chin = cv(lower_oval)
        chin = np.maximum(chin, llo + 0.15 * E)
        top = np.full_like(ut, self.v_forehead - 0.25 * E)
        neck = chin + 0.5 * E
        bottom = np.full_like(ut, neck.max() + 0.15 * E)
        cheek = eye_mid + 0.5 * (ulo - eye_mid)
        pos = np.stack([top, brow, eye, cheek, ulo, ul, ll, llo, chin, neck, bottom], 1)
        pos = np.maximum.accumulate(pos, 1)
        self.K_UL, self.K_LL = 5, 6
        a = np.abs(ut)
        w_i = max(abs(uv[78, 0]), abs(uv[308, 0]), 1e-3)
        w_o = max(abs(uv[61, 0]), abs(uv[291, 0]), 1e-3)
        self.w_o = w_o
        # How far the source's mouth corners stand above its lips' middle (a smile), in units of
        # E (a few hundredths is a neutral mouth), and the smile that rounded lips ("o", "u")
        # undo: most of the lift beyond a neutral mouth's, in units of the smile basis below.
        # Without it a smiling photo's rounded opening keeps the smile's curve, a dark crescent.
        mid = (uv[13, 1] + uv[14, 1]) / 2
        corner_lift = float(mid - (uv[61, 1] + uv[291, 1]) / 2) / E
        self.round_unsmile = min(0.7 * max(corner_lift - 0.02, 0.0) / SMILE_LIFT, 0.6)
        lat = 1 - smoothstep(0.95 * W, 1.2 * W, a)
        p_in = np.sqrt(np.clip(1 - (a / w_i) ** 2, 0, 1))
        p_out = np.sqrt(np.clip(1 - (a / w_o) ** 2, 0, 1))
        jaw = 1 - 0.75 * smoothstep(0.35 * W, 1.0 * W, a)
        src_gap = np.clip(ll - ul, 0, None)
        g0 = max(float(src_gap.max()), 1e-6)
        K = pos.shape[1]
        zero = np.zeros((TABLE_SIZE, K))
        # open: per pixel of added inner-lip gap at the centre
        op = zero.copy()
        op[:, 4] = op[:, 5] = -ALPHA_UPPER * p_in
        op[:, 6] = (1 - ALPHA_UPPER) * p_in
        op[:, 7] = (1 - ALPHA_UPPER) * np.maximum(p_out, p_in)
        op[:, 8] = (1 - ALPHA_UPPER) * np.maximum(jaw, op[:, 7] / (1 - ALPHA_UPPER))
        op[:, 4] *= 0.8  # the upper lip's outer edge moves a bit less than its inner edge
        # open, rounded ("o", "u"): the same opening with a fuller profile, so the opening is
        # round at its ends instead of a lens with pointed corners.
        p_rd = np.clip(1 - (a / w_i) ** 2, 0, 1) ** 0.33
        opr = op.copy()
        opr[:, 4] = -ALPHA_UPPER * 0.8 * np.maximum(p_out, p_rd)
        opr[:, 5] = -ALPHA_UPPER * p_rd
        opr[:, 6] = (1 - ALPHA_UPPER) * p_rd
        opr[:, 7] = (1 - ALPHA_UPPER) * np.maximum(p_out, p_rd)
        opr[:, 8] = (1 - ALPHA_UPPER) * np.maximum(jaw, opr[:, 7] / (1 - ALPHA_UPPER))
        # close: lips meet where they were apart in the source (per unit of closure). The
        # upper lip takes ALPHA_UPPER of a small gap; a wide-open source ("O") would close
        # along its upper lip's arch (a pout), so there the seam flattens towards the line
        # through the mouth corners, as a relaxed closed mouth has it.
        lip = ul + ALPHA_UPPER * (ll - ul)
        ca, cb = uv[78], uv[308]
        flat = ca[1] + (ut - ca[0]) * (cb[1] - ca[1]) / max(cb[0] - ca[0], 1e-6)
        f = float(smoothstep(0.12 * E, 0.3 * E, g0))
        seam = lip + f * (flat - lip)
        share = np.where(
            src_gap > 1e-3,
            np.clip((seam - ul) / np.maximum(src_gap, 1e-3), 0.05, 0.7),
            ALPHA_UPPER,
        )
        share = np.clip(gaussian_filter1d(share, max(0.03 * E / self.u_tab_step, 0.5)), 0.05, 0.7)
        self.close_share = (ut, share)
        share_c = float(np.interp(0.0, ut, share))
        cl = zero.copy()
        cl[:, 4] = cl[:, 5] = share * src_gap
        cl[:, 6] = cl[:, 7] = -(1 - share) * src_gap
        # The jaw rises with the lower lip; beside the mouth it may not rise more than half-way
        # to the lip line, or the skin there folds into a crease across the cheeks.
        rise = (1 - share_c) * g0 * jaw - (1 - share) * src_gap
        cl[:, 8] = cl[:, 7] - np.minimum(rise, 0.5 * (pos[:, 8] - pos[:, 7]))
        # press: lips thin and roll in
        t_u, t_l = np.clip(ul - ulo, 0, None), np.clip(llo - ll, 0, None)
        pr = zero.copy()
        pr[:, 4] = 0.35 * t_u
        pr[:, 7] = -0.3 * t_l
        # round: lips push out (thicker), the mouth narrows along the horizontal chain
        rd = zero.copy()
        rd[:, 4] = -0.3 * t_u
        rd[:, 7] = 0.3 * t_l
        # smile: the corners rise along a curve (more the farther out), the cheeks with them;
        # the lower lip stretches a little thinner.
        rise = np.clip(a / w_o, 0, 1) ** 2 * (1 - smoothstep(w_o, w_o + 0.5 * E, a))
        sm = zero.copy()
        sm[:, 4:8] = (-SMILE_LIFT * E * rise)[:, None]
        sm[:, 7] -= 0.025 * E * (1 - smoothstep(0.2 * w_o, w_o, a))
        sm[:, 3] = -0.05 * E * smoothstep(0.1 * E, 0.35 * E, a) * (1 - smoothstep(W, 1.2 * W, a))
        sm[:, 8] = -0.03 * E * rise
        # brows up
        brow_span = max(abs(uv[g.BROW_A, 0]).max(), abs(uv[g.BROW_B, 0]).max())
        br = zero.copy()
        br[:, 1] = -0.09 * E * (1 - smoothstep(brow_span, brow_span + 0.25 * E, a))
        br[:, 1] *= 0.75 + 0.25 * smoothstep(0.05 * E, 0.3 * E, a)  # less in the middle
        br[:, 2] = 0.12 * br[:, 1]  # the upper lids follow a little
        bases = np.stack([op, cl, pr, rd, sm, br, opr]) * lat[None, :, None]
        # The outer lips and the chin move as smooth sheets: soften their lateral profiles (the
        # inner lips keep theirs, they must follow the landmarks).
        sigma = max(0.06 * E / self.u_tab_step, 0.5)
        for k in (4, 7, 8):
            bases[:, :, k] = gaussian_filter1d(bases[:, :, k], sigma, axis=1, mode="nearest")
        self.chain_pos = pos.astype(np.float32)
        self.chain_bases = bases.astype(np.float32)
        self.chain_bases_flat = self.chain_bases.reshape(len(bases), -1)
        # Horizontal chain (mouth corners), active on the mouth's rows only.
        v_top_m = float(ulo.min()) - 0.1 * E
        v_bot_m = float(llo.max()) + 0.1 * E
        self.h_rows = (v_top_m - 0.35 * E, v_top_m, v_bot_m, v_bot_m + 0.45 * E)
        # Its outer knots stay inside the face's outline on each side (a turned face is
        # narrow on one side), so narrowing the mouth never pulls the background in.
        rows = uv[g.FACE_OVAL]
        near = rows[(rows[:, 1] > self.h_rows[0]) & (rows[:, 1] < self.h_rows[3])]
        edges = []
        for side in (-1.0, 1.0):
            us = near[:, 0] * side
            reach = float(us.max()) if len(us) and us.max() > 0 else 1.3 * W
            edges.append(max(min(1.3 * W, 0.85 * reach), w_o + 0.2 * E))
        self.h_knots = (edges[0], edges[1], w_o)  # outer knot at u < 0, at u > 0, corner

    def h_taper(self, v: np.ndarray) -> np.ndarray:
        a, b, c, d = self.h_rows
        return smoothstep(a, b, v) * (1 - smoothstep(c, d, v))

    def _grid(self, u0: float, u1: float, v0: float, v1: float, cells: float, cap: int) -> WarpGrid:
        """An image-aligned grid covering the face-frame box [u0, u1] × [v0, v1]."""
        fr = self.frame
        corners = np.array([[u0, v0], [u1, v0], [u0, v1], [u1, v1]])
        img = fr.to_image(corners)
        x0, y0 = np.floor(img.min(0)).astype(int)
        x1, y1 = np.ceil(img.max(0)).astype(int) + 1
        side = max(x1 - x0, y1 - y0)
        cell = int(max(1, round(side / cells)))
        while (np.ceil((x1 - x0) / cell) + 1) * (np.ceil((y1 - y0) / cell) + 1) > cap:
            cell += 1
        gw = int(np.ceil((x1 - x0) / cell)) + 1
        gh = int(np.ceil((y1 - y0) / cell)) + 1
        X, Y = np.meshgrid(
            x0 + np.arange(gw) * cell + (cell - 1) / 2, y0 + np.arange(gh) * cell + (cell - 1) / 2
        )
        uv = fr.to_local(np.stack([X, Y], -1).reshape(-1, 2))
        # Where the source's parted lips are closed, read the closed seam from a little inside
        # the lips: the squeezed gap (teeth, mouth) would otherwise show as a thin line.
        pos = self.chain_pos.copy()
        parted = smoothstep(0.0, 2.0 * cell, pos[:, self.K_LL] - pos[:, self.K_UL])
        pos[:, self.K_UL] -= 0.8 * cell * parted
        pos[:, self.K_LL] += 0.8 * cell * parted
        return WarpGrid(
            (int(x0), int(y0), int(x1), int(y1)),
            cell,
            (gh, gw),
            uv.astype(np.float32),
            self.h_taper(uv[:, 1]).astype(np.float32),
            np.maximum.accumulate(pos, axis=1).astype(np.float32),
        )

    def _build_face_grid(self) -> None:
        E, U = self.E, 1.35 * self.W
        top, bottom = float(self.chain_pos[:, 0].min()), float(self.chain_pos[:, -1].max())
        # A coarse grid for the whole face, a fine one where the lips part (their seam must be
        # sharp); the fine one replaces the coarse one inside its box.
        self.face_grid = self._grid(-U, U, top, bottom, 100.0, 9000)
        ulo = float(self.uv[g.UPPER_OUTER_LIP, 1].min())
        llo = float(self.uv[g.LOWER_OUTER_LIP, 1].max())
        m = 1.3 * self.w_o
        self.mouth_grid = self._grid(-m, m, ulo - 0.12 * E, llo + 0.4 * E, 110.0, 9000)
        # Every pixel of the mouth box in the face frame, for the exact map along a closed seam.
        x0, y0, x1, y1 = self.mouth_grid.box
        gy, gx = np.mgrid[y0:y1, x0:x1]
        px_uv = self.frame.to_local(np.stack([gx, gy], -1).reshape(-1, 2))
        # Only rows the lips can reach (the seam never leaves the lips' band).
        keep = (px_uv[:, 1] > ulo - 0.15 * E) & (px_uv[:, 1] < llo + 0.15 * E)
        keep &= np.abs(px_uv[:, 0]) < 1.15 * self.w_o
        self.mouth_px_index = np.nonzero(keep)[0].astype(np.int32)
        self.mouth_px_uv = px_uv[keep].astype(np.float32)
        self.mouth_px_taper = self.h_taper(px_uv[keep, 1]).astype(np.float32)

    # --- eyes ----------------------------------------------------------------------------------

    def _build_eye(self, upper: list[int], lower: list[int]) -> EyeModel:
        p = self.points
        c_a, c_b = p[upper[0]], p[upper[-1]]
        ax = c_b - c_a
        half = float(np.linalg.norm(ax)) / 2
        ax = ax / max(2 * half, 1e-6)
        if ax[0] < 0:
            ax = -ax
        vx = np.array([-ax[1], ax[0]])
        if vx @ self.frame.v_axis < 0:
            vx = -vx
        origin = (c_a + c_b) / 2

        def loc(idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
            d = p[idx] - origin
            u, v = d @ ax, d @ vx
            o = np.argsort(u)
            return u[o] + np.arange(len(u)) * 1e-6, v[o]

        ut = np.linspace(-half, half, 48)
        top = np.interp(ut, *loc(upper))
        bot = np.interp(ut, *loc(lower))
        bot = np.maximum(bot, top)
        gap_max = float((bot - top).max())
        v_above = float(top.min() - max(1.6 * gap_max, 0.45 * half))
        v_below = float(bot.max() + max(0.6 * gap_max, 0.2 * half))
        reach = 1.3 * half  # the closing lid bends down a little past the corners
        corners = np.array(
            [[-reach, v_above], [reach, v_above], [-reach, v_below], [reach, v_below]], np.float64
        )
        img = origin + corners[:, :1] * ax + corners[:, 1:] * vx
        m = 2
        x0, y0 = np.floor(img.min(0)).astype(int) - m
        x1, y1 = np.ceil(img.max(0)).astype(int) + m + 1
        return EyeModel(
            origin.astype(np.float32),
            ax.astype(np.float32),
            vx.astype(np.float32),
            ut.astype(np.float32),
            top.astype(np.float32),
            bot.astype(np.float32),
            v_above,
            v_below,
            gap_max,
            half,
            (int(x0), int(y0), int(x1), int(y1)),
        )

    # --- mouth look ----------------------------------------------------------------------------

    def _mouth_look(self) -> MouthLook:
        rgb = self.rgba[..., :3]

        def sample(idx: list[int]) -> np.ndarray:
            r = max(1, int(self.E * 0.03))
            vals = []
            for i in idx:
                x, y = np.clip(self.points[i].round().astype(int), 0, [self.w - 1, self.h - 1])
                vals.append(
                    rgb[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1].reshape(-1, 3)
                )
            return np.median(np.concatenate(vals).astype(np.float32), 0)

        skin = sample(g.CHEEK_SKIN)
        lip = sample(g.LIP_SKIN)
        luma = float(skin @ np.array([0.299, 0.587, 0.114]))
        light = float(np.clip(luma / 175.0, 0.45, 1.15))
        cavity = lip * 0.16 + np.array([12.0, 3.0, 5.0])
        inner = np.concatenate(
            [self.points[g.UPPER_INNER_LIP], self.points[g.LOWER_INNER_LIP][::-1]]
        )
        teeth, from_photo = teeth_colour(rgb, inner, skin, lip, self.E)
        tongue = lip * 0.62 + np.array([22.0, 0.0, 2.0]) * light
        return MouthLook(cavity, teeth, tongue, lip, light, from_photo)
