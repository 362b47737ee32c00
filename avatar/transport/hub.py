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
from avatar.transport.workers import MediaWorkerPool, RemoteStreamOutput, RemoteViewer
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
        media_workers: int = 0,
    ) -> None:
        self.signer = TokenSigner(secret)
        self.ice_host_addresses = configure_ice(ice_host_addresses or None)
        self.max_viewers = max_viewers
        self.viewers: dict[str, WebRTCViewer | RemoteViewer] = {}
        # One output per watched task (and per kind: viewers in media workers, pushes here).
        self.outputs: dict[tuple[int, bool], StreamOutput | RemoteStreamOutput] = {}
        self.media_workers = media_workers
        self._pool: MediaWorkerPool | None = None
        self.publishers: dict[str, WhipPublisher] = {}
        self.published = PublishRegistry()
        self.ws_drives = WsDriveRegistry()

    def pool(self) -> MediaWorkerPool | None:
        """The media workers (started on first use, in the running loop), or None."""
        if self.media_workers <= 0:
            return None
        if self._pool is None:
            self._pool = MediaWorkerPool(self.media_workers, self.ice_host_addresses)
            self._pool.start()
        return self._pool

    def output_for(self, task, *, local: bool = False) -> StreamOutput | RemoteStreamOutput:
        """The task's output, made for its first viewer and dropped after its last; viewers
        go to a media worker when there are any, pushes (local=True) stay here."""
        pool = None if local else self.pool()
        key = (id(task), pool is not None)
        out = self.outputs.get(key)
        if out is None or out.task is not task:
            out = RemoteStreamOutput(task, pool) if pool is not None else StreamOutput(task)
            out.on_empty.append(lambda o, key=key: self.outputs.pop(key, None))
            self.outputs[key] = out
        return out

    def new_viewer(self, task) -> WebRTCViewer | RemoteViewer:
        out = self.output_for(task)
        return RemoteViewer(out) if isinstance(out, RemoteStreamOutput) else WebRTCViewer(out)

    def add_viewer(self, viewer: WebRTCViewer) -> None:
        self.viewers[viewer.id] = viewer
        viewer.on_closed.append(lambda: self.viewers.pop(viewer.id, None))

    async def start_whip_push(self, task, url: str, token: str | None = None) -> WebRTCViewer:
        """Push a task to a WHIP server (Output.WhipUrl) until the task or the server ends it."""
        peer = WebRTCViewer(self.output_for(task, local=True))
        try:
            await peer.push(url, token)
        except Exception:
            await peer.close()
            raise
        self.add_viewer(peer)
        return peer

    async def start_outputs(self, task) -> list:
        """Start the push outputs a task asks for in `config.extra` (Output.WhipUrl with an
        optional WhipToken, Output.RtmpUrl). They end with the task. A failing WHIP push raises; an RTMP push
        that cannot connect logs and ends by itself."""
        from avatar.transport.rtmp import start_rtmp_push

        started: list = []
        extra = task.config.extra or {}
        if extra.get("WhipUrl"):
            token = extra.get("WhipToken")  # the bearer token the WHIP server wants, if any
            started.append(await self.start_whip_push(task, extra["WhipUrl"], token))
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
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


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
    workers = getattr(settings, "media_workers", None)
    if workers is None:
        workers = int(os.environ.get("DH_MEDIA_WORKERS", "0") or 0)
    hub = TransportHub(
        secret, ice_host_addresses=hosts, max_viewers=max_viewers, media_workers=workers
    )
    state.transport = hub
    return hub


def hub_from_app(app) -> TransportHub:
    return hub_from_state(app.state)
