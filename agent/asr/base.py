"""The speech-recognition interface: 16 kHz int16 PCM of one utterance in, text out.

`transcribe` is blocking CPU work; `atranscribe` runs it in the backend's own worker thread so
the event loop never waits on it. A cancelled `atranscribe` returns at once; the model call in
progress finishes in its thread and its result is dropped.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np


class ASRError(Exception):
    """Recognition failed (model missing, bad input)."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """Text of an utterance, the language it was read in, and what it cost."""

    text: str
    language: str
    audio_seconds: float
    compute_seconds: float


class ASR(ABC):
    """A speech recognizer. One worker thread per instance keeps it to one core's share."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=type(self).__name__)

    @abstractmethod
    def _recognize(self, audio: np.ndarray, language: str | None) -> tuple[str, str]:
        """(text, language) of float32 mono 16 kHz audio (blocking)."""

    def languages(self) -> list[str]:
        """Languages this recognizer reads ("en", "zh", ...)."""
        return ["en", "zh"]

    def transcribe_detailed(self, pcm16k: np.ndarray, language: str | None = None) -> Transcript:
        audio = to_float(pcm16k)
        t0 = time.perf_counter()
        text, lang = self._recognize(audio, language)
        return Transcript(text.strip(), lang, len(audio) / 16000, time.perf_counter() - t0)

    def transcribe(self, pcm16k: np.ndarray, language: str | None = None) -> str:
        """Text of one utterance (int16 or float32 mono at 16 kHz). Blocking."""
        return self.transcribe_detailed(pcm16k, language).text

    async def atranscribe(self, pcm16k: np.ndarray, language: str | None = None) -> Transcript:
        """`transcribe_detailed` in the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self.transcribe_detailed, pcm16k, language
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 (or float) mono PCM to float32 in [-1, 1]."""
    pcm = np.asarray(pcm).reshape(-1)
    if pcm.dtype == np.int16:
        return pcm.astype(np.float32) / 32768.0
    if pcm.dtype.kind == "f":
        return pcm.astype(np.float32)
    raise ASRError(f"PCM must be int16 or float, not {pcm.dtype}")
