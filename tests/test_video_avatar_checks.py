"""Video avatar build checks: each bad recording is refused with its own reason. The bad clips
are made from the shared videos with ffmpeg (darkened, two people side by side, a tiny face,
a panning camera, a test pattern with no face)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from avatar.registry import AvatarBuildError, build_avatar

VIDEOS = Path(__file__).resolve().parents[2] / "shared/media/video"
AOC = VIDEOS / "en_talking_female_WDA_AOC_000.mp4"
KATIE = VIDEOS / "en_talking_female_WDA_KatieHill_000.mp4"
ANCHOR = VIDEOS / "de_talking_male_newsanchor_German_20s.mp4"


def _ffmpeg(out: Path, *args: str) -> Path:
    cmd = ["ffmpeg", "-v", "error", "-y", *args, "-t", "5.5", "-an", "-c:v", "libx264"]
    subprocess.run([*cmd, "-preset", "ultrafast", str(out)], check=True)
    return out


def _reason(source: Path, tmp: Path, hint: dict | None = None) -> str:
    with pytest.raises(AvatarBuildError) as e:
        build_avatar("video", source, tmp / "avatar", hint)
    return str(e.value)


def test_too_short(tmp_path: Path) -> None:
    assert "too short" in _reason(AOC, tmp_path, {"range": [0, 2.0]})
    # the minimum is a setting (5 s by default)
    assert "too short" in _reason(AOC, tmp_path, {"min_duration_s": 10})


def test_no_face(tmp_path: Path) -> None:
    clip = _ffmpeg(tmp_path / "pattern.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25")
    assert "no face" in _reason(clip, tmp_path)


def test_too_dark(tmp_path: Path) -> None:
    clip = _ffmpeg(tmp_path / "dark.mp4", "-i", str(AOC), "-vf", "lutyuv=y=val*0.22")
    assert "too dark" in _reason(clip, tmp_path)


def test_several_faces(tmp_path: Path) -> None:
    clip = _ffmpeg(
        tmp_path / "two.mp4",
        "-i",
        str(AOC),
        "-i",
        str(KATIE),
        "-filter_complex",
        "[0:v][1:v]hstack",
    )
    assert "several faces" in _reason(clip, tmp_path)


def test_face_too_small(tmp_path: Path) -> None:
    clip = _ffmpeg(
        tmp_path / "small.mp4", "-i", str(AOC), "-vf", "scale=96:96,pad=960:720:420:300:color=gray"
    )
    assert "face too small" in _reason(clip, tmp_path)


def test_camera_motion(tmp_path: Path) -> None:
    pan = "crop=384:384:'64+60*sin(2*PI*t*1.5)':64"
    clip = _ffmpeg(tmp_path / "pan.mp4", "-i", str(ANCHOR), "-vf", pan)
    assert "camera motion" in _reason(clip, tmp_path)


def test_no_frontal_frames(tmp_path: Path) -> None:
    # her head turns by a few degrees: with a 1° limit no frame counts as frontal
    assert "no frontal" in _reason(AOC, tmp_path, {"max_frontal_angle": 1})


def test_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    assert "unreadable" in _reason(bad, tmp_path)


def test_progress_can_cancel_a_build(tmp_path: Path) -> None:
    """A caller cancels a build by raising from its progress callback (the build reports
    progress every few frames); nothing is left that looks like a finished avatar."""

    class Cancelled(Exception):
        pass

    seen: list[int] = []

    def progress(p: int) -> None:
        seen.append(p)
        if p >= 30:
            raise Cancelled

    with pytest.raises(Cancelled):
        build_avatar("video", AOC, tmp_path / "a", None, progress)
    assert 30 <= seen[-1] < 60
    assert not (tmp_path / "a" / "avatar.json").exists()


@pytest.mark.slow
def test_phone_rotation_is_applied(tmp_path: Path) -> None:
    """A portrait phone clip stored sideways with a rotation tag builds upright."""
    selfie = VIDEOS / "talking_male_eastasian_selfie_d13.mp4"
    sideways = _ffmpeg(
        tmp_path / "sideways.mp4", "-i", str(selfie), "-vf", "transpose=1,scale=640:360"
    )
    tagged = tmp_path / "tagged.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(sideways), "-c", "copy"]
        + ["-metadata:s:v:0", "rotate=90", str(tagged)],
        check=True,
    )
    meta = build_avatar("video", tagged, tmp_path / "a")
    assert meta["size"] == [360, 640]


def test_action_outside_the_recording(tmp_path: Path) -> None:
    reason = _reason(AOC, tmp_path, {"actions": {"wave": [30.0, 32.0]}})
    assert "wave" in reason and "not in the recording" in reason
