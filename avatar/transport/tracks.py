"""aiortc tracks fed by a stream task: bounded queues filled at the task's clock, pulled by the
RTP senders.

Pictures arrive encoded once for all viewers (video.py) with RTP timestamps from the task's
frame index, audio as Opus packets with pts from its chunk index (see encode.py), so audio and
video of one task stay in step for hours. When a viewer is slow its queued video is dropped (and
counted) up to the next keyframe (video.py's EncodedVideoFeed). Audio is
kept unless the process is starved for longer than the audio queue (300 ms): then the oldest
packets go too, because a receiver pairs RTP timestamps with the time they were *sent* (RTCP
sender reports), so audio sent late would play out of step with the pictures for the rest of
the session.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from avatar.transport.video import EncodedFrame, EncodedVideoFeed

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
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

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


class TaskVideoTrack(MediaStreamTrack):
    """Video of a stream task for one viewer: frames encoded once per task (video.py), which the
    viewer's sender only packs into RTP (`recv` returns an EncodedFrame, not an AVFrame).

    `request_keyframe(restart)` reaches the task's shared encoder once the codec is known."""

    kind = "video"

    def __init__(self, fps: int, max_queued: int = 3) -> None:
        super().__init__()
        self.fps = fps
        self.request_keyframe: Callable[[bool], None] = lambda restart: None
        self.feed = EncodedVideoFeed(max_queued, lambda restart: self.request_keyframe(restart))

    def push(self, frame: EncodedFrame) -> None:
        self.feed.put(frame)

    def end(self) -> None:
        self.feed.close()
        self.stop()

    async def recv(self) -> EncodedFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        return await self.feed.get()


class TaskAudioTrack(MediaStreamTrack):
    """Audio of a stream task as Opus packets, encoded once per task (aiortc only packetizes)."""

    kind = "audio"

    def __init__(self, max_queued: int = 15) -> None:
        super().__init__()
        self.feed: _Feed[av.Packet] = _Feed(max_queued)

    def push(self, packet: av.Packet) -> None:
        self.feed.put(packet)

    def end(self) -> None:
        self.feed.close()
        self.stop()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        return await self.feed.get()
