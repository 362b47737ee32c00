"""What a start does with records that were live when the last process ended: nothing stays
"streaming" or "playing" with nothing behind it."""

from __future__ import annotations

import time

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import DigitalHuman, Drive, StreamTask

TASK_REASON = "server restarted while the task was live"
DRIVE_PLAYING_REASON = "server restarted while the drive was playing"
DRIVE_QUEUED_REASON = "server restarted before the drive played"
BUILD_REASON = "server restarted during the build"


async def end_orphans(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Tasks 1/3/4 → 5, playing drives → 5 (interrupted), queued drives → 3 (failed), builds in
    progress → 3 (failed); each with a reason. Returns how many rows of each changed."""
    t = time.time()
    async with db() as s, s.begin():
        tasks = await s.execute(
            update(StreamTask)
            .where(StreamTask.status.in_((1, 3, 4)))
            .values(status=5, fail_reason=TASK_REASON, end_time=t)
        )
        playing = await s.execute(
            update(Drive)
            .where(Drive.status == 2)
            .values(status=5, fail_reason=DRIVE_PLAYING_REASON, end_time=t)
        )
        queued = await s.execute(
            update(Drive)
            .where(Drive.status == 1)
            .values(status=3, fail_reason=DRIVE_QUEUED_REASON, end_time=t)
        )
        builds = await s.execute(
            update(DigitalHuman)
            .where(DigitalHuman.status == 1)
            .values(status=3, fail_reason=BUILD_REASON)
        )
    return {
        "tasks": tasks.rowcount,
        "drives_interrupted": playing.rowcount,
        "drives_failed": queued.rowcount,
        "builds_failed": builds.rowcount,
    }
