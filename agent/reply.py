"""One spoken reply: LLM tokens → sentences → TTS, as a drive source of the avatar's stream.

`ReplySource` is a `DriveSource`: the stream runtime iterates it, so interrupting the drive
closes the iteration, which cancels the LLM request and the TTS in progress. It records which
sentence starts at which second of the reply's audio, so the conversation can keep in its
history only what the user actually heard.

A Mandarin reply's first clause ("好的，") goes to the TTS as soon as the LLM has written it:
Mandarin voices are the slow ones (Kokoro: ~0.6 s for a clause) and say the first clause on its
own anyway, so starting it before the sentence is complete brings the first audio forward by
the time the LLM takes to write the rest of the sentence, with the same sound.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from agent.sentences import SentenceSplitter
from agent.tts.base import TTS, SpeechChunk, SpeechOptions, Voice
from avatar.types import AUDIO_RATE

# Characters from which a reply's first clause is spoken on its own, by voice language.
FIRST_CLAUSE_CHARS = {"zh": 2}


@dataclass(slots=True)
class SpokenSentence:
    """A sentence of the reply and where its audio lies in the reply (seconds)."""

    text: str
    start: float
    end: float


@dataclass(slots=True)
class ReplyTimings:
    """Wall-clock marks (time.perf_counter) of one reply, for latency reports."""

    created: float = field(default_factory=time.perf_counter)
    llm_first_token: float | None = None
    first_sentence: float | None = None
    tts_first_audio: float | None = None


class ReplySource:
    """Streams a reply's speech while the LLM is still writing it."""

    jitter_ms = 0

    def __init__(
        self,
        tokens: AsyncIterator[str],
        tts: TTS,
        voice: Voice,
        options: SpeechOptions | None = None,
        on_sentence: Callable[[str], None] | None = None,
    ) -> None:
        self._first_clause_chars = FIRST_CLAUSE_CHARS.get(voice.language[:2], 0)
        self._tokens = tokens
        self._tts = tts
        self._voice = voice
        self._options = options or SpeechOptions()
        self._on_sentence = on_sentence
        self.sentences: list[SpokenSentence] = []
        self.text = ""  # everything the LLM wrote so far
        self.timings = ReplyTimings()
        self._audio_s = 0.0

    def heard_text(self, heard_s: float) -> str:
        """The part of the reply whose audio lay within the first `heard_s` seconds: whole
        sentences, and the words of a cut sentence in proportion to the time heard."""
        parts: list[str] = []
        for s in self.sentences:
            if s.end <= heard_s:
                parts.append(s.text)
            elif s.start < heard_s:
                words = s.text.split()
                if len(words) > 1:
                    n = int(len(words) * (heard_s - s.start) / max(s.end - s.start, 1e-6))
                    cut = " ".join(words[:n])
                else:  # Chinese has no spaces: cut by characters
                    n = int(len(s.text) * (heard_s - s.start) / max(s.end - s.start, 1e-6))
                    cut = s.text[:n]
                if cut:
                    parts.append(cut + "…")
                break
        return " ".join(parts)

    async def _sentences(self) -> AsyncIterator[str]:
        splitter = SentenceSplitter(first_clause_chars=self._first_clause_chars)
        async for token in self._tokens:
            if self.timings.llm_first_token is None:
                self.timings.llm_first_token = time.perf_counter()
            self.text += token
            for sentence in splitter.push(token):
                yield sentence
        for sentence in splitter.flush():
            yield sentence

    async def chunks(self) -> AsyncIterator[SpeechChunk]:
        sentences = self._sentences()
        try:
            async for sentence in sentences:
                if self.timings.first_sentence is None:
                    self.timings.first_sentence = time.perf_counter()
                if self._on_sentence is not None:
                    self._on_sentence(sentence)
                start = self._audio_s
                async for chunk in self._speak(sentence, start):
                    yield chunk
                self.sentences.append(SpokenSentence(sentence, start, self._audio_s))
        finally:
            await sentences.aclose()
            aclose = getattr(self._tokens, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _speak(self, sentence: str, offset: float) -> AsyncIterator[SpeechChunk]:
        stream = self._tts.synthesize(sentence, self._voice, self._options)
        try:
            async for chunk in stream:
                if self.timings.tts_first_audio is None:
                    self.timings.tts_first_audio = time.perf_counter()
                yield shift_chunk(chunk, offset)
                self._audio_s += len(chunk.pcm) / AUDIO_RATE
        finally:
            await stream.aclose()


def shift_chunk(chunk: SpeechChunk, offset: float) -> SpeechChunk:
    """The chunk with its timings moved by `offset` seconds (sentence → whole reply)."""
    if offset == 0:
        return chunk
    from dataclasses import replace

    return SpeechChunk(
        chunk.pcm,
        [replace(p, start=p.start + offset, end=p.end + offset) for p in chunk.phonemes],
        [replace(w, start=w.start + offset, end=w.end + offset) for w in chunk.words],
    )
