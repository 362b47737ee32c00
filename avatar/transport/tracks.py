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

from collections.abc import Callable
from typing import TypeVar

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from avatar.transport.feed import ReaderFeed
from avatar.transport.video import EncodedFrame, EncodedVideoFeed

T = TypeVar("T")


class _Feed(ReaderFeed[T]):
    """A bounded FIFO with one awaiting reader, used on the event loop only.

    Until the reader's first pull only the newest item is kept: a viewer whose connection takes
    a second to come up must start at "now", not a second behind for the rest of the session.
    `dropped` counts items dropped because the reader was slow (not the pre-start ones).
    """

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
