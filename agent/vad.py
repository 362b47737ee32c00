"""Voice activity and endpointing: Silero VAD (ONNX, onnxruntime alone) and a pure endpointer.

- `SileroVAD`: speech probability of each 32 ms window (512 samples at 16 kHz), stateful. The
  model file ships in the `silero-vad` wheel (installed with --no-deps: its Python package imports
  torch, so the file is located through the distribution's metadata, never imported).
- `Endpointer`: pure and clock-free. Feed it (probability, window) pairs, get events: "start"
  when speech has lasted `min_speech`, "pause" after `pause_after` of silence (a cue to start a
  speculative transcription), "resume" if speech comes back before the end, and "end" after
  `min_silence` of silence. Times are seconds of audio pushed, so tests replay it on any clock.
- `VoiceActivityDetector`: both together over a PCM stream of any chunk size.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from agent.onnx_options import session_options
from avatar.types import AUDIO_RATE

WINDOW = 512  # samples per Silero window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees
WINDOW_SECONDS = WINDOW / AUDIO_RATE


def silero_model_path() -> Path | None:
    """The packaged silero_vad.onnx, or None when the wheel is not installed."""
    try:
        dist = importlib.metadata.distribution("silero-vad")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("silero_vad/data/silero_vad.onnx")))
    return path if path.is_file() else None


class SileroVAD:
    """Silero VAD v5 on onnxruntime: `probability(window)` for consecutive 512-sample windows."""

    def __init__(self, model_path: Path | None = None) -> None:
        import onnxruntime as ort

        path = model_path or silero_model_path()
        if path is None:
            raise RuntimeError("silero-vad is not installed (pip install --no-deps silero-vad)")
        opts = session_options(1)
        self._session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(AUDIO_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros((1, CONTEXT), np.float32)

    def probability(self, window: np.ndarray) -> float:
        """Speech probability of the next 512 samples (int16 or float in [-1, 1])."""
        x = np.asarray(window).reshape(1, -1)
        if x.shape[1] != WINDOW:
            raise ValueError(f"Silero needs {WINDOW} samples, got {x.shape[1]}")
        x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
        x = np.concatenate([self._context, x], axis=1)
        out, self._state = self._session.run(
            None, {"input": x, "state": self._state, "sr": self._sr}
        )
        self._context = x[:, -CONTEXT:]
        return float(out[0, 0])


EventKind = Literal["start", "pause", "resume", "end"]


@dataclass(frozen=True, slots=True)
class VADEvent:
    """An endpointing event at `time` seconds of pushed audio.

    For "start", `time` is when speech began (before the `min_speech` it took to be sure); for
    "pause" and "end", when the silence began.
    """

    kind: EventKind
    time: float


@dataclass(slots=True)
class EndpointConfig:
    threshold: float = 0.5  # probability that counts as speech
    neg_threshold: float = 0.35  # below this counts as silence (hysteresis between the two)
    min_speech: float = 0.15  # speech this long starts an utterance (drops clicks and coughs)
    pause_after: float = 0.2  # silence this long inside an utterance: "pause"
    min_silence: float = 0.5  # silence this long ends the utterance


class Endpointer:
    """Pure state machine from per-window speech probabilities to utterance events."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self.reset()

    def reset(self) -> None:
        self.time = 0.0  # seconds of audio seen
        self.in_speech = False
        self._speech_run = 0.0  # seconds of speech before the utterance is confirmed
        self._run_start = 0.0
        self._silence = 0.0
        self._silence_start = 0.0
        self._paused = False

    def push(self, probability: float, seconds: float = WINDOW_SECONDS) -> list[VADEvent]:
        """One window's probability; returns the events it caused."""
        c = self.config
        start = self.time
        self.time += seconds
        events: list[VADEvent] = []
        if not self.in_speech:
            if probability >= c.threshold:
                if self._speech_run == 0.0:
                    self._run_start = start
                self._speech_run += seconds
                if self._speech_run >= c.min_speech - 1e-9:
                    self.in_speech = True
                    self._silence = 0.0
                    self._paused = False
                    events.append(VADEvent("start", self._run_start))
            elif probability < c.neg_threshold:
                self._speech_run = 0.0
            return events
        if probability >= c.threshold or (probability >= c.neg_threshold and self._silence == 0):
            if self._paused:
                events.append(VADEvent("resume", start))
            self._silence = 0.0
            self._paused = False
            return events
        if self._silence == 0.0:
            self._silence_start = start
        self._silence += seconds
        if not self._paused and self._silence >= c.pause_after - 1e-9:
            self._paused = True
            events.append(VADEvent("pause", self._silence_start))
        if self._silence >= c.min_silence - 1e-9:
            events.append(VADEvent("end", self._silence_start))
            self.in_speech = False
            self._speech_run = 0.0
            self._silence = 0.0
            self._paused = False
        return events


class VoiceActivityDetector:
    """Silero + Endpointer over a PCM stream pushed in chunks of any size."""

    def __init__(self, config: EndpointConfig | None = None, vad: SileroVAD | None = None) -> None:
        self.vad = vad or SileroVAD()
        self.endpointer = Endpointer(config)
        self._pending = np.zeros(0, np.int16)
        self.last_probability = 0.0

    @property
    def in_speech(self) -> bool:
        return self.endpointer.in_speech

    @property
    def time(self) -> float:
        """Seconds of audio processed (whole windows only)."""
        return self.endpointer.time

    def push(self, pcm: np.ndarray) -> list[VADEvent]:
        """int16 mono 16 kHz PCM; returns the events of the whole windows it completed."""
        buf = np.concatenate([self._pending, np.asarray(pcm, np.int16).reshape(-1)])
        events: list[VADEvent] = []
        n = len(buf) // WINDOW
        for i in range(n):
            self.last_probability = self.vad.probability(buf[i * WINDOW : (i + 1) * WINDOW])
            events += self.endpointer.push(self.last_probability)
        self._pending = buf[n * WINDOW :]
        return events

    def reset(self) -> None:
        self.vad.reset()
        self.endpointer.reset()
        self._pending = np.zeros(0, np.int16)
