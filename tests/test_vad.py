"""Silero VAD and the endpointer: pure state machine on simulated input, real speech clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.vad import (
    WINDOW_SECONDS,
    EndpointConfig,
    Endpointer,
    VoiceActivityDetector,
    silero_model_path,
)
from avatar.types import AUDIO_RATE

AUDIO = Path("/work/shared/media/audio/16k_mono")
if not AUDIO.is_dir():
    AUDIO = Path(__file__).resolve().parents[2] / "shared" / "media" / "audio" / "16k_mono"


def run(endpointer: Endpointer, probs: list[float]) -> list[tuple[str, float]]:
    events = []
    for p in probs:
        events += [(e.kind, round(e.time, 3)) for e in endpointer.push(p)]
    return events


def test_endpointer_start_pause_resume_end() -> None:
    w = WINDOW_SECONDS
    cfg = EndpointConfig(min_speech=3 * w, pause_after=4 * w, min_silence=10 * w)
    ep = Endpointer(cfg)
    probs = [0.0] * 5 + [0.9] * 20 + [0.1] * 5 + [0.9] * 10 + [0.1] * 12
    events = run(ep, probs)
    assert [k for k, _ in events] == ["start", "pause", "resume", "pause", "end"]
    assert events[0][1] == round(5 * w, 3)  # when speech began, not when it was confirmed
    assert events[2][1] == round(30 * w, 3)
    assert events[-1][1] == round(40 * w, 3)  # when the final silence began
    assert not ep.in_speech


def test_endpointer_ignores_blips_and_uses_hysteresis() -> None:
    w = WINDOW_SECONDS
    ep = Endpointer(EndpointConfig(min_speech=4 * w, pause_after=3 * w, min_silence=6 * w))
    # A 2-window click is not speech.
    assert run(ep, [0.0, 0.95, 0.95, 0.0, 0.0]) == []
    # In speech, 0.4 (between the thresholds) keeps it going; it takes < 0.35 to count silence.
    events = run(ep, [0.9] * 4 + [0.4] * 10)
    assert [k for k, _ in events] == ["start"]
    events = run(ep, [0.2] * 6)
    assert [k for k, _ in events] == ["pause", "end"]


def clip(name: str) -> np.ndarray:
    path = AUDIO / f"{name}.wav"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    pcm, rate = sf.read(path, dtype="int16")
    assert rate == AUDIO_RATE
    return pcm


def detect(pcm: np.ndarray, chunk: int = 320) -> list[tuple[str, float]]:
    vad = VoiceActivityDetector()
    events = []
    for i in range(0, len(pcm), chunk):
        events += [(e.kind, e.time) for e in vad.push(pcm[i : i + chunk])]
    return events


pytestmark = pytest.mark.skipif(silero_model_path() is None, reason="silero-vad not installed")


def test_real_clip_with_silence_padding() -> None:
    speech = clip("en_RD_Radio31_000")
    pad = np.zeros(AUDIO_RATE, np.int16)
    events = detect(np.concatenate([pad, speech, pad, pad]))
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("start") == 1 and kinds.count("end") == 1  # one utterance
    start, end = events[0][1], events[-1][1]
    assert 0.95 <= start <= 1.3, start
    assert 8.5 <= end <= 9.1, end  # the clip's speech runs to about its end at 9.0 s


def test_two_utterances_in_a_mandarin_recitation() -> None:
    speech = clip("zh_chinese_poem1")
    pad = np.zeros(AUDIO_RATE // 2, np.int16)
    events = detect(np.concatenate([pad, speech, pad, pad]), chunk=512 * 3 + 7)
    starts = [t for k, t in events if k == "start"]
    ends = [t for k, t in events if k == "end"]
    # Two lines recited with a pause of about 0.6 s between them: two utterances.
    assert len(starts) == len(ends) == 2, events
    assert 0.45 <= starts[0] <= 0.8
    assert ends[0] < starts[1] and 0.5 <= starts[1] - ends[0] <= 0.9
    assert all(s < e for s, e in zip(starts, ends, strict=True))


def test_silence_and_noise_are_not_speech() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(AUDIO_RATE * 3) * 100).astype(np.int16)  # about -50 dBFS
    assert detect(np.zeros(AUDIO_RATE * 2, np.int16)) == []
    assert detect(noise) == []
