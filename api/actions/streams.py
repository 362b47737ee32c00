"""Stream tasks: CreateDigitalHumanStreamTask, GetDigitalHumanStreamTaskStatus,
QueryDigitalHumanStreamTasks, StopDigitalHumanStreamTask."""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import Field, field_validator, model_validator

from api.context import ActionContext
from api.errors import (
    CONCURRENCY_LIMIT,
    DIGITAL_HUMAN_CONFIG,
    DIGITAL_HUMAN_NOT_FOUND,
    STREAM_ID_IN_USE,
    TASK_NOT_FOUND,
    TASK_STOPPED,
    ApiError,
)
from api.live import LiveEntry
from api.schema import Req, action
from api.tasks import run_task, stop_task
from avatar.stream.contract import TaskStatus
from store.avatars import get_digital_human
from store.models import StreamTask
from store.tasks import get_task

MAX_PIXELS = 1920 * 1080


class LayoutReq(Req):
    Top: int = Field(0, ge=-2560, le=2560)
    Left: int = Field(0, ge=-2560, le=2560)
    Width: int = Field(0, ge=0, le=2560, description="0: fit the output")
    Height: int = Field(0, ge=0, le=2560)
    Layer: int = Field(0, ge=0, le=100, description="larger is in front")


class DigitalHumanConfigReq(Req):
    DigitalHumanId: str = Field(min_length=1, max_length=64)
    BackgroundColor: str = Field(
        "#000000",
        pattern=r"^#([0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$",
        description="#RRGGBB or #AARRGGBB (#00000000 transparent)",
    )
    Layout: LayoutReq | None = None


def _max_bytes(v: str, n: int, what: str) -> str:
    if len(v.encode()) > n:
        raise ValueError(f"{what} must be at most {n} bytes")
    return v


class RTCConfigReq(Req):
    RoomId: str = Field(min_length=1, description="at most 128 bytes")
    StreamId: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,128}$",
        description="at most 128 letters, digits, '-' or '_'; unique among live tasks",
    )

    @field_validator("RoomId")
    @classmethod
    def _room(cls, v: str) -> str:
        return _max_bytes(v, 128, "RoomId")


class VideoConfigReq(Req):
    Width: int | None = Field(
        None,
        ge=16,
        le=1920,
        multiple_of=2,
        description="Width×Height ≤ 1920×1080; default by OutputMode",
    )
    Height: int | None = Field(
        None, ge=16, le=2560, multiple_of=2, description="default 1280 (web), 640 (mobile)"
    )
    Bitrate: int = Field(3_000_000, ge=100_000, le=3_000_000, description="bps")
    Codec: Literal["VP8", "H264"] = Field("VP8", description="extension")
    Fps: int = Field(25, ge=5, le=30, description="extension")

    @model_validator(mode="after")
    def _pixels(self) -> VideoConfigReq:
        w, h = self.Width or 720, self.Height or 1280
        if w * h > MAX_PIXELS:
            raise ValueError(f"Width×Height must be at most 1920×1080 pixels (got {w}×{h})")
        return self


class AssetReq(Req):
    AssetType: Literal[1] = Field(1, description="1 image")
    AssetUrl: str = Field(min_length=1, max_length=1024)
    Layout: LayoutReq | None = Field(None, description="absent: the background")


class ExtraConfigReq(Req):
    OutputMode: Literal[1, 2] | None = Field(None, description="1 web (large), 2 mobile (small)")


class OutputReq(Req):
    WhipUrl: str | None = Field(None, max_length=1024, description="extension: WHIP push target")
    RtmpUrl: str | None = Field(None, max_length=1024, description="extension: RTMP push target")
    WhipToken: str | None = Field(
        None, max_length=4096, description="extension: bearer token the WHIP server wants"
    )


class CreateReq(Req):
    DigitalHumanConfig: DigitalHumanConfigReq
    RTCConfig: RTCConfigReq
    VideoConfig: VideoConfigReq | None = None
    Assets: list[AssetReq] | None = Field(None, max_length=10)
    TTL: int = Field(86400, ge=10, le=86400, description="seconds; the task ends itself")
    MaxIdleTime: int = Field(900, ge=30, le=86400, description="seconds without a drive")
    ExtraConfig: ExtraConfigReq | None = None
    Output: OutputReq | None = None


