"""edge-tts: Microsoft Edge's online neural voices (English and Mandarin), when online.

Needs the internet, so it must fail fast: a TCP probe with a short timeout before each sentence,
a short connect timeout, and after a failure the backend stays "offline" for a while so the next
drives fall back at once (see `agent.tts.fallback`). Audio arrives as MP3 and is decoded with PyAV;
word timings come from the service's word boundaries, phoneme timings are estimated from the audio.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time

import numpy as np

from agent.tts.audio import normalize, pitch_factor, rate_to_length_scale, volume_gain
from agent.tts.base import SentenceAudio, SentenceTTS, SpeechOptions, TTSError, Voice
from agent.tts.timing import estimate_timings
from avatar.types import AUDIO_RATE, WordTiming

EDGE_HOST = "speech.platform.bing.com"

# TimbreId -> (edge voice, language, display name)
EDGE_VOICES: dict[str, tuple[str, str, str]] = {
    "edge-en-us-aria": ("en-US-AriaNeural", "en", "Aria (English, online)"),
    "edge-en-us-guy": ("en-US-GuyNeural", "en", "Guy (English, online)"),
    "edge-zh-cn-xiaoxiao": ("zh-CN-XiaoxiaoNeural", "zh", "晓晓 (普通话, online)"),
    "edge-zh-cn-yunxi": ("zh-CN-YunxiNeural", "zh", "云希 (普通话, online)"),
}


def edge_installed() -> bool:
    try:
        import edge_tts  # noqa: F401
    except ImportError:
        return False
    return True


class EdgeTTS(SentenceTTS):
    """Online voices; each sentence is one request. Raises a retryable TTSError when offline."""

    def __init__(
        self,
        host: str = EDGE_HOST,
        port: int = 443,
        probe_timeout: float = 1.5,
        offline_hold: float = 60.0,
    ) -> None:
        super().__init__()
        self._host, self._port = host, port
        self._probe_timeout = probe_timeout
        self._offline_hold = offline_hold
        self._offline_until = 0.0
        self._lock = threading.Lock()

    def voices(self) -> list[Voice]:
        if not edge_installed():
            return []
        return [
            Voice(tid, name, lang, "edge", offline=False)
            for tid, (_, lang, name) in EDGE_VOICES.items()
        ]

    def is_reachable(self) -> bool:
        """A cheap check, remembered for `offline_hold` seconds after a failure."""
        with self._lock:
            if time.monotonic() < self._offline_until:
                return False
        try:
            with socket.create_connection((self._host, self._port), timeout=self._probe_timeout):
                return True
        except OSError:
            self._mark_offline()
            return False

    def _mark_offline(self) -> None:
        with self._lock:
            self._offline_until = time.monotonic() + self._offline_hold

    def _synthesize_sentence(
        self, sentence: str, voice: Voice, options: SpeechOptions
    ) -> SentenceAudio:
        if not self.is_reachable():
            raise TTSError(f"edge-tts unreachable ({self._host})", retryable=True)
        try:
            mp3, boundaries = asyncio.run(self._fetch(sentence, voice, options))
        except TTSError:
            raise
        except Exception as exc:  # network errors of every kind: go offline for a while
            self._mark_offline()
            raise TTSError(f"edge-tts failed: {exc}", retryable=True) from exc
        audio = _decode_mp3(mp3)
        pcm = normalize(audio, options.volume) if len(audio) else np.zeros(0, np.int16)
        phonemes, estimated_words = estimate_timings(sentence, pcm, voice.language)
        duration = len(pcm) / AUDIO_RATE
        words = [
            WordTiming(text, start, min(end, duration))
            for text, start, end in boundaries
            if start < duration
        ]
        return SentenceAudio(pcm, phonemes, words or estimated_words)

    async def _fetch(
        self, sentence: str, voice: Voice, options: SpeechOptions
    ) -> tuple[bytes, list[tuple[str, float, float]]]:
        import edge_tts

        speed = 1.0 / rate_to_length_scale(options.speech_rate)
        pitch_hz = round((pitch_factor(options.pitch_rate) - 1.0) * 150)
        communicate = edge_tts.Communicate(
            sentence,
            EDGE_VOICES[voice.timbre_id][0],
            rate=f"{round((speed - 1) * 100):+d}%",
            pitch=f"{pitch_hz:+d}Hz",
            volume=f"{round((min(volume_gain(options.volume), 2.0) - 1) * 100):+d}%",
            boundary="WordBoundary",
            connect_timeout=3,
            receive_timeout=15,
        )
        mp3 = io.BytesIO()
        words: list[tuple[str, float, float]] = []
        async for item in communicate.stream():
            if item["type"] == "audio":
                mp3.write(item["data"])
            elif item["type"] == "WordBoundary":
                start = item["offset"] / 1e7  # 100 ns units
                words.append((item["text"], start, start + item["duration"] / 1e7))
        return mp3.getvalue(), words


def _decode_mp3(data: bytes) -> np.ndarray:
    """MP3 bytes to float mono at AUDIO_RATE (PyAV decodes and resamples)."""
    if not data:
        return np.zeros(0, np.float32)
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
    parts = []
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
    for out in resampler.resample(None):
        parts.append(out.to_ndarray().reshape(-1))
    if not parts:
        return np.zeros(0, np.float32)
    return np.concatenate(parts).astype(np.float32) / 32768.0
