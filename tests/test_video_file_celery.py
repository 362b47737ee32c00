"""The Celery runner end to end: a local redis-server on a free 127.0.0.1 port, a real Celery
worker process, jobs sent by the server side, rendered by the worker, watched to completion."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from avatar.video import jobs
from avatar.video.jobs import JobStore, JobView
from store.db import init_db, make_engine

try:
    from tests.test_video_file_helpers import ASTRONAUT, MEDIA, make_avatar, probe
    from tests.test_video_file_jobs import LONG, SHORT, _env, _QuietHandler, _spec, _wait
except ImportError:  # pytest run without the repo root on sys.path
    from test_video_file_helpers import ASTRONAUT, MEDIA, make_avatar, probe  # type: ignore[no-redef]
    from test_video_file_jobs import LONG, SHORT, _env, _QuietHandler, _spec, _wait  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture(scope="module")
def media_url() -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(MEDIA))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class Cluster:
    """A database and a data dir shared by Celery worker processes started on demand."""

    def __init__(self, data: Path, db_url: str, redis_url: str, store: JobStore) -> None:
        self.data, self.store, self.broker = data, store, redis_url
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DH_CELERY_BROKER_URL": redis_url,
            "DH_DATABASE_URL": db_url,
            "DH_DATA_DIR": str(data),
            "DH_ALLOW_PRIVATE_URLS": "true",
            "DH_VIDEO_LEASE_S": str(LEASE_S),
        }
        self.workers: list[subprocess.Popen] = []

    def start_worker(self) -> None:
        cmd = [sys.executable, "-m", "celery", "-A", "avatar.video.celery_app", "worker"]
        cmd += ["-P", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.workers.append(
            subprocess.Popen(
                [*cmd, "-l", "warning"],
                cwd=self.data,  # not the repo: no .env of a developer is read
                env=self.env,
                start_new_session=True,
            )
        )

    def kill_worker(self) -> None:
        """SIGKILL: the machine is gone, nothing of the worker runs again."""
        w = self.workers.pop()
        os.killpg(w.pid, signal.SIGKILL)
        w.wait()

    def stop_all(self) -> None:
        for w in self.workers:
            os.killpg(w.pid, signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()


LEASE_S = 3.0  # short, so a lost worker's job is taken over quickly in the test


@pytest.fixture
async def cluster(tmp_path: Path, redis_url: str) -> AsyncIterator[Cluster]:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(db_url)
    c = Cluster(tmp_path, db_url, redis_url, JobStore(await init_db(engine), lease_s=LEASE_S))
    c.start_worker()
    try:
        yield c
    finally:
        c.stop_all()
        await engine.dispose()


async def test_celery_worker_runs_and_cancels_jobs(cluster, media_url: str) -> None:  # type: ignore[no-untyped-def]
    from avatar.video.celery_runner import CeleryRunner

    store, data, broker = cluster.store, cluster.data, cluster.broker
    avatar = make_avatar(data / "avatars" / "a1", ASTRONAUT)
    notified: list[JobView] = []
    runner = CeleryRunner(store, _env(data), broker, notify=notified.append, poll_s=0.2)
    await runner.start()
    try:
        rel = avatar.relative_to(data)  # workers resolve it against their own data dir
        long_id = await store.create(1, "a1", _spec(rel, f"{media_url}/{LONG}"))
        short_id = await store.create(1, "a1", _spec(rel, f"{media_url}/{SHORT}"))
        await runner.submit(long_id)
        await runner.submit(short_id)
        # Cancelled mid-render on the worker through the database.
        await _wait(store, long_id, lambda j: j.status == jobs.RENDERING and j.progress >= 20)
        assert await store.cancel(long_id) == jobs.RENDERING
        # The worker stops it and goes on with the next job.
        job = await _wait(store, short_id, lambda j: j.status in jobs.FINAL, limit_s=120)
        assert job.status == jobs.DONE, job.fail_reason
        info = probe(data / "videos" / job.result["file"])
        assert info.video and info.audio and info.video.codec == "h264"
        assert abs(info.video.duration - job.result["duration"]) <= 0.1
        assert not (data / "videos" / f"{long_id}.mp4").exists()
        assert not list((data / "videos").glob("*.part"))
        await asyncio.sleep(0.6)  # a watcher pass
        assert sorted(j.id for j in notified) == sorted([long_id, short_id])
        assert {j.id: j.status for j in notified}[long_id] == jobs.CANCELLED
    finally:
        await runner.close()


async def test_a_lost_worker_s_job_is_finished_by_another(cluster, media_url: str) -> None:  # type: ignore[no-untyped-def]
    from avatar.video.celery_runner import CeleryRunner

    store, data = cluster.store, cluster.data
    avatar = make_avatar(data / "avatars" / "a1", ASTRONAUT)
    runner = CeleryRunner(store, _env(data), cluster.broker, poll_s=0.2)
    await runner.start()
    try:
        job_id = await store.create(1, "a1", _spec(avatar.relative_to(data), f"{media_url}/{LONG}"))
        await runner.submit(job_id)
        await _wait(store, job_id, lambda j: j.status == jobs.RENDERING and j.progress >= 20)
        cluster.kill_worker()
        cluster.start_worker()  # another machine
        job = await _wait(store, job_id, lambda j: j.status in jobs.FINAL, limit_s=120)
        assert job.status == jobs.DONE, job.fail_reason
        assert job.result["attempts"] == 2
        info = probe(data / "videos" / job.result["file"])
        assert info.video and abs(info.video.duration - 8.0) <= 0.1
        # The killed attempt's partial file was removed by the attempt that took over.
        assert [p.name for p in (data / "videos").iterdir() if p.is_file()] == [job.result["file"]]
    finally:
        await runner.close()
