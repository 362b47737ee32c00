"""WebRTC viewers of a stream task: one StreamOutput (a MediaSink) per task feeds the aiortc
peer connection of each viewer.

The viewer's offer (WHEP) is answered with the task's video (VP8 or H.264 as configured, at the
configured bitrate) and audio (Opus 48 kHz), and a data channel, if the offer has one, carries
the task's room messages (Cmd 1001). Media arrives through bounded queues (see tracks.py), so
a slow viewer loses video frames, never the task's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.codecs import get_encoder

from avatar.stream.contract import LiveTask
from avatar.transport.encode import OpusChunkEncoder
from avatar.transport.ice import rtc_configuration, strip_mdns_candidates
from avatar.transport.tracks import TaskAudioTrack, TaskVideoTrack
from avatar.types import AudioChunk, VideoFrame

log = logging.getLogger(__name__)

CODEC_MIME = {"VP8": "video/VP8", "H264": "video/H264"}


def normalize_codec(codec: str) -> str:
    c = codec.upper().replace(".", "").replace("-", "")
    if c not in CODEC_MIME:
        raise ValueError(f"unsupported video codec {codec!r} (VP8 or H264)")
    return c


def _video_codec_preferences(codec: str):
    """Configured codec first, the other one as a fallback for peers without it, then RTX."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    first = CODEC_MIME[normalize_codec(codec)].lower()
    main = [c for c in caps if c.mimeType.lower() == first]
    other = [
        c
        for c in caps
        if c.mimeType.lower() in ("video/vp8", "video/h264") and c.mimeType.lower() != first
    ]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    return main + other + rtx


class CappedEncoder:
    """Wraps aiortc's video encoder so that the stream's configured bitrate is both the start
    rate and a ceiling; the receiver's estimate (REMB) can still lower it under congestion."""

    def __init__(self, inner: Any, cap_bps: int) -> None:
        self._inner = inner
        self._cap = int(cap_bps)
        self.target_bitrate = self._cap

    @property
    def target_bitrate(self) -> int:
        return self._inner.target_bitrate

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        want = max(100_000, min(int(bitrate), self._cap))
        self._inner.target_bitrate = want
        # aiortc clamps VP8 to 1.5 Mbps and H.264 to 3 Mbps; the config (≤ 3 Mbps) wins.
        attr = f"_{type(self._inner).__name__}__target_bitrate"
        if hasattr(self._inner, attr):
            setattr(self._inner, attr, want)

    def encode(self, frame, force_keyframe: bool = False):
        return self._inner.encode(frame, force_keyframe)

    def pack(self, packet):
        return self._inner.pack(packet)


class StreamOutput:
    """The one MediaSink a stream task has for all its WebRTC viewers: each audio chunk is
    encoded to Opus once; pictures and packets go to every viewer's queues."""

    def __init__(self, task: LiveTask) -> None:
        self.task = task
        self.viewers: list[WebRTCViewer] = []
        self._opus = OpusChunkEncoder()
        self._attached = False
        self.on_empty: list[Callable[[StreamOutput], None]] = []

    def attach(self, viewer: WebRTCViewer) -> None:
        self.viewers.append(viewer)
        if not self._attached:
            self._attached = True
            self.task.add_sink(self)

    def detach(self, viewer: WebRTCViewer) -> None:
        with contextlib.suppress(ValueError):
            self.viewers.remove(viewer)
        if not self.viewers and self._attached:
            self._attached = False
            with contextlib.suppress(Exception):
                self.task.remove_sink(self)
            for cb in self.on_empty:
                cb(self)

    # ---- MediaSink ----

    def on_video(self, frame: VideoFrame) -> None:
        for v in self.viewers:
            v.video.push(frame)

    def on_audio(self, chunk: AudioChunk) -> None:
        packets = self._opus.encode(chunk)  # even without viewers: keeps the codec in step
        for v in self.viewers:
            for p in packets:
                v.audio.push(p)

    def on_event(self, message: dict) -> None:
        text = json.dumps(message, ensure_ascii=False)
        for v in self.viewers:
            v.send_event(text)

    def on_close(self) -> None:
        for v in list(self.viewers):
            v.schedule_close()


