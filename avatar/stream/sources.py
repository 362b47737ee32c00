"""Drive sources: where a drive's speech comes from (see `DriveSource` in contract.py).

- `TextSource`: a TTS voice speaking a text, sentence by sentence, with its timings.
- `AudioBytesSource`: an audio file (WAV, MP3, or anything FFmpeg reads) decoded while it
  downloads, so the first audio plays before the last byte has arrived.
- `PushSource`: live PCM pushed by a WebSocket or an RTC stream; the runtime applies its
  `jitter_ms` prebuffer so that short gaps close the mouth instead of making it stutter.

All yield `SpeechChunk`s of 16 kHz mono int16; closing the iteration stops the work behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from agent.tts.base import TTS, SpeechChunk, SpeechOptions, Voice
from avatar.stream.decode import (
    AudioDecodeError,
    BytePipe,
    PcmConverter,
    WavStreamDecoder,
    decode_with_ffmpeg,
    sniff_format,
)
from avatar.types import AUDIO_RATE

__all__ = ["AudioBytesSource", "AudioDecodeError", "PushSource", "TextSource"]


class TextSource:
    """Speech of `text` in `voice`, streamed sentence by sentence from the TTS backend."""

    jitter_ms = 0

    def __init__(
        self, tts: TTS, voice: Voice, text: str, options: SpeechOptions | None = None
    ) -> None:
        self.tts = tts
        self.voice = voice
        self.text = text
        self.options = options or SpeechOptions()

    @classmethod
    def from_registry(
        cls, registry: Any, timbre_id: str, text: str, options: SpeechOptions | None = None
    ) -> TextSource:
        """Look the voice up in an `agent.tts.registry.TTSRegistry` (KeyError when unknown)."""
        tts, voice = registry.get(timbre_id)
        return cls(tts, voice, text, options)

    async def chunks(self) -> AsyncIterator[SpeechChunk]:
        stream = self.tts.synthesize(self.text, self.voice, self.options)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            # Closing the backend's generator cancels its synthesis (its own finally blocks).
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


_END = object()


class AudioBytesSource:
    """An audio file arriving as bytes (a download), decoded as it arrives.

    WAV is parsed in place; MP3 and other formats are decoded by FFmpeg (PyAV) in a thread of
    its own that reads from a pipe, with at most `max_pending` decoded pieces waiting.
    """

    jitter_ms = 0

    def __init__(self, byte_iter: AsyncIterator[bytes], max_pending: int = 256) -> None:
        self._bytes = byte_iter
        self._max_pending = max_pending
        self._used = False

    async def chunks(self) -> AsyncIterator[SpeechChunk]:
        if self._used:
            raise RuntimeError("an AudioBytesSource can be iterated once")
        self._used = True
        it = aiter(self._bytes)
        try:
            head = bytearray()
            ended = False
            while len(head) < 12:
                try:
                    head += await anext(it)
                except StopAsyncIteration:
                    ended = True
                    break
            if not head:
                raise AudioDecodeError("the audio file is empty")
            if sniff_format(bytes(head)) == "wav":
                decoded = self._wav(bytes(head), it, ended)
            else:
                decoded = self._ffmpeg(bytes(head), it, ended)
            # Closed explicitly: its cleanup (thread, feeder) must run now, not at GC time.
            async with contextlib.aclosing(decoded):
                async for pcm in decoded:
                    yield SpeechChunk(pcm)
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    @staticmethod
    async def _wav(head: bytes, it: AsyncIterator[bytes], ended: bool) -> AsyncIterator[np.ndarray]:
        # Parsing and resampling a few KB at a time is microseconds: no thread needed.
        dec = WavStreamDecoder()
        pcm = dec.feed(head)
        if len(pcm):
            yield pcm
        if not ended:
            async for data in it:
                pcm = dec.feed(data)
                if len(pcm):
                    yield pcm
        pcm = dec.finish()
        if len(pcm):
            yield pcm

    async def _ffmpeg(
        self, head: bytes, it: AsyncIterator[bytes], ended: bool
    ) -> AsyncIterator[np.ndarray]:
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[Any] = asyncio.Queue()
        pipe = BytePipe()
        cancelled = threading.Event()
        space = threading.Semaphore(self._max_pending)

        def post(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(out.put_nowait, item)

        def emit(pcm: np.ndarray) -> None:
            while not space.acquire(timeout=0.2):
                if cancelled.is_set():
                    raise _Cancelled
            post(pcm)

        def work() -> None:
            try:
                decode_with_ffmpeg(pipe, sniff_format(head), emit, cancelled)
                result: Any = _END
            except _Cancelled:
                return
            except Exception as exc:
                result = exc
            if not cancelled.is_set():
                post(result)

        async def feed() -> None:
            try:
                async for data in it:
                    pipe.write(data)
            except Exception as exc:
                out.put_nowait(exc)
            finally:
                pipe.close()

        pipe.write(head)
        feeder: asyncio.Task[None] | None = None
        if ended:
            pipe.close()
        else:
            feeder = asyncio.create_task(feed(), name="audio-feed")
        thread = threading.Thread(target=work, name="audio-decode", daemon=True)
        thread.start()
        try:
            while True:
                item = await out.get()
                if isinstance(item, np.ndarray):
                    space.release()
                    yield item
                elif item is _END:
                    return
                else:
                    raise item
        finally:
            cancelled.set()
            pipe.close()
            if feeder is not None:
                feeder.cancel()
                await asyncio.wait({feeder})


class _Cancelled(Exception):
    """The consumer went away while the decoder thread waited to hand over audio."""


class PushSource:
    """Live PCM pushed from outside (WebSocket, RTC), ending when `end()` was called and all
    pushed audio has been yielded.

    Call `push` and `end` on the event loop. `sample_rate` is that of the pushed PCM (16000 or
    24000 per the WebSocket protocol; resampled here). `jitter_ms` is read by the stream runtime:
    it waits for that much audio before starting, and again after running dry (raising the
    target a little after each underrun, up to 200 ms), so gaps become silence with a closed
    mouth instead of a stutter.
    """

    def __init__(
        self, sample_rate: int = AUDIO_RATE, jitter_ms: int = 40, max_buffer_s: float = 600.0
    ) -> None:
        self.sample_rate = sample_rate
        self.jitter_ms = jitter_ms
        self._max_samples = int(max_buffer_s * AUDIO_RATE)
        self._conv = PcmConverter(sample_rate, 1) if sample_rate != AUDIO_RATE else None
        self._pending: deque[np.ndarray] = deque()
        self._pending_samples = 0
        self._wake = asyncio.Event()
        self._ended = False
        self._closed = False
        self.samples_pushed = 0  # at 16 kHz, after resampling

    @property
    def ended(self) -> bool:
        """`end()` was called."""
        return self._ended

    @property
    def closed(self) -> bool:
        """The drive stopped reading (finished, interrupted or failed): pushes are ignored."""
        return self._closed

    def push(self, pcm: np.ndarray | bytes) -> bool:
        """Add int16 mono samples (or little-endian int16 bytes). Returns False when ignored
        (ended or closed). Raises BufferError past `max_buffer_s` of unplayed audio."""
        if self._ended or self._closed:
            return False
        if isinstance(pcm, bytes | bytearray | memoryview):
            data = bytes(pcm)
            pcm = np.frombuffer(data[: len(data) - len(data) % 2], "<i2")
        pcm = np.asarray(pcm, np.int16).reshape(-1)
        if self._conv is not None:
            pcm = self._conv.convert(pcm)
        if not len(pcm):
            return True
        if self._pending_samples + len(pcm) > self._max_samples:
            raise BufferError("too much live audio buffered ahead of playback")
        self._pending.append(pcm.copy())
        self._pending_samples += len(pcm)
        self.samples_pushed += len(pcm)
        self._wake.set()
        return True

    def end(self) -> None:
        """No more audio: the drive finishes once what was pushed has played."""
        if self._ended:
            return
        if self._conv is not None:
            tail = self._conv.flush()
            if len(tail):
                self._pending.append(tail)
                self._pending_samples += len(tail)
        self._ended = True
        self._wake.set()

    async def chunks(self) -> AsyncIterator[SpeechChunk]:
        try:
            while True:
                while self._pending:
                    pcm = self._pending.popleft()
                    self._pending_samples -= len(pcm)
                    yield SpeechChunk(pcm)
                if self._ended:
                    return
                self._wake.clear()
                await self._wake.wait()
        finally:
            self._closed = True
            self._pending.clear()
            self._pending_samples = 0
