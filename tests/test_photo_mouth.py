"""The photo avatar's mouth and lids as a user sees them, on real pictures from the shared media:
teeth in the photo's own colour (never pure white) that ride on the skull, lips closed over a
parted source without a dark line, a rounded "o" that is narrow and round (and loses a smiling
photo's smile), a smile that lifts the corners, and closed lids that are smooth skin rather than
stretched lid texture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.face.landmarks import detect_faces
from avatar.registry import build_avatar, load_renderer
from avatar.render.photo import PhotoRenderer
from avatar.render.photo_mouth import smooth_closed_curve
from avatar.types import REST_PARAMS, FrameParams, MouthShape
from tests.support import MEDIA

IMAGES = MEDIA / "images"
LUMA = np.array([0.299, 0.587, 0.114])


def _build(tmp: Path, name: str) -> PhotoRenderer:
    src = next(IMAGES.glob(name + ".*"), None)
    if src is None:
        pytest.skip(f"{name} is not in the shared media")
    build_avatar("photo", src, tmp / name)
    r = load_renderer(tmp / name)
    assert isinstance(r, PhotoRenderer)
    return r


@pytest.fixture(scope="module")
def s42(tmp_path_factory: pytest.TempPathFactory) -> PhotoRenderer:
    """A real photo whose lips are slightly parted over the teeth (closed at rest)."""
    return _build(tmp_path_factory.mktemp("s42"), "real_female_eastasian_frontal_s42")


@pytest.fixture(scope="module")
def sad(tmp_path_factory: pytest.TempPathFactory) -> PhotoRenderer:
    """A real photo with closed lips: no teeth to sample."""
    return _build(tmp_path_factory.mktemp("sad"), "real_female_white_neutral_sad")


def _points(r: PhotoRenderer, p: FrameParams) -> np.ndarray:
    faces = detect_faces(np.ascontiguousarray(r.render(p, 0.0)[..., :3]))
    assert len(faces) == 1
    return faces[0].points


def test_teeth_colour_comes_from_the_photo_and_is_never_white(
    s42: PhotoRenderer, sad: PhotoRenderer
) -> None:
    assert s42.rig.look.teeth_from_photo and not sad.rig.look.teeth_from_photo
    for r in (s42, sad):
        teeth = r.rig.look.teeth
        assert teeth.max() <= 235 and teeth[0] >= teeth[2]  # warm, not white
        frame = r.render(FrameParams(mouth=MouthShape(jaw_open=1.0)), 0.0)[..., :3]
        x, y = r.rig.frame.origin
        e = r.rig.E
        box = frame[int(y - 0.15 * e) : int(y + 0.4 * e), int(x - 0.2 * e) : int(x + 0.2 * e)]
        luma = box.astype(np.float64) @ LUMA
        # The teeth show (bright pixels inside the dark of the open mouth), none glows white.
        assert (luma > 0.75 * float(teeth @ LUMA)).sum() > 0.002 * e * e
        assert (luma < 60).sum() > 0.01 * e * e
        assert box.min(-1).max() < 240


def test_upper_teeth_ride_on_the_skull(s42: PhotoRenderer) -> None:
    """Opening the jaw further moves the lower lip down, not the upper teeth's edge."""
    x, y = (int(round(v)) for v in s42.rig.frame.origin)
    e = s42.rig.E
    cols = slice(x - int(0.03 * e), x + int(0.03 * e) + 1)
    edges, bottoms = [], []
    for jaw in (0.6, 1.0):
        frame = s42.render(FrameParams(mouth=MouthShape(jaw_open=jaw)), 0.0)[..., :3]
        profile = frame[y - int(0.2 * e) : y + int(0.5 * e), cols].astype(np.float64) @ LUMA
        profile = profile.mean(1)
        edges.append(int(np.argmin(np.diff(profile[: int(0.3 * e)]))))  # teeth -> dark
        bottoms.append(int(np.nonzero(profile < 70)[0].max()))  # the opening's lowest row
    assert abs(edges[0] - edges[1]) <= 1, edges
    assert bottoms[1] - bottoms[0] > 0.05 * e, bottoms


def test_closed_lips_over_a_parted_source_leave_no_dark_line(s42: PhotoRenderer) -> None:
    """The source's gap squeezed shut must not show as a dark (stair-stepped) line: along the
    seam the darkest pixels stay lip-coloured, as a real closed mouth's soft seam."""
    assert s42.close_at_rest
    frame = s42.render(REST_PARAMS, 0.0)[..., :3].astype(np.float64)
    rig = s42.rig
    line = rig.lip_line
    idx = np.linspace(0, 1, len(line))
    ts = np.linspace(0.2, 0.8, 40)
    darkest = []
    for px, py in zip(np.interp(ts, idx, line[:, 0]), np.interp(ts, idx, line[:, 1]), strict=True):
        xi, yi = int(round(px)), int(round(py))
        darkest.append((frame[yi - 3 : yi + 4, xi] @ LUMA).min())
    lip = float(rig.look.lip @ LUMA)
    assert np.percentile(darkest, 10) > 0.34 * lip, np.percentile(darkest, 10) / lip


