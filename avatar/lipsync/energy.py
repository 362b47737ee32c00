"""Baseline tracker: mouth opening from smoothed log loudness. Used until a phonetic model lands."""

from __future__ import annotations

import numpy as np

from avatar.lipsync.base import MouthTracker
from avatar.types import MouthShape


class EnergyMouthTracker(MouthTracker):
    """Opening from RMS loudness per frame with attack/release smoothing."""

    def __init__(self, fps: int = 25, sample_rate: int = 16000) -> None:
        super().__init__(fps, sample_rate)
        self._spf = sample_rate // fps
        self._buf = np.zeros(0, np.int16)
        self._open = 0.0

    def _frame(self, samples: np.ndarray) -> MouthShape:
        rms = float(np.sqrt(np.mean(samples.astype(np.float32) ** 2))) if len(samples) else 0.0
        db = 20 * np.log10(max(rms, 1.0) / 32768.0)
        target = float(np.clip((db + 50.0) / 35.0, 0.0, 1.0))
        k = 0.6 if target > self._open else 0.45
        self._open += k * (target - self._open)
        return MouthShape(jaw_open=self._open)

    def push_audio(self, pcm: np.ndarray) -> list[MouthShape]:
        self._buf = np.concatenate([self._buf, pcm.astype(np.int16, copy=False)])
        out = []
        while len(self._buf) >= self._spf:
            out.append(self._frame(self._buf[: self._spf]))
            self._buf = self._buf[self._spf :]
        return out

    def flush(self) -> list[MouthShape]:
        out = [self._frame(self._buf)] if len(self._buf) else []
        self._buf = np.zeros(0, np.int16)
        return out
