"""The text-to-speech interface: text in, 16 kHz PCM chunks (with phoneme timings) out, streamed.

A backend implements `_synthesize` for one sentence; the base class splits text into sentences,
keeps timings relative to the start of the whole utterance, and checks that audio came out.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from avatar.types import AUDIO_RATE, PhonemeTiming, WordTiming


class TTSError(Exception):
    """A TTS backend failed; `retryable` says whether another try may succeed."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice as listed by GetTimbreList."""

    timbre_id: str
    name: str
    language: str  # "en", "zh", ...
    backend: str
    offline: bool = True


@dataclass(frozen=True, slots=True)
class SpeechOptions:
    """TTSConfig of the API, already validated: rates in [-500, 500], volume in [1, 100]."""

    speech_rate: int = 0  # -500 .. 500; +500 = 2x faster, -500 = 2x slower (ZEGO's scale)
    pitch_rate: int = 0
    volume: int = 50  # 50 = unchanged gain


@dataclass(slots=True)
class SpeechChunk:
    """A piece of synthesized speech.

    pcm: int16 mono at AUDIO_RATE. `phonemes` and `words` are timed in seconds from the start of
    the whole utterance (not of this chunk), so a consumer can schedule mouth shapes and keyword
    actions on the drive's own clock.
    """

    pcm: np.ndarray
    phonemes: list[PhonemeTiming] = field(default_factory=list)
    words: list[WordTiming] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.pcm) / AUDIO_RATE


class TTS(ABC):
    """A speech synthesizer with one or more voices."""

    @abstractmethod
    def voices(self) -> list[Voice]:
        """The voices this backend offers (empty when it cannot run here)."""

    @abstractmethod
    def synthesize(
        self, text: str, voice: Voice, options: SpeechOptions
    ) -> AsyncIterator[SpeechChunk]:
        """Stream speech for `text` sentence by sentence; cancelling the iterator stops the work."""


@dataclass(slots=True)
class SentenceAudio:
    """One synthesized sentence: int16 PCM at AUDIO_RATE, timings from the sentence's start."""

    pcm: np.ndarray
    phonemes: list[PhonemeTiming] = field(default_factory=list)
    words: list[WordTiming] = field(default_factory=list)


class SentenceTTS(TTS):
    """A backend that synthesizes one sentence at a time with blocking code in a worker thread.

    A backend writes only `_synthesize_sentence`. This class splits the text into sentences, runs
    each in the backend's own single worker thread (so one backend never takes more than its share
    of the CPU), starts the next sentence while the current one is being played, shifts timings
    to the start of the whole utterance and checks that audio came out. Cancelling or closing the
    iterator drops the sentences not yet started; the one in progress finishes in its thread.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=type(self).__name__)

    @abstractmethod
    def _synthesize_sentence(
        self, sentence: str, voice: Voice, options: SpeechOptions
    ) -> SentenceAudio:
        """Synthesize one sentence (blocking; runs in the worker thread)."""

    def split(self, text: str) -> list[str]:
        """Sentences of `text` in speaking order."""
        from agent.sentences import split_sentences

        return split_sentences(text)

    def _run_one(self, sentence: str, voice: Voice, options: SpeechOptions) -> SentenceAudio:
        try:
            audio = self._synthesize_sentence(sentence, voice, options)
        except TTSError:
            raise
        except Exception as exc:  # a backend's own errors become TTSError for the caller
            raise TTSError(f"{voice.backend} failed on {sentence[:40]!r}: {exc}") from exc
        if audio.pcm.dtype != np.int16 or audio.pcm.ndim != 1:
            raise TTSError(
                f"{voice.backend} returned {audio.pcm.dtype} {audio.pcm.shape}, not int16 mono"
            )
        return audio

    async def synthesize(
        self, text: str, voice: Voice, options: SpeechOptions
    ) -> AsyncIterator[SpeechChunk]:
        sentences = self.split(text)
        if not sentences:
            raise TTSError(f"nothing to say in {text[:40]!r}")
        loop = asyncio.get_running_loop()

        def start(i: int) -> asyncio.Future[SentenceAudio]:
            return loop.run_in_executor(self._executor, self._run_one, sentences[i], voice, options)

        pending: asyncio.Future[SentenceAudio] | None = start(0)
        offset = 0.0
        total = 0
        try:
            for i in range(len(sentences)):
                assert pending is not None
                audio = await pending
                # Start the next sentence now so it is ready when this one has played.
                pending = start(i + 1) if i + 1 < len(sentences) else None
                if len(audio.pcm) == 0:
                    continue
                total += len(audio.pcm)
                yield SpeechChunk(
                    pcm=audio.pcm,
                    phonemes=[
                        replace(p, start=p.start + offset, end=p.end + offset)
                        for p in audio.phonemes
                    ],
                    words=[
                        replace(w, start=w.start + offset, end=w.end + offset) for w in audio.words
                    ],
                )
                offset += len(audio.pcm) / AUDIO_RATE
        finally:
            if pending is not None:
                pending.cancel()
        if total == 0:
            raise TTSError(f"{voice.backend} produced no audio for {text[:40]!r}")

    def close(self) -> None:
        """Stop the worker thread (sentences already queued are dropped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
