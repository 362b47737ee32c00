"""A stream task's pictures encoded once per codec for all its viewers.

aiortc encodes per viewer, so every viewer costs a colour conversion and a VP8/H.264 encode.
Here each task has one `SharedVideoEncoder` per negotiated codec: a picture is converted to
yuv420p with OpenCV (about 0.1 ms at 512×512 against 1.4 ms in swscale) and encoded in a
thread of `encode_pool()` (both release the GIL), and the RTP payloads go to every viewer
using that codec; a viewer's sender only numbers and sends them (`PayloadPacker`).

Frames of one encoder depend on each other, so a viewer that misses one must not get the next:
`EncodedVideoFeed` skips to the next keyframe and asks the encoder for one, and so does a
viewer's first pull and a viewer's PLI/FIR. The bitrate is the configured one, lowered to the
lowest estimate (REMB) of the viewers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import av
from aiortc import RTCRtpCodecParameters
from aiortc.codecs import get_encoder
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError

from avatar.transport.encode import to_yuv420p
from avatar.types import VideoFrame

log = logging.getLogger(__name__)

MIN_BITRATE = 100_000

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def encode_pool() -> ThreadPoolExecutor:
    """The threads all video encoders of this process run in (one per core)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="encode"
            )
        return _pool


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One picture as RTP payloads of one codec, with its RTP timestamp (90 kHz)."""

    index: int
    payloads: list[bytes]
    timestamp: int
    keyframe: bool


def is_keyframe(codec: str, payloads: list[bytes]) -> bool:
    """Whether RTP payloads (as aiortc packetizes them) start a decodable picture."""
    if not payloads:
        return False
    if codec == "VP8":
        descr, data = VpxPayloadDescriptor.parse(payloads[0])
        return bool(descr.partition_start) and bool(data) and not data[0] & 1
    # H.264: an IDR slice, alone, aggregated (STAP-A) or fragmented (FU-A).
    for p in payloads:
        kind = p[0] & 0x1F
        if kind == 5 or (kind == 28 and len(p) > 1 and p[1] & 0x1F == 5):
            return True
        if kind == 24:
            pos = 1
            while pos + 2 < len(p):
                size = int.from_bytes(p[pos : pos + 2], "big")
                if p[pos + 2] & 0x1F == 5:
                    return True
                pos += 2 + size
    return False


class SharedVideoEncoder:
    """Encodes a task's pictures in one codec for every viewer that negotiated it.

    `submit` is called on the event loop at each frame's time; one frame encodes at a time (a
    frame arriving meanwhile waits, a newer one replaces it and the older is counted in
    `dropped`). Encoded frames go to `on_encoded` on the loop."""

    def __init__(
        self, codec: str, bitrate: int, fps: int, on_encoded: Callable[[EncodedFrame], None]
    ) -> None:
        self.codec = codec
        self.fps = fps
        mime = "video/VP8" if codec == "VP8" else "video/H264"
        self._enc: Any = get_encoder(RTCRtpCodecParameters(mimeType=mime, clockRate=90_000))
        self._cap = int(bitrate)
        self._wishes: dict[int, int] = {}  # viewer key -> its REMB estimate
        self._apply_bitrate()
        self._on_encoded = on_encoded
        self._busy = False
        self._waiting: VideoFrame | None = None
        self._keyframe = True  # the first frame is one anyway
        self._fresh = False  # H.264: restart the codec (an IDR with its parameter sets)
        self._closed = False
        self.encoded = 0
        self.dropped = 0
        self.keyframes = 0

    # ---- bitrate and keyframes (on the loop) ----

    def set_wish(self, key: int, bitrate: int | None) -> None:
        """A viewer's bitrate estimate (REMB), or None when it leaves."""
        if bitrate is None:
            self._wishes.pop(key, None)
        else:
            self._wishes[key] = int(bitrate)
        self._apply_bitrate()

    def _apply_bitrate(self) -> None:
        want = min([self._cap, *self._wishes.values()])
        want = max(MIN_BITRATE, want)
        self._enc.target_bitrate = want
        # aiortc clamps VP8 to 1.5 Mbps and H.264 to 3 Mbps; the config (≤ 3 Mbps) wins.
        attr = f"_{type(self._enc).__name__}__target_bitrate"
        if hasattr(self._enc, attr):
            setattr(self._enc, attr, want)

    @property
    def target_bitrate(self) -> int:
        return int(self._enc.target_bitrate)

    def request_keyframe(self, restart: bool = False) -> None:
        """The next frame encoded is a keyframe (`restart`: a new viewer joins; for H.264 the
        codec restarts so that the keyframe carries its parameter sets)."""
        self._keyframe = True
        if restart and self.codec == "H264":
            self._fresh = True

    # ---- frames ----

    def submit(self, frame: VideoFrame) -> None:
        if self._closed:
            return
        if self._busy:
            if self._waiting is not None:
                self.dropped += 1
            self._waiting = frame
            return
        self._start(frame)

    def _start(self, frame: VideoFrame) -> None:
        self._busy = True
        force, self._keyframe = self._keyframe, False
        fresh, self._fresh = self._fresh, False
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(encode_pool(), self._encode, frame, force, fresh)
        fut.add_done_callback(lambda f: self._done(frame.index, f))

    def _encode(self, frame: VideoFrame, force: bool, fresh: bool) -> tuple[list[bytes], int]:
        """In an encode thread."""
        if fresh:
            self._enc.codec = None  # aiortc makes a new one on this frame
        av_frame = to_yuv420p(frame, self.fps)
        return self._enc.encode(av_frame, force)

    def _done(self, index: int, fut: asyncio.Future) -> None:
        self._busy = False
        if self._closed:
            return
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self.dropped += 1
            log.error("video encode failed", exc_info=exc)
        else:
            payloads, timestamp = fut.result()
            if payloads:
                key = is_keyframe(self.codec, payloads)
                self.encoded += 1
                self.keyframes += key
                self._on_encoded(EncodedFrame(index, payloads, timestamp, key))
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self._start(waiting)

    def close(self) -> None:
        self._closed = True
        self._waiting = None


