"""Video jobs on Celery with Redis: the worker side (`celery -A avatar.video.celery_app worker`).

Add machines by starting this worker on each of them with the same settings as the server:
DH_CELERY_BROKER_URL (the Redis URL, e.g. redis://queue-host:6379/0), DH_DATABASE_URL (a database
every machine reaches, e.g. PostgreSQL; SQLite only when all run on one machine) and DH_DATA_DIR
on shared storage (avatars are read from it, videos are written to it), e.g.

    DH_CELERY_BROKER_URL=redis://10.0.0.5:6379/0 DH_DATABASE_URL=postgresql+asyncpg://... \\
    DH_DATA_DIR=/mnt/dh celery -A avatar.video.celery_app worker -c 1 --prefetch-multiplier 1

`-c` is the number of jobs per machine (each job renders with two threads). A task carries only
the job id; the job is claimed in the database, so a message delivered twice runs once, and a
worker that dies mid-job has its message delivered again (late acknowledgement) and the job is
claimed again once its heartbeat is stale.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from pathlib import Path

from celery import Celery

from avatar.video.execute import JobEnv, execute_job
from avatar.video.jobs import LEASE_S, JobStore

log = logging.getLogger(__name__)

TASK_NAME = "digital_human.render_video"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def make_celery(broker_url: str | None = None) -> Celery:
    broker = broker_url or os.environ.get("DH_CELERY_BROKER_URL", DEFAULT_BROKER)
    app = Celery("digital_human_video", broker=broker)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # Acknowledge after the job: a worker lost mid-job gets its message redelivered.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Redis redelivers unacknowledged messages after this long; longer than any video.
        broker_transport_options={"visibility_timeout": 6 * 3600},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    app.task(name=TASK_NAME)(render_video_task)
    return app


def render_video_task(job_id: str) -> None:
    """Run one job; never raises (the job record carries any failure)."""
    try:
        asyncio.run(_run(job_id))
    except Exception:
        log.exception("video job %s: worker error", job_id)


async def _run(job_id: str) -> None:
    from settings import Settings
    from store.db import init_db, make_engine

    settings = Settings()
    engine = make_engine(settings.db_url)
    try:
        lease = float(os.environ.get("DH_VIDEO_LEASE_S", LEASE_S))
        store = JobStore(await init_db(engine), lease_s=lease)
        await execute_job(store, _env(settings), job_id)
    finally:
        await engine.dispose()


@functools.cache
def _tts():  # type: ignore[no-untyped-def]
    # Voices load once per worker process and stay warm between jobs.
    from agent.tts.registry import TTSRegistry, default_registry

    try:
        return default_registry(threads=1)
    except Exception:
        log.exception("no TTS voices on this worker")
        return TTSRegistry([])


def _env(settings) -> JobEnv:  # type: ignore[no-untyped-def]
    from api.fetch import Fetcher

    fetcher = Fetcher(
        settings.allow_private_urls, settings.fetch_max_bytes, settings.fetch_timeout_s
    )

    async def fetch(url: str, path: Path) -> int:
        return await fetcher.to_file(url, path)

    return JobEnv(data_dir=Path(settings.data_dir), fetch=fetch, tts=_tts())


app = make_celery()