@action(
    CreateReq,
    codes=[DIGITAL_HUMAN_NOT_FOUND, DIGITAL_HUMAN_CONFIG, STREAM_ID_IN_USE, CONCURRENCY_LIMIT],
)
async def create_stream_task(ctx: ActionContext, req: CreateReq) -> dict:
    """Start a stream task: Status 1 (initializing), then 3 (streaming) or 2 with FailReason."""
    services = ctx.services
    dh_id = req.DigitalHumanConfig.DigitalHumanId
    async with ctx.db() as s:
        dh = await get_digital_human(s, ctx.app_id, dh_id)
    if dh is None:
        raise ApiError(DIGITAL_HUMAN_NOT_FOUND)
    if dh.status != 2:
        state = (
            f"still building ({dh.progress}%)" if dh.status == 1 else f"failed: {dh.fail_reason}"
        )
        raise ApiError(DIGITAL_HUMAN_CONFIG, f"digital human {dh_id} is not ready: {state}")
    live = services.live
    stream_id = req.RTCConfig.StreamId
    # No await between these checks and live.add: two creates cannot both pass.
    if live.stream_in_use(ctx.app_id, stream_id):
        raise ApiError(STREAM_ID_IN_USE, f"StreamId {stream_id} is used by a live task")
    if len(live) >= ctx.settings.max_live_tasks:
        raise ApiError(
            CONCURRENCY_LIMIT,
            f"stream concurrency limit reached ({ctx.settings.max_live_tasks} live tasks)",
        )
    entry = LiveEntry(
        task_id=uuid.uuid4().hex,
        app_id=ctx.app_id,
        room_id=req.RTCConfig.RoomId,
        stream_id=stream_id,
        digital_human_id=dh_id,
        create_time=time.time(),
        ttl_s=req.TTL,
        max_idle_s=req.MaxIdleTime,
    )
    live.add(entry)
    try:
        async with ctx.db() as s, s.begin():
            s.add(
                StreamTask(
                    id=entry.task_id,
                    app_id=ctx.app_id,
                    digital_human_id=dh_id,
                    room_id=entry.room_id,
                    stream_id=stream_id,
                    status=1,
                    config=req.model_dump(exclude_none=True),
                    create_time=entry.create_time,
                )
            )
    except BaseException:
        live.remove(entry.task_id)
        raise
    services.events.on_task_status(entry.task_id, TaskStatus.INITIALIZING, None)
    entry.runner = services.spawn(run_task(services, entry, req), f"task-{entry.task_id}")
    return {"TaskId": entry.task_id}


class TaskReq(Req):
    TaskId: str = Field(min_length=1, max_length=64)


@action(TaskReq, codes=[TASK_NOT_FOUND])
async def get_stream_task_status(ctx: ActionContext, req: TaskReq) -> dict:
    """Status 1 initializing, 2 init failed, 3 streaming, 4 stopping, 5 stopped; ended tasks too."""
    entry = ctx.services.live.entry(req.TaskId)
    if entry is not None and entry.app_id == ctx.app_id:
        # Live tasks are answered from memory: clients poll this, it must stay cheap.
        return {
            "TaskId": entry.task_id,
            "Status": int(entry.status),
            "RoomId": entry.room_id,
            "StreamId": entry.stream_id,
            "FailReason": "",
            "CreateTime": int(entry.create_time),
        }
    async with ctx.db() as s:
        row = await get_task(s, ctx.app_id, req.TaskId)
    if row is None:
        raise ApiError(TASK_NOT_FOUND)
    status, reason = ctx.services.events.pending_tasks.get(row.id, (row.status, row.fail_reason))
    return {
        "TaskId": row.id,
        "Status": status,
        "RoomId": row.room_id,
        "StreamId": row.stream_id,
        "FailReason": reason or "",
        "CreateTime": int(row.create_time),
    }


@action(Req)
async def query_stream_tasks(ctx: ActionContext, req: Req) -> dict:
    """The app's live tasks (Status 1 or 3)."""
    entries = [
        e
        for e in ctx.services.live.entries()
        if e.app_id == ctx.app_id and e.status in (TaskStatus.INITIALIZING, TaskStatus.STREAMING)
    ]
    entries.sort(key=lambda e: e.create_time)
    return {
        "TaskList": [
            {
                "TaskId": e.task_id,
                "RoomId": e.room_id,
                "StreamId": e.stream_id,
                "Status": int(e.status),
                "CreateTime": int(e.create_time),
            }
            for e in entries
        ]
    }


@action(TaskReq, codes=[TASK_NOT_FOUND, TASK_STOPPED])
async def stop_stream_task(ctx: ActionContext, req: TaskReq) -> dict:
    """Stop a task: 4 (stopping) at once, then 5. Stopping an ended task → 400000007."""
    entry = ctx.services.live.entry(req.TaskId)
    if entry is None or entry.app_id != ctx.app_id:
        async with ctx.db() as s:
            row = await get_task(s, ctx.app_id, req.TaskId)
        if row is None:
            raise ApiError(TASK_NOT_FOUND)
        raise ApiError(TASK_STOPPED)
    if entry.stopping:
        raise ApiError(TASK_STOPPED, "stream task already stopping")
    entry.stopping = True  # status 4 from now on, before the stop job runs
    ctx.services.events.on_task_status(entry.task_id, TaskStatus.STOPPING, None)
    ctx.services.spawn(
        stop_task(ctx.services, entry, "stopped by request"), f"stop-{entry.task_id}"
    )
    return {}


ACTIONS = {
    "CreateDigitalHumanStreamTask": create_stream_task,
    "GetDigitalHumanStreamTaskStatus": get_stream_task_status,
    "QueryDigitalHumanStreamTasks": query_stream_tasks,
    "StopDigitalHumanStreamTask": stop_stream_task,
}
