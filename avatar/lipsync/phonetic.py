"""The default lip-sync tracker: visemes from phoneme timings, a learned model from audio alone.

Frames are emitted in order as audio arrives. A frame is computed from the phoneme track when
pushed phonemes cover its time (text drives: TTS alignments), otherwise from the audio model,
which needs `lookahead_ms` of audio beyond the frame's end. Audio-path output is gated to rest in
silence and smoothed with a zero-phase three-tap filter (10 ms of extra look-ahead) plus a bound on
the change per frame, so there is no jitter. Where latency does not matter (video files), a wider
zero-phase Gaussian (`smooth_s`) follows real lips better: they move more slowly than the
syllable-rate flicker of a frame-by-frame prediction (benchmarks/lipsync_eval.py --offline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from avatar.lipsync.base import MouthTracker
from avatar.lipsync.coarticulation import VisemeTrack
from avatar.lipsync.features import N_FEAT, FeatureStream, append_rows
from avatar.lipsync.model import MouthMLP, shipped_model, stack
from avatar.types import AUDIO_RATE, DEFAULT_FPS, MouthShape, PhonemeTiming

# The audio model learnt the viseme track's 100 ms articulatory lead; its mouth led the loudness
# by 40-60 ms (frame-step display included), at the edge of the ±40 ms A/V goal of live streams.
# Read 20 ms later it leads by 20-40 ms and needs 20 ms less audio; r against real mouths is flat
# over ±40 ms of shift (benchmarks/lipsync_eval.py), so nothing is lost.
AUDIO_MOUTH_DELAY_S = 0.02
DEFAULT_AHEAD_MS = 40  # model context beyond the frame centre: 38 ms of added delay at 25 fps
# (80 ms scores r 0.229 vs 0.203 on the shared videos but delays live drives by 78 ms; README)
MOUTH_LO = np.array([0.0, -1.0, 0.0, 0.0])
MOUTH_HI = np.array([1.0, 1.0, 1.0, 1.0])


class PhoneticMouthTracker(MouthTracker):
    """Viseme track from pushed phonemes; MLP on log-mel/voicing features from audio otherwise."""

    def __init__(
        self,
        fps: int = DEFAULT_FPS,
        sample_rate: int = AUDIO_RATE,
        model: MouthMLP | None = None,
        ahead_ms: int = DEFAULT_AHEAD_MS,
        max_step: float = 0.35,
        smooth_s: float = 0.0,
        mouth_delay_s: float = AUDIO_MOUTH_DELAY_S,
    ) -> None:
        super().__init__(fps, sample_rate)
        if sample_rate != AUDIO_RATE:
            raise ValueError("the lip-sync core takes 16 kHz audio")
        self.model = model or shipped_model(ahead_ms)
        self.max_step = max_step
        self.track = VisemeTrack()
        self._feats = FeatureStream()
        self._rows = np.zeros((0, N_FEAT), np.float32)
        self._row0 = 0  # feature-frame index of _rows[0]
        self._samples = 0
        self._frame = 0  # next video frame to emit
        self._prev = np.zeros(4)
        self._taps, self._weights = _smoothing_taps(smooth_s)
        # audio needed beyond a frame's centre: the model context plus the last smoothing tap
        self._delay_s = mouth_delay_s
        self._ahead_s = (
            self.model.ahead_s + self._taps[-1] * 0.01 + 0.005 - mouth_delay_s
        )  # + rounding to 10 ms

    @property
    def lookahead_ms(self) -> int:
        """Audio needed beyond the end of a frame before the frame is emitted."""
        return max(0, math.ceil((self._ahead_s - 0.5 / self.fps) * 1000))

    def push_phonemes(self, phonemes: Sequence[PhonemeTiming]) -> None:
        self.track.add(phonemes)

    def push_audio(self, pcm: np.ndarray) -> list[MouthShape]:
        pcm = np.asarray(pcm, np.int16).reshape(-1)
        self._samples += len(pcm)
        self._add_rows(self._feats.push(pcm))
        have_s = self._samples / self.sample_rate
        n = 0
        while (self._frame + n + 0.5) / self.fps + self._ahead_s <= have_s:
            n += 1
        return self._emit(n)

    def flush(self) -> list[MouthShape]:
        self._add_rows(self._feats.flush())
        total = math.ceil(self._samples * self.fps / self.sample_rate)
        out = self._emit(max(0, total - self._frame))
        self._reset()
        return out

    def _reset(self) -> None:
        self.track = VisemeTrack()
        self._feats = FeatureStream()
        self._rows = np.zeros((0, N_FEAT), np.float32)
        self._row0 = 0
        self._samples = 0
        self._frame = 0
        self._prev = np.zeros(4)

    def _add_rows(self, rows: np.ndarray) -> None:
        # keep only what the context of the next frames can reach
        keep_from = int(round((self._frame + 0.5) / self.fps * 100)) - 2 * self.model.back - 8
        self._rows, self._row0 = append_rows(self._rows, self._row0, rows, keep_from)

    def _emit(self, n: int) -> list[MouthShape]:
        out = []
        for _ in range(n):
            t = (self._frame + 0.5) / self.fps
            if len(self.track) and t <= self.track.end + 0.2:
                m = self.track.at(t)
            else:
                m = self._from_audio(t)
            m = bounded_step(self._prev, m, self.max_step)
            out.append(MouthShape.from_array(m))
            self._prev = m
            self._frame += 1
        if self._frame % 250 == 0:
            self.track.drop_before(self._frame / self.fps)
        return out

    def _from_audio(self, t: float) -> np.ndarray:
        if len(self._rows) == 0:
            return self._prev * 0.5
        k = int(round((t - self._delay_s) * 100)) - self._row0
        ks = np.clip(k + self._taps, 0, len(self._rows) - 1)  # zero-phase smoothing taps
        pred = self.model(stack(self._rows, ks, self.model.back, self.model.ahead))
        return (self._weights @ pred) * silence_gate(self._rows, k)


def bounded_step(prev: np.ndarray, target: np.ndarray, max_step: float) -> np.ndarray:
    """The next mouth: `target` reached by at most `max_step` per frame, within the bounds (no
    jumps, whichever path made the target)."""
    return np.clip(prev + np.clip(target - prev, -max_step, max_step), MOUTH_LO, MOUTH_HI)


def silence_gate(rows: np.ndarray, k: int) -> float:
    """0 (rest) .. 1 (speech) from the absolute and the peak-relative level of the feature rows
    within ±30 ms of row k."""
    lo, hi = max(0, k - 3), min(len(rows), k + 4)
    if hi <= lo:
        return 0.0
    rel_db = float(rows[lo:hi, N_FEAT - 4].max()) * 4.0 * 4.343
    abs_db = (float(rows[lo:hi, N_FEAT - 3].max()) - 2.0) * 30.0
    return float(
        np.clip((abs_db + 60.0) / 10.0, 0.0, 1.0) * np.clip((rel_db + 40.0) / 10.0, 0.0, 1.0)
    )


def _smoothing_taps(sigma_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (in 10 ms feature frames) and weights of the zero-phase smoother: three taps
    (.25 .5 .25, 10 ms apart) by default, a Gaussian of `sigma_s` on a 20 ms grid out to 2.5 sigma
    when wider."""
    if sigma_s <= 0.01:
        return np.array([-1, 0, 1]), np.array([0.25, 0.5, 0.25])
    reach = int(math.ceil(2.5 * sigma_s / 0.02))
    taps = 2 * np.arange(-reach, reach + 1)
    w = np.exp(-0.5 * (taps * 0.01 / sigma_s) ** 2)
    return taps, w / w.sum()
