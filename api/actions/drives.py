"""Driving a stream task: DriveByText, DriveByAudio, DoAction, InterruptDriveTask, GetDriveStatus."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from sqlalchemy import select

from api.context import ActionContext
from api.drives import add_drive, live_entry
from api.errors import (
    TASK_NOT_FOUND,
    TASK_NOT_STARTED,
    TASK_STOPPED,
    TIMBRE_NOT_FOUND,
    ApiError,
    invalid,
)
from api.schema import Req, action
from store.models import DigitalHuman, Drive, StreamTask
from store.tasks import get_task, list_drives

TASK_CODES = [TASK_NOT_FOUND, TASK_NOT_STARTED, TASK_STOPPED]


class TTSConfigReq(Req):
    TimbreId: str = Field(min_length=1, max_length=128)
    SpeechRate: int = Field(0, ge=-500, le=500, description="+500 = 2x faster, -500 = 2x slower")
    PitchRate: int = Field(0, ge=-500, le=500)
    Volume: int = Field(50, ge=1, le=100, description="50 = unchanged")


class DriveByTextReq(Req):
    TaskId: str = Field(min_length=1, max_length=64)
    Text: str = Field(min_length=1, max_length=1800)
    InterruptMode: Literal[0, 1] = Field(0, description="0 queue, 1 interrupt now")
    TTSConfig: TTSConfigReq


@action(DriveByTextReq, codes=[*TASK_CODES, TIMBRE_NOT_FOUND])
async def drive_by_text(ctx: ActionContext, req: DriveByTextReq) -> dict:
    """Speak a text with an offline voice (GetTimbreList)."""
    from agent.tts.base import SpeechOptions
    from avatar.stream.sources import TextSource

    if not req.Text.strip():
        raise invalid("Text", "must contain something to say")
    entry = await live_entry(ctx, req.TaskId)
    try:
        tts, voice = ctx.services.tts.get(req.TTSConfig.TimbreId)
    except KeyError:
        raise ApiError(TIMBRE_NOT_FOUND, f"timbre not found: {req.TTSConfig.TimbreId}") from None
    cfg = req.TTSConfig
    options = SpeechOptions(speech_rate=cfg.SpeechRate, pitch_rate=cfg.PitchRate, volume=cfg.Volume)
    source = TextSource(tts, voice, req.Text, options)
    payload = {"Text": req.Text, "TTSConfig": cfg.model_dump(), "InterruptMode": req.InterruptMode}
    drive_id = await add_drive(ctx, entry, "text", payload, source, req.InterruptMode == 1)
    return {"DriveId": drive_id}


class DriveByAudioReq(Req):
    TaskId: str = Field(min_length=1, max_length=64)
    AudioUrl: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^https?://",
        description="http(s) URL of a WAV or MP3",
    )
    InterruptMode: Literal[0, 1] = Field(0, description="0 queue, 1 interrupt now")


@action(DriveByAudioReq, codes=TASK_CODES)
async def drive_by_audio(ctx: ActionContext, req: DriveByAudioReq) -> dict:
    """Play an audio file (WAV or MP3) from a URL; it starts playing while it downloads.
    A URL that cannot be fetched fails the drive (Status 3, FailReason), not the task."""
    from avatar.stream.sources import AudioBytesSource

    entry = await live_entry(ctx, req.TaskId)
    source = AudioBytesSource(ctx.services.fetcher.stream(req.AudioUrl))
    payload = {"AudioUrl": req.AudioUrl, "InterruptMode": req.InterruptMode}
    drive_id = await add_drive(ctx, entry, "audio", payload, source, req.InterruptMode == 1)
    return {"DriveId": drive_id}


class DoActionReq(Req):
    TaskId: str = Field(min_length=1, max_length=64)
    Action: str = Field(
        min_length=1, max_length=128, description="a name from the avatar's Actions"
    )


@action(DoActionReq, codes=TASK_CODES)
async def do_action(ctx: ActionContext, req: DoActionReq) -> dict:
    """Play one of the avatar's actions over whatever is playing."""
    entry = await live_entry(ctx, req.TaskId)
    async with ctx.db() as s:
        dh = await s.get(DigitalHuman, entry.digital_human_id)
    names = list(dh.actions or []) if dh else []
    if req.Action not in names:
        raise invalid(
            "Action",
            f"{req.Action[:40]!r} is not one of this avatar's actions ({', '.join(names)})",
        )
    assert entry.task is not None
    entry.task.do_action(req.Action)
    return {}


class TaskReq(Req):
    TaskId: str = Field(min_length=1, max_length=64)


@action(TaskReq, codes=TASK_CODES)
async def interrupt_drive(ctx: ActionContext, req: TaskReq) -> dict:
    """Stop the current drive (Status 5) and drop the queue (those become 5 too)."""
    entry = await live_entry(ctx, req.TaskId)
    assert entry.task is not None
    entry.task.interrupt()
    return {}


class DriveStatusReq(Req):
    TaskId: str | None = Field(None, min_length=1, max_length=64)
    DriveId: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one(self) -> DriveStatusReq:
        if self.TaskId is None and self.DriveId is None:
            raise ValueError("TaskId or DriveId is required")
        return self


@action(DriveStatusReq, codes=[TASK_NOT_FOUND])
async def get_drive_status(ctx: ActionContext, req: DriveStatusReq) -> dict:
    """Drives of a task (history included) or one drive: 1 queued, 2 driving, 3 failed,
    4 finished, 5 interrupted."""
    async with ctx.db() as s:
        if req.TaskId is not None:
            if await get_task(s, ctx.app_id, req.TaskId) is None:
                raise ApiError(TASK_NOT_FOUND)
            rows = await list_drives(s, req.TaskId, req.DriveId)
        else:
            rows = list(
                await s.scalars(
                    select(Drive)
                    .join(StreamTask, StreamTask.id == Drive.task_id)
                    .where(Drive.id == req.DriveId, StreamTask.app_id == ctx.app_id)
                )
            )
            if not rows:
                raise ApiError(TASK_NOT_FOUND, "drive not found")
    pending = ctx.services.events.pending_drives
    out = []
    for r in rows:
        status, reason = pending.get(r.id, (r.status, r.fail_reason))
        out.append(
            {
                "DriveId": r.id,
                "TaskId": r.task_id,
                "Status": status,
                "Kind": r.kind,
                "FailReason": reason or "",
                "CreateTime": int(r.create_time),
            }
        )
    return {"DriveList": out}


ACTIONS = {
    "DriveByText": drive_by_text,
    "DriveByAudio": drive_by_audio,
    "DoAction": do_action,
    "InterruptDriveTask": interrupt_drive,
    "GetDriveStatus": get_drive_status,
}
