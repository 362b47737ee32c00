"""Phoneme timings from text when a TTS gives only word or sentence times (pure).

Mandarin: pypinyin turns the characters into syllables; each syllable gets an equal share of the
span, split into its initial (35 %) and final (65 %), and punctuation becomes a short pause.
The result feeds `MouthTracker.push_phonemes` with lang "zh".
"""

from __future__ import annotations

import re

from avatar.lipsync.visemes import split_pinyin
from avatar.types import PhonemeTiming

_PAUSE = re.compile(r"[，。！？；：、,.!?;:…\s]")


def mandarin_phonemes(text: str, start: float, end: float) -> list[PhonemeTiming]:
    """Initials and finals of Chinese `text` spread evenly over [start, end] seconds."""
    from pypinyin import Style, lazy_pinyin

    units: list[str | None] = []  # syllables, None for a pause
    for ch in text:
        if _PAUSE.match(ch):
            if units and units[-1] is not None:
                units.append(None)
            continue
        py = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
        units.extend(p for p in py if p and p.isalpha())
    while units and units[-1] is None:
        units.pop()
    if not units or end <= start:
        return []
    weights = [0.5 if u is None else 1.0 for u in units]
    step = (end - start) / sum(weights)
    out: list[PhonemeTiming] = []
    t = start
    for u, w in zip(units, weights, strict=True):
        d = w * step
        if u is None:
            out.append(PhonemeTiming("sil", t, t + d, "zh"))
        else:
            ini, fin = split_pinyin(u)
            if ini:
                out.append(PhonemeTiming(ini, t, t + 0.35 * d, "zh"))
                out.append(PhonemeTiming(fin, t + 0.35 * d, t + d, "zh"))
            else:
                out.append(PhonemeTiming(fin, t, t + d, "zh"))
        t += d
    return out
