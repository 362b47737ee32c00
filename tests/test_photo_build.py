"""Building photo avatars: what a good build leaves on disk, clear reasons for each refusal, and
hints that rescue a face the detector misses or pick one of several."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar.registry import AvatarBuildError, build_avatar, load_renderer
from avatar.types import REST_PARAMS, FrameParams, MouthShape


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def _write(path: Path, bgr: np.ndarray) -> Path:
    cv2.imwrite(str(path), bgr)
    return path


def test_build_writes_renderer_files_and_action_previews(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    folder = tmp_path / "a"
    steps: list[int] = []
    meta = build_avatar("photo", _write(tmp_path / "a.jpg", astronaut), folder, None, steps.append)
    assert meta["kind"] == "photo" and meta["face_found_by"] == "detector"
    assert set(meta["actions"]) >= {
        "nod",
        "shake_head",
        "tilt_head",
        "smile",
        "raise_eyebrows",
        "greet",
        "think",
    }
    assert json.loads((folder / "avatar.json").read_text())["kind"] == "photo"
    for name, rel in meta["previews"].items():
        gif = folder / rel
        assert gif.stat().st_size > 1000, name
        from PIL import Image

        with Image.open(gif) as im:
            assert im.n_frames >= 10
    assert (folder / "preview.png").exists()
    assert steps == sorted(steps) and steps[-1] == 100
    r = load_renderer(folder)
    assert r.size == (512, 512)
    assert r.render(REST_PARAMS, 0.0).shape == (512, 512, 4)


@pytest.mark.slow
def test_large_picture_is_worked_on_a_resized_copy(tmp_path: Path, astronaut: np.ndarray) -> None:
    big = cv2.resize(astronaut, (2400, 2400), interpolation=cv2.INTER_CUBIC)
    meta = build_avatar("photo", _write(tmp_path / "big.jpg", big), tmp_path / "big")
    assert meta["source_size"] == [2400, 2400] and max(meta["size"]) == 1024


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a picture at all", "unreadable image"),
        (b"", "unreadable image"),
    ],
)
def test_unreadable(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "x.png").write_bytes(content)
    with pytest.raises(AvatarBuildError, match=reason):
        build_avatar("photo", tmp_path / "x.png", tmp_path / "x")
    assert not (tmp_path / "x" / "avatar.json").exists()


def test_too_large_and_no_face(tmp_path: Path) -> None:
    with pytest.raises(AvatarBuildError, match="too large"):
        build_avatar(
            "photo", _write(tmp_path / "l.png", np.zeros((64, 4200, 3), np.uint8)), tmp_path / "l"
        )
    y, x = np.mgrid[0:400, 0:600]
    landscape = np.dstack([x % 255, y % 255, (x + y) % 255]).astype(np.uint8)
    with pytest.raises(AvatarBuildError, match="no face found"):
        build_avatar("photo", _write(tmp_path / "n.png", landscape), tmp_path / "n")


def test_face_too_small(tmp_path: Path, astronaut: np.ndarray) -> None:
    canvas = np.full((4000, 4000, 3), 120, np.uint8)
    canvas[3000:3400, 500:900] = cv2.resize(astronaut, (400, 400), interpolation=cv2.INTER_AREA)
    with pytest.raises(AvatarBuildError, match="face too small"):
        build_avatar("photo", _write(tmp_path / "s.jpg", canvas), tmp_path / "s")


def test_several_faces_need_a_face_box(tmp_path: Path, astronaut: np.ndarray) -> None:
    two = _write(tmp_path / "two.png", np.concatenate([astronaut, astronaut], 1))
    with pytest.raises(AvatarBuildError, match="several faces"):
        build_avatar("photo", two, tmp_path / "t")
    meta = build_avatar("photo", two, tmp_path / "t2", {"FaceBox": [690, 60, 100, 125]})
    x, y, w, h = meta["face_box"]
    assert x > 512 and meta["face_found_by"] == "detector"


def _stylised_face() -> tuple[np.ndarray, dict]:
    """A drawn robot head on a plain background: no detector takes it for a face."""
    img = np.full((512, 512, 3), (200, 170, 120), np.uint8)
    cv2.rectangle(img, (120, 110), (392, 430), (150, 150, 160), -1)
    for cx in (196, 316):
        cv2.rectangle(img, (cx - 28, 210), (cx + 28, 250), (40, 220, 255), -1)
    cv2.rectangle(img, (196, 330), (316, 350), (30, 30, 30), -1)
    return img, {"LeftEye": [196, 230], "RightEye": [316, 230], "Mouth": [256, 340]}


def test_hint_rescues_a_stylised_face(tmp_path: Path) -> None:
    img, hint = _stylised_face()
    src = _write(tmp_path / "smiley.png", img)
    with pytest.raises(AvatarBuildError, match="no face found"):
        build_avatar("photo", src, tmp_path / "f0")
    meta = build_avatar("photo", src, tmp_path / "f1", hint)
    assert meta["face_found_by"] in ("hint-mesh", "hint-template")
    r = load_renderer(tmp_path / "f1")
    rest = r.render(REST_PARAMS, 0.0)
    talk = r.render(FrameParams(mouth=MouthShape(jaw_open=0.8)), 0.0)
    changed = np.abs(talk.astype(int) - rest.astype(int)).max(-1) > 30
    ys, xs = np.nonzero(changed)
    assert len(xs) > 300
    # The opening is where the hint put the mouth.
    assert abs(np.median(xs) - 256) < 30 and abs(np.median(ys) - 350) < 40
    with pytest.raises(AvatarBuildError, match="LeftEye, RightEye and Mouth"):
        build_avatar("photo", src, tmp_path / "f2", {"LeftEye": [196, 230]})


@pytest.mark.slow
def test_partial_hint_picks_a_face(tmp_path: Path, astronaut: np.ndarray) -> None:
    two = _write(tmp_path / "two.png", np.concatenate([astronaut, astronaut], 1))
    meta = build_avatar("photo", two, tmp_path / "p", {"Kind": "photo", "Mouth": [225, 160]})
    assert meta["face_box"][0] < 512


def test_cut_out_picture_keeps_its_transparency(tmp_path: Path, astronaut: np.ndarray) -> None:
    from avatar.render.photo import PhotoRenderer

    alpha = np.zeros(astronaut.shape[:2], np.uint8)
    cv2.ellipse(alpha, (230, 300), (200, 260), 0, 0, 360, 255, -1)
    src = _write(tmp_path / "cut.png", np.dstack([astronaut, alpha]))
    build_avatar("photo", src, tmp_path / "cut")
    r = PhotoRenderer(load_renderer(tmp_path / "cut").rig, close_mouth_at_rest=False)
    rest = r.render(REST_PARAMS, 0.0)
    assert np.array_equal(rest[..., 3], alpha)
    assert np.array_equal(
        rest[alpha == 255, :3], cv2.cvtColor(astronaut, cv2.COLOR_BGR2RGB)[alpha == 255]
    )
    moved = r.render(FrameParams(head_roll=6.0, head_dx=0.04, breath=1.0), 0.0)
    far = cv2.dilate(alpha, np.ones((61, 61), np.uint8)) == 0
    assert moved[far, 3].max() == 0  # still transparent away from the person
    assert not np.array_equal(moved[..., 3], alpha)  # the outline moved with the head