class PayloadPacker:
    """Stands in for aiortc's per-viewer encoder: hands over a shared encoder's payloads, and
    passes the viewer's keyframe requests and bitrate estimates to it."""

    def __init__(self, encoder: SharedVideoEncoder) -> None:
        self._shared = encoder
        self._key = id(self)

    @property
    def target_bitrate(self) -> int:
        return self._shared.target_bitrate

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        self._shared.set_wish(self._key, bitrate)

    def pack(self, frame: EncodedFrame) -> tuple[list[bytes], int]:
        return frame.payloads, frame.timestamp

    def encode(self, frame: av.VideoFrame, force_keyframe: bool = False):  # pragma: no cover
        raise TypeError("viewers receive frames encoded by the task's shared encoder")

    def leave(self) -> None:
        self._shared.set_wish(self._key, None)


class EncodedVideoFeed:
    """A viewer's queue of encoded frames (on the event loop, one awaiting reader).

    Nothing is kept before the first pull; from then on the viewer starts at a keyframe (asked
    for with `request_keyframe(restart)`). When the reader falls `maxlen` frames behind, the queue is
    dropped (and counted) and the viewer waits for the next keyframe: frames after a missing
    one would not decode."""

    def __init__(self, maxlen: int, request_keyframe: Callable[[bool], None]) -> None:
        self._items: deque[EncodedFrame] = deque()
        self._maxlen = maxlen
        self._request_keyframe = request_keyframe
        self._waiter: asyncio.Future[None] | None = None
        self._need_key = True
        self.started = False
        self.closed = False
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: EncodedFrame) -> None:
        if self.closed or not self.started:
            return
        if self._need_key:
            if not frame.keyframe:
                self.dropped += 1
                return
            self._need_key = False
        elif len(self._items) >= self._maxlen:
            self.dropped += len(self._items) + 1
            self._items.clear()
            self._need_key = True
            self._request_keyframe(False)
            return
        self._items.append(frame)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def keyframe_wanted(self) -> None:
        """The viewer lost a picture (PLI/FIR): ask for a keyframe."""
        self._request_keyframe(False)

    def close(self) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __len__(self) -> int:
        return len(self._items)

    async def get(self) -> EncodedFrame:
        if not self.started:
            self.started = True
            self._request_keyframe(True)  # a new decoder: H.264 needs its parameter sets
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
