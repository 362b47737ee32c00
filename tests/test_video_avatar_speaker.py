"""A video avatar's own audio-to-mouth fit (avatar.lipsync.speaker) is made by the build and used
by every audio drive: stream tasks (live mode) and video files (offline mode)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.compose import Scene
from avatar.lipsync import speaker as spk
from avatar.lipsync.base import make_mouth_tracker
from avatar.registry import build_avatar
from avatar.stream.contract import StreamConfig
from avatar.stream.task import StreamTask
from avatar.stream.testing import RecordingEvents
from avatar.video.render import frame_params
from avatar.video.spec import VideoSpec
from avatar.video.speech import Speech
from avatar.videoavatar.source import read_audio

VIDEO = Path("/work/shared/media/video/de_talking_male_newsanchor_German_20s.mp4")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def avatar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    if not VIDEO.exists():
        pytest.skip("test media not available")
    folder = tmp_path_factory.mktemp("speaker") / "anchor"
    meta = build_avatar("video", VIDEO, folder, {"range": [0, 12]})
    return folder, meta


def test_build_fits_the_person(avatar: tuple[Path, dict]) -> None:
    folder, meta = avatar
    live = meta["speaker"]["live"]
    assert live["used"] and live["cv_r"] > live["generic_r"], live
    assert (folder / spk.LIVE.file).exists() and (folder / spk.DATA_FILE).exists()
    assert isinstance(spk.speaker_tracker_factory(folder)(25), spk.SpeakerMouthTracker)


async def test_stream_task_drives_with_the_fit(avatar: tuple[Path, dict]) -> None:
    folder, _ = avatar
    task = StreamTask(StreamConfig("t", "r", "u", Scene(256, 256)), folder, RecordingEvents())
    await task.start()
    try:
        tracker = task._tracker_factory(task._fps)
        assert isinstance(tracker, spk.SpeakerMouthTracker)
        # audio is committed far enough ahead for the fit's own look-ahead
        assert task._base_lead == pytest.approx(1 / task._fps + tracker.lookahead_ms / 1000)
    finally:
        await task.stop()


def test_video_files_use_the_offline_fit(avatar: tuple[Path, dict]) -> None:
    folder, meta = avatar
    pcm = read_audio(VIDEO, 12.0, 16.0)
    assert pcm is not None
    spec = VideoSpec(avatar_folder=str(folder), fps=25)
    mouths = np.array([p.mouth.as_array() for p in frame_params(spec, Speech(pcm), 100)])
    generic = spk.run_tracker(make_mouth_tracker(25, offline=True), pcm)[:100]
    if meta["speaker"]["offline"]["used"]:
        fitted = spk.run_tracker(spk.speaker_tracker_factory(folder, offline=True)(25), pcm)
        np.testing.assert_allclose(mouths, fitted[:100], atol=1e-6)
        assert np.abs(mouths - generic).max() > 0.05
    else:
        np.testing.assert_allclose(mouths, generic, atol=1e-6)
