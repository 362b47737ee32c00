"""A viewer's queue on the event loop: items put at the task's clock, one awaiting reader (the
RTP sender). Subclasses decide what `put` keeps (tracks.py: newest audio; video.py: encoded
frames from a keyframe on)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from aiortc.mediastreams import MediaStreamError

T = TypeVar("T")


class ReaderFeed(Generic[T]):
    """FIFO with one awaiting reader; `put` is the subclass's, `get` ends with MediaStreamError
    once closed and drained."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._waiter: asyncio.Future[None] | None = None
        self.started = False  # the reader has pulled once
        self.closed = False
        self.dropped = 0
        self.delivered = 0

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

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
