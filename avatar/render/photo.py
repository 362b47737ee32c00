"""The photo avatar renderer: FrameParams -> RGBA frame of one picture brought to life.

Per frame it sums precomputed warp bases (see `photo_rig`), inverts the face's knot chains on a
coarse grid (a fine one at the mouth), upsamples the backward map over the person's region only,
lets the eyelids close at full resolution (the closing eye redone from sub-pixel samples, the
unfolding lid painted as smooth skin), remaps the person layer once, lays it over the still
background plate and paints the mouth interior where the lips part (see `photo_mouth`). The
background never moves: pixels farther from the person than its reach are always the picture's
own.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from avatar.render.photo_mouth import draw_lip_seam, draw_mouth_interior
from avatar.render.photo_rig import EyeModel, PhotoRig, WarpGrid
from avatar.types import AvatarRenderer, FrameParams

CLOSE_AT_REST_OPENING = 0.06  # a source mouth open wider (gap / eye distance) is closed at rest
SUPERSAMPLE_BLINK = 0.2  # a lid closing further is redrawn from sub-pixel samples
STRIP = 32  # rows per band of the frame whose span near the person is remapped


class PhotoRenderer(AvatarRenderer):
    """Renders one photo avatar. `remove_background` makes everything but the person transparent
    (for the compositor's background); otherwise the picture's own background stays."""

    def __init__(
        self,
        rig: PhotoRig,
        actions: list[str] | None = None,
        remove_background: bool = False,
        close_mouth_at_rest: bool | None = None,
    ) -> None:
        self.rig = rig
        self.size = (rig.w, rig.h)
        self._actions = list(actions or [])
        # The person layer, premultiplied (hard-edged: at rest it reproduces the picture
        # exactly), and the still plate behind it.
        alpha = np.minimum(rig.rgba[..., 3], rig.layer_alpha)
        self._person = _premultiplied(rig.rgba, alpha)
        self._remove_background = remove_background
        if remove_background:
            # A slightly soft cut for composing over other backgrounds.
            soft = cv2.GaussianBlur(rig.person_alpha, (0, 0), max(0.8, rig.E / 120))
            self._person = _premultiplied(rig.rgba, np.minimum(rig.rgba[..., 3], soft))
            self._plate = np.zeros_like(rig.rgba)
        elif rig.rgba[..., 3].min() < 255:
            # A cut-out picture: what the person uncovers is transparent, like around it.
            plate_alpha = np.where(rig.layer_alpha > 0, 0, rig.rgba[..., 3]).astype(np.uint8)
            self._plate = _premultiplied(rig.rgba, plate_alpha)
            self._remove_background = True  # frames carry alpha: convert back to straight
        else:
            self._plate = np.ascontiguousarray(rig.plate)
        # An opaque picture over its opaque plate: every frame is opaque (`_over` keeps 255).
        self.opaque = not self._remove_background and bool(self._plate[..., 3].min() == 255)
        if close_mouth_at_rest is None:
            close_mouth_at_rest = rig.rest_gap / rig.E > CLOSE_AT_REST_OPENING
        self.close_at_rest = close_mouth_at_rest
        self._face_cache: tuple[tuple[bytes, float], np.ndarray, float] | None = None
        x0, y0, x1, y1 = rig.roi
        self._roi_slices = (slice(y0, y1), slice(x0, x1))
        self._strip_reach, self._strip_inner = self._build_strips()
        self._layouts: dict[int, tuple[list, list]] = {}
        self._lip_knots = self._build_lip_knots()
        self._eye_anchors = np.stack([rig.frame.origin, rig.eyes[0].origin, rig.eyes[1].origin])
        self._by_v: dict[int, tuple[np.ndarray, ...]] = {}
        for grid in (rig.face_grid, rig.mouth_grid):
            order = np.argsort(grid.uv[:, 1], kind="stable")
            if grid is rig.face_grid:
                order = order[~self._under_mouth(grid)[order]]
            uv = grid.uv[order]
            self._by_v[id(grid)] = (
                order, np.ascontiguousarray(uv[:, 0]), np.ascontiguousarray(uv[:, 1]),
                np.ascontiguousarray(grid.h_taper[order]),
            )  # fmt: skip

    def _build_strips(self) -> tuple[np.ndarray, np.ndarray]:
        """Per band of STRIP rows of the ROI, each column's distance to the nearest pixel of
        the person layer, and (inside) to the nearest pixel that is not opaque person. A pixel
        farther from the person than the map moves it reads only transparent pixels, so the
        frame there is the plate; one deeper inside than that reads only opaque person, so the
        frame there is the person, remapped straight into it. Only the rest is blended."""
        r = self.rig
        x0, y0, x1, y1 = r.roi
        alpha = self._person[..., 3]
        empty = (alpha == 0).astype(np.uint8)
        dist = cv2.distanceTransform(empty, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[y0:y1, x0:x1]
        full = (alpha == 255).astype(np.uint8)
        inner = cv2.distanceTransform(full, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[y0:y1, x0:x1]
        # The lids redo the eye boxes from the picture: keep them inside the spans.
        for eye in r.eyes:
            bx0, by0, bx1, by1 = eye.box
            dist[max(by0 - y0, 0) : max(by1 - y0, 0), max(bx0 - x0, 0) : max(bx1 - x0, 0)] = 0
        h = y1 - y0
        n = -(-h // STRIP)
        out = []
        for d, fill in ((dist, np.inf), (inner, 0.0)):
            pad = np.full((n * STRIP, x1 - x0), fill, np.float32)
            pad[:h] = d
            out.append(pad.reshape(n, STRIP, -1).min(axis=1))
        return out[0], out[1]

    def _layout(self, reach: float) -> tuple[list, list]:
        """For a bound on how far pixels move: the ROI rectangles to remap and blend over the
        plate, and those to remap straight into the frame (never the eyes: their lids are
        redone in the blended layer). Cached by the bound rounded up."""
        key = int(np.ceil(reach))
        cached = self._layouts.get(key)
        if cached is not None:
            return cached
        reach = float(key)
        r = self.rig
        near = self._strip_reach <= reach
        deep = self._strip_inner > reach + 1.5
        h = r.roi[3] - r.roi[1]
        # The lids are redone in the blended layer: the eye boxes, shifted by up to `reach`
        # with the head, stay out of the straight parts.
        m = int(np.ceil(reach)) + 2
        for eye in r.eyes:
            bx0, by0, bx1, by1 = eye.box
            k0 = max((by0 - r.roi[1] - m) // STRIP, 0)
            k1 = max((by1 - r.roi[1] + m) // STRIP + 1, 0)
            deep[k0:k1, max(bx0 - r.roi[0] - m, 0) : max(bx1 - r.roi[0] + m, 0)] = False
        blend: list[tuple[int, int, int, int]] = []
        direct: list[tuple[int, int, int, int]] = []
        for k in np.flatnonzero(near.any(1)):
            cols = np.flatnonzero(near[k])
            x0, x1 = int(cols[0]), int(cols[-1]) + 1
            y0, y1 = int(k) * STRIP, min((int(k) + 1) * STRIP, h)
            run = _longest_run(deep[k, x0:x1])
            if run is None or run[1] - run[0] < 16:
                blend.append((x0, y0, x1, y1))
                continue
            a, b = x0 + run[0], x0 + run[1]
            direct.append((a, y0, b, y1))
            blend += [(p, y0, q, y1) for p, q in ((x0, a), (b, x1)) if q > p]
        out = (blend, direct)
        if len(self._layouts) < 512:
            self._layouts[key] = out
        return out

    def action_names(self) -> list[str]:
        return list(self._actions)

    # --- parameters -> coefficients ------------------------------------------------------------

    def _coefficients(self, p: FrameParams) -> tuple[np.ndarray, np.ndarray, float]:
        r = self.rig
        m = p.mouth
        press = min(max(m.lip_press, 0.0), 1.0)
        jaw = min(max(m.jaw_open, 0.0), 1.2)
        rnd = min(max(m.lip_round, 0.0), 1.0)
        gap = r.max_gap * (jaw + 0.22 * rnd * (1 - jaw)) * (1 - press)
        close = 1.0 if self.close_at_rest else press
        # Rounded lips lose the source's smile (see PhotoRig.round_unsmile).
        smile = min(max(p.smile, -0.5), 1.0) - rnd * r.round_unsmile
        # The opening is split between the plain profile and the rounded one ("o", "u").
        chain = np.array(
            [
                gap * (1 - rnd), close, press, rnd, smile,
                min(max(p.brow_raise, -0.5), 1.0), gap * rnd,
            ],
            np.float32,
        )  # fmt: skip
        corner = r.E * (0.07 * m.lip_width + 0.07 * smile) - 0.36 * r.w_o * rnd
        # A photo holds only a few degrees of turn before the warp shows: clamp the head.
        roll = math.radians(min(max(p.head_roll, -10.0), 10.0))
        yaw = math.radians(min(max(p.head_yaw, -12.0), 12.0))
        pitch = math.radians(min(max(p.head_pitch, -10.0), 10.0))
        body = np.array(
            [
                p.head_dx * r.face_h,
                p.head_dy * r.face_h,
                math.cos(roll) - 1,
                -math.sin(roll),
                math.sin(yaw),
                math.sin(pitch),
                p.breath * 0.03 * r.E,
                -math.radians(1.2) * p.sway,
            ],
            np.float32,
        )
        return body, chain, float(corner)

    # --- the face chain ------------------------------------------------------------------------

    def _chain_table(self, chain: np.ndarray) -> np.ndarray:
        r = self.rig
        tab = r.chain_pos + (chain @ r.chain_bases_flat).reshape(r.chain_pos.shape)
        ul, ll = tab[:, r.K_UL], tab[:, r.K_LL]
        mid = np.where(ll < ul, (ul + ll) / 2, 0)
        cross = ll < ul
        tab[cross, r.K_UL] = mid[cross]
        tab[cross, r.K_LL] = mid[cross]
        return np.maximum.accumulate(tab, axis=1)

    def _face_grid(
        self, grid: WarpGrid, tab: np.ndarray, corner: float, chain: np.ndarray
    ) -> np.ndarray:
        """Backward displacement (image pixels) at the points of a face grid, upsampled to
        pixels of its box."""
        r = self.rig
        pos = self._closing_pos(grid, chain)
        d = self._inverse_moving(grid, tab, corner, pos).reshape(*grid.shape, 2)
        c = grid.cell
        if c > 1:
            d = cv2.resize(d, None, fx=c, fy=c, interpolation=cv2.INTER_LINEAR)
        x0, y0, x1, y1 = grid.box
        d = d[: y1 - y0, : x1 - x0]
        if c > 1 and grid is r.mouth_grid:
            d = np.ascontiguousarray(d)
            self._exact_seam(d, tab, corner, pos, c)
        return d

    def _under_mouth(self, grid: WarpGrid) -> np.ndarray:
        """Points of the face grid that reach (by the upsampling) only pixels the mouth grid
        replaces: they need not be evaluated."""
        fx0, fy0, fx1, fy1 = grid.box
        mx0, my0, mx1, my1 = self.rig.mouth_grid.box
        ax0, ay0, ax1, ay1 = max(mx0, fx0), max(my0, fy0), min(mx1, fx1), min(my1, fy1)
        c = grid.cell
        gh, gw = grid.shape
        # A point at pixel p (its cell's centre) weighs on the pixels within a cell of it.
        px = fx0 + np.arange(gw) * c + (c - 1) / 2
        py = fy0 + np.arange(gh) * c + (c - 1) / 2
        in_x = (px - c - 1 >= ax0) & (px + c + 1 <= ax1 - 1)
        in_y = (py - c - 1 >= ay0) & (py + c + 1 <= ay1 - 1)
        return (in_y[:, None] & in_x[None, :]).reshape(-1)

    def _inverse_moving(
        self, grid: WarpGrid, tab: np.ndarray, corner: float, pos: np.ndarray
    ) -> np.ndarray:
        """`_inverse` at a grid's points, evaluated only on the band of rows the moving knots
        (and the mouth corners) reach: elsewhere nothing moves. The points are kept sorted by
        v, so the band is one slice."""
        order, u, v, taper = self._by_v[id(grid)]
        moved = np.flatnonzero(np.any(tab != pos, axis=0))
        k_last = tab.shape[1] - 1
        if len(moved):
            j0, j1 = int(moved[0]), int(moved[-1])
            lo = float(tab[:, j0 - 1].min()) - 1.0 if j0 > 0 else -np.inf
            hi = float(tab[:, j1 + 1].max()) + 1.0 if j1 < k_last else np.inf
            # Only the segments next to a moving knot move: search those knots alone (a
            # point beyond them reads as outside the chain, unmoved, as it is).
            k0, k1 = max(j0 - 1, 0), min(j1 + 1, k_last) + 1
            tab, pos = tab[:, k0:k1], np.ascontiguousarray(pos[:, k0:k1])
        else:
            lo, hi = np.inf, -np.inf
        if corner != 0.0:  # the corners' chain acts on the mouth's rows
            lo, hi = min(lo, self.rig.h_rows[0] - 1.0), max(hi, self.rig.h_rows[3] + 1.0)
        a, b = int(np.searchsorted(v, lo)), int(np.searchsorted(v, hi, side="right"))
        d = np.zeros((len(grid.uv), 2), np.float32)
        if b > a:
            d[order[a:b]] = self._inverse(u[a:b], v[a:b], taper[a:b], tab, corner, pos)
        return d

    def _closing_pos(self, grid: WarpGrid, chain: np.ndarray) -> np.ndarray:
        """Source knots, blended towards the closed-seam reading as the lips come together (no
        pop on opening)."""
        r = self.rig
        opening = float(chain[0] + chain[6])
        w = float(chain[1]) * min(max(1.0 - opening / (2.0 * grid.cell), 0.0), 1.0)
        return r.chain_pos if w <= 0.0 else r.chain_pos + w * (grid.pos_closed - r.chain_pos)

    def _exact_seam(
        self, d: np.ndarray, tab: np.ndarray, corner: float, pos: np.ndarray, c: int
    ) -> None:
        """Where the lips meet over a parted source, the map jumps across the source's gap; a
        bilinear upsampling of the grid would read the gap's dark across a cell and draw a
        stair-stepped line. Pixels within a cell of the seam get the exact map instead."""
        r = self.rig
        # Most talking frames are open everywhere: nothing squeezed, no pixel to redo.
        squeezed = pos[:, r.K_LL] - pos[:, r.K_UL] > 1.5 * (tab[:, r.K_LL] - tab[:, r.K_UL]) + 1.0
        if not squeezed.any():
            return
        uv, taper = r.mouth_px_uv, r.mouth_px_taper
        us = self._corner_inverse(uv[:, 0], taper, corner)
        fi = np.clip((us - r.u_tab0) / r.u_tab_step, 0, len(tab) - 1.001)
        i = fi.astype(np.int32)
        f = (fi - i).astype(np.float32)
        ul = tab[i, r.K_UL] * (1 - f) + tab[i + 1, r.K_UL] * f
        ll = tab[i, r.K_LL] * (1 - f) + tab[i + 1, r.K_LL] * f
        sp = pos[i, r.K_LL] * (1 - f) + pos[i + 1, r.K_LL] * f
        sp -= pos[i, r.K_UL] * (1 - f) + pos[i + 1, r.K_UL] * f
        v = uv[:, 1]
        # Only where the gap is squeezed hard (the map steeper than one source pixel per pixel
        # over a cell) and within a cell of it.
        band = (v > ul - 1.5 * c) & (v < ll + 1.5 * c) & (sp > 1.5 * (ll - ul) + 1.0)
        if not band.any():
            return
        sel = np.nonzero(band)[0]
        exact = self._inverse(uv[sel, 0], v[sel], taper[sel], tab, corner, pos)
        flat = d.reshape(-1, 2)  # a view: d is contiguous
        flat[r.mouth_px_index[sel]] = exact

    def _corner_inverse(self, u: np.ndarray, taper: np.ndarray, corner: float) -> np.ndarray:
        """Horizontal chain inverse: corners at ±w_o moved by `corner`, edges fixed."""
        if corner == 0.0:
            return u
        e_neg, e_pos, wo = self.rig.h_knots
        edge = np.where(u < 0, e_neg, e_pos)
        c = corner * taper
        wo2 = wo + c
        a = np.abs(u)
        inner = a * (wo / wo2)
        outer = wo + (a - wo2) * ((edge - wo) / (edge - wo2))
        return np.sign(u) * np.where(a < wo2, inner, np.where(a < edge, outer, a))

    def _inverse(
        self,
        u: np.ndarray,
        v: np.ndarray,
        taper: np.ndarray,
        tab: np.ndarray,
        corner: float,
        pos: np.ndarray,
    ) -> np.ndarray:
        """Backward displacement (image pixels, N×2) of face-frame points under the chains."""
        r = self.rig
        us = self._corner_inverse(u, taper, corner)
        # Vertical chain inverse at column us: the knots interpolated between two table
        # columns, the segment holding v found by counting knots above it, then only that
        # segment's ends read (no N×K temporaries but the one needed for the search).
        n_col, n_k = tab.shape
        n = len(v)
        fi = np.clip((us - r.u_tab0) * (1.0 / r.u_tab_step), 0, n_col - 1.001)
        i = fi.astype(np.int32)
        f = (fi - i).astype(np.float32)
        # Knots × points (np.take along the table's columns is much faster than indexing).
        tab_t = np.ascontiguousarray(tab.T)
        pp = np.take(tab_t, i, axis=1)
        step = np.take(tab_t, i + 1, axis=1)
        step -= pp
        step *= f
        pp += step
        k = (pp <= v).sum(0, dtype=np.int32)
        k -= 1
        np.clip(k, 0, n_k - 2, out=k)
        at = k * n + np.arange(n, dtype=np.int32)
        flat = pp.reshape(-1)
        lo, hi = np.take(flat, at), np.take(flat, at + n)
        pflat = pos.reshape(-1)
        j0 = i * n_k + k
        j1 = j0 + n_k
        g = 1 - f
        slo = np.take(pflat, j0) * g + np.take(pflat, j1) * f
        shi = np.take(pflat, j0 + 1) * g + np.take(pflat, j1 + 1) * f
        den = hi - lo
        ok = den > 1e-4
        frac = np.where(ok, (v - lo) / np.where(ok, den, 1), 0.0)
        inside = (v >= pp[0]) & (v < pp[-1])
        dv = np.where(inside, slo + frac * (shi - slo) - v, 0.0)
        du = us - u
        ax, vx = r.frame.u_axis, r.frame.v_axis
        out = np.empty((len(u), 2), np.float32)
        out[:, 0] = du * ax[0] + dv * vx[0]
        out[:, 1] = du * ax[1] + dv * vx[1]
        return out

    def _face_forward(self, tab: np.ndarray, corner: float) -> np.ndarray:
        """Where the inner-lip landmarks (lying on the lip knots) go under the face chains
        (image px)."""
        r = self.rig
        u, v, i, f, k, d_src = self._lip_knots
        d_now = tab[i, k] * (1 - f) + tab[i + 1, k] * f
        v2 = v + (d_now - d_src)
        if corner != 0.0:
            e_neg, e_pos, wo = r.h_knots
            edge = np.where(u < 0, e_neg, e_pos)
            c = corner * r.h_taper(v2)
            a = np.abs(u)
            a2 = np.where(
                a < wo, a * (wo + c) / wo, wo + c + (a - wo) * (edge - wo - c) / (edge - wo)
            )
            u = np.sign(u) * a2
        return r.frame.to_image(np.stack([u, v2], -1))

    def _build_lip_knots(self) -> tuple[np.ndarray, ...]:
        """Per inner-lip landmark: u, v, its knot table column and fraction, its knot, and the
        knot's source position (all fixed per avatar)."""
        r = self.rig
        idx = np.concatenate([r.inner_upper, r.inner_lower])
        uv = r.uv[idx]
        u = uv[:, 0]
        k = np.where(np.isin(idx, r.inner_upper), r.K_UL, r.K_LL)
        fi = np.clip((u - r.u_tab0) / r.u_tab_step, 0, len(r.chain_pos) - 1.001)
        i = fi.astype(np.int32)
        f = fi - i
        d_src = r.chain_pos[i, k] * (1 - f) + r.chain_pos[i + 1, k] * f
        return u, uv[:, 1], i, f, k, d_src

    # --- body helpers --------------------------------------------------------------------------

    def _body_at(self, grid: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Backward body displacement at image points, bilinear."""
        r = self.rig
        x0, y0 = r.body_origin
        c = r.body_cell
        gx = np.clip((pts[:, 0] - x0 - (c - 1) / 2) / c, 0, grid.shape[1] - 1.001)
        gy = np.clip((pts[:, 1] - y0 - (c - 1) / 2) / c, 0, grid.shape[0] - 1.001)
        ix, iy = gx.astype(np.int32), gy.astype(np.int32)
        fx, fy = (gx - ix)[:, None], (gy - iy)[:, None]
        d = (
            grid[iy, ix] * (1 - fx) * (1 - fy)
            + grid[iy, ix + 1] * fx * (1 - fy)
            + grid[iy + 1, ix] * (1 - fx) * fy
            + grid[iy + 1, ix + 1] * fx * fy
        )
        return d

    def _forward_body(self, grid: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Output positions of source points: solve x + d(x) = p by fixed-point iteration."""
        x = pts.astype(np.float64)
        for _ in range(3):
            x = pts - self._body_at(grid, x)
        return x

    # --- eyes ----------------------------------------------------------------------------------

    def _eye(
        self,
        mapxy: np.ndarray,
        eye: EyeModel,
        shift: np.ndarray,
        blink: float,
        gx: float,
        gy: float = 0.0,
    ) -> tuple[tuple[int, int, int, int], np.ndarray | None, tuple | None] | None:
        """Move the lids in the backward map (in place). Returns the eye's box (ROI pixels),
        its map before the lids moved when the eye is to be redone supersampled (a closing
        lid), and where the unfolding lid is to be painted."""
        r = self.rig
        rx0, ry0, rx1, ry1 = r.roi
        bx0, by0, bx1, by1 = eye.box
        sx, sy = int(round(shift[0])), int(round(shift[1]))
        x0, y0 = max(bx0 + sx - 2, rx0), max(by0 + sy - 2, ry0)
        x1, y1 = min(bx1 + sx + 2, rx1), min(by1 + sy + 2, ry1)
        if x1 <= x0 or y1 <= y0:
            return None
        box = (x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0)
        sub = mapxy[box[1] : box[3], box[0] : box[2]]
        before = sub.copy() if blink > SUPERSAMPLE_BLINK else None
        lid = self._lid_warp(sub, eye, blink, gx, gy)
        return box, before, lid

    def _lid_warp(
        self, sub: np.ndarray, eye: EyeModel, blink: float, gx: float, gy: float,
        paint: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, int] | None:  # fmt: skip
        """The lid warp on a backward map `sub` of the eye's box (any resolution: it works on
        the source positions the map holds), and how to paint the unfolding lid (`paint`)."""
        d = sub - eye.origin
        u = d[..., 0] * eye.u_axis[0] + d[..., 1] * eye.u_axis[1]
        v = d[..., 0] * eye.v_axis[0] + d[..., 1] * eye.v_axis[1]
        top = np.interp(u, eye.u_tab, eye.top_tab)
        bot = np.interp(u, eye.u_tab, eye.bot_tab)
        gap = bot - top
        if blink <= 0.0:
            # Open eyes (a gaze shift only): the lids stay, only the iris slides.
            us, vs = _gaze_shift(eye, u, v, v, top, np.maximum(bot, top), gap, gx, gy)
            _write_map(sub, eye, us, vs)
            return None
        # The lid edge comes down by a smooth profile that reaches a little past the corners,
        # so the closed lash line bends down there instead of ending in a hook.
        reach = 1.05 * eye.half_width
        smooth = 0.8 * eye.gap_max * np.clip(1 - (u / reach) ** 2, 0, 1)
        tp = top + 0.85 * blink * np.maximum(gap, smooth)
        bp = np.maximum(bot - 0.15 * blink * gap, tp)
        va, vb = eye.v_above, eye.v_below
        # The lashes ride down with the lid edge unstretched. Above them only the band below
        # the lid crease unfolds over the eye; the crease and the skin above it come down a
        # little (stretching the whole band would drag the crease down across the lid).
        lash = min(0.2 * eye.gap_max, 0.5 * (float(top.min()) - va))
        strip = min(0.3 * eye.gap_max, 0.5 * (float(top.min()) - lash - va))
        cr = top - lash - strip  # the crease, in the source
        cr_out = cr + 0.2 * (tp - top)
        s0a = va + (v - va) * (cr - va) / np.maximum(cr_out - va, 1e-3)
        s0b = cr + (v - cr_out) * strip / np.maximum(tp - lash - cr_out, 1e-3)
        s0 = np.where(v < cr_out, s0a, s0b)
        s1 = v - (tp - top)
        # Below the closing lid read from a little under the mesh's lower lid line, so no
        # sliver of eye white shows under the lashes.
        bot_s = np.minimum(bot + 0.22 * blink * eye.gap_max, vb - 1.0)
        den = bp - tp
        s2 = top + (v - tp) * np.where(den > 1e-3, (bot_s - top) / np.where(den > 1e-3, den, 1), 0)
        s3 = bot_s + (v - bp) * (vb - bot_s) / np.maximum(vb - bp, 1e-3)
        vs = np.where(v < tp - lash, s0, np.where(v < tp, s1, np.where(v < bp, s2, s3)))
        band = (v >= va) & (v <= vb) & (np.abs(u) <= reach)
        vs = np.where(band, vs, v)
        us = u
        if (gx != 0.0 or gy != 0.0) and blink < 0.95:
            us, vs = _gaze_shift(eye, u, v, vs, tp, bp, gap, gx, gy)
        _write_map(sub, eye, us, vs)
        if not paint:
            return None
        # The unfolded band is the lid skin stretched many times (lash roots and the crease
        # line would streak): it is painted as smooth lid skin, more as it unfolds further.
        unfold = np.clip((tp - top) / (0.35 * eye.gap_max + 1e-3), 0, 1)
        if float(unfold.max()) < 0.02:
            return None
        lid_end = tp - lash
        t = np.clip((v - cr_out) / np.maximum(lid_end - cr_out, 1e-3), 0, 1)
        fade_in = np.clip(t / 0.3, 0, 1)
        fade_out = np.clip((lid_end + 0.4 * lash - v) / (0.4 * lash + 1e-3), 0, 1)
        cover = fade_in * fade_in * (3 - 2 * fade_in) * fade_out * unfold * 0.92
        cover = np.where(band & (v >= cr_out), cover, 0.0)
        # A convex lid: lit in its middle, shaded towards the lashes and the corners.
        shade = (0.93 + 0.1 * np.sin(np.pi * t) - 0.14 * t**3) * (
            1 - 0.08 * np.clip(u / eye.half_width, -1, 1) ** 2
        )
        above = max(2, int(round(0.15 * eye.gap_max)))
        return cover.astype(np.float32), (shade / 0.93).astype(np.float32), above

    # --- the frame -----------------------------------------------------------------------------

    def render(self, params: FrameParams, t: float) -> np.ndarray:
        r = self.rig
        body, chain, corner = self._coefficients(params)
        grid = (body @ r.body_bases_flat).reshape(*r.body_grid_shape, 2)
        x0, y0, x1, y1 = r.roi
        c = r.body_cell
        dense = cv2.resize(grid, None, fx=c, fy=c, interpolation=cv2.INTER_LINEAR)
        dense = dense[: y1 - y0, : x1 - x0]
        tab = self._chain_table(chain)
        # Where the mouth, the eyes and the inner lips go: one fixed-point solve for all.
        anchors = np.concatenate(
            [self._eye_anchors, self._face_forward(tab, corner), r.lip_line]
        )  # fmt: skip
        moved = self._forward_body(grid, anchors)
        head = moved[0] - r.frame.origin
        # The face layer rides on the head: place it where the mouth has moved to.
        fd, fd_max = self._face_layer(tab, corner, chain)
        self._paste(dense, fd, r.face_grid.box, head)
        # No pixel moves farther than the body and the face displacements together (the lids
        # stay inside their boxes, which the spans always hold).
        reach = float(np.abs(grid).max()) * 1.4143 + fd_max + 2.0
        mapxy = dense
        cv2.add(mapxy, r.identity, dst=mapxy)
        blink = min(max(params.blink + 0.12 * max(params.smile, 0.0), 0.0), 1.0)
        eyes = []
        if blink > 0.0 or params.gaze_x != 0.0 or params.gaze_y != 0.0:
            for k, eye in enumerate(r.eyes):
                shift = moved[1 + k] - eye.origin
                done = self._eye(mapxy, eye, shift, blink, params.gaze_x, params.gaze_y)
                if done is not None:
                    eyes.append((eye, *done))
        frame = self._plate.copy()
        ys, xs = self._roi_slices
        blend, direct = self._layout(reach)
        roi = frame[ys, xs]
        person = np.empty((*mapxy.shape[:2], 4), np.uint8)
        for dst, rects in ((person, blend), (roi, direct)):
            for sx0, sy0, sx1, sy1 in rects:
                cv2.remap(
                    self._person, mapxy[sy0:sy1, sx0:sx1], None, cv2.INTER_LINEAR,
                    dst=dst[sy0:sy1, sx0:sx1], borderMode=cv2.BORDER_REPLICATE,
                )  # fmt: skip
        for eye, box, before, lid in eyes:
            if before is not None:
                self._supersampled_eye(person, eye, box, before, blink, params)
            if lid is not None:
                _paint_lid(person, *box, *lid)
        for sx0, sy0, sx1, sy1 in blend:
            _over(roi[sy0:sy1, sx0:sx1], person[sy0:sy1, sx0:sx1])
        if self._remove_background:
            frame = _straight(frame)
        n = len(r.inner_upper)
        lips = moved[3 : 3 + 2 * n]
        # A source whose lips stay parted at rest keeps its own mouth until it opens further.
        gap = float(np.max((lips[n:] - lips[:n]) @ r.frame.v_axis))
        shown = 0.0 if self.close_at_rest else r.rest_gap
        opacity = min(max((gap - shown) / (0.04 * r.E + 1e-6), 0.0), 1.0)
        if self.close_at_rest and opacity < 1.0:
            draw_lip_seam(frame, lips[:n], lips[n:], r.E, 1.0 - opacity)
        if opacity > 0.0:
            # The teeth ride on the skull: the rest lip line's anchors, moved with the head.
            rest = moved[3 + 2 * n :]
            k = len(rest)
            dst = rest[[0, k // 2, k - 1]].astype(np.float32)
            m = cv2.getAffineTransform(r.teeth.anchors, dst)
            drop = lips[n + n // 2] - rest[k // 2]
            draw_mouth_interior(
                frame, lips[:n], lips[n:], m, r.teeth, r.E, r.look, opacity,
                min(max(params.mouth.lip_round, 0.0), 1.0), r.teeth_lower, drop,
            )  # fmt: skip
        return frame

    def _supersampled_eye(
        self, person: np.ndarray, eye: EyeModel, box: tuple, before: np.ndarray,
        blink: float, params: FrameParams,
    ) -> None:  # fmt: skip
        """Redo a closing eye's box from sub-pixel samples: the lid edge is a jump in the map,
        which one sample per pixel draws as a stair-stepped lash line."""
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        s = 3 if w * h < 6000 else 2
        fine = cv2.resize(before, (w * s, h * s), interpolation=cv2.INTER_LINEAR)
        self._lid_warp(fine, eye, blink, params.gaze_x, params.gaze_y, paint=False)
        patch = cv2.remap(
            self._person, fine, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        person[y0:y1, x0:x1] = cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA)

    def _face_layer(
        self, tab: np.ndarray, corner: float, chain: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """Face displacement over the face box (coarse grid, fine grid at the mouth) and a bound
        on its length. The last one is kept: while nobody speaks the face is the same from
        frame to frame."""
        key = (chain.tobytes(), corner)
        cached = self._face_cache
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        r = self.rig
        fd = self._face_grid(r.face_grid, tab, corner, chain)
        md = self._face_grid(r.mouth_grid, tab, corner, chain)
        fx0, fy0, fx1, fy1 = r.face_grid.box
        mx0, my0, mx1, my1 = r.mouth_grid.box
        ax0, ay0 = max(mx0, fx0), max(my0, fy0)
        ax1, ay1 = min(mx1, fx1), min(my1, fy1)
        if ax1 > ax0 and ay1 > ay0:
            fd[ay0 - fy0 : ay1 - fy0, ax0 - fx0 : ax1 - fx0] = md[
                ay0 - my0 : ay1 - my0, ax0 - mx0 : ax1 - mx0
            ]
        fd_max = float(np.abs(fd).max()) * 1.4143
        self._face_cache = (key, fd, fd_max)  # one assignment: safe if two threads render
        return fd, fd_max

    def _paste(self, dense: np.ndarray, fd: np.ndarray, box: tuple, shift: np.ndarray) -> None:
        r = self.rig
        rx0, ry0, rx1, ry1 = r.roi
        fx0, fy0, fx1, fy1 = box
        sx, sy = int(round(shift[0])), int(round(shift[1]))
        x0, y0 = max(fx0 + sx, rx0), max(fy0 + sy, ry0)
        x1, y1 = min(fx1 + sx, rx1), min(fy1 + sy, ry1)
        if x1 <= x0 or y1 <= y0:
            return
        dense[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0] += fd[
            y0 - sy - fy0 : y1 - sy - fy0, x0 - sx - fx0 : x1 - sx - fx0
        ]


def _gaze_shift(
    eye: EyeModel, u: np.ndarray, v: np.ndarray, vs: np.ndarray, tp: np.ndarray, bp: np.ndarray,
    gap: np.ndarray, gx: float, gy: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Gaze: what shows between the lid edges `tp`..`bp` (the iris) slides, less towards the
    corners; `vs` is where the lids put each point. Returns the source (u, v)."""
    inside = (v > tp) & (v < bp)
    rel = np.clip(gap / max(eye.gap_max, 1e-3), 0, 1)
    us = np.where(inside, u - gx * 0.22 * eye.half_width * rel, u)
    if gy != 0.0:
        edge = np.clip(np.minimum(v - tp, bp - v) / (0.25 * eye.gap_max + 1e-3), 0, 1)
        vs = np.where(inside, vs - gy * 0.18 * eye.gap_max * rel * edge, vs)
    return us, vs


def _write_map(sub: np.ndarray, eye: EyeModel, us: np.ndarray, vs: np.ndarray) -> None:
    """Eye-frame source points (us, vs) into the backward map, in place."""
    sub[..., 0] = eye.origin[0] + us * eye.u_axis[0] + vs * eye.v_axis[0]
    sub[..., 1] = eye.origin[1] + us * eye.u_axis[1] + vs * eye.v_axis[1]


def _longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    """[start, end) of the longest run of True in a 1-D mask, or None."""
    if not mask.any():
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.view(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k])


def _paint_lid(
    person: np.ndarray, x0: int, y0: int, x1: int, y1: int, cover: np.ndarray,
    shade: np.ndarray, above: int,
) -> None:  # fmt: skip
    """Paint the unfolded lid into the person layer (premultiplied, opaque there): half the
    colour of the skin just above the lid's top in each column (so the lid continues it),
    half the lid's own smoothed tone, shaded like a convex lid."""
    roi = person[y0:y1, x0:x1]
    h, w = cover.shape
    on = cover > 0.01
    valid = on.any(0)
    if not valid.any():
        return
    rows = np.clip(np.argmax(on, axis=0) - above, 0, h - 1)
    cols = np.arange(w)
    src = roi[..., :3].astype(np.float32)
    sample = (src[rows, cols] + src[np.maximum(rows - 1, 0), cols]) * 0.5
    wt = (valid & (np.argmax(on, axis=0) >= above)).astype(np.float32)
    if wt.sum() < 1:
        wt = valid.astype(np.float32)
    sigma = max(1.0, 0.06 * w)
    num = cv2.GaussianBlur((sample * wt[:, None])[None], (0, 0), sigma)[0]
    den = cv2.GaussianBlur(wt[None, :], (0, 0), sigma)[0]
    colour = num / np.maximum(den, 1e-3)[:, None]
    # Half of it the lid's own tone where it unfolds (its stretched texture, blurred far past
    # any line in it): a shadowed lid stays darker than the brow bone above it.
    wl = (cover > 0.3).astype(np.float32)
    sl = max(2.0, 0.12 * w)
    tone = cv2.GaussianBlur(src * wl[..., None], (0, 0), sl)
    tone /= np.maximum(cv2.GaussianBlur(wl, (0, 0), sl), 1e-3)[..., None]
    paint = (0.5 * colour[None, :, :] + 0.5 * tone) * shade[..., None]
    c = cover[..., None]
    roi[..., :3] = (src * (1 - c) + paint * c).astype(np.uint8)


def _premultiplied(rgba: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = rgba.copy()
    out[..., 3] = alpha
    a4 = cv2.merge([alpha, alpha, alpha, np.full_like(alpha, 255)])
    return np.ascontiguousarray(cv2.multiply(out, a4, scale=1.0 / 255.0))


def _over(dst: np.ndarray, src_pm: np.ndarray) -> None:
    """dst (straight, opaque or transparent plate) = premultiplied src over dst, in place."""
    inv = cv2.bitwise_not(cv2.extractChannel(src_pm, 3))
    inv4 = cv2.merge([inv, inv, inv, inv])
    cv2.multiply(dst, inv4, dst=dst, scale=1.0 / 255.0)
    cv2.add(dst, src_pm, dst=dst)


def _straight(rgba_pm: np.ndarray) -> np.ndarray:
    """Premultiplied -> straight alpha (for the cut-out frames)."""
    a = rgba_pm[..., 3]
    a4 = cv2.merge([a, a, a, np.full_like(a, 255)])
    return cv2.divide(rgba_pm, a4, scale=255.0)
