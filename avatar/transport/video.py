"""A stream task's pictures encoded once per codec for all its viewers.

aiortc encodes per viewer, so every viewer costs a colour conversion and a VP8/H.264 encode.
Here each task has one `SharedVideoEncoder` per negotiated codec: a picture is converted to
yuv420p with OpenCV (about 0.1 ms at 512×512 against 1.4 ms in swscale) and encoded in a
thread of `encode_pool()` (both release the GIL), and the RTP payloads (aiortc's packetizers)
go to every viewer using that codec; a viewer's sender only numbers and sends them
(`PayloadPacker`).

The codecs are aiortc's settings (realtime CBR VP8, Baseline H.264 tuned for zero latency) with
faster speed presets, measured on the photo avatar at 512×512, 1 Mbps (ms per frame on this
machine's cores, PSNR against the rendered frames): VP8 cpu-used -6 → -12: 1.9 → 1.5 ms,
35.01 → 34.88 dB; x264 preset medium → veryfast: 7.3 → 2.1 ms, 36.07 → 35.92 dB. Neither
difference shows on a decoded frame. VP8 also runs without aiortc's temporal denoiser
(noise-sensitivity 4: rendered pictures have no camera noise to remove) and at cpu-used -16:
on 150 frames of a talking-head video at 512×512, 1 Mbps, 2.17 → 1.68 ms per frame and PSNR-Y
39.7 → 40.0 dB (the denoiser moved the picture away from its source). Forced keyframes are IDR
frames with their parameter sets.

Frames of one encoder depend on each other, so a viewer that misses one must not get the next:
`EncodedVideoFeed` skips to the next keyframe and asks the encoder for one, and so does a
viewer's first pull and a viewer's PLI/FIR. The bitrate is the configured one, lowered to the
lowest estimate (REMB) of the viewers.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import av
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from avatar.stream.render_host import named_pool
from avatar.transport.encode import to_yuv420p
from avatar.transport.feed import ReaderFeed
from avatar.types import VideoFrame

log = logging.getLogger(__name__)

MIN_BITRATE = 100_000
VP8_CPU_USED = -16  # libvpx realtime speed, its fastest (aiortc: -6)
X264_PRESET = "veryfast"  # (aiortc: libx264's default, medium)


def encode_pool() -> ThreadPoolExecutor:
    """The threads all video encoders of this process run in (one per core)."""
    return named_pool("encode")


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One picture as RTP payloads of one codec, with its RTP timestamp (90 kHz)."""

    index: int
    payloads: list[bytes]
    timestamp: int
    keyframe: bool


class VideoCodec:
    """One PyAV encoder of a codec, made again (starting with a keyframe) when the frame size or
    the bitrate (by more than 10 %) changes, as aiortc does; `encode` returns RTP payloads."""

    def __init__(self, codec: str, fps: int) -> None:
        self.codec = codec
        self.fps = fps
        self.target_bitrate = 1_000_000
        self._ctx: Any = None
        self._picture_id = random.randint(0, (1 << 15) - 1)

    def _open(self, width: int, height: int) -> Any:
        br = self.target_bitrate
        if self.codec == "VP8":
            ctx = av.CodecContext.create("libvpx", "w")
            ctx.gop_size = 3000  # keyframes on request only
            ctx.qmin, ctx.qmax = 2, 56
            ctx.options = {
                "bufsize": str(br),
                "cpu-used": str(VP8_CPU_USED),
                "deadline": "realtime",
                "lag-in-frames": "0",
                "minrate": str(br),  # minrate = maxrate = bit_rate: CBR
                "maxrate": str(br),
                "overshoot-pct": "15",
                "partitions": "0",
                "static-thresh": "1",
                "undershoot-pct": "100",
            }
        else:
            ctx = av.CodecContext.create("libx264", "w")
            ctx.options = {
                "level": "31",
                "tune": "zerolatency",
                "preset": X264_PRESET,
                "forced-idr": "1",  # a requested keyframe can start a new viewer's decoder
            }
            ctx.profile = "Baseline"
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.bit_rate = br
        ctx.framerate = fractions.Fraction(self.fps, 1)
        ctx.time_base = fractions.Fraction(1, self.fps)
        ctx.thread_count = 1  # parallelism comes from streams, one encode each at a time
        return ctx

    def encode(self, frame: av.VideoFrame, keyframe: bool) -> tuple[list[bytes], bool]:
        """RTP payloads of one yuv420p frame, and whether it is a keyframe."""
        ctx = self._ctx
        if ctx is not None and (
            frame.width != ctx.width
            or frame.height != ctx.height
            or abs(self.target_bitrate - ctx.bit_rate) / ctx.bit_rate > 0.1
        ):
            ctx = None
        if ctx is None:
            ctx = self._ctx = self._open(frame.width, frame.height)
        frame.pict_type = (
            av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        )
        packets = ctx.encode(frame)
        data = b"".join(bytes(p) for p in packets)
        key = any(p.is_keyframe for p in packets)
        if not data:
            return [], False
        if self.codec == "VP8":
            payloads = Vp8Encoder._packetize(data, self._picture_id)
            self._picture_id = (self._picture_id + 1) % (1 << 15)
        else:
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(data))
        return payloads, key


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
        self._enc = VideoCodec(codec, fps)
        self._cap = int(bitrate)
        self._wishes: dict[int, int] = {}  # viewer key -> its REMB estimate
        self._apply_bitrate()
        self._on_encoded = on_encoded
        self._busy = False
        self._waiting: VideoFrame | None = None
        self._keyframe = True  # the first frame is one anyway
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
        self._enc.target_bitrate = max(MIN_BITRATE, min([self._cap, *self._wishes.values()]))

    @property
    def target_bitrate(self) -> int:
        return int(self._enc.target_bitrate)

    def request_keyframe(self, restart: bool = False) -> None:
        """The next frame encoded is a keyframe (`restart`: for a new viewer's decoder; every
        keyframe is an IDR frame with its parameter sets, so this is the same)."""
        self._keyframe = True

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
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(encode_pool(), self._encode, frame, force)
        fut.add_done_callback(lambda f: self._done(frame.index, f))

    def _encode(self, frame: VideoFrame, force: bool) -> tuple[list[bytes], bool, int]:
        """In an encode thread (one frame of this encoder at a time)."""
        av_frame = to_yuv420p(frame, self.fps)
        timestamp = int(av_frame.pts)  # on the 90 kHz RTP clock (encoding rebases it)
        payloads, key = self._enc.encode(av_frame, force)
        return payloads, key, timestamp

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
            payloads, key, timestamp = fut.result()
            if payloads:
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


class EncodedVideoFeed(ReaderFeed[EncodedFrame]):
    """A viewer's queue of encoded frames (on the event loop, one awaiting reader).

    Nothing is kept before the first pull; from then on the viewer starts at a keyframe (asked
    for with `request_keyframe(restart)`). When the reader falls `maxlen` frames behind, the queue is
    dropped (and counted) and the viewer waits for the next keyframe: frames after a missing
    one would not decode."""

    def __init__(self, maxlen: int, request_keyframe: Callable[[bool], None]) -> None:
        super().__init__(maxlen)
        self._request_keyframe = request_keyframe
        self._need_key = True

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
        self._wake()

    def keyframe_wanted(self) -> None:
        """The viewer lost a picture (PLI/FIR): ask for a keyframe."""
        self._request_keyframe(False)

    async def get(self) -> EncodedFrame:
        if not self.started:
            self.started = True
            self._request_keyframe(True)  # a new decoder: H.264 needs its parameter sets
        return await super().get()
