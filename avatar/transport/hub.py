"""The transport's per-server state: token signer, WebRTC viewers, published streams and
WebSocket drives. One `TransportHub` lives at `app.state.transport`."""

from __future__ import annotations

import contextlib
import logging
import os

from avatar.transport.ice import configure_ice
from avatar.transport.publish import PublishRegistry, WhipPublisher
from avatar.transport.tokens import TokenSigner
from avatar.transport.webrtc import StreamOutput, WebRTCViewer
from avatar.transport.ws_drive import WsDriveRegistry

log = logging.getLogger(__name__)

DEFAULT_MAX_VIEWERS = 64


class TransportHub:
    """Everything the WHEP/WHIP/WebSocket endpoints and the drive actions share."""

    def __init__(
        self,
        secret: str,
        *,
        ice_host_addresses: str | list[str] | None = None,
        max_viewers: int = DEFAULT_MAX_VIEWERS,
    ) -> None:
        self.signer = TokenSigner(secret)
        self.ice_host_addresses = configure_ice(ice_host_addresses or None)
        self.max_viewers = max_viewers
        self.viewers: dict[str, WebRTCViewer] = {}
        self.outputs: dict[int, StreamOutput] = {}  # by id(task): one per watched task
        self.publishers: dict[str, WhipPublisher] = {}
        self.published = PublishRegistry()
        self.ws_drives = WsDriveRegistry()

    def output_for(self, task) -> StreamOutput:
        """The task's StreamOutput, made for its first viewer, dropped after its last."""
        out = self.outputs.get(id(task))
        if out is None or out.task is not task:
            out = StreamOutput(task)
            out.on_empty.append(lambda o: self.outputs.pop(id(o.task), None))
            self.outputs[id(task)] = out
        return out

    def add_viewer(self, viewer: WebRTCViewer) -> None:
        self.viewers[viewer.id] = viewer
        viewer.on_closed.append(lambda: self.viewers.pop(viewer.id, None))

    async def start_whip_push(self, task, url: str, token: str | None = None) -> WebRTCViewer:
        """Push a task to a WHIP server (Output.WhipUrl) until the task or the server ends it."""
        peer = WebRTCViewer(self.output_for(task))
        try:
            await peer.push(url, token)
        except Exception:
            await peer.close()
            raise
        self.add_viewer(peer)
        return peer

    async def start_outputs(self, task) -> list:
        """Start the push outputs a task asks for in `config.extra` (Output.WhipUrl,
        Output.RtmpUrl). They end with the task. A failing WHIP push raises; an RTMP push
        that cannot connect logs and ends by itself."""
        from avatar.transport.rtmp import start_rtmp_push

        started: list = []
        extra = task.config.extra or {}
        if extra.get("WhipUrl"):
            started.append(await self.start_whip_push(task, extra["WhipUrl"]))
        if extra.get("RtmpUrl"):
            started.append(start_rtmp_push(task, extra["RtmpUrl"]))
        return started

    def add_publisher(self, publisher: WhipPublisher) -> None:
        self.publishers[publisher.id] = publisher
        publisher.on_closed.append(lambda: self.publishers.pop(publisher.id, None))

    def viewers_of(self, room_id: str, stream_id: str) -> list[WebRTCViewer]:
        return [
            v
            for v in self.viewers.values()
            if v.task.config.room_id == room_id and v.task.config.stream_id == stream_id
        ]

    async def aclose(self) -> None:
        """Close every peer (server shutdown)."""
        for v in list(self.viewers.values()):
            with contextlib.suppress(Exception):
                await v.close()
        for p in list(self.publishers.values()):
            with contextlib.suppress(Exception):
                await p.close()
        self.viewers.clear()
        self.publishers.clear()


def hub_from_state(state) -> TransportHub:
    """The app's hub (`app.state.transport`), made on first use from the credentials and
    settings the API layer keeps on app.state (directly or in `app.state.services`)."""
    hub = getattr(state, "transport", None)
    if hub is not None:
        return hub
    services = getattr(state, "services", None)
    creds = getattr(state, "credentials", None) or getattr(services, "credentials", None)
    settings = getattr(state, "settings", None) or getattr(services, "settings", None)
    secret = getattr(creds, "server_secret", None) or getattr(settings, "server_secret", None)
    secret = secret or os.environ.get("DH_SERVER_SECRET")
    if not secret:
        raise RuntimeError("no server secret for stream tokens (app.state.services.credentials)")
    hosts = getattr(settings, "ice_host_addresses", None)
    max_viewers = getattr(settings, "max_viewers", None) or DEFAULT_MAX_VIEWERS
    hub = TransportHub(secret, ice_host_addresses=hosts, max_viewers=max_viewers)
    state.transport = hub
    return hub


def hub_from_app(app) -> TransportHub:
    return hub_from_state(app.state)
