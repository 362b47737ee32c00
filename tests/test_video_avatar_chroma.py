"""Green screen: detection, the key (alpha) and spill suppression, alone and in a built avatar."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

from avatar.registry import build_avatar, load_renderer
from avatar.types import FrameParams, MouthShape
from avatar.videoavatar.chroma import ChromaKey, detect_key

MEDIA = Path(__file__).resolve().parents[2] / "shared/media"
STILL = MEDIA / "images/greenscreen_male_eastasian_d0frame.png"
NOT_GREEN = MEDIA / "images/real_male_white_frontal_d19.jpg"


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_detects_only_green_screens() -> None:
    assert detect_key([_rgb(STILL)]) is not None
    assert detect_key([_rgb(NOT_GREEN)]) is None


def test_key_and_spill_on_a_synthetic_edge() -> None:
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = (40, 200, 60)  # screen
    cv2.circle(img, (80, 60), 35, (170, 150, 140), -1)  # a skin-grey disc
    # green spill on the disc's rim, as light bounced off the screen
    rim = (cv2.circle(np.zeros((120, 160), np.uint8), (80, 60), 35, 1, 4) > 0) & (img[..., 0] > 100)
    img[rim] = (150, 185, 130)
    rgb, alpha = ChromaKey(detect_key([img])).apply(img)  # type: ignore[arg-type]
    assert alpha[5, 5] == 0 and alpha[60, 80] == 255
    assert (rgb[rim][:, 1].astype(int) <= np.maximum(rgb[rim][:, 0], rgb[rim][:, 2]) + 1).all()
    assert (rgb[60, 80] == img[60, 80]).all()  # the inside is left alone


def test_green_screen_avatar_has_alpha(tmp_path: Path) -> None:
    clip = tmp_path / "green.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(STILL), "-t", "5.5", "-r", "25"]
        + ["-vf", "crop=512:484:0:0", "-c:v", "libx264", "-preset", "ultrafast", str(clip)],
        check=True,
    )
    meta = build_avatar("video", clip, tmp_path / "a", {"min_duration_s": 5})
    assert meta["green_screen"] is True
    r = load_renderer(tmp_path / "a")
    frame = r.render(FrameParams(mouth=MouthShape(jaw_open=0.5)), 1.0)
    a = frame[..., 3]
    assert a[:20, :20].max() == 0 and a[:20, -20:].max() == 0  # screen is transparent
    assert a[230:300, 220:300].min() == 255  # the face is opaque
    edge = (a > 20) & (a < 235)
    assert edge.sum() > 100
    rgb = frame[..., :3].astype(int)
    green_excess = rgb[..., 1] - np.maximum(rgb[..., 0], rgb[..., 2])
    src = _rgb(STILL)[:484].astype(int)
    src_excess = src[..., 1] - np.maximum(src[..., 0], src[..., 2])
    # green light on the hair and ear edges is gone (up to JPEG noise in the stored frames)
    assert np.percentile(src_excess[edge], 75) > 15
    assert np.percentile(green_excess[edge], 95) <= 4
