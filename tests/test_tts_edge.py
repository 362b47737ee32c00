"""edge-tts fails fast when it cannot reach its service, and the registry falls back at once."""

from __future__ import annotations

import socket
import time

import pytest

from agent.tts.base import SpeechOptions, TTSError
from agent.tts.edge import EdgeTTS, edge_installed
from agent.tts.espeak import EspeakTTS
from agent.tts.registry import TTSRegistry

try:
    from tests.test_tts_helpers import collect, joined
except ImportError:  # pytest run without the repo root on sys.path
    from test_tts_helpers import collect, joined  # type: ignore[no-redef]

pytestmark = pytest.mark.skipif(not edge_installed(), reason="edge-tts not installed")


def closed_port() -> int:
    """A local port with nothing listening: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_service_fails_fast() -> None:
    edge = EdgeTTS(host="127.0.0.1", port=closed_port())
    voice = next(v for v in edge.voices() if v.language == "en")
    assert not voice.offline
    t0 = time.perf_counter()
    with pytest.raises(TTSError) as err:
        await collect(edge, "Hello there.", voice)
    assert err.value.retryable
    assert time.perf_counter() - t0 < 1.0
    # Remembered: the next attempt does not even try the network.
    assert not edge.is_reachable()


async def test_registry_falls_back_to_offline_voice() -> None:
    espeak = EspeakTTS()
    if not espeak.voices():
        pytest.skip("espeak-ng not installed")
    edge = EdgeTTS(host="127.0.0.1", port=closed_port())
    registry = TTSRegistry([espeak, edge])
    assert registry.default_voice("zh").offline  # offline voices come first
    tts, voice = registry.get("edge-zh-cn-xiaoxiao")
    assert voice.timbre_id == "edge-zh-cn-xiaoxiao"
    await collect(espeak, "预热。", registry.default_voice("zh"))  # loads pypinyin's dictionary
    t0 = time.perf_counter()
    chunks = await collect(tts, "你好。今天天气很好。", voice, SpeechOptions())
    assert time.perf_counter() - t0 < 3.0
    assert len(chunks) == 2 and len(joined(chunks)) > 16000
    assert chunks[1].phonemes[0].start >= chunks[0].duration - 1e-6  # one utterance clock
    assert all(p.lang == "zh" for c in chunks for p in c.phonemes)


def test_voice_for_text() -> None:
    espeak = EspeakTTS()
    if not espeak.voices():
        pytest.skip("espeak-ng not installed")
    registry = TTSRegistry([espeak])
    english = registry.default_voice("en")
    assert registry.voice_for_text("Hello!", english) is english
    assert registry.voice_for_text("你好！", english).language == "zh"
