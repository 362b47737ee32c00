"""Shared measurements for TTS tests: collect a synthesis, estimate pitch and loudness."""

from __future__ import annotations

import numpy as np

from agent.tts.base import TTS, SpeechChunk, SpeechOptions, Voice
from avatar.types import AUDIO_RATE


async def collect(
    tts: TTS, text: str, voice: Voice, options: SpeechOptions | None = None
) -> list[SpeechChunk]:
    return [c async for c in tts.synthesize(text, voice, options or SpeechOptions())]


def joined(chunks: list[SpeechChunk]) -> np.ndarray:
    return np.concatenate([c.pcm for c in chunks])


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def voiced_fraction(pcm: np.ndarray, frame: int = 320) -> float:
    """Share of 20 ms frames louder than -40 dBFS."""
    n = len(pcm) // frame
    frames = pcm[: n * frame].astype(np.float64).reshape(n, frame) / 32768
    return float(np.mean(np.sqrt((frames**2).mean(axis=1)) > 0.01))


def median_f0(pcm: np.ndarray, fmin: float = 60, fmax: float = 500) -> float:
    """Median fundamental frequency of loud 40 ms frames, by autocorrelation."""
    x = pcm.astype(np.float64) / 32768
    frame = int(0.04 * AUDIO_RATE)
    lo, hi = int(AUDIO_RATE / fmax), int(AUDIO_RATE / fmin)
    f0s = []
    for start in range(0, len(x) - frame, frame // 2):
        seg = x[start : start + frame]
        if np.sqrt((seg**2).mean()) < 0.03:
            continue
        seg = seg - seg.mean()
        ac = np.correlate(seg, seg, "full")[frame - 1 :]
        if ac[0] <= 0:
            continue
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] / ac[0] > 0.5:  # clearly periodic: voiced
            f0s.append(AUDIO_RATE / lag)
    return float(np.median(f0s)) if f0s else 0.0


def check_timings(chunks: list[SpeechChunk]) -> None:
    """Phoneme and word timings are ordered, non-empty and inside the audio."""
    total = sum(c.duration for c in chunks)
    t = 0.0
    for chunk in chunks:
        for p in chunk.phonemes:
            assert t - 1e-6 <= p.start < p.end <= t + chunk.duration + 0.02, (p, t, chunk.duration)
        for w in chunk.words:
            assert t - 1e-6 <= w.start < w.end <= t + chunk.duration + 0.02, (w, t, chunk.duration)
        t += chunk.duration
    starts = [p.start for c in chunks for p in c.phonemes]
    assert starts == sorted(starts)
    assert abs(t - total) < 1e-9
