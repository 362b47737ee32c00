"""Phonemes to visemes: mouth targets of English/IPA phonemes and Mandarin pinyin initials/finals.

A viseme is a target MouthShape (jaw_open, lip_width, lip_round, lip_press) plus a dominance per
parameter: how strongly the phoneme pulls that parameter against its neighbours (Cohen & Massaro's
coarticulation model). /m b p/ dominate jaw and press, so the lips really close; /t d k h/ barely
pull the jaw, so they take the shape of the surrounding vowels.

IPA strings are read as espeak-ng and piper emit them: multi-character phonemes ("aɪ", "tʃ"),
stress and length marks, Mandarin tone digits and espeak's retroflex notation ("s.", "i.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Viseme:
    """Target (jaw, width, round, press) and dominance per parameter."""

    target: tuple[float, float, float, float]
    dominance: tuple[float, float, float, float]
    reach: float = 1.0  # fall-off width relative to the track's reach (consonants are brief)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.target, np.float64), np.array(self.dominance, np.float64)


def _v(jaw: float, width: float = 0.0, rnd: float = 0.0, dom: float = 1.0) -> Viseme:
    # vowels: jaw and lips all pulled with the same weight
    return Viseme((jaw, width, rnd, 0.0), (dom, dom, dom, 1.0))


def _c(
    jaw: float, width: float = 0.0, rnd: float = 0.0, press: float = 0.0, dj: float = 0.4,
    dl: float = 0.3, dp: float = 0.3,
) -> Viseme:  # fmt: skip
    # consonants: jaw dominance dj, lip shape dominance dl, press dominance dp
    return Viseme((jaw, width, rnd, press), (dj, dl, dl, dp), 0.3)


SILENCE = Viseme((0.0, 0.0, 0.0, 0.0), (1.2, 0.8, 0.8, 0.8))

# IPA units (after stripping stress/length/tone marks) -> visemes.
IPA: dict[str, Viseme] = {
    # open vowels
    "a": _v(0.9, 0.25),
    "ɑ": _v(0.95, 0.05),
    "ɐ": _v(0.65, 0.1),
    "æ": _v(0.8, 0.45),
    "ɒ": _v(0.75, 0.0, 0.45),
    "ɔ": _v(0.65, -0.1, 0.6),
    "ʌ": _v(0.6, 0.1),
    # mid vowels
    "ə": _v(0.4, 0.05, 0.0, 0.6),
    "ɜ": _v(0.45, 0.1),
    "ɚ": _v(0.35, 0.0, 0.25),
    "ɝ": _v(0.35, 0.0, 0.25),
    "ɛ": _v(0.6, 0.45),
    "e": _v(0.45, 0.55),
    "ɤ": _v(0.45, 0.15),
    "ø": _v(0.35, -0.2, 0.6),
    "œ": _v(0.5, -0.1, 0.5),
    "o": _v(0.5, -0.3, 0.75),
    # close vowels
    "i": _v(0.22, 0.8),
    "ɪ": _v(0.3, 0.55),
    "ɨ": _v(0.25, 0.35),
    "ɯ": _v(0.25, 0.35),
    "y": _v(0.2, -0.4, 0.8),
    "ʏ": _v(0.25, -0.3, 0.7),
    "ʊ": _v(0.3, -0.3, 0.6),
    "u": _v(0.2, -0.5, 0.9),
    # bilabials: closed, pressed, dominant
    "m": _c(0.0, 0.0, 0.0, 0.9, dj=8.0, dl=0.8, dp=8.0),
    "b": _c(0.0, 0.0, 0.0, 1.0, dj=8.0, dl=0.8, dp=8.0),
    "p": _c(0.0, 0.0, 0.0, 1.0, dj=8.0, dl=0.8, dp=8.0),
    "ɸ": _c(0.05, 0.0, 0.2, 0.5, dj=2.0, dp=2.0),
    # labiodentals: lower lip to the upper teeth
    "f": _c(0.08, 0.1, 0.0, 0.4, dj=2.0, dl=0.8, dp=2.0),
    "v": _c(0.08, 0.1, 0.0, 0.4, dj=2.0, dl=0.8, dp=2.0),
    # dentals / alveolars: teeth nearly together for sibilants, loose for stops
    "θ": _c(0.15, 0.1, dj=1.0),
    "ð": _c(0.15, 0.1, dj=0.8),
    "s": _c(0.07, 0.3, dj=1.5, dl=0.5),
    "z": _c(0.07, 0.3, dj=1.5, dl=0.5),
    "t": _c(0.15, 0.1, dj=0.6),
    "d": _c(0.15, 0.1, dj=0.6),
    "n": _c(0.15, 0.1, dj=0.6),
    "l": _c(0.2, 0.1, dj=0.5),
    "ɾ": _c(0.2, 0.1, dj=0.3),
    "ɹ": _c(0.2, -0.2, 0.45, dj=0.6, dl=0.8),
    "r": _c(0.2, -0.1, 0.3, dj=0.5, dl=0.5),
    "ʁ": _c(0.25, 0.0, 0.1, dj=0.3),
    # postalveolars / retroflex / alveolo-palatals: lips rounded forward
    "ʃ": _c(0.1, -0.3, 0.6, dj=1.2, dl=1.2),
    "ʒ": _c(0.1, -0.3, 0.6, dj=1.2, dl=1.2),
    "tʃ": _c(0.1, -0.3, 0.55, dj=1.2, dl=1.2),
    "dʒ": _c(0.1, -0.3, 0.55, dj=1.2, dl=1.2),
    "ʂ": _c(0.1, -0.2, 0.45, dj=1.2, dl=1.0),
    "ʐ": _c(0.12, -0.2, 0.45, dj=1.0, dl=1.0),
    "tʂ": _c(0.1, -0.2, 0.45, dj=1.2, dl=1.0),
    "ɕ": _c(0.1, 0.4, 0.0, dj=1.2, dl=0.8),
    "tɕ": _c(0.1, 0.4, 0.0, dj=1.2, dl=0.8),
    "ts": _c(0.07, 0.3, dj=1.5, dl=0.5),
    "dz": _c(0.07, 0.3, dj=1.5, dl=0.5),
    "ç": _c(0.15, 0.4, dj=0.6),
    # velars, glottals: the jaw follows the neighbours
    "k": _c(0.25, 0.0, dj=0.3, dl=0.1),
    "g": _c(0.25, 0.0, dj=0.3, dl=0.1),
    "ɡ": _c(0.25, 0.0, dj=0.3, dl=0.1),
    "ŋ": _c(0.25, 0.0, dj=0.3, dl=0.1),
    "x": _c(0.25, 0.0, dj=0.3, dl=0.1),
    "χ": _c(0.25, 0.0, dj=0.3, dl=0.1),
    "h": _c(0.3, 0.0, dj=0.1, dl=0.05),
    "ʔ": _c(0.1, 0.0, dj=0.3, dl=0.1),
    # glides
    "w": _c(0.1, -0.6, 0.95, dj=1.2, dl=2.0),
    "ɥ": _c(0.1, -0.4, 0.85, dj=1.0, dl=1.5),
    "j": _c(0.15, 0.55, 0.0, dj=0.6, dl=0.8),
}

# espeak notations that are not plain IPA
_ALIASES = {"s.": "ʂ", "z.": "ʐ", "ts.": "tʂ", "i.": "ɨ", "ᵻ": "ɪ", "ɘ": "ə", "ɵ": "ø", "ɑ̃": "ɑ"}
_MARKS = re.compile(r"[ˈˌːˑ̃0-9\-_'ʰʲʷ̩̯͡]")
_UNITS = sorted(list(IPA) + list(_ALIASES), key=len, reverse=True)
# piper/espeak tokens that are pauses
SILENT = {"", "^", "$", "_", ".", ",", ";", ":", "!", "?", "…", "—", "-", "sil", "sp", "pau"}


def ipa_units(phoneme: str) -> list[Viseme]:
    """Visemes of one IPA phoneme string, in order (diphthongs and affricates give two or one)."""
    s = phoneme.strip()
    if s in SILENT:
        return [SILENCE]
    for k, v in _ALIASES.items():
        s = s.replace(k, v)
    s = _MARKS.sub("", s)
    out: list[Viseme] = []
    i = 0
    while i < len(s):
        for u in _UNITS:
            if s.startswith(u, i):
                out.append(IPA[_ALIASES.get(u, u)])
                i += len(u)
                break
        else:
            i += 1  # unknown symbol: no target of its own
    return out


# --- Mandarin pinyin -----------------------------------------------------------------------------

PINYIN_INITIALS: dict[str, str] = {
    "b": "p", "p": "p", "m": "m", "f": "f", "d": "t", "t": "t", "n": "n", "l": "l",
    "g": "k", "k": "k", "h": "x", "j": "tɕ", "q": "tɕ", "x": "ɕ", "zh": "tʂ", "ch": "tʂ",
    "sh": "ʂ", "r": "ʐ", "z": "ts", "c": "ts", "s": "s", "y": "j", "w": "w",
}  # fmt: skip

# finals as IPA unit sequences (the vowel nucleus carries the opening)
PINYIN_FINALS: dict[str, str] = {
    "a": "a", "o": "o", "e": "ɤ", "ai": "ai", "ei": "ei", "ao": "ɑʊ", "ou": "oʊ",
    "an": "an", "en": "ən", "ang": "ɑŋ", "eng": "əŋ", "ong": "ʊŋ", "er": "ɚ",
    "i": "i", "ia": "ja", "ie": "jɛ", "iao": "jɑʊ", "iu": "joʊ", "iou": "joʊ", "ian": "jɛn",
    "in": "in", "iang": "jɑŋ", "ing": "iŋ", "iong": "jʊŋ",
    "u": "u", "ua": "wa", "uo": "wo", "uai": "wai", "ui": "wei", "uei": "wei", "uan": "wan",
    "un": "wən", "uen": "wən", "uang": "wɑŋ", "ueng": "wəŋ",
    "v": "y", "ü": "y", "ve": "ɥɛ", "üe": "ɥɛ", "ue": "ɥɛ", "van": "ɥɛn", "üan": "ɥɛn",
    "vn": "yn", "ün": "yn", "-i": "ɨ", "ê": "ɛ",
}  # fmt: skip


def pinyin_units(unit: str) -> list[Viseme]:
    """Visemes of a pinyin initial, final or whole syllable (tone digits are ignored)."""
    s = re.sub(r"[0-5]", "", unit.strip().lower())
    if s in SILENT:
        return [SILENCE]
    if s in PINYIN_FINALS:
        return ipa_units(PINYIN_FINALS[s])
    if s in PINYIN_INITIALS:
        return ipa_units(PINYIN_INITIALS[s])
    ini, fin = split_pinyin(s)
    return (ipa_units(PINYIN_INITIALS[ini]) if ini else []) + (
        ipa_units(PINYIN_FINALS.get(fin, fin)) if fin else []
    )


def split_pinyin(syllable: str) -> tuple[str, str]:
    """("zh", "ang") from "zhang"; "i" after z c s zh ch sh r is the apical vowel "-i"."""
    s = re.sub(r"[0-5]", "", syllable.lower())
    for ini in ("zh", "ch", "sh", *"bpmfdtnlgkhjqxrzcsyw"):
        if s.startswith(ini) and len(s) > len(ini):
            fin = s[len(ini) :]
            if fin == "i" and ini in ("z", "c", "s", "zh", "ch", "sh", "r"):
                fin = "-i"
            if ini in "jqxy" and fin.startswith("u"):
                fin = "v" + fin[1:]  # ju = jü, yue = üe
            if ini == "y":  # yi, ya, you: the glide is the final's own i
                return "", (fin if fin.startswith(("i", "v")) else "i" + fin)
            if ini == "w":
                return "", ("u" + fin if fin != "u" else "u")
            return ini, fin
    return "", s


def units(phoneme: str, lang: str) -> list[Viseme]:
    """Visemes of one PhonemeTiming's unit in its language."""
    if lang.lower().startswith(("zh", "cmn")):
        return pinyin_units(phoneme)
    return ipa_units(phoneme)