class WebRTCViewer:
    """One WebRTC peer watching a stream task through the task's StreamOutput."""

    def __init__(
        self,
        output: StreamOutput,
        *,
        ice_servers: list | None = None,
        video_queue: int = 2,
    ) -> None:
        cfg = output.task.config
        self.id = uuid.uuid4().hex
        self.output = output
        self.task = output.task
        self.codec = normalize_codec(cfg.codec)
        self.bitrate = cfg.bitrate
        self.video = TaskVideoTrack(cfg.fps, max_queued=video_queue)
        self.audio = TaskAudioTrack()
        self.pc = RTCPeerConnection(rtc_configuration(ice_servers))
        self._channels: list[Any] = []
        self._closed = asyncio.Event()
        self._close_task: asyncio.Task | None = None
        self.negotiated_codec: str | None = None
        self.events_sent = 0
        self.on_closed: list[Callable[[], None]] = []  # called once, when the viewer leaves
        self.push_location: str | None = None  # WHIP resource when pushing (see push)
        self._push_token: str | None = None

        @self.pc.on("datachannel")
        def _on_datachannel(channel) -> None:
            self._channels.append(channel)

        @self.pc.on("connectionstatechange")
        async def _on_state() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                self.schedule_close()

    async def answer(self, offer_sdp: str) -> str:
        """Accept a WHEP offer; return the SDP answer (all candidates included)."""
        video_tx = self.pc.addTransceiver(self.video, direction="sendonly")
        video_tx.setCodecPreferences(_video_codec_preferences(self.codec))
        self.pc.addTransceiver(self.audio, direction="sendonly")
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=strip_mdns_candidates(offer_sdp), type="offer")
        )
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        self._install_encoder(video_tx)
        self.output.attach(self)
        return self.pc.localDescription.sdp

    async def push(self, url: str, token: str | None = None) -> None:
        """Send the task to a WHIP server (an SFU such as MediaMTX, Janus or LiveKit, or our own
        /whip endpoint): we make the offer, the server answers. DELETE on close."""
        from avatar.transport.client import exchange_offer

        video_tx = self.pc.addTransceiver(self.video, direction="sendonly")
        video_tx.setCodecPreferences(_video_codec_preferences(self.codec))
        self.pc.addTransceiver(self.audio, direction="sendonly")
        self.push_location = await exchange_offer(self.pc, url, token)
        self._push_token = token
        self._install_encoder(video_tx)
        self.output.attach(self)

    def _install_encoder(self, tx: Any) -> None:
        codecs = getattr(tx, "_codecs", None)
        if not codecs:  # the offer had no video section
            return
        self.negotiated_codec = codecs[0].mimeType.split("/")[-1]
        try:
            # aiortc creates the encoder lazily on the first frame; giving it one now is the
            # only hook for a start bitrate (private attribute, checked by tests).
            tx.sender._RTCRtpSender__encoder = CappedEncoder(get_encoder(codecs[0]), self.bitrate)
        except AttributeError:  # pragma: no cover - aiortc internals changed
            log.warning("cannot set the video bitrate on this aiortc version")

    def send_event(self, text: str) -> None:
        for ch in self._channels:
            if ch.readyState == "open":
                ch.send(text)
                self.events_sent += 1

    # ---- lifetime ----

    def schedule_close(self) -> None:
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self.close())

    async def close(self) -> None:
        """Leave: detach from the task, end the tracks, close the peer connection."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.output.detach(self)
        self.video.end()
        self.audio.end()
        if self.push_location:
            from avatar.transport.client import delete_resource

            await delete_resource(self.push_location, self._push_token)
        await self.pc.close()
        for cb in self.on_closed:
            cb()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def stats(self) -> dict:
        return {
            "id": self.id,
            "state": self.pc.connectionState,
            "codec": self.negotiated_codec,
            "video_sent": self.video.feed.delivered,
            "video_dropped": self.video.feed.dropped,
            "audio_sent": self.audio.feed.delivered,
            "audio_dropped": self.audio.feed.dropped,
            "events_sent": self.events_sent,
        }
