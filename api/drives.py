"""Adding a drive to a live task: checks, the drive's record, then the runtime's queue.
Shared by every drive action (text, audio, WebSocket, RTC)."""

from __future__ import annotations

import uuid

from api.context import ActionContext
from api.errors import TASK_NOT_FOUND, TASK_NOT_STARTED, TASK_STOPPED, ApiError
from api.live import LiveEntry
from avatar.stream.contract import DriveSource, DriveStatus, TaskStatus
from store.models import Drive
from store.tasks import get_task


async def live_entry(ctx: ActionContext, task_id: str) -> LiveEntry:
    """The task's live entry, streaming; else 400000005 / 400000006 / 400000007."""
    entry = ctx.services.live.entry(task_id)
    if entry is None or entry.app_id != ctx.app_id:
        async with ctx.db() as s:
            row = await get_task(s, ctx.app_id, task_id)
        if row is None:
            raise ApiError(TASK_NOT_FOUND)
        raise ApiError(TASK_STOPPED)
    status = entry.status
    if status == TaskStatus.INITIALIZING or entry.task is None:
        raise ApiError(TASK_NOT_STARTED)
    if status != TaskStatus.STREAMING:
        raise ApiError(TASK_STOPPED)
    return entry


async def add_drive(
    ctx: ActionContext,
    entry: LiveEntry,
    kind: str,
    payload: dict,
    source: DriveSource,
    interrupt: bool,
    drive_id: str | None = None,
) -> str:
    """Record the drive (Status 1) and hand it to the runtime; returns the DriveId."""
    drive_id = drive_id or uuid.uuid4().hex
    async with ctx.db() as s, s.begin():
        s.add(Drive(id=drive_id, task_id=entry.task_id, kind=kind, status=1, payload=payload))
    events = ctx.services.events
    if entry.task is None or entry.status != TaskStatus.STREAMING:
        # The task ended while the record was written: the drive never plays.
        async with ctx.db() as s, s.begin():
            row = await s.get(Drive, drive_id)
            if row is not None:
                row.status, row.fail_reason = 3, "the task ended before the drive was queued"
        raise ApiError(TASK_STOPPED)
    events.on_drive_status(entry.task_id, drive_id, DriveStatus.QUEUED, None)
    try:
        entry.task.enqueue(drive_id, source, interrupt=interrupt)
    except RuntimeError as e:  # the runtime is shutting down
        events.on_drive_status(entry.task_id, drive_id, DriveStatus.FAILED, str(e))
        raise ApiError(TASK_STOPPED, f"stream task already stopped: {e}") from None
    return drive_id
