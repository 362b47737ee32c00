"""The text-to-speech interface: text in, 16 kHz PCM chunks (with phoneme timings) out, streamed.

A backend implements `_synthesize` for one sentence; the base class splits text into sentences,
keeps timings relative to the start of the whole utterance, and checks that audio came out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from avatar.types import AUDIO_RATE, PhonemeTiming, WordTiming


class TTSError(Exception):
    """A TTS backend failed; `retryable` says whether another try may succeed."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice as listed by GetTimbreList."""

    timbre_id: str
    name: str
    language: str  # "en", "zh", ...
    backend: str
    offline: bool = True


@dataclass(frozen=True, slots=True)
class SpeechOptions:
    """TTSConfig of the API, already validated: rates in [-500, 500], volume in [1, 100]."""

    speech_rate: int = 0  # -500 .. 500; +500 = 2x faster, -500 = 2x slower (ZEGO's scale)
    pitch_rate: int = 0
    volume: int = 50  # 50 = unchanged gain


@dataclass(slots=True)
class SpeechChunk:
    """A piece of synthesized speech.

    pcm: int16 mono at AUDIO_RATE. `phonemes` and `words` are timed in seconds from the start of
    the whole utterance (not of this chunk), so a consumer can schedule mouth shapes and keyword
    actions on the drive's own clock.
    """

    pcm: np.ndarray
    phonemes: list[PhonemeTiming] = field(default_factory=list)
    words: list[WordTiming] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.pcm) / AUDIO_RATE


class TTS(ABC):
    """A speech synthesizer with one or more voices."""

    @abstractmethod
    def voices(self) -> list[Voice]:
        """The voices this backend offers (empty when it cannot run here)."""

    @abstractmethod
    def synthesize(
        self, text: str, voice: Voice, options: SpeechOptions
    ) -> AsyncIterator[SpeechChunk]:
        """Stream speech for `text` sentence by sentence; cancelling the iterator stops the work."""
