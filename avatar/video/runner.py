"""The job runner interface and the default in-process runner.

A runner takes job ids (the jobs themselves are in the database) and sees that each one is run
once by `execute_job`. The in-process runner keeps `workers` asyncio tasks taking ids from a
queue, each job rendering in its own thread pool; at start it puts jobs cut off by the last
shutdown back in the queue and queues every job still waiting. A runner also calls `notify` once
per job that reaches a final status (the completion webhook) and applies the retention policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from avatar.video import jobs
from avatar.video.execute import JobEnv, execute_job
from avatar.video.jobs import JobStore, JobView

log = logging.getLogger(__name__)

NotifyFn = Callable[[JobView], None]


class JobRunner(ABC):
    """Runs video jobs stored in the database."""

    def __init__(
        self,
        store: JobStore,
        env: JobEnv,
        notify: NotifyFn | None = None,
        retention_s: float | None = 7 * 86400,
    ) -> None:
        self.store = store
        self.env = env
        self.notify = notify
        self.retention_s = retention_s
        self._housekeeping: asyncio.Task | None = None

    @abstractmethod
    async def start(self) -> None:
        """Recover what the last run left and begin taking jobs."""

    @abstractmethod
    async def submit(self, job_id: str) -> None:
        """A new job was stored with status 1: run it when a worker is free."""

    @abstractmethod
    async def cancel(self, job_id: str, was_queued: bool) -> None:
        """The job was set to status 5 in the database: stop its work as soon as possible.
        `was_queued`: it had not started, so it never will (its notification is due now)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop taking jobs; jobs cut off here run again at the next start."""

    def _notify(self, job: JobView | None) -> None:
        if job is not None and job.status in jobs.FINAL and self.notify is not None:
            try:
                self.notify(job)
            except Exception:
                log.exception("video job notification failed")

    def _start_housekeeping(self, interval_s: float = 3600.0) -> None:
        if self.retention_s is not None:
            self._housekeeping = asyncio.get_running_loop().create_task(
                self._purge_loop(interval_s), name="video-retention"
            )

    async def _stop_housekeeping(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping

    async def _purge_loop(self, interval_s: float) -> None:
        while True:
            try:
                await self.purge_expired()
            except Exception:
                log.exception("video retention pass failed")
            await asyncio.sleep(interval_s)

    async def purge_expired(self) -> int:
        """Delete the files of jobs finished more than `retention_s` ago; the records stay
        (their status shows the file has expired)."""
        if self.retention_s is None:
            return 0
        # Partial files left by killed processes (no render runs for a day).
        for p in self.env.videos_dir.glob("*.part"):
            with contextlib.suppress(OSError):
                if p.stat().st_mtime < time.time() - 86400:
                    p.unlink()
        expired = await self.store.expired(time.time() - self.retention_s)
        for job in expired:
            name = job.result.get("file")
            if name:
                (self.env.videos_dir / name).unlink(missing_ok=True)
            await self.store.mark_expired(job.id)
        return len(expired)


class InProcessRunner(JobRunner):
    """`workers` concurrent jobs inside the server process (DH_VIDEO_WORKERS)."""

    def __init__(
        self,
        store: JobStore,
        env: JobEnv,
        workers: int = 1,
        notify: NotifyFn | None = None,
        retention_s: float | None = 7 * 86400,
    ) -> None:
        super().__init__(store, env, notify, retention_s)
        self.workers = max(1, workers)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._cancels: dict[str, threading.Event] = {}

    async def start(self) -> None:
        # Partial files of the last run: nobody else writes here (a single server's runner).
        for p in self.env.videos_dir.glob("*.part"):
            p.unlink(missing_ok=True)
        n = await self.store.requeue_cut_off()
        if n:
            log.warning("%d video job(s) cut off by the last shutdown are queued again", n)
        for job_id in await self.store.ids_with_status(jobs.QUEUED):
            self._queue.put_nowait(job_id)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._worker(), name=f"video-worker-{i}") for i in range(self.workers)
        ]
        self._start_housekeeping()

    async def submit(self, job_id: str) -> None:
        self._queue.put_nowait(job_id)

    async def cancel(self, job_id: str, was_queued: bool) -> None:
        if was_queued:
            # Its id is still in the queue; the claim will refuse it, so nobody else notifies.
            self._notify(await self.store.get(job_id))
            return
        ev = self._cancels.get(job_id)
        if ev is not None:
            # The heartbeat would see status 5 within a beat; this stops the frames now.
            ev.set()

    async def _worker(self) -> None:
        while True:
            job_id = await self._queue.get()
            ev = self._cancels[job_id] = threading.Event()
            try:
                job = await execute_job(self.store, self.env, job_id, ev)
            except asyncio.CancelledError:
                raise
            except Exception:
                # execute_job records its own failures; this is a last guard for the worker.
                log.exception("video worker error on job %s", job_id)
                job = None
            finally:
                self._cancels.pop(job_id, None)
            self._notify(job)

    async def close(self) -> None:
        await self._stop_housekeeping()
        # Cancelling the tasks stops their render threads and leaves the jobs in status 2,
        # to be queued again by the next start (events are for user cancels only).
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
