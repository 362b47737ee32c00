"""Published microphones (WHIP ingest): a peer sends audio under RoomId/StreamId; its decoded
audio, resampled to 16 kHz int16 in 20 ms chunks, goes to whoever follows that stream
(DriveByRTCStream).

`PublishRegistry` holds the live published streams; `RtcAudioSource` is the DriveSource that
follows one of them until its publisher leaves or the drive is interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from agent.tts.base import SpeechChunk
from avatar.transport.ice import rtc_configuration, strip_mdns_candidates
from avatar.types import AUDIO_RATE, CHUNK_SAMPLES

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = 250  # 5 s of chunks: a follower further behind than that loses the oldest


class PublishedStream:
    """One published audio stream fanned out to its followers."""

    def __init__(self, room_id: str, stream_id: str) -> None:
        self.room_id = room_id
        self.stream_id = stream_id
        self.id = uuid.uuid4().hex
        self._subs: set[asyncio.Queue[np.ndarray | None]] = set()
        self.ended = False
        self.chunks_in = 0

    def publish(self, pcm: np.ndarray) -> None:
        self.chunks_in += 1
        for q in self._subs:
            if q.full():
                q.get_nowait()
            q.put_nowait(pcm)

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        for q in self._subs:
            if q.full():
                q.get_nowait()
            q.put_nowait(None)

    async def subscribe(self) -> AsyncIterator[np.ndarray]:
        """Yield 20 ms chunks from now on until the publisher leaves."""
        q: asyncio.Queue[np.ndarray | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        if self.ended:
            return
        self._subs.add(q)
        try:
            while (pcm := await q.get()) is not None:
                yield pcm
        finally:
            self._subs.discard(q)


class PublishRegistry:
    """Published streams by (RoomId, StreamId); one publisher per stream at a time."""

    def __init__(self) -> None:
        self._streams: dict[tuple[str, str], PublishedStream] = {}
        self._changed = asyncio.Condition()

    def get(self, room_id: str, stream_id: str) -> PublishedStream | None:
        return self._streams.get((room_id, stream_id))

    async def add(self, stream: PublishedStream) -> None:
        key = (stream.room_id, stream.stream_id)
        if key in self._streams:
            raise KeyError("this stream is already being published")
        self._streams[key] = stream
        async with self._changed:
            self._changed.notify_all()

    def remove(self, stream: PublishedStream) -> None:
        key = (stream.room_id, stream.stream_id)
        if self._streams.get(key) is stream:
            del self._streams[key]
        stream.end()

    async def wait_for(self, room_id: str, stream_id: str, timeout_s: float) -> PublishedStream:
        """The published stream, waiting up to timeout_s for its publisher to arrive."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: (room_id, stream_id) in self._streams)
            return self._streams[(room_id, stream_id)]


class RtcAudioSource:
    """DriveSource of DriveByRTCStream: the audio of a published stream, as it arrives."""

    jitter_ms = 60  # network audio: the runtime prebuffers this much (and after a gap)

    def __init__(
        self, registry: PublishRegistry, room_id: str, stream_id: str, wait_s: float = 30.0
    ) -> None:
        self.registry = registry
        self.room_id = room_id
        self.stream_id = stream_id
        self.wait_s = wait_s

    async def chunks(self) -> AsyncIterator[SpeechChunk]:
        try:
            stream = await self.registry.wait_for(self.room_id, self.stream_id, self.wait_s)
        except TimeoutError as e:
            raise RuntimeError(
                f"no stream {self.stream_id!r} published in room {self.room_id!r}"
            ) from e
        async for pcm in stream.subscribe():
            yield SpeechChunk(pcm=pcm)


class Rechunker:
    """Decoded audio frames of any rate/layout → 20 ms 16 kHz mono int16 chunks."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        self._buf = np.zeros(0, np.int16)

    def push(self, frame: av.AudioFrame) -> list[np.ndarray]:
        out = [f.to_ndarray().reshape(-1).astype(np.int16) for f in self._resampler.resample(frame)]
        if out:
            self._buf = np.concatenate([self._buf, *out])
        chunks = []
        while len(self._buf) >= CHUNK_SAMPLES:
            chunks.append(self._buf[:CHUNK_SAMPLES].copy())
            self._buf = self._buf[CHUNK_SAMPLES:]
        return chunks


class WhipPublisher:
    """One WHIP publisher: answers its offer and publishes its audio until it leaves."""

    def __init__(self, registry: PublishRegistry, room_id: str, stream_id: str) -> None:
        self.registry = registry
        self.stream = PublishedStream(room_id, stream_id)
        self.id = self.stream.id
        self.pc = RTCPeerConnection(rtc_configuration())
        self._readers: set[asyncio.Task] = set()
        self._closed = False
        self.on_closed: list[Callable[[], None]] = []

        @self.pc.on("track")
        def _on_track(track) -> None:
            reader = self._read_audio(track) if track.kind == "audio" else self._drain(track)
            t = asyncio.get_running_loop().create_task(reader)
            self._readers.add(t)
            t.add_done_callback(self._readers.discard)

        @self.pc.on("connectionstatechange")
        async def _on_state() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                await self.close()

    async def answer(self, offer_sdp: str) -> str:
        await self.registry.add(self.stream)  # raises KeyError when already published
        try:
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=strip_mdns_candidates(offer_sdp), type="offer")
            )
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception:
            await self.close()
            raise
        return self.pc.localDescription.sdp

    async def _read_audio(self, track) -> None:
        rechunk = Rechunker()
        try:
            while True:
                frame = await track.recv()
                for pcm in rechunk.push(frame):
                    self.stream.publish(pcm)
        except MediaStreamError:
            pass
        finally:
            self.stream.end()

    async def _drain(self, track) -> None:
        # Video from a publisher is not used; reading it keeps aiortc's queue from growing.
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.registry.remove(self.stream)
        await self.pc.close()
        for t in list(self._readers):
            t.cancel()
        for t in list(self._readers):
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for cb in self.on_closed:
            cb()
