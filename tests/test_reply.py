"""ReplySource with a real (instant, offline) voice: a Mandarin reply's first clause is spoken
before the LLM has finished its sentence; English sentences stay whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.reply import ReplySource
from agent.tts.espeak import EspeakTTS
from agent.tts.registry import default_registry


async def _tokens_read_at_first_audio(timbre_id: str, tokens: list[str]):
    """How many LLM tokens the reply had read when its first audio came, and the source."""
    tts, voice = default_registry().get(timbre_id)
    if not isinstance(tts, EspeakTTS):
        pytest.skip("espeak-ng is not installed")
    read = 0

    async def stream() -> AsyncIterator[str]:
        nonlocal read
        for t in tokens:
            read += 1
            yield t

    source = ReplySource(stream(), tts, voice)
    at_first_audio = None
    async for _ in source.chunks():
        if at_first_audio is None:
            at_first_audio = read
    return at_first_audio, source


async def test_a_mandarin_first_clause_is_spoken_before_its_sentence_ends() -> None:
    tokens = ["好的", "，", "我", "可以", "帮您", "。这是我的建议。"]
    read, source = await _tokens_read_at_first_audio("espeak-zh-cmn", tokens)
    assert read == 3, f"the first clause waited for {read} tokens"
    said = [s.text for s in source.sentences]
    assert said == ["好的，", "我可以帮您。", "这是我的建议。"], said
    assert source.text == "".join(tokens)


async def test_english_sentences_stay_whole() -> None:
    tokens = ["Sure", ",", " I", " can help", " you with that.", " Next"]
    read, source = await _tokens_read_at_first_audio("espeak-en-us", tokens)
    assert read == 6  # the sentence is known to be over at the next token
    assert [s.text for s in source.sentences] == ["Sure, I can help you with that.", "Next"]
