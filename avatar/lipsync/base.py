"""The streaming lip-sync interface (pure: no clock reads, no I/O)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from avatar.types import AUDIO_RATE, DEFAULT_FPS, MouthShape, PhonemeTiming


class MouthTracker(ABC):
    """Per-drive streaming core: push audio (16 kHz int16) and optional phoneme timings, get
    mouth shapes for consecutive video frames.

    Frame i covers audio [i/fps, (i+1)/fps) of the drive. A tracker may need `lookahead_ms` of
    audio beyond a frame before it emits it; the stream runtime pulls audio that much ahead of
    its clock so that sound and mouth leave together.
    """

    def __init__(self, fps: int = DEFAULT_FPS, sample_rate: int = AUDIO_RATE) -> None:
        self.fps = fps
        self.sample_rate = sample_rate

    @property
    def lookahead_ms(self) -> int:
        return 0

    @abstractmethod
    def push_audio(self, pcm: np.ndarray) -> list[MouthShape]:
        """Add int16 samples; return the mouth shapes of every frame now complete."""

    def push_phonemes(self, phonemes: Sequence[PhonemeTiming]) -> None:  # noqa: B027
        """Timed phonemes of the same drive (seconds from its start); optional."""

    @abstractmethod
    def flush(self) -> list[MouthShape]:
        """End of the drive's audio: emit the remaining frames (a last partial frame included)."""


OFFLINE_AHEAD_MS = 80  # video files: latency does not matter, so the widest model context
OFFLINE_SMOOTH_S = 0.06  # and a zero-phase Gaussian of this sigma over the audio path


def make_mouth_tracker(
    fps: int = DEFAULT_FPS, ahead_ms: int | None = None, offline: bool = False
) -> MouthTracker:
    """The default tracker for drives: visemes from pushed phoneme timings, a small learned
    model from the audio otherwise (falls back to loudness if the model file is missing).
    `offline`: for renders that are not live (video files), trade latency for accuracy."""
    from avatar.lipsync.model import model_path
    from avatar.lipsync.phonetic import DEFAULT_AHEAD_MS, PhoneticMouthTracker

    ahead = DEFAULT_AHEAD_MS if ahead_ms is None else ahead_ms
    if offline and ahead_ms is None:
        ahead = OFFLINE_AHEAD_MS
    if not model_path(ahead).exists():
        from avatar.lipsync.energy import EnergyMouthTracker

        return EnergyMouthTracker(fps=fps)
    if not offline:
        return PhoneticMouthTracker(fps=fps, ahead_ms=ahead)
    inner = PhoneticMouthTracker(fps=fps, ahead_ms=ahead, smooth_s=OFFLINE_SMOOTH_S)
    from avatar.lipsync import whisper_audio

    if whisper_audio.available():  # a stronger acoustic model when the whole drive is known
        return whisper_audio.WhisperMouthTracker(inner, fps=fps, smooth_s=OFFLINE_SMOOTH_S)
    return inner
