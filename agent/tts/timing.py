"""Phoneme timings for voices that give none: spread phoneme units over the speech in the audio.

Mandarin text becomes pinyin initials and finals (pypinyin), one syllable per Han character;
other text becomes rough letter groups. The units of each clause are laid evenly over the voiced
segment of the audio that the clause produced (segments are found from the energy envelope), so
mouth shapes open and close with the real syllables even without an aligner.
"""

from __future__ import annotations

import re

import numpy as np

from agent.sentences import words_of
from avatar.types import AUDIO_RATE, PhonemeTiming, WordTiming

_HAN = re.compile(r"[\u3400-\u9fff]")
_CLAUSE_SPLIT = re.compile(r"[,，、;；:：.。!！?？…\n]+")
_DIGITS = "零一二三四五六七八九"
_FRAME = 160  # 10 ms energy frames
INITIAL_SHARE = 0.35  # of a syllable's time when it has an initial


def mandarin_units(text: str) -> list[tuple[str, str, str]]:
    """(initial, final, written) for each syllable; non-Han words get rough English units."""
    from pypinyin import Style, lazy_pinyin

    units: list[tuple[str, str, str]] = []
    for token in re.findall(r"[\u3400-\u9fff]+|[A-Za-z]+|\d", text):
        if _HAN.match(token):
            initials = lazy_pinyin(token, style=Style.INITIALS, strict=False)
            finals = lazy_pinyin(token, style=Style.FINALS, strict=False)
            for ch, ini, fin in zip(token, initials, finals, strict=False):
                units.append((ini, fin or "a", ch))
        elif token.isdigit():
            ini = lazy_pinyin(_DIGITS[int(token)], style=Style.INITIALS, strict=False)[0]
            fin = lazy_pinyin(_DIGITS[int(token)], style=Style.FINALS, strict=False)[0]
            units.append((ini, fin, token))
        else:
            # A Latin word: about one syllable per three letters.
            for k in range(max(1, round(len(token) / 3))):
                units.append(("", "a", token if k == 0 else ""))
    return units


def voiced_segments(
    pcm: np.ndarray, min_silence: float = 0.12, threshold_db: float = -35.0
) -> list[tuple[float, float]]:
    """(start, end) seconds of speech separated by at least `min_silence` of quiet."""
    n = len(pcm) // _FRAME
    if n == 0:
        return []
    frames = pcm[: n * _FRAME].astype(np.float64).reshape(n, _FRAME) / 32768.0
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-10)
    loud = level > max(threshold_db, level.max() - 40)
    segments: list[tuple[int, int]] = []
    start = None
    quiet = 0
    gap = max(1, int(min_silence * AUDIO_RATE / _FRAME))
    for i, on in enumerate(loud):
        if on:
            if start is None:
                start = i
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= gap:
                segments.append((start, i - quiet + 1))
                start, quiet = None, 0
    if start is not None:
        segments.append((start, n - quiet))
    step = _FRAME / AUDIO_RATE
    return [(a * step, b * step) for a, b in segments if b > a]


def _clause_spans(
    clauses: list[int], segments: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """A time span for each clause (given by its unit count)."""
    if len(segments) == len(clauses):
        return segments
    # Counts differ (a pause inside a clause, or none between two): spread clauses over the
    # whole speech in proportion to their units.
    start, end = segments[0][0], segments[-1][1]
    total = sum(clauses) or 1
    spans, t = [], start
    for count in clauses:
        d = (end - start) * count / total
        spans.append((t, t + d))
        t += d
    return spans


def estimate_timings(
    sentence: str, pcm: np.ndarray, lang: str
) -> tuple[list[PhonemeTiming], list[WordTiming]]:
    """Phoneme and word timings of `sentence` spoken in `pcm` (times from the start of pcm)."""
    duration = len(pcm) / AUDIO_RATE
    segments = voiced_segments(pcm)
    if not segments:
        return [], [WordTiming(sentence, 0.0, max(duration, 1e-3))]
    clause_texts = [c for c in _CLAUSE_SPLIT.split(sentence) if c.strip()]
    if lang == "zh":
        clause_units = [mandarin_units(c) for c in clause_texts]
    else:
        clause_units = [_latin_units(c) for c in clause_texts]
    clause_units = [u for u in clause_units if u]
    if not clause_units:
        return [], [WordTiming(sentence, segments[0][0], segments[-1][1])]
    spans = _clause_spans([len(u) for u in clause_units], segments)
    phonemes: list[PhonemeTiming] = []
    words: list[WordTiming] = []
    for units, (a, b) in zip(clause_units, spans, strict=True):
        step = (b - a) / len(units)
        for k, (ini, fin, written) in enumerate(units):
            s, e = a + k * step, a + (k + 1) * step
            if ini:
                mid = s + step * INITIAL_SHARE
                phonemes.append(PhonemeTiming(ini, s, mid, lang))
                phonemes.append(PhonemeTiming(fin, mid, e, lang))
            else:
                phonemes.append(PhonemeTiming(fin, s, e, lang))
            if written:
                words.append(WordTiming(written, s, e))
            elif words:
                words[-1] = WordTiming(words[-1].text, words[-1].start, e)
    return phonemes, words


def _latin_units(text: str) -> list[tuple[str, str, str]]:
    """Rough units of an alphabetic-script clause: per word, one syllable per three letters."""
    units: list[tuple[str, str, str]] = []
    for word in words_of(text):
        letters = sum(ch.isalnum() for ch in word)
        for k in range(max(1, round(letters / 3))):
            units.append(("", "ə", word if k == 0 else ""))
    return units
