"""WHEP end to end over loopback: a real uvicorn server, a test-pattern stream task, and an
aiortc viewer that decodes the video and audio it receives."""

import asyncio

import httpx
import numpy as np
import pytest

from avatar.transport.client import SignalingError, WhepClient
from avatar.transport.pattern import PushPcmSource, tone
from avatar.transport.testing import (
    RecordingViewer,
    pattern_task,
    serve,
    transport_app,
    wait_until,
)

SECRET = "test-secret"


def make_task(**kw):
    return pattern_task(**kw)


Viewer = RecordingViewer


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_viewer_receives_video_audio_and_events(codec):
    task = make_task(codec=codec)
    app = transport_app(SECRET, task)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base:
        token = hub.signer.issue("play", "room1", "s1")
        v = Viewer()
        await v.client.connect(f"{base}/whep/room1/s1", token)
        await wait_until(lambda: len(v.mouths) >= 10 and len(v.audio_rms) >= 25)
        (viewer,) = hub.viewers.values()
        assert viewer.negotiated_codec == codec
        assert v.sizes == {(256, 256)}
        # Idle: silence and a closed mouth.
        assert max(m for _, m in v.mouths[-5:]) < 0.05
        assert max(r for _, r in v.audio_rms[-10:]) < 50

        src = PushPcmSource()
        task.enqueue("d1", src)
        t_push = asyncio.get_running_loop().time()
        src.push(tone(1.0))
        src.end()
        await wait_until(lambda: any(e["Data"]["Status"] == 4 for e in v.client.events), 5)
        await asyncio.sleep(0.3)
        speaking = [m for t, m in v.mouths if t > t_push + 0.2 and t < t_push + 0.9]
        loud = [r for t, r in v.audio_rms if t > t_push + 0.2 and t < t_push + 0.9]
        assert np.median(speaking) > 0.5, speaking
        assert np.median(loud) > 2000, loud
        assert [e["Data"]["Status"] for e in v.client.events] == [2, 4]
        assert all(e["Cmd"] == 1001 and e["Data"]["DriveId"] == "d1" for e in v.client.events)
        # After the drive the mouth rests again.
        assert max(m for _, m in v.mouths[-3:]) < 0.05

        stats = viewer.stats()
        assert stats["audio_dropped"] == 0
        await v.client.close()
        await wait_until(lambda: not hub.viewers, 5)
        assert viewer.closed
    await task.stop()


async def test_whep_refusals():
    task = make_task()
    app = transport_app(SECRET, task)
    hub = app.state.transport
    async with serve(app) as base:
        good = hub.signer.issue("play", "room1", "s1")
        for token, status in [
            (None, 401),
            ("garbage", 403),
            (hub.signer.issue("publish", "room1", "s1"), 403),
            (hub.signer.issue("play", "room1", "other"), 403),
        ]:
            c = WhepClient()
            with pytest.raises(SignalingError) as e:
                await c.connect(f"{base}/whep/room1/s1", token)
            assert e.value.status == status
            await c.close()
        c = WhepClient()
        with pytest.raises(SignalingError) as e:
            await c.connect(f"{base}/whep/room1/nope", hub.signer.issue("play", "room1", "nope"))
        assert e.value.status == 404
        await c.close()
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{base}/whep/room1/s1",
                content="v=0",
                headers={"Authorization": f"Bearer {good}", "Content-Type": "text/plain"},
            )
            assert r.status_code == 415
        assert not hub.viewers


async def _video_bytes_sent(viewer) -> int:
    stats = await viewer.pc.getStats()
    return sum(
        s.bytesSent for s in stats.values() if s.type == "outbound-rtp" and s.kind == "video"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("codec", "bitrate", "fps"), [("VP8", 1_500_000, 15), ("H264", 1_000_000, 25)]
)
async def test_bitrate_size_and_fps_are_honoured(codec, bitrate, fps):
    # A textured picture, so that the encoder has to spend its budget.
    task = pattern_task(codec=codec, size=320, bitrate=bitrate, fps=fps, noisy=True)
    app = transport_app(SECRET, task)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base:
        v = Viewer()
        await v.client.connect(f"{base}/whep/room1/s1", hub.signer.issue("play", "room1", "s1"))
        await wait_until(lambda: len(v.mouths) > fps)
        (sv,) = hub.viewers.values()
        loop = asyncio.get_running_loop()
        b0, n0, t0 = await _video_bytes_sent(sv), len(v.mouths), loop.time()
        await asyncio.sleep(4)
        b1, n1, t1 = await _video_bytes_sent(sv), len(v.mouths), loop.time()
        kbps = (b1 - b0) * 8 / (t1 - t0) / 1000
        got_fps = (n1 - n0) / (t1 - t0)
        print(f"\n{codec}: {kbps:.0f} kbps for {bitrate // 1000}, {got_fps:.1f} fps for {fps}")
        assert 0.6 * bitrate / 1000 < kbps < 1.2 * bitrate / 1000
        assert abs(got_fps - fps) < 1.5
        assert v.sizes == {(320, 320)}
        await v.client.close()
    await task.stop()


@pytest.mark.slow
async def test_several_viewers_share_one_output():
    task = pattern_task()
    app = transport_app(SECRET, task)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base:
        viewers = [Viewer() for _ in range(3)]
        for v in viewers:
            await v.client.connect(f"{base}/whep/room1/s1", hub.signer.issue("play", "room1", "s1"))
        await wait_until(lambda: all(len(v.mouths) > 10 and len(v.audio_rms) > 20 for v in viewers))
        assert len(hub.outputs) == 1 and len(hub.viewers) == 3
        assert task._sinks == [next(iter(hub.outputs.values()))]  # one sink, encoded once

        await viewers[0].client.close()
        await wait_until(lambda: len(hub.viewers) == 2, 5)
        src = PushPcmSource()
        task.enqueue("d1", src)
        src.push(tone(0.6))
        src.end()
        for v in viewers[1:]:
            await wait_until(
                lambda v=v: [e["Data"]["Status"] for e in v.client.events] == [2, 4], 5
            )
            assert max(r for _, r in v.audio_rms) > 2000
        for v in viewers[1:]:
            await v.client.close()
        await wait_until(lambda: not hub.viewers and not hub.outputs, 5)
        assert task._sinks == []
    await task.stop()


async def test_cors_preflight_for_players_on_other_origins():
    app = transport_app(SECRET, make_task())
    async with serve(app) as base, httpx.AsyncClient() as http:
        r = await http.options(
            f"{base}/whep/room1/s1",
            headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 204
        assert "Authorization" in r.headers["access-control-allow-headers"]
        r = await http.post(f"{base}/whep/room1/s1", content="v=0")
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "*"
