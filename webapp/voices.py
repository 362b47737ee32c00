"""A short spoken sample of a voice for the studio's voice list: the voice's own TTS backend,
a fixed sentence in the voice's language, returned as a WAV file (cached per voice in memory)."""

from __future__ import annotations

import io
import wave

import numpy as np

from agent.tts.base import SpeechOptions
from avatar.types import AUDIO_RATE

SAMPLE = {
    "zh": "你好，我是你的数字人助手，很高兴认识你。",
    "en": "Hello, I am your digital human assistant. Nice to meet you.",
}
MAX_SECONDS = 12


def wav_bytes(pcm: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(AUDIO_RATE)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


async def sample_wav(registry, timbre_id: str, cache: dict[str, bytes]) -> bytes:  # type: ignore[no-untyped-def]
    """Raises KeyError for an unknown voice."""
    if timbre_id in cache:
        return cache[timbre_id]
    tts, voice = registry.get(timbre_id)
    lang = "zh" if str(getattr(voice, "language", "en")).lower().startswith(("zh", "cmn")) else "en"
    parts: list[np.ndarray] = []
    total = 0
    async for chunk in tts.synthesize(SAMPLE[lang], voice, SpeechOptions()):
        parts.append(chunk.pcm)
        total += len(chunk.pcm)
        if total > MAX_SECONDS * AUDIO_RATE:
            break
    data = wav_bytes(np.concatenate(parts) if parts else np.zeros(0, np.int16))
    if len(cache) < 64:
        cache[timbre_id] = data
    return data
