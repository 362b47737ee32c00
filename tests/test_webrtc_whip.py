"""WHIP publish: a second aiortc peer sends a WAV as its microphone; a stream task following
that RoomId/StreamId (DriveByRTCStream's source) speaks it to a WHEP viewer."""

import asyncio

import numpy as np
import pytest
import soundfile as sf
from aiortc.contrib.media import MediaPlayer

from avatar.transport.client import SignalingError, WhipClient
from avatar.transport.pattern import PushPcmSource, tone
from avatar.transport.publish import RtcAudioSource
from avatar.transport.testing import RecordingViewer as Viewer
from avatar.transport.testing import pattern_task as make_task
from avatar.transport.testing import serve, transport_app, wait_until

SECRET = "test-secret"

WAV = "/work/shared/media/audio/zh_bus_chinese.wav"  # 48 kHz stereo, 3.4 s
WAV16 = "/work/shared/media/audio/16k_mono/zh_bus_chinese.wav"


def envelope(pcm: np.ndarray, n=320) -> np.ndarray:
    k = len(pcm) // n
    x = pcm[: k * n].astype(np.float32).reshape(k, n)
    return np.sqrt((x**2).mean(axis=1))


@pytest.mark.slow
async def test_whip_microphone_drives_the_task():
    task = make_task()
    app = transport_app(SECRET, task)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base:
        v = Viewer()
        await v.client.connect(f"{base}/whep/room1/s1", hub.signer.issue("play", "room1", "s1"))
        await wait_until(lambda: len(v.audio_rms) > 10)

        # The drive waits for the publisher, as DriveByRTCStream does.
        task.enqueue("rtc1", RtcAudioSource(hub.published, "room1", "mic1"), interrupt=True)
        received: list[np.ndarray] = []

        async def follow():
            stream = await hub.published.wait_for("room1", "mic1", 10)
            async for pcm in stream.subscribe():
                received.append(pcm)

        follower = asyncio.get_running_loop().create_task(follow())
        player = MediaPlayer(WAV)
        pub = WhipClient(player.audio)
        t0 = asyncio.get_running_loop().time()
        await pub.connect(f"{base}/whip/room1/mic1", hub.signer.issue("publish", "room1", "mic1"))

        # A second publisher on the same stream is refused.
        other = WhipClient(MediaPlayer(WAV).audio)
        with pytest.raises(SignalingError) as e:
            await other.connect(
                f"{base}/whip/room1/mic1", hub.signer.issue("publish", "room1", "mic1")
            )
        assert e.value.status == 409
        await other.close()

        await asyncio.sleep(3.8)  # the WAV plays in real time
        await pub.close()  # DELETE: the published stream ends, and with it the drive
        await wait_until(lambda: any(e["Data"]["Status"] == 4 for e in v.client.events), 5)
        await asyncio.wait_for(follower, 5)

        # What the follower got is the WAV, resampled to 16 kHz mono.
        got = np.concatenate(received)
        ref = sf.read(WAV16, dtype="int16")[0]
        assert 0.8 * len(ref) < len(got) < 1.4 * len(ref)
        eg, er = envelope(got), envelope(ref)
        best = max(
            np.corrcoef(eg[lag : lag + len(er) - 10], er[: len(er) - 10])[0, 1]
            for lag in range(0, len(eg) - len(er) + 10)
        )
        assert best > 0.8, best

        # The viewer heard it and saw the mouth move while it played.
        loud = [r for t, r in v.audio_rms if t0 + 0.5 < t < t0 + 3.0]
        assert np.percentile(loud, 75) > 1000
        moving = [m for t, m in v.mouths if t0 + 0.5 < t < t0 + 3.0]
        assert max(moving) > 0.3
        assert [e["Data"]["Status"] for e in v.client.events] == [2, 4]
        await v.client.close()
    await task.stop()


async def test_rtc_source_fails_without_publisher():
    task = make_task()
    app = transport_app(SECRET, task)
    src = RtcAudioSource(app.state.transport.published, "room1", "nobody", wait_s=0.2)
    with pytest.raises(RuntimeError, match="no stream"):
        async for _ in src.chunks():
            pass


@pytest.mark.slow
async def test_whip_push_output_reaches_a_whip_server():
    """Output.WhipUrl: the task pushes itself to a WHIP server (here our own endpoint)."""
    task = make_task()
    app = transport_app(SECRET, task)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base:
        received: list[np.ndarray] = []

        async def follow():
            stream = await hub.published.wait_for("room1", "pushed", 10)
            async for pcm in stream.subscribe():
                received.append(pcm)

        follower = asyncio.get_running_loop().create_task(follow())
        token = hub.signer.issue("publish", "room1", "pushed")
        # As CreateDigitalHumanStreamTask's Output.WhipUrl puts it in the task's config.
        task.config.extra = {"WhipUrl": f"{base}/whip/room1/pushed", "WhipToken": token}
        (peer,) = await hub.start_outputs(task)
        assert peer.push_location and "/whip/room1/pushed/" in peer.push_location
        await wait_until(lambda: len(received) > 25)
        quiet = np.concatenate(received)
        assert np.abs(quiet).max() < 50  # the idle task sends silence

        src = PushPcmSource()
        task.enqueue("d1", src)
        src.push(tone(0.8))
        src.end()
        n0 = len(received)
        await wait_until(lambda: len(received) > n0 + 60)
        loud = np.concatenate(received[n0:])
        rms = np.sqrt(np.mean(loud.astype(np.float32) ** 2))
        assert rms > 2000, rms  # the tone arrived, decoded and resampled to 16 kHz

        await peer.close()  # DELETE: the WHIP server ends the published stream
        await asyncio.wait_for(follower, 5)
        assert hub.published.get("room1", "pushed") is None
    await task.stop()