def test_round_o_is_narrow_and_round(s42: PhotoRenderer) -> None:
    def size(p: FrameParams) -> tuple[float, float]:
        pts = _points(s42, p)
        return float(np.linalg.norm(pts[61] - pts[291])), float(np.linalg.norm(pts[13] - pts[14]))

    w_rest, _ = size(REST_PARAMS)
    w_a, h_a = size(FrameParams(mouth=MouthShape(jaw_open=0.5)))
    w_o, h_o = size(FrameParams(mouth=MouthShape(jaw_open=0.35, lip_round=1.0)))
    assert w_o < 0.72 * w_rest, (w_o, w_rest)
    assert h_o / w_o > 1.5 * h_a / w_a, (h_o / w_o, h_a / w_a)


def test_smile_lifts_the_mouth_corners(s42: PhotoRenderer) -> None:
    v = s42.rig.frame.v_axis

    def lift(p: FrameParams) -> float:
        pts = _points(s42, p)
        return float(((pts[13] + pts[14]) / 2 - (pts[61] + pts[291]) / 2) @ v)

    assert lift(FrameParams(smile=1.0)) - lift(REST_PARAMS) > 0.05 * s42.rig.E


@pytest.mark.parametrize("name", ["astronaut", "greenscreen_male_eastasian_d0frame"])
def test_a_smiling_photo_rounds_its_lips_without_the_smile(tmp_path: Path, name: str) -> None:
    """Both photos smile broadly. An "o" keeping the smile's lifted corners was a dark crescent;
    rounded lips bring the corners down to about the rest pose's height (before: 0.02-0.04 E
    higher than at rest)."""
    r = _build(tmp_path, name)
    v, e = r.rig.frame.v_axis, r.rig.E

    def lift(p: FrameParams) -> float:
        pts = _points(r, p)
        return float(((pts[13] + pts[14]) / 2 - (pts[61] + pts[291]) / 2) @ v)

    rest = lift(REST_PARAMS)
    o = lift(FrameParams(mouth=MouthShape(jaw_open=0.35, lip_round=1.0)))
    assert o < rest + 0.015 * e, (o / e, rest / e)


def test_mouth_outline_is_a_smooth_curve_through_the_lip_points() -> None:
    # An "o": corners at the ends, the lips far apart right next to them.
    upper = np.array([[0, 10], [3, 2], [10, 0], [17, 2], [20, 10]], float)
    lower = np.array([[0, 10], [3, 18], [10, 20], [17, 18], [20, 10]], float)
    outline = smooth_closed_curve(np.concatenate([upper, lower[::-1]]))
    assert len(outline) == 4 * 8  # the shared corners count once
    for p in np.concatenate([upper, lower]):
        assert np.min(np.linalg.norm(outline - p, axis=1)) < 1e-9  # through every point
    assert outline.min() > -1.0 and outline.max() < 21.0  # no loops, little overshoot
    # Round at the ends: about 1 px in from a corner the outline is open much wider than the
    # straight chords from the corner (16 px wide 3 px in) would have it.
    near = outline[np.abs(outline[:, 0] - 1.0) < 0.6]
    x = float(near[:, 0].mean())
    assert np.ptp(near[:, 1]) > 1.5 * 16.0 * x / 3.0, near


def test_closed_lids_are_smooth_skin(tmp_path: Path) -> None:
    """The cartoon's lids have a crease line and tall lashes: stretched over the closed eye they
    drew lines across the lid. The closed lid must be smooth."""
    r = _build(tmp_path, "cartoon_boy_3d_s7")
    frame = r.render(FrameParams(blink=1.0), 0.0)[..., :3].astype(np.float64) @ LUMA
    rough = []
    for eye in r.rig.eyes:
        g, hw = eye.gap_max, eye.half_width
        us, vs = np.meshgrid(
            np.linspace(-0.55 * hw, 0.55 * hw, 24), np.linspace(-0.55 * g, 0.05 * g, 12)
        )
        pts = eye.origin + us[..., None] * eye.u_axis + vs[..., None] * eye.v_axis
        vals = frame[np.round(pts[..., 1]).astype(int), np.round(pts[..., 0]).astype(int)]
        rough.append(np.abs(np.diff(vals, axis=0)).mean() + np.abs(np.diff(vals, axis=1)).mean())
    assert np.mean(rough) < 14.0, rough


def test_a_photo_showing_teeth_keeps_its_own(tmp_path: Path) -> None:
    """The green-screen portrait smiles with its teeth: opening the mouth shows those teeth
    (the same pattern of light and dark as in the photo), not a synthetic row."""
    r = _build(tmp_path, "greenscreen_male_eastasian_d0frame")
    rig = r.rig
    assert rig.photo_teeth
    source = rig.rgba[..., :3].astype(np.float64) @ LUMA
    frame = r.render(FrameParams(mouth=MouthShape(jaw_open=0.6)), 0.0)[..., :3] @ LUMA
    x, _ = rig.frame.origin
    e = rig.E
    up = rig.points[[82, 13, 312], 1].max()  # the source's upper inner lip at the middle
    ys = slice(int(up) + 2, int(up + 0.06 * e))
    xs = slice(int(x - 0.15 * e), int(x + 0.15 * e))
    a, b = source[ys, xs].ravel(), frame[ys, xs].astype(np.float64).ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.6
