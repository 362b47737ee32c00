"""Rendering in worker processes: the same task behaviour as with threads (frames, a moving
mouth that rests after the drive), two frames of a task in flight at once and back in order,
clean start failures, shared memory released, and a task that outlives a crashed worker (frames
fail and are counted, audio goes on)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatar.compose import Scene
from avatar.stream.contract import DriveStatus, StreamConfig, TaskStatus
from avatar.stream.render_host import FRAME_SLOTS, RenderProcessPool
from avatar.stream.sources import PushSource
from avatar.stream.task import StreamTask
from avatar.stream.testing import CollectingSink, RecordingEvents, make_still_avatar, mouth_box
from avatar.types import AUDIO_RATE, REST_PARAMS, MouthShape

SPEECH = Path("/work/shared/media/audio/16k_mono/en_RD_Radio31_000.wav")
SIZE = 128
ENDED = {DriveStatus.FAILED, DriveStatus.FINISHED, DriveStatus.INTERRUPTED}


@pytest.fixture(scope="module")
def avatar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_still_avatar(tmp_path_factory.mktemp("avatar") / "still", SIZE)


@pytest.fixture(scope="module")
def pool():
    pool = RenderProcessPool(workers=1)
    yield pool
    pool.close()


def _shm_segments() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("psm_")}


async def _task(avatar: Path, pool: RenderProcessPool, name: str = "p"):
    events, sink = RecordingEvents(), CollectingSink()
    task = StreamTask(
        StreamConfig(name, "r", name, Scene(SIZE, SIZE)), avatar, events, render_processes=pool
    )
    task.add_sink(sink)
    await task.start()
    return task, events, sink


async def test_process_rendering_drives_the_mouth(avatar: Path, pool: RenderProcessPool) -> None:
    before = _shm_segments()
    pcm, _ = sf.read(SPEECH, dtype="int16")
    task, events, sink = await _task(avatar, pool)
    assert task.status == TaskStatus.STREAMING
    src = PushSource()
    src.push(pcm[: int(1.2 * AUDIO_RATE)])
    src.end()
    task.enqueue("d1", src)
    async with asyncio.timeout(10):
        await events.wait_drive("d1", ENDED)
    await asyncio.sleep(0.4)
    await task.stop()
    assert events.drive_statuses("d1")[-1] == DriveStatus.FINISHED
    assert task.stats.frames_rendered >= 30 and task.stats.render_errors == 0
    rows, cols = mouth_box(SIZE)
    rest = sink.frames[0][1].rgba[rows, cols, :3].astype(np.int16)
    opened = [float(np.abs(f.rgba[rows, cols, :3] - rest).mean()) for _, f in sink.frames]
    assert sum(o > 5 for o in opened) >= 8
    assert opened[-3:] == [0.0, 0.0, 0.0]
    assert all(f.rgba.shape == (SIZE, SIZE, 4) for _, f in sink.frames)
    # Frames are copies: each keeps its own picture after the shared slot was reused.
    assert len({f.rgba.ctypes.data for _, f in sink.frames}) == len(sink.frames)
    assert _shm_segments() <= before

    # The pool serves the next task too.
    task2, _, sink2 = await _task(avatar, pool, "p2")
    await asyncio.sleep(0.3)
    await task2.stop()
    assert sink2.frames


async def test_frames_in_flight_together_come_back_in_order(
    avatar: Path, pool: RenderProcessPool
) -> None:
    """A worker held up must not make the task drop frames: FRAME_SLOTS frames may be in
    flight, each in its own slot, answered in order; one more is refused, not mixed up."""
    assert FRAME_SLOTS == 2
    host = pool.host(avatar, Scene(SIZE, SIZE))
    await host.open()
    try:
        opened = REST_PARAMS.with_mouth(MouthShape(jaw_open=1.0))
        order: list[str] = []
        a = host.render(opened, 0.0)
        b = host.render(REST_PARAMS, 0.04)
        a.add_done_callback(lambda _: order.append("a"))
        b.add_done_callback(lambda _: order.append("b"))
        extra = host.render(REST_PARAMS, 0.08)
        (open_img, _), (rest_img, _) = await asyncio.gather(a, b)
        with pytest.raises(RuntimeError, match="still rendering"):
            await extra
        assert order == ["a", "b"]
        rows, cols = mouth_box(SIZE)
        diff = np.abs(open_img[rows, cols, :3].astype(np.int16) - rest_img[rows, cols, :3])
        assert float(diff.mean()) > 5  # each slot kept its own picture
        # Rendered alone, the same parameters give the same pictures.
        again_open, _ = await host.render(opened, 0.0)
        again_rest, _ = await host.render(REST_PARAMS, 0.04)
        assert np.array_equal(again_open, open_img) and np.array_equal(again_rest, rest_img)
    finally:
        await host.close()


async def test_process_init_failure(tmp_path: Path, pool: RenderProcessPool) -> None:
    task, events, sink = await _task(tmp_path / "nothing", pool)
    assert task.status == TaskStatus.INIT_FAILED
    assert "avatar" in (task.reason or "")
    assert sink.closed


async def test_a_crashed_worker_costs_frames_not_audio(avatar: Path) -> None:
    pool = RenderProcessPool(workers=1)
    try:
        task, _, sink = await _task(avatar, pool, "crash")
        await asyncio.sleep(0.3)
        pool._workers[0].process.kill()
        await asyncio.sleep(0.6)
        sent_before_stop = task.stats.audio_chunks_sent
        await task.stop()
    finally:
        pool.close()
    assert task.stats.render_errors >= 1
    assert sent_before_stop >= 40  # 0.9 s of steady audio, crash or not
    idx = [c.index for _, c in sink.audio]
    assert idx == list(range(len(idx)))
    assert task.status == TaskStatus.STOPPED
