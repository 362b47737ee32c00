"""The voices this server offers (GetTimbreList), each a timbre with a stable TimbreId.

`default_registry()` builds the registry from what is installed: offline voices first, online
voices (edge-tts) only when enabled. `get(timbre_id)` finds the backend for a DriveByText.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agent.tts.base import TTS, Voice
from agent.tts.fallback import FallbackTTS

log = logging.getLogger(__name__)


class TTSRegistry:
    """Backends and their voices, looked up by TimbreId."""

    def __init__(self, backends: list[TTS] | None = None) -> None:
        self._backends: list[TTS] = []
        self._by_id: dict[str, tuple[TTS, Voice]] = {}
        for backend in backends or []:
            self.add(backend)

    def add(self, backend: TTS) -> None:
        """Register a backend; a TimbreId already taken keeps its first backend."""
        self._backends.append(backend)
        for voice in backend.voices():
            if voice.timbre_id in self._by_id:
                log.warning("duplicate TimbreId %s ignored", voice.timbre_id)
                continue
            self._by_id[voice.timbre_id] = (backend, voice)

    def voices(self) -> list[Voice]:
        """Every voice, in registration order (offline ones first in the default registry)."""
        return [voice for _, voice in self._by_id.values()]

    def get(self, timbre_id: str) -> tuple[TTS, Voice]:
        """The backend and voice of `timbre_id`; KeyError when unknown.

        An online voice comes wrapped so that it falls back to an offline voice of its language
        at once when the service cannot be reached.
        """
        try:
            backend, voice = self._by_id[timbre_id]
        except KeyError:
            raise KeyError(timbre_id) from None
        if not voice.offline:
            fallback = self.fallback_for(voice)
            if fallback is not None:
                return FallbackTTS(backend, *fallback), voice
        return backend, voice

    def __contains__(self, timbre_id: object) -> bool:
        return timbre_id in self._by_id

    def default_voice(self, language: str = "en") -> Voice:
        """The preferred voice for `language` ("en", "zh"; "zh-CN" matches "zh"): offline first.

        Falls back to any voice when the language has none; KeyError when there are no voices.
        """
        lang = language.lower().split("-")[0].split("_")[0]
        voices = self.voices()
        for want_offline in (True, False):
            for voice in voices:
                if voice.language == lang and voice.offline == want_offline:
                    return voice
        if voices:
            return voices[0]
        raise KeyError(f"no TTS voice installed (language {language!r})")

    def voice_for_text(self, text: str, preferred: Voice | None = None) -> Voice:
        """`preferred` when it speaks the language of `text`, else that language's default."""
        from agent.sentences import language_of

        lang = language_of(text)
        if preferred is not None and preferred.language == lang:
            return preferred
        return self.default_voice(lang)

    async def preload(self, languages: tuple[str, ...] = ("en", "zh")) -> None:
        """Load the default voice of each language now (piper ~1 s, Kokoro ~3 s) so the first
        drive does not wait for it. Runs in each backend's worker thread."""
        import asyncio

        for lang in languages:
            try:
                backend, _ = self.get(self.default_voice(lang).timbre_id)
            except KeyError:
                continue
            load = getattr(backend, "load", None)
            executor = getattr(backend, "_executor", None)
            if load is not None:
                await asyncio.get_running_loop().run_in_executor(executor, load)

    def fallback_for(self, voice: Voice) -> tuple[TTS, Voice] | None:
        """An offline voice of the same language to use when an online voice fails."""
        for backend, other in self._by_id.values():
            if other.offline and other.language == voice.language and other != voice:
                return backend, other
        return None


def default_registry(
    threads: int = 1, online: bool = False, cache_dir: Path | None = None
) -> TTSRegistry:
    """Registry of the installed voices. Models load lazily on first synthesis.

    Order (which sets each language's default): the neural offline voices (piper for English,
    Kokoro for Mandarin), then espeak-ng, then, with `online`, edge-tts (which needs the internet
    and falls back to the first offline voice of its language when it cannot reach it).
    `threads`: ONNX threads per backend; `cache_dir`: where the Kokoro model is assembled.
    """
    from agent.tts.espeak import EspeakTTS
    from agent.tts.kokoro import KokoroTTS
    from agent.tts.piper import PiperTTS

    backends: list[TTS] = [
        PiperTTS(threads=threads),
        KokoroTTS(threads=threads, cache_dir=cache_dir),
        EspeakTTS(),
    ]
    if online:
        from agent.tts.edge import EdgeTTS

        backends.append(EdgeTTS())
    return TTSRegistry([b for b in backends if b.voices()])
