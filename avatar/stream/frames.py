"""A stream task's video frames from parameters to sinks: rendered through its render host,
ahead of their time, and sent at their time, so that a frame leaves with its audio.

- At most `max_inflight` frames render at once; a frame due while the renderer is busy waits in
  a one-place slot, and one overtaken there by a newer frame is dropped (and counted).
- `ahead` follows the render latency (about its 90th percentile, queueing in the pool included,
  at most `MAX_AHEAD`); the task starts preparing frame i that long before i / fps.
- A frame rendered early waits for its time; frames never go out backwards.
- `cut(frame)` (an interrupt): frames drawn or drawing for `frame` and later are stale and dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from avatar.stream.render_host import RenderHost
from avatar.types import REST_MOUTH, FrameParams, VideoFrame

if TYPE_CHECKING:
    from avatar.stream.task import StreamStats

log = logging.getLogger(__name__)

MAX_AHEAD = 0.12  # at most this much rendering ahead of the clock (and added audio latency)


class FramePipeline:
    """Renders and sends one task's frames (see the module docstring)."""

    def __init__(
        self,
        host: RenderHost,
        fps: int,
        t0: float,
        stats: StreamStats,
        send: Callable[[VideoFrame], None],
        max_inflight: int = 1,
        name: str = "",
    ) -> None:
        self._host = host
        self._fps = fps
        self._t0 = t0  # loop time of frame 0
        self._stats = stats
        self._send = send
        self._max_inflight = max(1, max_inflight)
        self._name = name
        self.ahead = 0.0
        self._lat_mean = 0.0
        self._lat_dev = 0.0
        self._inflight: set[asyncio.Future[Any]] = set()
        self._waiting: tuple[int, FrameParams, float] | None = None
        self._ready: deque[VideoFrame] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._generation = 0
        self._cut = 0
        self._last_sent = -1
        self._running = True

    def submit(self, index: int, params: FrameParams, t: float) -> None:
        """Render frame `index` (time t) now, or as soon as the renderer is free."""
        if not self._running:
            return
        if len(self._inflight) >= self._max_inflight:
            if self._waiting is not None:
                self._stats.frames_dropped += 1
            self._waiting = (index, params, t)
            return
        try:
            fut = self._host.render(params, t)
        except RuntimeError:  # the pool is shutting down (process exit)
            self._stats.frames_dropped += 1
            return
        self._inflight.add(fut)
        started = asyncio.get_running_loop().time()
        fut.add_done_callback(partial(self._on_rendered, index, self._generation, started))

    def cut(self, frame: int) -> None:
        """Frames from `frame` on that were drawn (or are drawing) before now are stale; the
        frame waiting to render gets a closed mouth."""
        self._generation += 1
        self._cut = frame
        kept = [f for f in self._ready if f.index < frame]
        self._stats.frames_dropped += len(self._ready) - len(kept)
        self._ready = deque(kept)
        if self._waiting is not None:
            index, params, t = self._waiting
            self._waiting = (index, params.with_mouth(REST_MOUTH), t)

    async def close(self) -> None:
        """Send nothing more; wait (briefly) for the frames still rendering."""
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ready.clear()
        if self._waiting is not None:
            self._waiting = None
            self._stats.frames_dropped += 1
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=2.0)

    def _on_rendered(
        self, index: int, generation: int, started: float, fut: asyncio.Future[Any]
    ) -> None:
        self._inflight.discard(fut)
        try:
            self._rendered(index, generation, started, fut)
        finally:
            waiting, self._waiting = self._waiting, None
            if waiting is not None:
                self.submit(*waiting)

    def _rendered(
        self, index: int, generation: int, started: float, fut: asyncio.Future[Any]
    ) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        stats = self._stats
        if exc is not None:
            stats.render_errors += 1
            stats.frames_dropped += 1
            if stats.render_errors == 1 or stats.render_errors % 250 == 0:
                log.error(
                    "%s: render failed (%d times)", self._name, stats.render_errors, exc_info=exc
                )
            return
        rgba, ms = fut.result()
        stats.frames_rendered += 1
        stats.render_ms_total += ms
        if not self._running:
            return
        self._learn(asyncio.get_running_loop().time() - started)
        if generation != self._generation and index >= self._cut:
            stats.frames_dropped += 1  # drawn before an interrupt, for a time after it
            return
        self._ready.append(VideoFrame(index, rgba))
        self._send_due()

    def _learn(self, latency: float) -> None:
        dev = abs(latency - self._lat_mean)
        self._lat_mean += 0.1 * (latency - self._lat_mean)
        self._lat_dev += 0.1 * (dev - self._lat_dev)
        self.ahead = min(MAX_AHEAD, self._lat_mean + 1.5 * self._lat_dev + 0.002)

    def _send_due(self) -> None:
        """Send the rendered frames whose time has come; wake up again for the next one."""
        self._timer = None
        if not self._running:
            return
        loop = asyncio.get_running_loop()
        now = loop.time() - self._t0
        while self._ready and self._ready[0].index / self._fps <= now + 0.001:
            frame = self._ready.popleft()
            if frame.index <= self._last_sent:  # never send backwards
                self._stats.frames_dropped += 1
                continue
            self._last_sent = frame.index
            self._send(frame)
        if self._ready:
            due = self._t0 + self._ready[0].index / self._fps
            self._timer = loop.call_at(due, self._send_due)
