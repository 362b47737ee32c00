"""Offline Mandarin voices: Kokoro (neural) and espeak-ng, with pinyin timings for lip-sync."""

from __future__ import annotations

import numpy as np
import pytest

from agent.tts.base import SpeechOptions
from agent.tts.espeak import EspeakTTS
from agent.tts.kokoro import KokoroTTS, kokoro_installed
from agent.tts.timing import mandarin_units, voiced_segments
from avatar.types import AUDIO_RATE

try:
    from tests.test_tts_helpers import check_timings, collect, joined, rms, voiced_fraction
except ImportError:  # pytest run without the repo root on sys.path
    from test_tts_helpers import check_timings, collect, joined, rms, voiced_fraction  # type: ignore[no-redef]

TEXT = "你好，我是你的数字人助手。今天天气很好！"
SYLLABLES = 17  # Han characters in TEXT


def test_pinyin_units() -> None:
    units = mandarin_units("你好，数字人2")
    assert [(i, f) for i, f, _ in units] == [
        ("n", "i"),
        ("h", "ao"),
        ("sh", "u"),
        ("z", "i"),
        ("r", "en"),
        ("", "er"),
    ]


def test_voiced_segments_find_pauses() -> None:
    tone = (np.sin(np.arange(AUDIO_RATE // 2) * 0.1) * 8000).astype(np.int16)
    gap = np.zeros(AUDIO_RATE // 4, np.int16)
    segments = voiced_segments(np.concatenate([gap, tone, gap, tone, gap]))
    assert len(segments) == 2
    assert abs(segments[0][0] - 0.25) < 0.02 and abs(segments[1][1] - 1.5) < 0.02


def _check_mandarin(chunks, max_seconds_per_syllable: float = 0.45) -> None:  # type: ignore[no-untyped-def]
    pcm = joined(chunks)
    seconds = len(pcm) / AUDIO_RATE
    # Mandarin runs at 3-7 syllables a second.
    assert SYLLABLES * 0.12 < seconds < SYLLABLES * max_seconds_per_syllable, seconds
    assert 0.4 < voiced_fraction(pcm) < 0.98
    assert rms(pcm) > 800
    check_timings(chunks)
    phonemes = [p for c in chunks for p in c.phonemes]
    assert all(p.lang == "zh" for p in phonemes)
    assert [p.phoneme for p in phonemes[:4]] == ["n", "i", "h", "ao"]
    words = [w.text for c in chunks for w in c.words]
    assert words[:2] == ["你", "好"] and len(words) == SYLLABLES


async def test_espeak_mandarin() -> None:
    tts = EspeakTTS()
    if not tts.voices():
        pytest.skip("espeak-ng not installed")
    voice = next(v for v in tts.voices() if v.language == "zh")
    chunks = await collect(tts, TEXT, voice)
    assert len(chunks) == 2
    _check_mandarin(chunks)
    fast = joined(await collect(tts, TEXT, voice, SpeechOptions(speech_rate=500)))
    assert 0.4 < len(fast) / len(joined(chunks)) < 0.75


@pytest.mark.slow
@pytest.mark.skipif(not kokoro_installed(), reason="Kokoro model packages not installed")
async def test_kokoro_mandarin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tts = KokoroTTS(threads=1, cache_dir=tmp_path)
    voice = tts.voices()[0]
    tts.load()
    assert list(tmp_path.glob("kokoro-*.onnx"))  # assembled into the cache dir, not the repo
    chunks = await collect(tts, TEXT, voice)
    assert len(chunks) == 3  # the first clause alone, for a sooner first audio
    assert chunks[0].duration < 1.0
    _check_mandarin(chunks)
    fast = joined(await collect(tts, "今天天气很好！", voice, SpeechOptions(speech_rate=500)))
    normal = joined([chunks[2]])
    assert 0.4 < len(fast) / len(normal) < 0.8
