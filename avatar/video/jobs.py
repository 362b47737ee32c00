"""Video jobs in the database (store.models.VideoJob): create, claim, progress, finish, recover.

Status: 1 queued, 2 rendering, 3 failed, 4 done, 5 cancelled. Every change is one UPDATE with a
WHERE on the current status, so two workers (or a worker and a cancel) never both win: a job is
claimed by exactly one worker, and a cancelled job is never marked done.

A rendering job refreshes `update_time` with its progress (a heartbeat). A job in status 2 whose
heartbeat is older than the lease was cut off (its process died); it may be claimed again, up to
MAX_ATTEMPTS starts, then it fails with a reason. `result` keeps the attempt count and, when done,
the file name, duration and size.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import VideoJob

QUEUED, RENDERING, FAILED, DONE, CANCELLED = 1, 2, 3, 4, 5
LOST = 0  # heartbeat answer: another attempt has taken the job over (ours was presumed dead)
FINAL = (FAILED, DONE, CANCELLED)
MAX_ATTEMPTS = 3
LEASE_S = 60.0  # a rendering job silent for this long is considered cut off
RESTART_REASON = "the server stopped during rendering {n} times; giving up"


@dataclass(slots=True)
class JobView:
    """A job as the API shows it."""

    id: str
    app_id: int
    digital_human_id: str
    status: int
    progress: int
    fail_reason: str | None
    request: dict[str, Any]
    result: dict[str, Any]
    create_time: float
    update_time: float

    @classmethod
    def of(cls, row: VideoJob) -> JobView:
        return cls(
            row.id,
            row.app_id,
            row.digital_human_id,
            row.status,
            row.progress,
            row.fail_reason,
            dict(row.request or {}),
            dict(row.result or {}),
            row.create_time,
            row.update_time,
        )


class JobStore:
    """Queries on video jobs over an async session factory."""

    def __init__(self, db: async_sessionmaker[AsyncSession], lease_s: float = LEASE_S) -> None:
        self.db = db
        self.lease_s = lease_s

    async def create(self, app_id: int, digital_human_id: str, request: dict[str, Any]) -> str:
        job_id = uuid.uuid4().hex  # unguessable: it is also the file's URL
        t = time.time()
        async with self.db() as s, s.begin():
            s.add(
                VideoJob(
                    id=job_id,
                    app_id=app_id,
                    digital_human_id=digital_human_id,
                    status=QUEUED,
                    progress=0,
                    request=request,
                    result={"attempts": 0},
                    create_time=t,
                    update_time=t,
                )
            )
        return job_id

    async def get(self, job_id: str) -> JobView | None:
        async with self.db() as s:
            row = await s.get(VideoJob, job_id)
            return JobView.of(row) if row else None

    async def list(
        self, app_id: int | None, offset: int = 0, limit: int = 20, status: int | None = None
    ) -> tuple[int, list[JobView]]:
        q = select(VideoJob)
        cnt = select(func.count()).select_from(VideoJob)
        if app_id is not None:
            q, cnt = q.where(VideoJob.app_id == app_id), cnt.where(VideoJob.app_id == app_id)
        if status is not None:
            q, cnt = q.where(VideoJob.status == status), cnt.where(VideoJob.status == status)
        q = q.order_by(VideoJob.create_time.desc()).offset(offset).limit(limit)
        async with self.db() as s:
            total = (await s.execute(cnt)).scalar_one()
            rows = (await s.execute(q)).scalars().all()
        return total, [JobView.of(r) for r in rows]

    async def ids_with_status(self, *statuses: int) -> list[str]:
        q = select(VideoJob.id).where(VideoJob.status.in_(statuses)).order_by(VideoJob.create_time)
        async with self.db() as s:
            return list((await s.execute(q)).scalars().all())

    async def claim(self, job_id: str) -> JobView | None:
        """Take a queued job (or one whose worker died) for rendering. None: someone else has
        it, or it is final. A job started MAX_ATTEMPTS times already fails instead."""
        now = time.time()
        async with self.db() as s, s.begin():
            row = await s.get(VideoJob, job_id)
            if row is None:
                return None
            stale = row.status == RENDERING and row.update_time < now - self.lease_s
            if row.status != QUEUED and not stale:
                return None
            result = dict(row.result or {})
            attempts = int(result.get("attempts", 0))
            if attempts >= MAX_ATTEMPTS:
                await s.execute(
                    update(VideoJob)
                    .where(VideoJob.id == job_id, VideoJob.status == row.status)
                    .values(
                        status=FAILED,
                        fail_reason=RESTART_REASON.format(n=attempts),
                        update_time=now,
                    )
                )
                return None
            result["attempts"] = attempts + 1
            res = await s.execute(
                update(VideoJob)
                .where(
                    VideoJob.id == job_id,
                    VideoJob.status == row.status,
                    VideoJob.update_time == row.update_time,
                )
                .values(status=RENDERING, progress=0, result=result, update_time=now)
            )
            if res.rowcount != 1:
                return None
        return await self.get(job_id)

    async def release(self, job_id: str, attempt: int | None = None) -> None:
        """Rendering → queued at a clean shutdown; the interrupted start does not count as an
        attempt (a crash, which cannot call this, does)."""
        async with self.db() as s, s.begin():
            row = await s.get(VideoJob, job_id)
            if row is None or row.status != RENDERING or not _owns(row, attempt):
                return
            result = dict(row.result or {})
            result["attempts"] = max(0, int(result.get("attempts", 1)) - 1)
            await s.execute(
                update(VideoJob)
                .where(VideoJob.id == job_id, VideoJob.status == RENDERING)
                .values(status=QUEUED, progress=0, result=result, update_time=time.time())
            )

    async def heartbeat(self, job_id: str, progress: int, attempt: int | None = None) -> int:
        """Store progress while rendering; returns the job's status (5 = cancel requested), or
        LOST when the job is gone or another attempt owns it now."""
        async with self.db() as s, s.begin():
            row = await s.get(VideoJob, job_id)
            if row is None or not _owns(row, attempt):
                return LOST
            if row.status == RENDERING:
                await s.execute(
                    update(VideoJob)
                    .where(VideoJob.id == job_id, VideoJob.status == RENDERING)
                    .values(progress=progress, update_time=time.time())
                )
            return row.status

    async def finish(self, job_id: str, result: dict[str, Any], attempt: int | None = None) -> bool:
        """Rendering → done; False when the job was cancelled meanwhile (or, with `attempt`,
        when another attempt owns it now)."""
        return await self._end(job_id, DONE, None, result, 100, attempt)

    async def fail(self, job_id: str, reason: str, attempt: int | None = None) -> bool:
        return await self._end(job_id, FAILED, reason[:1000], None, None, attempt)

    async def _end(
        self,
        job_id: str,
        status: int,
        reason: str | None,
        result: dict[str, Any] | None,
        progress: int | None = None,
        attempt: int | None = None,
    ) -> bool:
        async with self.db() as s, s.begin():
            row = await s.get(VideoJob, job_id)
            if row is None or row.status in FINAL or not _owns(row, attempt):
                return False
            values: dict[str, Any] = {"status": status, "update_time": time.time()}
            if reason is not None:
                values["fail_reason"] = reason
            if result is not None:
                values["result"] = {**(row.result or {}), **result}
            if progress is not None:
                values["progress"] = progress
            res = await s.execute(
                update(VideoJob)
                .where(VideoJob.id == job_id, VideoJob.status.in_((QUEUED, RENDERING)))
                .values(**values)
            )
            return res.rowcount == 1

    async def cancel(self, job_id: str) -> int | None:
        """Queued or rendering → cancelled. Returns the status before (None: no such job)."""
        async with self.db() as s, s.begin():
            row = await s.get(VideoJob, job_id)
            if row is None:
                return None
            before = row.status
            if before in (QUEUED, RENDERING):
                await s.execute(
                    update(VideoJob)
                    .where(VideoJob.id == job_id, VideoJob.status.in_((QUEUED, RENDERING)))
                    .values(status=CANCELLED, fail_reason="cancelled", update_time=time.time())
                )
            return before

    async def requeue_cut_off(self) -> int:
        """At the start of a single-process server: every job left rendering lost its worker.
        Put it back in the queue (claim() fails it once it has used up its attempts)."""
        async with self.db() as s, s.begin():
            res = await s.execute(
                update(VideoJob)
                .where(VideoJob.status == RENDERING)
                .values(status=QUEUED, progress=0, update_time=time.time())
            )
            return res.rowcount

    async def expired(self, older_than: float) -> list[JobView]:
        """Finished jobs whose file is due for deletion under the retention policy."""
        q = select(VideoJob).where(VideoJob.status == DONE, VideoJob.update_time < older_than)
        async with self.db() as s:
            rows = (await s.execute(q)).scalars().all()
        return [JobView.of(r) for r in rows if not (r.result or {}).get("expired")]

    async def mark_expired(self, job_id: str) -> None:
        async with self.db() as s, s.begin():
            row = await s.get(VideoJob, job_id)
            if row is not None:
                row.result = {**(row.result or {}), "expired": True}


def _owns(row: VideoJob, attempt: int | None) -> bool:
    """Whether the attempt numbered `attempt` (None: any) is the job's current one."""
    return attempt is None or int((row.result or {}).get("attempts", 0)) == attempt
