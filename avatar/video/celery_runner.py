"""The server side of the Celery runner: send job ids to Redis, watch the database for outcomes.

Workers (avatar/video/celery_app.py) update the job records themselves; this side only queues,
re-queues jobs that lost their worker (heartbeat older than the lease), and calls `notify` when a
job it watches reaches a final status. Cancellation needs no message: a worker's heartbeat reads
status 5 and stops within a beat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from avatar.video import jobs
from avatar.video.celery_app import TASK_NAME
from avatar.video.execute import JobEnv
from avatar.video.jobs import JobStore
from avatar.video.runner import JobRunner, NotifyFn

log = logging.getLogger(__name__)


class CeleryRunner(JobRunner):
    """Jobs run on Celery workers reached through `broker_url` (Redis)."""

    def __init__(
        self,
        store: JobStore,
        env: JobEnv,
        broker_url: str,
        notify: NotifyFn | None = None,
        retention_s: float | None = 7 * 86400,
        poll_s: float = 1.0,
    ) -> None:
        super().__init__(store, env, notify, retention_s)
        from avatar.video.celery_app import make_celery

        self.celery = make_celery(broker_url)
        self.poll_s = poll_s
        self._watched: set[str] = set()
        self._watcher: asyncio.Task | None = None

    async def start(self) -> None:
        # Messages are idempotent (the claim decides), so queued jobs are simply sent again:
        # the broker may have lost them with a restart of its own.
        for job_id in await self.store.ids_with_status(jobs.QUEUED):
            await self._send(job_id)
        self._watched.update(await self.store.ids_with_status(jobs.QUEUED, jobs.RENDERING))
        self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="video-watch")
        self._start_housekeeping()

    async def _send(self, job_id: str) -> None:
        # kombu's publish is blocking network I/O.
        await asyncio.to_thread(self.celery.send_task, TASK_NAME, [job_id])

    async def submit(self, job_id: str) -> None:
        self._watched.add(job_id)
        await self._send(job_id)

    async def cancel(self, job_id: str, was_queued: bool) -> None:
        """Nothing to send: the worker's heartbeat sees status 5, the watcher notifies."""

    async def _watch(self) -> None:
        last_stale_check = 0.0
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                for job_id in list(self._watched):
                    job = await self.store.get(job_id)
                    if job is None or job.status in jobs.FINAL:
                        self._watched.discard(job_id)
                        self._notify(job)
                    elif (
                        job.status == jobs.RENDERING
                        and job.update_time < time.time() - self.store.lease_s
                        and time.time() - last_stale_check > self.store.lease_s
                    ):
                        # Its worker died (machine lost): queue it again; the claim counts tries.
                        log.warning("video job %s lost its worker; sending it again", job_id)
                        await self._send(job_id)
                if time.time() - last_stale_check > self.store.lease_s:
                    last_stale_check = time.time()
            except Exception:
                log.exception("video job watcher pass failed")

    async def close(self) -> None:
        await self._stop_housekeeping()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self.celery.close()
