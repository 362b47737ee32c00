"""The WebSocket drive protocol against a real server: Start/PCM/Stop at 16 and 24 kHz,
unknown keys ignored, one connection per task, bad tokens refused."""

import asyncio
import json

import numpy as np
import pytest
import websockets

from avatar.transport.pattern import PushPcmSource, tone
from avatar.transport.testing import RecordingViewer as Viewer
from avatar.transport.testing import pattern_task as make_task
from avatar.transport.testing import serve, transport_app, wait_until
from avatar.transport.ws_drive import CLOSE_BUSY, CLOSE_UNKNOWN, PcmDecoder

SECRET = "test-secret"


class Recorder:
    """A PcmPush that keeps what it gets."""

    def __init__(self):
        self.pcm: list[np.ndarray] = []
        self.ended = False

    def push(self, pcm):
        self.pcm.append(pcm)

    def end(self):
        self.ended = True


def test_decoder_resamples_24k_streaming():
    d = PcmDecoder(24000)
    t = np.arange(24000) / 24000
    pcm = (10000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    # Odd-sized pieces: a sample split across two frames must survive.
    out = [d.decode(pcm[i : i + 999]) for i in range(0, len(pcm), 999)]
    out.append(d.flush())
    y = np.concatenate(out).astype(np.float32)
    assert abs(len(y) - 16000) < 40
    spec = np.abs(np.fft.rfft(y[1000:15000]))
    freq = np.argmax(spec) * 16000 / len(y[1000:15000])
    assert abs(freq - 440) < 3
    with pytest.raises(ValueError):
        PcmDecoder(44100)


def ws_url(base, token):
    return base.replace("http://", "ws://") + f"/ws?Token={token}"


async def test_ws_protocol_and_refusals():
    task = make_task()
    app = transport_app(SECRET, task)
    hub = app.state.transport
    async with serve(app) as base:
        rec = Recorder()
        hub.ws_drives.register(task.config.task_id, "d1", rec)
        token = hub.signer.issue("drive", "room1", "s1", task_id=task.config.task_id, drive_id="d1")
        async with websockets.connect(ws_url(base, token)) as ws:
            # ZEGO's sample adds keys we do not know: ignored.
            start = {"SampleRate": 24000, "DriveId": "d1", "SequenceID": 1, "DataPoint": 0}
            await ws.send(json.dumps({"Action": "Start", "Payload": start}))
            await ws.send(json.dumps({"Action": "Dance"}))
            # A second connection for the same task is refused cleanly.
            async with websockets.connect(ws_url(base, token)) as ws2:
                with pytest.raises(websockets.ConnectionClosed) as e:
                    await ws2.recv()
                assert e.value.rcvd.code == CLOSE_BUSY
            samples = (8000 * np.sin(np.arange(24000) / 24000 * 2 * np.pi * 300)).astype("<i2")
            for i in range(0, len(samples), 480):
                await ws.send(samples[i : i + 480].tobytes())
            await ws.send(json.dumps({"Action": "Stop", "Payload": {"DriveId": "d1"}}))
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()  # the server sends nothing, then closes after Stop
            assert e.value.rcvd.code == 1000
        assert rec.ended
        assert abs(sum(len(p) for p in rec.pcm) - 16000) < 40

        # A newer drive of the task closes the older one's socket and takes over.
        rec3 = Recorder()
        hub.ws_drives.register(task.config.task_id, "d3", rec3)
        t3 = hub.signer.issue("drive", "room1", "s1", task_id=task.config.task_id, drive_id="d3")
        async with websockets.connect(ws_url(base, t3)) as ws3:
            rec4 = Recorder()
            hub.ws_drives.register(task.config.task_id, "d4", rec4)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws3.recv()
            assert e.value.rcvd.code == 1000 and rec3.ended
        t4 = hub.signer.issue("drive", "room1", "s1", task_id=task.config.task_id, drive_id="d4")
        async with websockets.connect(ws_url(base, t4)) as ws4:
            await ws4.send(b"\x01\x00" * 320)
            await ws4.send(json.dumps({"Action": "Stop"}))
            with pytest.raises(websockets.ConnectionClosed):
                await ws4.recv()
        assert rec4.ended and sum(len(p) for p in rec4.pcm) == 320

        # The same drive cannot be joined again; forged and wrong-kind tokens are refused.
        async with websockets.connect(ws_url(base, token)) as ws:
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd.code == CLOSE_UNKNOWN
        for bad in ["x.y", hub.signer.issue("play", "room1", "s1")]:
            with pytest.raises(websockets.InvalidStatus) as e:
                async with websockets.connect(ws_url(base, bad)):
                    pass
            assert e.value.response.status_code == 403


@pytest.mark.slow
async def test_ws_drive_is_heard_and_seen():
    task = make_task()
    app = transport_app(SECRET, task)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base:
        v = Viewer()
        await v.client.connect(f"{base}/whep/room1/s1", hub.signer.issue("play", "room1", "s1"))
        await wait_until(lambda: len(v.audio_rms) > 10)
        src = PushPcmSource()
        task.enqueue("d1", src, interrupt=True)
        hub.ws_drives.register(task.config.task_id, "d1", src)
        token = hub.signer.issue("drive", "room1", "s1", task_id=task.config.task_id, drive_id="d1")
        loop = asyncio.get_running_loop()
        async with websockets.connect(ws_url(base, token)) as ws:
            await ws.send(json.dumps({"Action": "Start", "Payload": {"SampleRate": 16000}}))
            t0 = loop.time()
            pcm = tone(1.0).astype("<i2")
            for i in range(0, len(pcm), 320):  # real-time pace, as a microphone would send
                await ws.send(pcm[i : i + 320].tobytes())
                await asyncio.sleep(0.02)
            await ws.send(json.dumps({"Action": "Stop"}))
        await wait_until(lambda: any(e["Data"]["Status"] == 4 for e in v.client.events), 5)
        loud = [r for t, r in v.audio_rms if t0 + 0.3 < t < t0 + 0.9]
        assert np.median(loud) > 2000
        assert max(m for t, m in v.mouths if t0 + 0.3 < t < t0 + 0.9) > 0.5
        await v.client.close()
    await task.stop()


async def test_unclaimed_drive_ends_after_its_connect_window():
    from avatar.transport.ws_drive import WsDriveRegistry

    reg = WsDriveRegistry()
    rec = Recorder()
    reg.register("t1", "d1", rec, connect_within_s=0.1)
    await asyncio.sleep(0.25)
    assert rec.ended
    assert reg.claim("d1") == CLOSE_UNKNOWN
