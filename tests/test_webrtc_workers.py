"""Viewers served by media worker processes (DH_MEDIA_WORKERS): the same WHEP behaviour as in
process — pictures, sound, room messages, leaving — with the media crossing shared memory."""

import asyncio

import numpy as np
import pytest

from avatar.transport.client import SignalingError
from avatar.transport.pattern import PushPcmSource, tone
from avatar.transport.testing import RecordingViewer, pattern_task, serve, transport_app, wait_until

SECRET = "workers-secret"


@pytest.mark.slow
async def test_viewers_in_a_media_worker():
    tasks = [pattern_task(stream=f"s{i}", size=256) for i in range(2)]
    app = transport_app(SECRET, *tasks, media_workers=2)
    hub = app.state.transport
    for t in tasks:
        await t.start()
    async with serve(app) as base:
        viewers = []
        for i in range(2):
            v = RecordingViewer()
            token = hub.signer.issue("play", "room1", f"s{i}")
            await v.client.connect(f"{base}/whep/room1/s{i}", token)
            viewers.append(v)
        # A second viewer of the first stream shares its worker.
        extra = RecordingViewer()
        await extra.client.connect(f"{base}/whep/room1/s0", hub.signer.issue("play", "room1", "s0"))
        everyone = [*viewers, extra]
        await wait_until(
            lambda: all(len(v.mouths) > 10 and len(v.audio_rms) > 25 for v in everyone), 20
        )
        workers = {v.stats()["worker"] for v in hub.viewers.values()}
        assert workers == {0, 1}  # the two tasks went to different workers
        assert all(v.sizes == {(256, 256)} for v in everyone)
        assert all(w.process.is_alive() for w in hub.pool().workers)

        src = PushPcmSource()
        tasks[0].enqueue("d1", src)
        t0 = asyncio.get_running_loop().time()
        src.push(tone(1.0))
        src.end()
        for v in (viewers[0], extra):
            await wait_until(
                lambda v=v: [e["Data"]["Status"] for e in v.client.events] == [2, 4], 5
            )
            speaking = [m for t, m in v.mouths if t0 + 0.2 < t < t0 + 0.9]
            assert np.median(speaking) > 0.5
            assert max(r for t, r in v.audio_rms if t > t0) > 2000
        # The other stream stayed silent.
        assert max(r for _, r in viewers[1].audio_rms) < 50
        assert viewers[1].client.events == []

        for v in everyone:
            await v.client.close()
        await wait_until(lambda: not hub.viewers and not hub.outputs, 5)
        assert all(t._sinks == [] for t in tasks)
    for t in tasks:
        await t.stop()
    assert hub._pool is None  # closed with the server


@pytest.mark.slow
async def test_a_dead_worker_lets_its_viewers_go():
    task = pattern_task(size=128)
    app = transport_app(SECRET, task, media_workers=1)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base:
        v = RecordingViewer()
        await v.client.connect(f"{base}/whep/room1/s1", hub.signer.issue("play", "room1", "s1"))
        await wait_until(lambda: len(v.mouths) > 5, 20)
        (worker,) = hub.pool().workers
        worker.process.kill()
        await wait_until(lambda: not hub.viewers and not hub.outputs, 10)
        assert task._sinks == []
        # No worker left: a new viewer is refused instead of hanging.
        c = RecordingViewer()
        with pytest.raises(SignalingError) as e:
            await c.client.connect(f"{base}/whep/room1/s1", hub.signer.issue("play", "room1", "s1"))
        assert e.value.status == 503
        await c.client.close()
        await v.client.close()
    await task.stop()
