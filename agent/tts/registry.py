"""The voices this server offers (GetTimbreList), each a timbre with a stable TimbreId.

`default_registry()` builds the registry from what is installed: offline voices first, online
voices (edge-tts) only when enabled. `get(timbre_id)` finds the backend for a DriveByText.
"""

from __future__ import annotations

import logging

from agent.tts.base import TTS, Voice

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
        """The backend and voice of `timbre_id`; KeyError when unknown."""
        try:
            return self._by_id[timbre_id]
        except KeyError:
            raise KeyError(timbre_id) from None

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

    def fallback_for(self, voice: Voice) -> tuple[TTS, Voice] | None:
        """An offline voice of the same language to use when an online voice fails."""
        for backend, other in self._by_id.values():
            if other.offline and other.language == voice.language and other != voice:
                return backend, other
        return None


def default_registry(threads: int = 1, online: bool = False) -> TTSRegistry:
    """Registry of the installed voices. Models load lazily on first synthesis.

    `threads`: ONNX threads per backend. `online`: also list edge-tts voices (they need the
    internet; on failure use `fallback_for`).
    """
    backends: list[TTS] = []
    try:
        from agent.tts.piper import PiperTTS

        backends.append(PiperTTS(threads=threads))
    except ImportError as exc:  # pragma: no cover - depends on the install
        log.info("piper voice unavailable: %s", exc)
    return TTSRegistry([b for b in backends if b.voices()])
