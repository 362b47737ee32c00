"""Audio helpers shared by TTS backends: ZEGO TTSConfig scales, resampling, gain.

SpeechRate +500 = twice as fast, -500 = twice as slow; PitchRate ±500 = ±6 semitones; Volume 50
leaves the gain unchanged (backends normalize speech to peaks at -6 dBFS), 100 doubles it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from avatar.types import AUDIO_RATE

PEAK = 0.5  # output peak at volume 50 (-6 dBFS), leaving headroom for volume up to 100


def rate_to_length_scale(speech_rate: int) -> float:
    """ZEGO SpeechRate [-500, 500] to a duration factor: 0 -> 1, 500 -> 0.5, -500 -> 2."""
    return float(2.0 ** (-max(-500, min(500, speech_rate)) / 500.0))


def pitch_factor(pitch_rate: int) -> float:
    """ZEGO PitchRate [-500, 500] to a frequency factor: ±500 -> ±6 semitones."""
    return float(2.0 ** (max(-500, min(500, pitch_rate)) / 500.0 * 0.5))


def volume_gain(volume: int) -> float:
    """ZEGO Volume [1, 100] to a linear gain: 50 -> 1, 100 -> 2, 1 -> 0.02."""
    return max(1, min(100, volume)) / 50.0


def resample(audio: np.ndarray, rate_in: float, rate_out: int = AUDIO_RATE) -> np.ndarray:
    """Polyphase resampling of float audio from `rate_in` (may be fractional) to `rate_out`."""
    from scipy.signal import resample_poly

    ratio = Fraction(rate_out / rate_in).limit_denominator(1000)
    if ratio == 1:
        return audio.astype(np.float32)
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def to_int16(audio: np.ndarray, gain: float) -> np.ndarray:
    return (np.clip(audio * gain, -1.0, 1.0) * 32767).astype(np.int16)


def normalize(audio: np.ndarray, options_volume: int) -> np.ndarray:
    """Float audio to int16 with its peak at PEAK times the volume gain."""
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    if peak > 1e-6:
        audio = audio / peak
    return to_int16(audio * PEAK, volume_gain(options_volume))
