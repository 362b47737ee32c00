"""The video avatar renderer on a real recording: the mouth follows the target, teeth show when
open, nothing changes outside the mouth, no seam at the blend border, real lips in silence, a
seamless idle loop, and actions that enter and leave the loop smoothly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar.registry import build_avatar, load_renderer
from avatar.render.video import VideoAvatarRenderer
from avatar.types import FrameParams, MouthShape
from avatar.videoavatar.align import teeth_fraction
from avatar.videoavatar.blend import Placement
from avatar.videoavatar.geometry import INNER_LIPS, mouth_measures
from avatar.videoavatar.track import track_frames

VIDEO = Path(__file__).resolve().parents[2] / "shared/media/video/en_talking_female_WDA_AOC_000.mp4"


@pytest.fixture(scope="module")
def avatar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("video_avatar") / "aoc"
    # the API's spelling of a named stretch of the recording
    build_avatar(
        "video", VIDEO, folder, {"Actions": [{"Action": "turn", "Start": 1.0, "End": 2.2}]}
    )
    return folder


def _renderer(folder: Path) -> VideoAvatarRenderer:
    r = load_renderer(folder)
    assert isinstance(r, VideoAvatarRenderer)
    return r


def _drive(r: VideoAvatarRenderer, shape: MouthShape, t0: float, n: int = 6) -> np.ndarray:
    """Render n frames of the same target (the search settles as in speech); the last frame."""
    frame = None
    for k in range(n):
        frame = r.render(FrameParams(mouth=shape), t0 + k / r.fps)
    assert frame is not None
    return frame


def _landmarks(rgb: np.ndarray) -> np.ndarray:
    tr = track_frames([(0.0, np.ascontiguousarray(rgb[..., :3]))], 1)
    assert tr.ok[0], "no face found in the rendered frame"
    return tr.landmarks[0]


def test_frame_format(avatar: Path) -> None:
    r = _renderer(avatar)
    f = r.render(FrameParams(), 0.0)
    assert f.dtype == np.uint8 and f.shape == (512, 512, 4)
    assert (f[..., 3] == 255).all()  # no green screen: opaque
    assert r.action_names() == ["turn"]


def test_mouth_follows_target(avatar: Path) -> None:
    r = _renderer(avatar)
    opens = []
    for i, jaw in enumerate([0.0, 0.3, 0.6, 0.95]):
        frame = _drive(r, MouthShape(jaw_open=jaw), 1.0 + 2.0 * i)
        opens.append(mouth_measures(_landmarks(frame))[0])
    assert np.all(np.diff(opens) > 0), opens
    assert opens[-1] > 3 * max(opens[0], 0.01), opens


def test_teeth_visible_when_open(avatar: Path) -> None:
    r = _renderer(avatar)
    assert r.meta["teeth_share"] > 0.2  # she shows her teeth when speaking
    frame = _drive(r, MouthShape(jaw_open=0.8), 3.0)
    lm = _landmarks(frame)
    share, area = teeth_fraction(frame[..., :3], lm[INNER_LIPS, :2])
    assert area > 100 and share > 0.15, (share, area)


def test_outside_mouth_region_unchanged(avatar: Path) -> None:
    r = _renderer(avatar)
    for i, shape in enumerate([MouthShape(jaw_open=0.9), MouthShape(lip_width=1.0, jaw_open=0.3)]):
        t = 2.0 + 1.5 * i
        frame = _drive(r, shape, t)
        loop = r.loop_frame(t + 5 / r.fps)
        k = r.loop_index(t + 5 / r.fps)
        place: Placement = r._loop.places[k]
        outside = np.ones(frame.shape[:2], bool)
        outside[place.y0 : place.y1, place.x0 : place.x1] = False
        assert np.array_equal(frame[outside], loop[outside])
        changed = np.abs(frame.astype(int) - loop.astype(int)).max(-1) > 0
        assert changed.sum() > 500  # the mouth did change
        # inside the box, the change stays in the lower face: never above the nose
        ys, xs = np.nonzero(changed)
        lm = _landmarks(loop)
        assert ys.min() >= lm[2, 1] - 0.1 * np.linalg.norm(lm[33, :2] - lm[263, :2])


def _border_gradient(img: np.ndarray, band: np.ndarray) -> float:
    g = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.hypot(gx, gy)[band].mean())


def test_no_seam_at_blend_border(avatar: Path) -> None:
    r = _renderer(avatar)
    t = 4.0
    frame = _drive(r, MouthShape(jaw_open=0.9), t)
    ts = t + 5 / r.fps
    k = r.loop_index(ts)
    loop = r.loop_frame(ts)
    place = r._loop.places[k]
    j = r.last_choice
    assert j is not None
    # the blend mask in frame coordinates, and the band around its edge
    crop_mask = r._mask_for(r._loop, k, j)
    w, h = place.x1 - place.x0, place.y1 - place.y0
    m = np.zeros(frame.shape[:2], np.float32)
    m[place.y0 : place.y1, place.x0 : place.x1] = cv2.warpAffine(crop_mask, place.m, (w, h))
    band = (m > 0.05) & (m < 0.5)
    assert band.sum() > 200
    seam = _border_gradient(frame, band)
    base = _border_gradient(loop, band)
    # a hard paste of the same mouth: what a seam looks like to this check
    hard = loop.copy()
    lib = cv2.warpAffine(r.crop(j), place.m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    roi = hard[place.y0 : place.y1, place.x0 : place.x1]
    inside = cv2.warpAffine((crop_mask > 0.3).astype(np.uint8), place.m, (w, h)) > 0
    roi[inside] = lib[inside]
    hard_band = cv2.dilate((inside * 255).astype(np.uint8), np.ones((5, 5))) > 0
    hard_band &= ~(cv2.erode((inside * 255).astype(np.uint8), np.ones((5, 5))) > 0)
    full_band = np.zeros(frame.shape[:2], bool)
    full_band[place.y0 : place.y1, place.x0 : place.x1] = hard_band
    assert _border_gradient(hard, full_band) > 1.3 * _border_gradient(loop, full_band)
    assert seam < 1.15 * base + 1.0, (seam, base)
    assert _border_gradient(frame, full_band) < 1.15 * _border_gradient(loop, full_band) + 1.0


def test_silence_keeps_real_lips(avatar: Path) -> None:
    r = _renderer(avatar)
    kept = total = replaced = 0
    quiet_run = 0
    for i in range(150):
        t = i / r.fps
        frame = r.render(FrameParams(), t)
        k = r.loop_index(t)
        quiet = r._loop.own_ok[k] and r._loop.shape[k, 0] <= 0.25
        quiet_run = quiet_run + 1 if quiet else 0
        same = np.array_equal(frame, r.loop_frame(t))
        if quiet_run > 3:  # past the short cross-fade from a library mouth
            total += 1
            kept += same
        if not quiet and i > 3:
            replaced += not same  # talking lips in the loop are closed by a library mouth
    assert total > 5 and kept == total, (kept, total)
    assert replaced > 10


def test_loop_wraps_without_a_jump(avatar: Path) -> None:
    r = _renderer(avatar)
    n = len(r._loop)
    assert n >= 3 * r.fps  # at least 3 s of loop
    frames = [r.loop_frame(i / r.fps).astype(np.float32) for i in range(n)]
    steps = [np.abs(frames[i + 1] - frames[i]).mean() for i in range(n - 1)]
    wrap = np.abs(frames[0] - frames[-1]).mean()
    assert wrap < np.percentile(steps, 95) * 1.2, (wrap, np.median(steps))


def test_action_enters_and_leaves_smoothly(avatar: Path) -> None:
    r = _renderer(avatar)
    t0 = 3.0
    for k in range(5):
        r.render(FrameParams(), t0 - (5 - k) / r.fps)
    r.start_action("turn", t0)
    n = len(r._actions["turn"])
    frames = [
        r.render(FrameParams(), t0 + k / r.fps)[..., :3].astype(np.float32)
        for k in range(-1, n + 2)
    ]
    steps = np.array([np.abs(frames[i + 1] - frames[i]).mean() for i in range(len(frames) - 1)])
    assert steps.max() < 3.0 * np.median(steps) + 1.0, steps.round(2)
    # the middle of the action is the recorded stretch itself, not the loop
    mid = t0 + (n // 2) / r.fps
    assert np.abs(frames[n // 2 + 1] - r.loop_frame(mid)[..., :3]).mean() > 0.5
    assert r._action is None  # back in the loop


def test_first_frame_is_not_half_blended(avatar: Path) -> None:
    """A preview (one REST frame) shows either the real lips or a whole library mouth."""
    for t in (0.0, 1.0, 2.0, 3.0):
        r = _renderer(avatar)
        frame = r.render(FrameParams(), t)
        assert r._weight in (0.0, 1.0)
        if r._weight == 0.0:
            assert np.array_equal(frame, r.loop_frame(t))
