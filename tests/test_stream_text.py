"""Text drives through the runtime with the offline voice: statuses and timing, phoneme timings
reaching lip-sync on the drive's clock, and keyword actions at their word's time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from avatar.compose import Scene
from avatar.lipsync.base import MouthTracker, make_mouth_tracker
from avatar.motion import ActionPlayer
from avatar.stream.contract import DriveStatus, StreamConfig
from avatar.stream.task import CHUNK_S, StreamTask
from avatar.stream.testing import CollectingSink, RecordingEvents, make_still_avatar, mouth_box
from avatar.types import AUDIO_RATE, MouthShape, PhonemeTiming

ENDED = {DriveStatus.FAILED, DriveStatus.FINISHED, DriveStatus.INTERRUPTED}
TEXT = "Well, hello there. How are you today?"


@pytest.fixture(scope="module")
def registry():
    try:
        from agent.tts.registry import default_registry
    except ImportError:
        pytest.skip("no TTS registry")
    reg = default_registry()
    if not reg.voices():
        pytest.skip("no offline TTS voice installed")
    return reg


class _SpyTracker(MouthTracker):
    """The default tracker, recording the phoneme timings the runtime hands it."""

    def __init__(self, fps: int, log: list[PhonemeTiming]) -> None:
        super().__init__(fps)
        self._inner = make_mouth_tracker(fps)
        self._log = log

    @property
    def lookahead_ms(self) -> int:
        return self._inner.lookahead_ms

    def push_audio(self, pcm: np.ndarray) -> list[MouthShape]:
        return self._inner.push_audio(pcm)

    def push_phonemes(self, phonemes) -> None:
        self._log.extend(phonemes)
        self._inner.push_phonemes(phonemes)

    def flush(self) -> list[MouthShape]:
        return self._inner.flush()


class _RecordingActions(ActionPlayer):
    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[str, float]] = []

    def start(self, name: str, t: float) -> None:
        self.started.append((name, t))
        super().start(name, t)


async def test_text_drive_with_phonemes_and_keyword_actions(tmp_path: Path, registry) -> None:
    avatar = make_still_avatar(
        tmp_path / "kw", 128, keywords={"nod": ["hello"], "greet": ["today"], "smile": ["absent"]}
    )
    fed: list[PhonemeTiming] = []
    events, sink = RecordingEvents(), CollectingSink()
    config = StreamConfig("t-text", "r", "s", Scene(128, 128))
    task = StreamTask(
        config, avatar, events, registry, tracker_factory=lambda fps: _SpyTracker(fps, fed)
    )
    actions = _RecordingActions()
    task._actions = actions
    task.add_sink(sink)
    await task.start()
    voice = registry.default_voice("en")
    task.enqueue_text("d1", TEXT, voice.timbre_id)
    async with asyncio.timeout(20):
        await events.wait_drive("d1", ENDED)
    await asyncio.sleep(0.2)
    drive = task._history["d1"]
    await task.stop()

    assert events.drive_statuses("d1") == [
        DriveStatus.QUEUED,
        DriveStatus.DRIVING,
        DriveStatus.FINISHED,
    ]
    pcm = sink.pcm("d1")
    speech_s = len(pcm) / AUDIO_RATE
    assert speech_s > 1.5
    played = events.drive_time("d1", DriveStatus.FINISHED) - events.drive_time(
        "d1", DriveStatus.DRIVING
    )
    assert played >= speech_s

    # Phoneme timings reached the tracker, shifted onto the tracker's own time axis.
    assert len(fed) == len(drive.phonemes) > 10
    assert all(
        abs(f.start - (p.start + drive.pad_s)) < 1e-9
        for f, p in zip(fed, drive.phonemes, strict=True)
    )

    # Keyword actions start at their word's time on the task's clock.
    first = next(c.index for _, c in sink.audio if c.drive_id == "d1") * CHUNK_S
    want = {}
    for w in drive.words:
        key = w.text.strip(".,?!").lower()
        if key in ("hello", "today"):
            want[{"hello": "nod", "today": "greet"}[key]] = first + w.start
    got = dict(actions.started)
    assert set(got) == {"nod", "greet"}
    for name, t in want.items():
        assert abs(got[name] - t) < 1e-6

    # The mouth moved while the voice spoke.
    rows, cols = mouth_box(128)
    rest = sink.frames[0][1].rgba[rows, cols, :3].astype(np.int16)
    moved = [
        float(np.abs(f.rgba[rows, cols, :3].astype(np.int16) - rest).mean()) for _, f in sink.frames
    ]
    assert sum(m > 5 for m in moved) >= 10
