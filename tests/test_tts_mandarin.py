"""Offline Mandarin voices: Kokoro (neural) and espeak-ng, with pinyin timings for lip-sync."""

from __future__ import annotations

import numpy as np
import pytest

from agent.tts.base import SentenceAudio, SpeechOptions, Voice
from agent.tts.espeak import EspeakTTS
from agent.tts.kokoro import ClauseCache, KokoroTTS, kokoro_installed
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


def _audio(seconds: float, value: int = 1000) -> SentenceAudio:
    return SentenceAudio(np.full(int(seconds * AUDIO_RATE), value, np.int16))


def test_clause_cache_keys_copies_and_eviction() -> None:
    male = Voice("kokoro-zh-male", "m", "zh", "kokoro", offline=True)
    female = Voice("kokoro-zh-female", "f", "zh", "kokoro", offline=True)
    cache = ClauseCache(max_items=2, max_chars=4)
    plain, fast = SpeechOptions(), SpeechOptions(speech_rate=300)
    cache.put("好的，", male, plain, _audio(0.5))
    got = cache.get("好的，", male, plain)
    assert got is not None and len(got.pcm) == AUDIO_RATE // 2 and cache.hits == 1
    got.pcm[:] = 0  # what a caller does to its audio does not reach the cache
    again = cache.get("好的，", male, plain)
    assert again is not None and again.pcm.max() == 1000
    # Another voice, other options or other punctuation is another clause.
    assert cache.get("好的，", female, plain) is None
    assert cache.get("好的，", male, fast) is None
    assert cache.get("好的。", male, plain) is None
    # Only short clauses (openers) are kept, and only the most recently used ones.
    cache.put("今天天气很好，", male, plain, _audio(1.0))
    assert cache.get("今天天气很好，", male, plain) is None
    cache.put("当然，", male, plain, _audio(0.4))
    cache.get("好的，", male, plain)
    cache.put("您好，", male, plain, _audio(0.4))
    assert len(cache) == 2
    assert cache.get("当然，", male, plain) is None  # the least recently used one went
    assert cache.get("好的，", male, plain) is not None
    off = ClauseCache(max_items=0)
    off.put("好的，", male, plain, _audio(0.5))
    assert off.get("好的，", male, plain) is None and not off.cacheable("好的，")


@pytest.mark.slow
@pytest.mark.skipif(not kokoro_installed(), reason="Kokoro model packages not installed")
async def test_kokoro_replays_an_opener() -> None:
    """The opener said a second time comes from the cache: the same audio, and the rest of the
    reply (too long to cache) is synthesized anew."""
    tts = KokoroTTS(threads=1)
    voice = tts.voices()[0]
    first = await collect(tts, "好的，我可以帮您。", voice)
    assert len(first) == 2 and tts.clauses.hits == 0
    second = await collect(tts, "好的，这是我的建议。", voice)
    assert tts.clauses.hits == 1
    assert np.array_equal(second[0].pcm, first[0].pcm)
    assert [w.text for w in second[0].words] == ["好", "的"]
    assert not np.array_equal(
        second[1].pcm[: len(first[1].pcm)], first[1].pcm[: len(second[1].pcm)]
    )
    other = await collect(tts, "好的，", tts.voices()[1])  # another voice says it anew
    assert tts.clauses.hits == 1 and not np.array_equal(other[0].pcm, first[0].pcm)
