"""Photo renderer on a real portrait (scikit-image's public-domain astronaut): the mouth opens as
the landmark model sees it, rest keeps the picture, the background never moves, lids close, and
idle frames never jump."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar.face.landmarks import detect_faces, eye_opening, mouth_opening
from avatar.motion import IdleMotion
from avatar.registry import build_avatar, load_renderer
from avatar.render.photo import PhotoRenderer
from avatar.types import REST_PARAMS, FrameParams, MouthShape


@pytest.fixture(scope="module")
def avatar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    tmp = tmp_path_factory.mktemp("photo")
    src = tmp / "astronaut.png"
    cv2.imwrite(str(src), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    build_avatar("photo", src, tmp / "avatar")
    return tmp / "avatar"


@pytest.fixture(scope="module")
def renderer(avatar_dir: Path) -> PhotoRenderer:
    r = load_renderer(avatar_dir)
    assert isinstance(r, PhotoRenderer)
    return r


def _face(frame: np.ndarray):  # type: ignore[no-untyped-def]
    faces = detect_faces(frame[..., :3])
    assert len(faces) == 1
    return faces[0]


def test_mouth_opening_measured_by_landmarks_grows_with_jaw(renderer: PhotoRenderer) -> None:
    openings = []
    for jaw in (0.0, 0.25, 0.5, 0.75, 1.0):
        frame = renderer.render(FrameParams(mouth=MouthShape(jaw_open=jaw)), 0.0)
        openings.append(mouth_opening(_face(frame).points))
    assert openings[0] < 0.04, openings  # the source smiles with parted lips: closed at rest
    assert all(b > a + 0.02 for a, b in zip(openings, openings[1:], strict=False)), openings
    assert openings[-1] > 0.2, openings


def test_rest_frame_is_the_source(avatar_dir: Path, renderer: PhotoRenderer) -> None:
    source = cv2.cvtColor(
        cv2.imread(str(avatar_dir / "source.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA
    )
    # Without closing the source's parted lips, rest is the picture, pixel for pixel.
    exact = PhotoRenderer(renderer.rig, close_mouth_at_rest=False)
    assert np.array_equal(exact.render(REST_PARAMS, 0.0), source)
    # With them closed (this source's default) only the lower face changes (lips and jaw).
    frame = renderer.render(REST_PARAMS, 0.0).astype(np.int16)
    diff = np.abs(frame - source).max(-1)
    ys, xs = np.nonzero(diff > 8)
    pts = renderer.rig.points
    oval_x = pts[[234, 454], 0]
    assert ys.min() >= pts[[145, 374], 1].max() and ys.max() <= pts[152, 1] + 0.5 * renderer.rig.E
    e = renderer.rig.E
    assert xs.min() >= oval_x.min() - 0.25 * e and xs.max() <= oval_x.max() + 0.25 * e
    assert diff.mean() < 0.5
    # The landmark model still sees the same face: points within 2 % of the eye distance.
    moved = np.linalg.norm(_face(frame.astype(np.uint8)).points - renderer.rig.points, axis=1)
    eyes_nose = [33, 133, 263, 362, 1, 4, 10, 152]
    assert np.median(moved[eyes_nose]) < 0.04 * e


def test_pixels_outside_the_person_never_move(avatar_dir: Path, renderer: PhotoRenderer) -> None:
    """The background is still: the person moves as a layer over it and can only cover (or
    uncover) it within its reach of the outline; every pixel farther away is the source's."""
    source = cv2.cvtColor(
        cv2.imread(str(avatar_dir / "source.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA
    )
    person = (cv2.imread(str(avatar_dir / "mask.png"), cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)
    reach = int(np.ceil(renderer.rig.reach)) + 3
    outside = cv2.dilate(person, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) == 0
    assert 0.05 < outside.mean() < 0.9
    rng = np.random.default_rng(5)
    for _ in range(6):
        p = FrameParams(
            mouth=MouthShape(*rng.uniform([0, -1, 0, 0], [1, 1, 1, 1])),
            blink=float(rng.uniform()),
            gaze_x=float(rng.uniform(-1, 1)),
            head_yaw=float(rng.uniform(-10, 10)),
            head_pitch=float(rng.uniform(-8, 8)),
            head_roll=float(rng.uniform(-8, 8)),
            head_dx=float(rng.uniform(-0.05, 0.05)),
            head_dy=float(rng.uniform(-0.05, 0.05)),
            breath=float(rng.uniform(-1, 1)),
            sway=float(rng.uniform(-1, 1)),
            smile=float(rng.uniform()),
            brow_raise=float(rng.uniform()),
        )
        frame = renderer.render(p, 0.0)
        assert np.array_equal(frame[outside], source[outside])
        assert not np.array_equal(frame[~outside], source[~outside])


def test_blink_closes_the_eyes(renderer: PhotoRenderer) -> None:
    open_ = eye_opening(_face(renderer.render(REST_PARAMS, 0.0)).points)
    half = eye_opening(_face(renderer.render(FrameParams(blink=0.5), 0.0)).points)
    shut = eye_opening(_face(renderer.render(FrameParams(blink=1.0), 0.0)).points)
    assert open_ > 0.2
    # Near zero: the landmark model never reports exactly 0 (about 0.1 on these closed lids).
    assert shut < 0.35 * open_ and shut < 0.15, (open_, half, shut)
    assert shut < half < open_


def test_idle_frames_are_alive_and_never_jump(renderer: PhotoRenderer) -> None:
    idle = IdleMotion(seed=11)
    prev = None
    diffs = []
    for i in range(150):  # 6 s at 25 fps
        frame = renderer.render(idle.params_at(i / 25), i / 25)[..., :3].astype(np.int16)
        if prev is not None:
            diffs.append(float(np.abs(frame - prev).mean()))
        prev = frame
    diffs_a = np.array(diffs)
    assert diffs_a.max() < 2.5, diffs_a.max()  # no jump between consecutive frames
    assert (diffs_a > 0.02).mean() > 0.9  # never a frozen picture


def test_an_opaque_photo_renders_opaque_frames(avatar_dir: Path, renderer: PhotoRenderer) -> None:
    """`opaque` lets the compositor skip looking at alpha: it must hold on every frame kind
    (speech, blinks, smiles, head motion), and cut-out renderers must not claim it."""
    assert renderer.opaque
    idle = IdleMotion(seed=5)
    for i in range(40):
        mouth = MouthShape(jaw_open=(i % 5) / 4, lip_round=(i % 3) / 2)
        p = replace(idle.params_at(i / 25).with_mouth(mouth), blink=(i % 4) / 3, smile=0.5)
        assert renderer.render(p, i / 25)[..., 3].min() == 255
    assert not PhotoRenderer(renderer.rig, remove_background=True).opaque
