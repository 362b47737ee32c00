"""Video jobs in the database with the in-process runner: done, failed with a reason (and the
worker goes on), cancelled mid-render and while queued, a server killed mid-job (the job is
finished by the next start), retention. Inputs come over real HTTP from 127.0.0.1."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from api.fetch import Fetcher
from avatar.video import jobs
from avatar.video.execute import JobEnv
from avatar.video.jobs import JobStore, JobView
from avatar.video.runner import InProcessRunner
from avatar.video.spec import VideoSpec
from store.db import init_db, make_engine

try:
    from tests.test_video_file_helpers import ASTRONAUT, MEDIA, make_avatar, probe
except ImportError:  # pytest run without the repo root on sys.path
    from test_video_file_helpers import ASTRONAUT, MEDIA, make_avatar, probe  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parent.parent
SHORT = "audio/16k_mono/zh_bus_chinese.wav"  # 3.4 s
LONG = "audio/16k_mono/en_RD_Radio31_000.wav"  # 8 s


@pytest.fixture(scope="module")
def media_url() -> Iterator[str]:
    """The shared media folder served read-only over HTTP on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(MEDIA))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _env(data: Path) -> JobEnv:
    fetcher = Fetcher(allow_private=True, max_bytes=50 * 2**20, timeout_s=20)

    async def fetch(url: str, path: Path) -> int:
        return await fetcher.to_file(url, path)

    return JobEnv(data_dir=data, fetch=fetch, tts=None, heartbeat_s=0.2)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[JobStore, JobEnv, Path]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    store = JobStore(await init_db(engine))
    avatar = make_avatar(tmp_path / "avatars" / "a1", ASTRONAUT)
    yield store, _env(tmp_path), avatar
    await engine.dispose()


def _spec(avatar: Path, audio_url: str, **kw: object) -> dict:
    spec = VideoSpec(str(avatar), 1080, 1920, "mp4", audio_url=audio_url, **kw)  # type: ignore[arg-type]
    spec.validate()
    return {"spec": spec.to_dict()}


async def _wait(store: JobStore, job_id: str, cond, limit_s: float = 60) -> JobView:  # type: ignore[no-untyped-def]
    t = time.monotonic()
    while time.monotonic() - t < limit_s:
        job = await store.get(job_id)
        assert job is not None
        if cond(job):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck: {job}")


def _final(j: JobView) -> bool:
    return j.status in jobs.FINAL


@pytest.mark.slow
async def test_job_runs_fails_cleanly_and_worker_survives(setup, media_url: str) -> None:  # type: ignore[no-untyped-def]
    store, env, avatar = setup
    done: list[JobView] = []
    runner = InProcessRunner(store, env, workers=1, notify=done.append)
    await runner.start()
    try:
        missing = await store.create(1, "a1", _spec(avatar, f"{media_url}/nope.wav"))
        garbage = await store.create(1, "a1", _spec(avatar, f"{media_url}/MANIFEST.md"))
        broken_av = make_avatar(avatar.parent / "broken", ASTRONAUT)
        (broken_av / "source.png").unlink()  # the renderer cannot load: fails inside the job
        broken = await store.create(1, "a1", _spec(broken_av, f"{media_url}/{SHORT}"))
        good = await store.create(1, "a1", _spec(avatar, f"{media_url}/{SHORT}"))
        for j in (missing, garbage, broken, good):
            await runner.submit(j)
        job = await _wait(store, missing, _final)
        assert job.status == jobs.FAILED and "AudioUrl" in (job.fail_reason or "")
        assert "404" in (job.fail_reason or "")
        job = await _wait(store, garbage, _final)
        assert job.status == jobs.FAILED and "decoded" in (job.fail_reason or "")
        job = await _wait(store, broken, _final)
        assert job.status == jobs.FAILED and "internal error" in (job.fail_reason or "")
        job = await _wait(store, good, _final)
        assert job.status == jobs.DONE, job.fail_reason
        assert job.progress == 100 and job.result["attempts"] == 1
        out = env.videos_dir / job.result["file"]
        info = probe(out)
        assert info.video and (info.video.width, info.video.height) == (1080, 1920)
        assert abs(info.video.duration - job.result["duration"]) <= 0.1
        assert [j.id for j in done] == [missing, garbage, broken, good]  # one notification per job
    finally:
        await runner.close()


@pytest.mark.slow
async def test_cancel_mid_render_and_while_queued(setup, media_url: str) -> None:  # type: ignore[no-untyped-def]
    store, env, avatar = setup
    notified: list[JobView] = []
    runner = InProcessRunner(store, env, workers=1, notify=notified.append)
    await runner.start()
    try:
        first = await store.create(1, "a1", _spec(avatar, f"{media_url}/{LONG}"))
        second = await store.create(1, "a1", _spec(avatar, f"{media_url}/{SHORT}"))
        await runner.submit(first)
        await runner.submit(second)
        await _wait(store, first, lambda j: j.status == jobs.RENDERING and j.progress >= 20)
        assert (await store.cancel(second)) == jobs.QUEUED
        await runner.cancel(second, was_queued=True)
        assert (await store.cancel(first)) == jobs.RENDERING
        await runner.cancel(first, was_queued=False)
        t = time.monotonic()
        job = await _wait(store, first, lambda j: not runner._cancels)
        assert time.monotonic() - t < 3
        assert job.status == jobs.CANCELLED and job.progress < 90
        await asyncio.sleep(0.5)
        job2 = await store.get(second)
        assert job2 and job2.status == jobs.CANCELLED and job2.result["attempts"] == 0
        assert not list(env.videos_dir.glob("*"))  # neither a file nor a partial one
        # One notification each, the queued one at once.
        assert [(j.id, j.status) for j in notified] == [
            (second, jobs.CANCELLED),
            (first, jobs.CANCELLED),
        ]
    finally:
        await runner.close()


