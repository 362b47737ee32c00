"""WHEP and WHIP clients on aiortc: watch a stream from any WHEP server, or push a track to any
WHIP server (our own endpoints in tests and benchmarks, or an SFU such as MediaMTX or Janus).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from urllib.parse import urljoin

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from avatar.transport.ice import rtc_configuration, strip_mdns_candidates

log = logging.getLogger(__name__)


class SignalingError(Exception):
    """The WHEP/WHIP server refused the offer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


async def exchange_offer(pc: RTCPeerConnection, url: str, token: str | None) -> str:
    """POST our offer, apply the answer; return the session's absolute Location."""
    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(url, content=pc.localDescription.sdp, headers=headers)
    if r.status_code != 201:
        raise SignalingError(r.status_code, r.text)
    answer = strip_mdns_candidates(r.text)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return urljoin(url, r.headers.get("location", ""))


async def delete_resource(location: str | None, token: str | None) -> None:
    if not location:
        return
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=5) as http:
            await http.delete(location, headers=headers)


VideoCallback = Callable[[float, object], None]  # (arrival monotonic time, av.VideoFrame)
AudioCallback = Callable[[float, object], None]  # (arrival monotonic time, av.AudioFrame)


def _no_audio_prefetch(receiver) -> None:
    """aiortc holds 4 audio packets (80 ms) before decoding the first and shows video at once,
    which skews A/V timing measured at the viewer; measuring clients decode audio on arrival."""
    from aiortc.jitterbuffer import JitterBuffer

    try:
        receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=16, prefetch=0)
    except AttributeError:  # pragma: no cover - aiortc internals changed
        log.warning("cannot turn off aiortc's audio prefetch")


class WhepClient:
    """Receives a stream: calls on_video/on_audio for every decoded frame, on_event for every
    data-channel message. `audio_prefetch=False` decodes audio as it arrives (for
    measurements: arrival times of sound and pictures then compare)."""

    def __init__(
        self,
        on_video: VideoCallback | None = None,
        on_audio: AudioCallback | None = None,
        on_event: Callable[[dict], None] | None = None,
        *,
        video: bool = True,
        audio: bool = True,
        audio_prefetch: bool = True,
    ) -> None:
        self.pc = RTCPeerConnection(rtc_configuration())
        self.on_video = on_video
        self.on_audio = on_audio
        self.on_event = on_event
        self.video_frames = 0
        self.audio_frames = 0
        self.events: list[dict] = []
        self.location: str | None = None
        self._token: str | None = None
        self._readers: set[asyncio.Task] = set()
        if video:
            self.pc.addTransceiver("video", direction="recvonly")
        if audio:
            tx = self.pc.addTransceiver("audio", direction="recvonly")
            if not audio_prefetch:
                _no_audio_prefetch(tx.receiver)
        self.channel = self.pc.createDataChannel("events")

        @self.channel.on("message")
        def _on_message(text) -> None:
            msg = json.loads(text)
            self.events.append(msg)
            if self.on_event:
                self.on_event(msg)

        @self.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            t = asyncio.get_running_loop().create_task(self._read(track))
            self._readers.add(t)
            t.add_done_callback(self._readers.discard)

    async def connect(self, url: str, token: str | None) -> None:
        self._token = token
        self.location = await exchange_offer(self.pc, url, token)

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                now = time.monotonic()
                if track.kind == "video":
                    self.video_frames += 1
                    if self.on_video:
                        self.on_video(now, frame)
                else:
                    self.audio_frames += 1
                    if self.on_audio:
                        self.on_audio(now, frame)

    async def close(self) -> None:
        await delete_resource(self.location, self._token)
        self.location = None
        await self.pc.close()
        for t in list(self._readers):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t


class WhipClient:
    """Publishes tracks (e.g. a microphone or a WAV through aiortc's MediaPlayer) by WHIP."""

    def __init__(self, *tracks: MediaStreamTrack) -> None:
        self.pc = RTCPeerConnection(rtc_configuration())
        for track in tracks:
            self.pc.addTransceiver(track, direction="sendonly")
        self.location: str | None = None
        self._token: str | None = None

    async def connect(self, url: str, token: str | None) -> None:
        self._token = token
        self.location = await exchange_offer(self.pc, url, token)

    async def close(self) -> None:
        await delete_resource(self.location, self._token)
        self.location = None
        await self.pc.close()
