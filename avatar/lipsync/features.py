"""Streaming acoustic front end for the audio lip-sync model (pure numpy, no I/O).

Every 10 ms (a frame centred on sample k*160, 25 ms Hann window) it emits 28 numbers:
- 24 log-mel band energies minus their mean (spectral shape: which formant regions carry energy,
  independent of loudness),
- the level relative to a slowly decaying peak of the same stream (loudness that does not
  depend on the recording gain),
- the absolute level in dBFS / 30 (so silence is recognisable as silence),
- voicing: the normalised autocorrelation peak for pitches of 70-400 Hz,
- spectral flatness (noise-like fricatives vs. tonal vowels).

The same class computes the features offline (training) and chunk by chunk (runtime).
"""

from __future__ import annotations

import numpy as np

HOP = 160
WIN = 400
NFFT = 1024
N_MELS = 24
N_FEAT = N_MELS + 4
_EPS = 1e-10
_PEAK_DECAY = 0.004  # ln units per frame: ~1.7 dB per second


def _mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_filterbank(
    rate: int = 16000, n_mels: int = N_MELS, fmin: float = 60.0, fmax: float = 7600.0
) -> np.ndarray:
    freqs = np.fft.rfftfreq(NFFT, 1.0 / rate)
    pts = np.linspace(_mel(np.array(fmin)), _mel(np.array(fmax)), n_mels + 2)
    hz = 700.0 * (10 ** (pts / 2595.0) - 1.0)
    fb = np.zeros((n_mels, len(freqs)), np.float32)
    for m in range(n_mels):
        lo, c, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    return fb / np.maximum(fb.sum(axis=1, keepdims=True), _EPS)


_FB = mel_filterbank()
_WINDOW = np.hanning(WIN).astype(np.float32)
_LAG_LO, _LAG_HI = 40, 228  # 400 Hz .. 70 Hz


class FeatureStream:
    """Push int16 samples, get feature rows (n, N_FEAT) for every 10 ms frame now complete.

    Frame k is centred on sample k*HOP of the stream; the stream is taken to be preceded by
    silence, so frame 0 exists as soon as WIN/2 samples have arrived.
    """

    def __init__(self) -> None:
        self._buf = np.zeros(WIN // 2, np.float32)  # leading silence
        self._next = 0  # index into _buf of the next frame start
        self.frames = 0  # frames emitted so far
        self._peak = np.log(1e-6)

    def push(self, pcm: np.ndarray) -> np.ndarray:
        x = pcm.astype(np.float32) / 32768.0
        self._buf = np.concatenate([self._buf[self._next :], x])
        self._next = 0
        n = max(0, (len(self._buf) - WIN) // HOP + 1)
        if n == 0:
            return np.zeros((0, N_FEAT), np.float32)
        idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
        out = self._compute(self._buf[idx])
        self._next = n * HOP
        self.frames += n
        return out

    def flush(self) -> np.ndarray:
        """Pad with silence so that every pushed sample has been the centre of a frame."""
        return self.push(np.zeros(WIN // 2, np.int16))

    def _compute(self, frames: np.ndarray) -> np.ndarray:
        spec = np.fft.rfft(frames * _WINDOW, NFFT, axis=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        mel = np.log(power @ _FB.T + _EPS)
        shape = mel - mel.mean(axis=1, keepdims=True)
        energy = np.log(power.sum(axis=1) / (WIN * 0.375) / NFFT + _EPS)  # ~ln mean square
        rel = np.empty(len(energy), np.float32)
        for i, e in enumerate(energy):  # slowly decaying peak: gain-free loudness
            self._peak = max(e, self._peak - _PEAK_DECAY, np.log(1e-6))
            rel[i] = e - self._peak
        db = 10.0 / np.log(10.0) * energy
        ac = np.fft.irfft(power, NFFT, axis=1)
        r0 = np.maximum(ac[:, 0], _EPS)
        voicing = ac[:, _LAG_LO:_LAG_HI].max(axis=1) / r0
        flat = np.exp(np.mean(np.log(power[:, 4:400] + _EPS), axis=1)) / (
            power[:, 4:400].mean(axis=1) + _EPS
        )
        return np.column_stack(
            [shape, np.maximum(rel, -12.0) / 4.0, np.clip(db, -90, 0) / 30.0 + 2.0, voicing, flat]
        ).astype(np.float32)


def features(pcm: np.ndarray) -> np.ndarray:
    """Offline: all frames of a whole signal (frame k centred on sample k*HOP)."""
    fs = FeatureStream()
    return np.concatenate([fs.push(pcm), fs.flush()])


def append_rows(
    rows: np.ndarray, row0: int, new: np.ndarray, keep_from: int
) -> tuple[np.ndarray, int]:
    """A streaming tracker's feature window: (rows, index of rows[0]) after appending `new` and
    dropping the rows before `keep_from` (in batches of more than 64, so the copy is rare)."""
    if len(new):
        rows = np.concatenate([rows, new])
    cut = keep_from - row0
    if cut > 64:
        rows, row0 = rows[cut:], row0 + cut
    return rows, row0