_SERVER = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.test_video_file_jobs import _env
from avatar.video.jobs import JobStore
from avatar.video.runner import InProcessRunner
from store.db import init_db, make_engine

async def main():
    engine = make_engine({db!r})
    runner = InProcessRunner(JobStore(await init_db(engine)), _env(Path({data!r})))
    await runner.start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_server_killed_mid_job_loses_nothing(setup, media_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, env, avatar = setup
    job_id = await store.create(1, "a1", _spec(avatar, f"{media_url}/{LONG}"))
    db = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    code = _SERVER.format(repo=str(REPO), db=db, data=str(tmp_path))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=REPO, start_new_session=True
    )
    try:
        await _wait(store, job_id, lambda j: j.status == jobs.RENDERING and j.progress >= 30)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no shutdown code runs: a crash
        await proc.wait()
    job = await store.get(job_id)
    assert job and job.status == jobs.RENDERING  # left behind by the dead process
    runner = InProcessRunner(store, env, workers=1)
    await runner.start()  # the next start: the cut-off job is queued again and finished
    try:
        job = await _wait(store, job_id, _final, limit_s=120)
    finally:
        await runner.close()
    assert job.status == jobs.DONE, job.fail_reason
    assert job.result["attempts"] == 2
    assert [p.name for p in env.videos_dir.iterdir()] == [job.result["file"]]
    info = probe(env.videos_dir / job.result["file"])
    assert info.video and abs(info.video.duration - 8.0) <= 0.1


async def test_attempts_are_limited_and_retention(setup) -> None:  # type: ignore[no-untyped-def]
    store, env, avatar = setup
    job_id = await store.create(1, "a1", _spec(avatar, "http://127.0.0.1:9/x.wav"))
    for _ in range(jobs.MAX_ATTEMPTS):
        assert await store.claim(job_id) is not None
        assert await store.claim(job_id) is None  # already claimed: nobody else gets it
        assert await store.requeue_cut_off() == 1
    assert await store.claim(job_id) is None
    job = await store.get(job_id)
    assert job and job.status == jobs.FAILED and "3 times" in (job.fail_reason or "")

    # Retention: a done job's file goes once it is older than the retention time.
    done_id = await store.create(1, "a1", _spec(avatar, "http://127.0.0.1:9/x.wav"))
    await store.claim(done_id)
    env.videos_dir.mkdir(parents=True, exist_ok=True)
    (env.videos_dir / f"{done_id}.mp4").write_bytes(b"x")
    assert await store.finish(done_id, {"file": f"{done_id}.mp4", "duration": 1.0})
    runner = InProcessRunner(store, env, retention_s=3600)
    assert await runner.purge_expired() == 0
    runner.retention_s = 0.0
    await asyncio.sleep(0.01)
    assert await runner.purge_expired() == 1
    assert not (env.videos_dir / f"{done_id}.mp4").exists()
    job = await store.get(done_id)
    assert job and job.status == jobs.DONE and job.result["expired"] is True


@pytest.mark.slow
async def test_clean_shutdown_mid_job_requeues_without_using_an_attempt(
    setup, media_url: str
) -> None:  # type: ignore[no-untyped-def]
    store, env, avatar = setup
    runner = InProcessRunner(store, env, workers=1)
    await runner.start()
    job_id = await store.create(1, "a1", _spec(avatar, f"{media_url}/{SHORT}"))
    await runner.submit(job_id)
    try:
        await _wait(store, job_id, lambda j: j.status == jobs.RENDERING and j.progress >= 20)
    finally:
        await runner.close()
    job = await store.get(job_id)
    assert job and job.status == jobs.QUEUED and job.result["attempts"] == 0
    assert not list(env.videos_dir.glob("*"))  # the partial file went with the render thread
    runner = InProcessRunner(store, env, workers=1)
    await runner.start()
    try:
        job = await _wait(store, job_id, _final)
    finally:
        await runner.close()
    assert job.status == jobs.DONE and job.result["attempts"] == 1


async def test_an_attempt_taken_over_can_no_longer_write(setup) -> None:  # type: ignore[no-untyped-def]
    store, env, avatar = setup
    job_id = await store.create(1, "a1", _spec(avatar, "http://127.0.0.1:9/x.wav"))
    first = await store.claim(job_id)
    assert first and first.result["attempts"] == 1
    assert await store.heartbeat(job_id, 10, 1) == jobs.RENDERING
    await store.requeue_cut_off()  # presumed dead
    assert (await store.claim(job_id)) is not None  # attempt 2 takes over
    assert await store.heartbeat(job_id, 50, 1) == jobs.LOST  # the old attempt hears it
    assert not await store.finish(job_id, {"file": "x.mp4"}, 1)
    assert not await store.fail(job_id, "old attempt", 1)
    job = await store.get(job_id)
    assert job and job.status == jobs.RENDERING and job.progress == 0
    assert await store.finish(job_id, {"file": "x.mp4", "duration": 1.0}, 2)
