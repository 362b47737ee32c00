"""Queries on stream tasks and their drives."""

from __future__ import annotations

import time

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Drive, StreamTask


async def get_task(s: AsyncSession, app_id: int, task_id: str) -> StreamTask | None:
    row = await s.get(StreamTask, task_id)
    return row if row is not None and row.app_id == app_id else None


async def set_task_status(s: AsyncSession, task_id: str, status: int, reason: str | None) -> None:
    values: dict = {"status": status}
    if reason is not None:
        values["fail_reason"] = reason
    if status in (2, 5):
        values["end_time"] = time.time()
    # Statuses only move forward, and an ended task (2 or 5) stays ended.
    await s.execute(
        update(StreamTask)
        .where(
            StreamTask.id == task_id, StreamTask.status < status, StreamTask.status.notin_((2, 5))
        )
        .values(**values)
    )


async def set_drive_status(s: AsyncSession, drive_id: str, status: int, reason: str | None) -> None:
    values: dict = {"status": status}
    if reason is not None:
        values["fail_reason"] = reason
    if status == 2:
        values["start_time"] = time.time()
    elif status >= 3:
        values["end_time"] = time.time()
    # A drive never goes back and an ended drive (3, 4, 5) stays ended: a late "driving" after
    # "interrupted" must not overwrite it.
    await s.execute(
        update(Drive).where(Drive.id == drive_id, Drive.status < min(status, 3)).values(**values)
    )


async def list_drives(s: AsyncSession, task_id: str | None, drive_id: str | None) -> list[Drive]:
    q = select(Drive)
    if task_id is not None:
        q = q.where(Drive.task_id == task_id)
    if drive_id is not None:
        q = q.where(Drive.id == drive_id)
    return list(await s.scalars(q.order_by(Drive.create_time, Drive.id)))
