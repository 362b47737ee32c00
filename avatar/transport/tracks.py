"""aiortc tracks fed by a stream task: bounded queues filled at the task's clock, pulled by the
RTP senders.

Timestamps come from the task's clock indices (frame index at the task's fps, audio chunk index
at 50/s), never from wall time, so audio and video of one task stay in step for hours. When a
viewer is slow the oldest queued video frame is dropped (and counted); audio is never dropped
in normal operation (its queue only bounds a dead viewer's memory).
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from typing import Generic, TypeVar

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from avatar.types import AUDIO_RATE, CHUNK_SAMPLES, AudioChunk, VideoFrame

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)

T = TypeVar("T")


class _Feed(Generic[T]):
    """A bounded FIFO with one awaiting reader, used on the event loop only.

    Until the reader's first pull only the newest item is kept: a viewer whose connection takes
    a second to come up must start at "now", not a second behind for the rest of the session.
    """

    def __init__(self, maxlen: int) -> None:
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._waiter: asyncio.Future[None] | None = None
        self.started = False
        self.closed = False
        self.dropped = 0  # items dropped because the reader was slow (not the pre-start ones)
        self.delivered = 0

    def put(self, item: T) -> None:
        if self.closed:
            return
        if not self.started:
            self._items.clear()
        elif len(self._items) >= self._maxlen:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self) -> T:
        self.started = True
        while not self._items:
            if self.closed:
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self.delivered += 1
        return self._items.popleft()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class TaskVideoTrack(MediaStreamTrack):
    """Video of a stream task: RGBA frames in, av.VideoFrame out with pts = index / fps."""

    kind = "video"

    def __init__(self, fps: int, max_queued: int = 3) -> None:
        super().__init__()
        self.fps = fps
        self.feed: _Feed[VideoFrame] = _Feed(max_queued)

    def push(self, frame: VideoFrame) -> None:
        self.feed.put(frame)

    def end(self) -> None:
        self.feed.close()
        self.stop()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.feed.get()
        rgba = frame.rgba
        # An RGB(A) copy into an AVFrame is a memcpy; the yuv420p conversion happens inside the
        # encoder, which aiortc runs in its thread pool, off the event loop.
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format=_pix_fmt(rgba))
        out.pts = round(frame.index * VIDEO_CLOCK / self.fps)
        out.time_base = VIDEO_TIME_BASE
        return out


class TaskAudioTrack(MediaStreamTrack):
    """Audio of a stream task: 20 ms 16 kHz int16 chunks in, av.AudioFrame out (aiortc's Opus
    encoder resamples to 48 kHz)."""

    kind = "audio"

    def __init__(self, max_queued: int = 250) -> None:
        super().__init__()
        self.feed: _Feed[AudioChunk] = _Feed(max_queued)

    def push(self, chunk: AudioChunk) -> None:
        self.feed.put(chunk)

    def end(self) -> None:
        self.feed.close()
        self.stop()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        chunk = await self.feed.get()
        pcm = np.ascontiguousarray(chunk.pcm, dtype=np.int16).reshape(1, -1)
        out = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        out.sample_rate = AUDIO_RATE
        out.pts = chunk.index * CHUNK_SAMPLES
        out.time_base = AUDIO_TIME_BASE
        return out


def _pix_fmt(img: np.ndarray) -> str:
    if img.ndim == 3 and img.shape[2] == 4:
        return "rgba"
    if img.ndim == 3 and img.shape[2] == 3:
        return "rgb24"
    raise ValueError(f"unsupported frame shape {img.shape}")
