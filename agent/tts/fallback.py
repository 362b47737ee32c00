"""A voice that falls back to another: online voices fail over to an offline one at once.

Sentence by sentence: each sentence is tried on the primary voice; when it fails (offline, a
timeout), that sentence and every later one are spoken by the fallback voice, so a drive never
stops because the internet went away. Timings stay relative to the start of the whole utterance.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from agent.sentences import split_sentences
from agent.tts.base import TTS, SpeechChunk, SpeechOptions, TTSError, Voice

log = logging.getLogger(__name__)


class FallbackTTS(TTS):
    """Primary backend with a fallback backend and voice for when it fails."""

    def __init__(self, primary: TTS, fallback: TTS, fallback_voice: Voice) -> None:
        self.primary = primary
        self.fallback = fallback
        self.fallback_voice = fallback_voice

    def voices(self) -> list[Voice]:
        return self.primary.voices()

    async def synthesize(
        self, text: str, voice: Voice, options: SpeechOptions
    ) -> AsyncIterator[SpeechChunk]:
        sentences = split_sentences(text)
        if not sentences:
            raise TTSError(f"nothing to say in {text[:40]!r}")
        offset = 0.0
        failed = False
        for sentence in sentences:
            chunks: list[SpeechChunk] = []
            if not failed:
                try:
                    # Collect the sentence first: a failure half-way must not leave half a
                    # sentence in one voice and all of it again in the other.
                    chunks = [c async for c in self.primary.synthesize(sentence, voice, options)]
                except TTSError as exc:
                    log.warning(
                        "%s failed, using %s: %s",
                        voice.timbre_id,
                        self.fallback_voice.timbre_id,
                        exc,
                    )
                    failed = True
            if failed:
                chunks = [
                    c
                    async for c in self.fallback.synthesize(sentence, self.fallback_voice, options)
                ]
            for chunk in chunks:
                yield SpeechChunk(
                    pcm=chunk.pcm,
                    phonemes=[
                        replace(p, start=p.start + offset, end=p.end + offset)
                        for p in chunk.phonemes
                    ],
                    words=[
                        replace(w, start=w.start + offset, end=w.end + offset) for w in chunk.words
                    ],
                )
                offset += chunk.duration
