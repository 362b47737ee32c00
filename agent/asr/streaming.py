"""Transcribing an utterance while it is spoken: partial transcripts and a speculative final.

Whisper has no incremental decoder, so partials come from re-transcribing the growing utterance
(every `partial_interval` seconds of new audio, never two at once). At a short pause the caller
may `speculate()`: the final transcription starts then, and if the pause turns out to be the end
of the turn, `finish()` returns its result without a new model call; if speech resumes, the
speculative result no longer covers the audio and is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np

from agent.asr.base import ASR, Transcript
from avatar.types import AUDIO_RATE


class StreamingTranscriber:
    """One utterance at a time: `push` audio, `poll_partial`, `speculate`, `finish`, `reset`."""

    def __init__(
        self,
        asr: ASR,
        language: str | None = None,
        partial_interval: float = 1.0,
        min_audio: float = 0.3,
        max_seconds: float = 30.0,
    ) -> None:
        self.asr = asr
        self.language = language
        self.partial_interval = partial_interval
        self.min_audio = min_audio
        self.max_samples = int(max_seconds * AUDIO_RATE)
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._inflight: tuple[int, asyncio.Task[Transcript]] | None = None
        self._last_partial_at = 0  # samples covered by the last partial started
        self._latest: tuple[int, Transcript] | None = None  # newest finished transcription
        self._reported = 0  # samples covered by the last partial handed out

    @property
    def seconds(self) -> float:
        return self._samples / AUDIO_RATE

    def push(self, pcm: np.ndarray) -> None:
        """Append int16 PCM of the current utterance (Whisper's window: 30 s at most)."""
        if self._samples >= self.max_samples:
            return
        pcm = np.asarray(pcm, np.int16).reshape(-1)[: self.max_samples - self._samples]
        self._chunks.append(pcm)
        self._samples += len(pcm)

    def audio(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros(0, np.int16)

    def _collect(self) -> None:
        if self._inflight and self._inflight[1].done():
            covered, task = self._inflight
            self._inflight = None
            if not task.cancelled() and task.exception() is None:
                self._latest = (covered, task.result())

    def _start(self) -> None:
        covered = self._samples
        task = asyncio.create_task(self.asr.atranscribe(self.audio().copy(), self.language))
        self._inflight = (covered, task)

    def poll_partial(self) -> str | None:
        """Non-blocking: a newer partial transcript when one is ready, else None; starts the next
        re-transcription when enough new audio has come in and none is running."""
        self._collect()
        text = None
        if self._latest and self._latest[0] > self._reported:
            self._reported = self._latest[0]
            text = self._latest[1].text
        due = self._samples - self._last_partial_at >= self.partial_interval * AUDIO_RATE
        if self._inflight is None and due and self._samples >= self.min_audio * AUDIO_RATE:
            self._last_partial_at = self._samples
            self._start()
        return text

    def speculate(self) -> None:
        """A short pause: start the final transcription now, in case the turn has ended."""
        self._collect()
        if self._samples < self.min_audio * AUDIO_RATE:
            return
        if self._latest and self._latest[0] == self._samples:
            return
        if self._inflight is None:
            self._last_partial_at = self._samples
            self._start()

    async def finish(self) -> Transcript:
        """The transcript of the whole utterance; reuses a speculative run that covers it."""
        self._collect()
        if self._inflight is not None:
            covered, task = self._inflight
            if covered == self._samples:
                result = await task
                self._inflight = None
                self._latest = (covered, result)
                return result
            with contextlib.suppress(Exception):
                await task  # older audio: one worker thread, so wait for it to free up
            self._inflight = None
        if self._latest and self._latest[0] == self._samples:
            return self._latest[1]
        return await self.asr.atranscribe(self.audio().copy(), self.language)

    def reset(self) -> None:
        """Start a new utterance (a running transcription is left to finish and dropped)."""
        if self._inflight is not None:
            self._inflight[1].cancel()
        self._inflight = None
        self._chunks, self._samples = [], 0
        self._last_partial_at = self._reported = 0
        self._latest = None

    async def aclose(self) -> None:
        if self._inflight is not None:
            task = self._inflight[1]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._inflight = None
