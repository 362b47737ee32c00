"""HTTP routes of the transport: WHEP (watch a stream task), WHIP (publish a microphone), the
WebSocket drive endpoint and the player page.

WHEP/WHIP follow the IETF drafts: POST an SDP offer (application/sdp) with
`Authorization: Bearer <token>` → 201 with the SDP answer and a Location to DELETE when leaving.
Trickle ICE (PATCH) is not offered: answers carry every candidate.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import FileResponse, PlainTextResponse

from avatar.transport.hub import TransportHub, hub_from_app
from avatar.transport.publish import WhipPublisher
from avatar.transport.tokens import Grant, TokenError
from avatar.transport.ws_drive import CLOSE_UNKNOWN, serve_drive

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _lifespan(app) -> AsyncIterator[None]:
    # Runs inside the API layer's lifespan (FastAPI nests an included router's lifespan), so
    # the credentials exist; closing here ends every peer before the tasks stop.
    try:
        hub_from_app(app).pool()  # media workers (if any) start with the server
    except RuntimeError as e:
        log.warning("WebRTC transport not ready at start: %s", e)
    try:
        yield
    finally:
        hub = getattr(app.state, "transport", None)
        if hub is not None:
            await hub.aclose()


router = APIRouter(tags=["webrtc"], lifespan=_lifespan)

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
SDP = "application/sdp"
MAX_SDP_BYTES = 64 * 1024


# Players on other origins may call WHEP/WHIP: the bearer token (not a cookie) is the credential,
# so any origin may ask, and the Location header must be readable.
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location",
}
CORS_PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return PlainTextResponse(message, status_code=status, headers={**CORS, **(headers or {})})


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def _grant(request: Request, hub: TransportHub, kind: str, room: str, stream: str):
    token = _bearer(request)
    if not token:
        return _error(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    try:
        return hub.signer.verify(token, kind, room, stream)
    except TokenError as e:
        return _error(403, str(e))


async def _offer(request: Request) -> str | Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != SDP:
        return _error(415, "the offer must be application/sdp")
    body = await request.body()
    if len(body) > MAX_SDP_BYTES or not body.strip():
        return _error(400, "missing or oversized SDP offer")
    return body.decode("utf-8", "replace")


def _find_task(request: Request, room_id: str, stream_id: str):
    live = getattr(request.app.state, "live", None)
    return live.find(room_id, stream_id) if live is not None else None


# ---- WHEP: watch ----


@router.post("/whep/{room_id}/{stream_id}")
async def whep_offer(room_id: str, stream_id: str, request: Request) -> Response:
    hub = hub_from_app(request.app)
    grant = _grant(request, hub, "play", room_id, stream_id)
    if not isinstance(grant, Grant):
        return grant
    offer = await _offer(request)
    if isinstance(offer, Response):
        return offer
    task = _find_task(request, room_id, stream_id)
    if task is None:
        return _error(404, "no live stream task with this RoomId and StreamId")
    if len(hub.viewers) >= hub.max_viewers:
        return _error(503, "too many viewers on this server", {"Retry-After": "5"})
    try:
        viewer = hub.new_viewer(task)
    except RuntimeError as e:  # no media worker left
        log.error("WHEP: %s", e)
        return _error(503, str(e), {"Retry-After": "5"})
    try:
        answer = await viewer.answer(offer)
    except Exception as e:  # a malformed or unsatisfiable offer
        await viewer.close()
        log.info("WHEP offer refused: %s", e)
        return _error(400, f"cannot answer this offer: {e}")
    hub.add_viewer(viewer)
    location = f"/whep/{quote(room_id, safe='')}/{quote(stream_id, safe='')}/{viewer.id}"
    return Response(answer, status_code=201, media_type=SDP, headers={**CORS, "Location": location})


@router.options("/whep/{room_id}/{stream_id}", include_in_schema=False)
@router.options("/whep/{room_id}/{stream_id}/{session_id}", include_in_schema=False)
@router.options("/whip/{room_id}/{stream_id}", include_in_schema=False)
@router.options("/whip/{room_id}/{stream_id}/{session_id}", include_in_schema=False)
async def preflight() -> Response:
    return Response(status_code=204, headers=CORS_PREFLIGHT)


@router.delete("/whep/{room_id}/{stream_id}/{session_id}")
async def whep_leave(room_id: str, stream_id: str, session_id: str, request: Request) -> Response:
    hub = hub_from_app(request.app)
    return await _leave(request, hub, "play", room_id, stream_id, hub.viewers.get(session_id))


async def _leave(
    request: Request, hub: TransportHub, kind: str, room_id: str, stream_id: str, session: Any
) -> Response:
    """DELETE of a WHEP viewer or WHIP publisher session, with the same token as its POST."""
    grant = _grant(request, hub, kind, room_id, stream_id)
    if not isinstance(grant, Grant):
        return grant
    if session is None:
        return _error(404, "no such session")
    await session.close()
    return Response(status_code=200, headers=CORS)


@router.patch("/whep/{room_id}/{stream_id}/{session_id}")
@router.patch("/whip/{room_id}/{stream_id}/{session_id}")
async def no_trickle(room_id: str, stream_id: str, session_id: str) -> Response:
    return _error(405, "trickle ICE is not supported: answers carry all candidates")


# ---- WHIP: publish a microphone ----


@router.post("/whip/{room_id}/{stream_id}")
async def whip_offer(room_id: str, stream_id: str, request: Request) -> Response:
    hub = hub_from_app(request.app)
    grant = _grant(request, hub, "publish", room_id, stream_id)
    if not isinstance(grant, Grant):
        return grant
    offer = await _offer(request)
    if isinstance(offer, Response):
        return offer
    publisher = WhipPublisher(hub.published, room_id, stream_id)
    try:
        answer = await publisher.answer(offer)
    except KeyError:
        return _error(409, "this RoomId/StreamId is already being published")
    except Exception as e:
        log.info("WHIP offer refused: %s", e)
        return _error(400, f"cannot answer this offer: {e}")
    hub.add_publisher(publisher)
    location = f"/whip/{quote(room_id, safe='')}/{quote(stream_id, safe='')}/{publisher.id}"
    return Response(answer, status_code=201, media_type=SDP, headers={**CORS, "Location": location})


@router.delete("/whip/{room_id}/{stream_id}/{session_id}")
async def whip_leave(room_id: str, stream_id: str, session_id: str, request: Request) -> Response:
    hub = hub_from_app(request.app)
    return await _leave(request, hub, "publish", room_id, stream_id, hub.publishers.get(session_id))


# ---- WebSocket drive ----


@router.websocket("/ws")
async def ws_drive(websocket: WebSocket) -> None:
    hub = hub_from_app(websocket.app)
    token = websocket.query_params.get("Token") or websocket.query_params.get("token") or ""
    try:
        grant = hub.signer.verify(token, "drive")
    except TokenError as e:
        await websocket.close(code=1008, reason=str(e))  # before accept: HTTP 403
        return
    claimed = hub.ws_drives.claim(grant.drive_id or "")
    await websocket.accept()
    if isinstance(claimed, int):
        reason = (
            "another connection is driving this task"
            if claimed != CLOSE_UNKNOWN
            else "this drive has ended or does not exist"
        )
        await websocket.close(code=claimed, reason=reason)
        return
    try:
        await serve_drive(websocket, claimed)
    finally:
        hub.ws_drives.release(claimed)


# ---- player page ----


@router.get("/play", include_in_schema=False)
async def play_page() -> FileResponse:
    return FileResponse(FRONTEND / "play.html", media_type="text/html")


@router.get("/play.js", include_in_schema=False)
async def play_script() -> FileResponse:
    return FileResponse(FRONTEND / "play.js", media_type="text/javascript")
