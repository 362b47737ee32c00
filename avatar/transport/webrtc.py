"""WebRTC viewers of a stream task: one StreamOutput (a MediaSink) per task feeds the aiortc
peer connection of each viewer.

The viewer's offer (WHEP) is answered with the task's video (VP8 or H.264 as configured, at the
configured bitrate) and audio (Opus 48 kHz), and a data channel, if the offer has one, carries
the task's room messages (Cmd 1001). Audio is encoded once per task, video once per task and
codec (video.py), whatever the number of viewers. Media arrives through bounded queues (see
tracks.py), so a slow viewer loses video frames, never the task's clock.
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

from avatar.stream.contract import LiveTask
from avatar.transport.encode import OpusChunkEncoder
from avatar.transport.ice import rtc_configuration, strip_mdns_candidates
from avatar.transport.tracks import TaskAudioTrack, TaskVideoTrack
from avatar.transport.video import EncodedFrame, PayloadPacker, SharedVideoEncoder
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


class StreamOutput:
    """The one MediaSink a stream task has for all its WebRTC viewers: each audio chunk is
    encoded to Opus once, each picture once per codec the viewers negotiated; packets go to
    every viewer's queues."""

    def __init__(self, task: LiveTask) -> None:
        self.task = task
        self.viewers: list[WebRTCViewer] = []
        self._opus = OpusChunkEncoder()
        self.encoders: dict[str, SharedVideoEncoder] = {}
        self._attached = False
        self.on_empty: list[Callable[[StreamOutput], None]] = []

    def encoder_for(self, codec: str) -> SharedVideoEncoder:
        """The task's video encoder for a codec ("VP8" or "H264"), made for its first viewer."""
        enc = self.encoders.get(codec)
        if enc is None:
            cfg = self.task.config
            enc = SharedVideoEncoder(
                codec, cfg.bitrate, cfg.fps, lambda f, c=codec: self._on_encoded(c, f)
            )
            self.encoders[codec] = enc
        return enc

    def _on_encoded(self, codec: str, frame: EncodedFrame) -> None:
        for v in self.viewers:
            if v.negotiated_codec == codec:
                v.video.push(frame)

    def attach(self, viewer: WebRTCViewer) -> None:
        self.viewers.append(viewer)
        if not self._attached:
            self._attached = True
            self.task.add_sink(self)

    def detach(self, viewer: WebRTCViewer) -> None:
        with contextlib.suppress(ValueError):
            self.viewers.remove(viewer)
        used = {v.negotiated_codec for v in self.viewers}
        for codec in [c for c in self.encoders if c not in used]:
            self.encoders.pop(codec).close()
        if not self.viewers and self._attached:
            self._attached = False
            with contextlib.suppress(Exception):
                self.task.remove_sink(self)
            for cb in self.on_empty:
                cb(self)

    # ---- MediaSink ----

    def on_video(self, frame: VideoFrame) -> None:
        for enc in self.encoders.values():
            enc.submit(frame)

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
        video_queue: int = 3,
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
        self._packer: PayloadPacker | None = None
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
        codec = normalize_codec(codecs[0].mimeType.split("/")[-1])
        encoder = self.output.encoder_for(codec)
        self.negotiated_codec = codec
        self._packer = PayloadPacker(encoder)
        self.video.request_keyframe = encoder.request_keyframe
        sender = tx.sender
        # aiortc makes its own (per-viewer) encoder on the first frame unless one is set, and
        # turns PLI/FIR into a flag only its own encoder reads: both are private hooks (checked
        # by tests), so that this viewer only packs the task's shared encoder's payloads.
        sender._RTCRtpSender__encoder = self._packer
        sender._send_keyframe = self.video.feed.keyframe_wanted

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
        if self._packer is not None:
            self._packer.leave()
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
