"""Viewing and publishing over WebRTC, and the live drives that ride on the transport.

CreateStreamPlayToken / CreateStreamPublishToken (our extensions, ZEGO_API.md) hand out
short-lived bearer tokens for WHEP and WHIP, so the ServerSecret never reaches a browser.
DriveByWsStream and DriveByRTCStream are implemented here too, in `LIVE_DRIVE_ACTIONS`; they
are registered by api/actions/live_drives.py (`ACTIONS = LIVE_DRIVE_ACTIONS`), not by this
module, so that each action has one owner.
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

from pydantic import Field

from api.context import ActionContext
from api.drives import add_drive, live_entry
from api.schema import Req, action
from avatar.transport.hub import TransportHub, hub_from_state

STREAM_ID = r"^[A-Za-z0-9_-]+$"
WS_TOKEN_TTL_S = 600  # the socket must connect within this (else the drive ends); no limit after
RTC_WAIT_S = 30.0  # DriveByRTCStream waits this long for the publisher before failing


def _hub(ctx: ActionContext) -> TransportHub:
    return hub_from_state(ctx.state)


def _path(kind: str, room_id: str, stream_id: str) -> str:
    return f"/{kind}/{quote(room_id, safe='')}/{quote(stream_id, safe='')}"


class PlayTokenReq(Req):
    RoomId: str = Field(min_length=1, max_length=128)
    StreamId: str = Field(min_length=1, max_length=128, pattern=STREAM_ID)
    Expire: int = Field(3600, ge=10, le=86400, description="seconds the token is valid")


@action(PlayTokenReq)
async def create_stream_play_token(ctx: ActionContext, req: PlayTokenReq) -> dict:
    """A viewer token for WHEP (`Authorization: Bearer <Token>` on POST WhepUrl); PlayUrl opens
    the built-in player page with it."""
    token = _hub(ctx).signer.issue("play", req.RoomId, req.StreamId, req.Expire)
    base = ctx.settings.base_url
    query = urlencode({"RoomId": req.RoomId, "StreamId": req.StreamId, "Token": token})
    return {
        "Token": token,
        "WhepUrl": base + _path("whep", req.RoomId, req.StreamId),
        "PlayUrl": f"{base}/play?{query}",
        "ExpireTime": int(time.time()) + req.Expire,
    }


class PublishTokenReq(Req):
    RoomId: str = Field(min_length=1, max_length=128)
    StreamId: str = Field(min_length=1, max_length=128, pattern=STREAM_ID)
    Expire: int = Field(3600, ge=10, le=86400, description="seconds the token is valid")


@action(PublishTokenReq)
async def create_stream_publish_token(ctx: ActionContext, req: PublishTokenReq) -> dict:
    """A publisher token for WHIP: send a microphone under RoomId/StreamId, for
    DriveByRTCStream to follow."""
    token = _hub(ctx).signer.issue("publish", req.RoomId, req.StreamId, req.Expire)
    return {
        "Token": token,
        "WhipUrl": ctx.settings.base_url + _path("whip", req.RoomId, req.StreamId),
        "ExpireTime": int(time.time()) + req.Expire,
    }


ACTIONS = {
    "CreateStreamPlayToken": create_stream_play_token,
    "CreateStreamPublishToken": create_stream_publish_token,
}


# ---- live drives (registered by live_drives.py) ----


class WsDriveReq(Req):
    TaskId: str = Field(min_length=1, max_length=64)


@action(WsDriveReq)
async def drive_by_ws_stream(ctx: ActionContext, req: WsDriveReq) -> dict:
    """Drive by live PCM over a WebSocket: interrupts the current drive and drops the queue;
    connect to WssAddress, send Start, binary 16-bit LE mono PCM (16 or 24 kHz), then Stop."""
    from avatar.stream.sources import PushSource

    hub = _hub(ctx)
    entry = await live_entry(ctx, req.TaskId)
    source = PushSource()  # 16 kHz: the socket handler resamples 24 kHz input
    drive_id = await add_drive(ctx, entry, "ws", {}, source, interrupt=True)
    hub.ws_drives.register(entry.task_id, drive_id, source, connect_within_s=WS_TOKEN_TTL_S)
    token = hub.signer.issue(
        "drive",
        entry.room_id,
        entry.stream_id,
        WS_TOKEN_TTL_S,
        task_id=entry.task_id,
        drive_id=drive_id,
    )
    base = ctx.settings.base_url
    ws_base = "wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]
    return {"DriveId": drive_id, "WssAddress": f"{ws_base}/ws?{urlencode({'Token': token})}"}


class RtcStreamConfig(Req):
    RoomId: str = Field(min_length=1, max_length=128)
    StreamId: str = Field(min_length=1, max_length=128, pattern=STREAM_ID)


class RtcDriveReq(Req):
    TaskId: str = Field(min_length=1, max_length=64)
    RTCConfig: RtcStreamConfig


@action(RtcDriveReq)
async def drive_by_rtc_stream(ctx: ActionContext, req: RtcDriveReq) -> dict:
    """Follow the audio of a stream published by WHIP (CreateStreamPublishToken) until it ends
    or is interrupted; interrupts the current drive and drops the queue. The drive fails if
    nothing is published there within 30 s."""
    from avatar.transport.publish import RtcAudioSource

    hub = _hub(ctx)
    entry = await live_entry(ctx, req.TaskId)
    room, stream = req.RTCConfig.RoomId, req.RTCConfig.StreamId
    source = RtcAudioSource(hub.published, room, stream, wait_s=RTC_WAIT_S)
    payload = {"RTCConfig": {"RoomId": room, "StreamId": stream}}
    drive_id = await add_drive(ctx, entry, "rtc", payload, source, interrupt=True)
    return {"DriveId": drive_id}


LIVE_DRIVE_ACTIONS = {
    "DriveByWsStream": drive_by_ws_stream,
    "DriveByRTCStream": drive_by_rtc_stream,
}
