"""Piper (offline English): real synthesis, plausible speech, timings, rates and cancellation."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from agent.tts.base import SpeechOptions, TTSError
from agent.tts.piper import PiperTTS
from agent.tts.registry import TTSRegistry, default_registry
from avatar.types import AUDIO_RATE

try:
    from tests.test_tts_helpers import (
        check_timings,
        collect,
        joined,
        median_f0,
        rms,
        voiced_fraction,
    )
except ImportError:  # pytest run without the repo root on sys.path
    from test_tts_helpers import check_timings, collect, joined, median_f0, rms, voiced_fraction  # type: ignore[no-redef]

pytestmark = pytest.mark.skipif(not PiperTTS.available(), reason="piper voice not installed")

TEXT = "Hello there, how are you today? The weather is lovely, so let us take a walk."


@pytest.fixture(scope="module")
def piper() -> PiperTTS:
    tts = PiperTTS(threads=1)
    tts.load()
    return tts


async def test_speech_is_plausible(piper: PiperTTS) -> None:
    voice = piper.voices()[0]
    chunks = await collect(piper, TEXT, voice)
    assert len(chunks) == 2  # one chunk per sentence
    pcm = joined(chunks)
    assert pcm.dtype == np.int16
    seconds = len(pcm) / AUDIO_RATE
    words = len(TEXT.split())
    # Conversational speech runs at 2-4 words a second.
    assert words / 4.5 < seconds < words / 1.8, seconds
    assert 0.5 < voiced_fraction(pcm) < 0.98
    assert 1000 < rms(pcm) < 8000
    assert 80 < median_f0(pcm) < 200  # an adult male voice
    check_timings(chunks)
    phonemes = [p for c in chunks for p in c.phonemes]
    assert len(phonemes) > 30 and all(p.lang == "en" for p in phonemes)
    # Phonemes cover most of the speech.
    covered = sum(p.end - p.start for p in phonemes)
    assert 0.6 * seconds < covered <= seconds
    words_timed = [w.text for c in chunks for w in c.words]
    assert words_timed[:2] == ["Hello", "there,"]


async def test_speech_rate_changes_duration(piper: PiperTTS) -> None:
    voice = piper.voices()[0]
    text = "The quick brown fox jumps over the lazy dog."
    normal = len(joined(await collect(piper, text, voice)))
    fast = len(joined(await collect(piper, text, voice, SpeechOptions(speech_rate=500))))
    slow = len(joined(await collect(piper, text, voice, SpeechOptions(speech_rate=-500))))
    # Piper draws durations with noise, so the bounds leave room around 0.5 and 2.
    assert 0.42 < fast / normal < 0.62
    assert 1.7 < slow / normal < 2.4


async def test_pitch_changes_f0_not_duration(piper: PiperTTS) -> None:
    voice = piper.voices()[0]
    text = "We are all here, and we are well."
    base = joined(await collect(piper, text, voice))
    high = joined(await collect(piper, text, voice, SpeechOptions(pitch_rate=500)))
    assert 0.85 < len(high) / len(base) < 1.15
    ratio = median_f0(high) / median_f0(base)
    assert 1.25 < ratio < 1.6, ratio  # +6 semitones = 1.41


async def test_volume_scales_loudness(piper: PiperTTS) -> None:
    voice = piper.voices()[0]
    text = "Volume check."

    async def peak(volume: int) -> int:
        pcm = joined(await collect(piper, text, voice, SpeechOptions(volume=volume)))
        return int(np.abs(pcm.astype(np.int32)).max())

    # Piper's output is random (noise in the model), so compare peaks: each sentence is
    # normalized to a fixed peak before the gain.
    normal, loud, quiet = await peak(50), await peak(100), await peak(10)
    assert 0.45 < normal / 32767 < 0.55
    assert 1.9 < loud / normal <= 2.01
    assert 0.18 < quiet / normal < 0.22


async def test_first_chunk_before_whole_text(piper: PiperTTS) -> None:
    voice = piper.voices()[0]
    text = "Short one. " + " ".join(
        ["This second sentence is a good deal longer than the first."] * 3
    )
    t0 = time.perf_counter()
    gen = piper.synthesize(text, voice, SpeechOptions())
    first = await anext(gen)
    first_latency = time.perf_counter() - t0
    rest = [c async for c in gen]
    total = time.perf_counter() - t0
    assert first.duration < 2.0 and len(rest) == 3
    assert first_latency < total / 2


async def test_cancel_stops_after_current_sentence(piper: PiperTTS) -> None:
    voice = piper.voices()[0]
    calls: list[str] = []
    original = piper._synthesize_sentence

    def counting(sentence, v, o):  # type: ignore[no-untyped-def]
        calls.append(sentence)
        return original(sentence, v, o)

    piper._synthesize_sentence = counting  # type: ignore[method-assign]
    try:
        text = " ".join(f"This is sentence number {i}." for i in range(10))

        async def consume() -> None:
            async for _ in piper.synthesize(text, voice, SpeechOptions()):
                await asyncio.sleep(10)  # a slow consumer: the drive is playing

        task = asyncio.create_task(consume())
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)
        # The first sentence and one prefetched; nothing after the cancel.
        assert len(calls) == 2
    finally:
        del piper._synthesize_sentence


async def test_nothing_to_say_is_an_error(piper: PiperTTS) -> None:
    with pytest.raises(TTSError):
        await collect(piper, " ... ", piper.voices()[0])


def test_registry_lookup() -> None:
    registry = default_registry()
    ids = [v.timbre_id for v in registry.voices()]
    assert "piper-en-us-joe" in ids and len(ids) == len(set(ids))
    backend, voice = registry.get("piper-en-us-joe")
    assert voice.language == "en" and voice.offline and isinstance(backend, PiperTTS)
    assert registry.default_voice("en").timbre_id == "piper-en-us-joe"
    assert registry.default_voice("en-US").language == "en"
    with pytest.raises(KeyError):
        registry.get("no-such-voice")
    assert "no-such-voice" not in registry


def test_empty_registry() -> None:
    with pytest.raises(KeyError):
        TTSRegistry().default_voice("en")


def test_word_alignment_when_espeak_merges_or_expands_words() -> None:
    from agent.tts.piper import _word_timings

    # "I am" is one spoken group, "$5" two ("five dollars").
    words = _word_timings(
        "I am fine, $5 ok", [(0.0, 0.3), (0.4, 0.8), (1.0, 1.3), (1.3, 1.7), (1.8, 2.0)], 2.1
    )
    assert [w.text for w in words] == ["I", "am", "fine,", "$5", "ok"]
    assert words[0].start == 0.0 and words[1].end == pytest.approx(0.3)
    assert (words[2].start, words[2].end) == (0.4, 0.8)
    assert (words[3].start, words[3].end) == (1.0, 1.7)
    assert (words[4].start, words[4].end) == (1.8, 2.0)


async def test_word_timings_follow_the_speech(piper: PiperTTS) -> None:
    chunks = await collect(piper, "I am fine, thank you.", piper.voices()[0])
    words = [w for c in chunks for w in c.words]
    assert [w.text for w in words] == ["I", "am", "fine,", "thank", "you."]
    for a, b in zip(words, words[1:], strict=False):
        assert a.end <= b.start + 1e-6
    # The pause after the comma lies between "fine," and "thank".
    assert words[3].start - words[2].end > 0.05


async def test_registry_preload() -> None:
    registry = TTSRegistry([PiperTTS(threads=1)])
    backend, _ = registry.get("piper-en-us-joe")
    assert backend._piper is None  # type: ignore[attr-defined]
    await registry.preload(("en", "zh"))  # no Mandarin voice: its default is the English one
    assert backend._piper is not None  # type: ignore[attr-defined]
