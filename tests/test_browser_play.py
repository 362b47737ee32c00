"""Headless Chromium opens the player page (/play) and watches a stream task over WHEP:
video frames decode, the audio carries energy while a drive plays, drive events arrive on the
data channel. A screenshot is saved to /tmp/dh_play.png."""

import asyncio
import shutil

import pytest

from avatar.transport.pattern import PushPcmSource, tone
from avatar.transport.testing import pattern_task, serve, transport_app, wait_until
from tests.support import CHROMIUM, chromium_args

SCREENSHOT = "/tmp/dh_play.png"

pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium")


async def js(page, expr):
    return await page.evaluate(expr)


async def wait_js(page, expr, limit_s=15.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not await page.evaluate(expr):
        if loop.time() > deadline:
            state = await page.evaluate("JSON.stringify(window.dhStats)")
            raise AssertionError(f"timed out on {expr}: {state}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_chromium_plays_a_stream(codec):
    from playwright.async_api import async_playwright

    task = pattern_task(codec=codec, size=320)
    app = transport_app("browser-secret", task)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        try:
            page = await browser.new_page(viewport={"width": 400, "height": 440})
            token = hub.signer.issue("play", "room1", "s1", ttl_s=60)
            await page.goto(f"{base}/play?RoomId=room1&StreamId=s1&Token={token}")
            await wait_js(page, "window.dhStats.framesDecoded > 10")
            assert await js(page, "window.dhStats.error") is None
            assert await js(page, "window.dhStats.frameWidth") == 320
            assert (await js(page, "window.dhStats.codec")).lower() == f"video/{codec.lower()}"
            await wait_js(page, "window.dhStats.audioPacketsReceived > 50")
            # Idle: the audio track is live but silent.
            assert await js(page, "window.dhStats.maxHeardLevel") < 0.01

            src = PushPcmSource()
            task.enqueue("d1", src)
            src.push(tone(2.0, amplitude=14000))
            src.end()
            await wait_js(page, "window.dhStats.maxHeardLevel > 0.1")
            await asyncio.sleep(0.6)  # mid-drive: the mouth box is open
            await page.screenshot(path=SCREENSHOT)
            await wait_js(page, "window.dhStats.events.length >= 2", 5)
            # The tone's RMS is 0.30 of full scale; Opus keeps it within a few per cent.
            assert 0.2 < await js(page, "window.dhStats.maxHeardLevel") < 0.4
            statuses = await js(page, "window.dhStats.events.map(e => e.Data.Status)")
            assert statuses == [2, 4]
            assert await js(page, "document.querySelector('video').videoWidth") == 320
            assert await js(page, "window.dhStats.muted") is False
            await page.close()  # pagehide → DELETE
        finally:
            await browser.close()
        await wait_until(lambda: not hub.viewers, 5)
    await task.stop()


SERVER_SCREENSHOT = "/tmp/dh_play_server.png"


@pytest.mark.slow
async def test_chromium_plays_the_real_server(tmp_path):
    """The whole server (built-in avatar, DriveByText with the offline voice) in the player
    page opened from CreateStreamPlayToken's PlayUrl."""
    from playwright.async_api import async_playwright

    from tests.support import ServerProcess

    with ServerProcess(tmp_path / "data", env={"DH_ICE_HOST_ADDRESSES": "127.0.0.1"}) as srv:
        api = srv.client
        task_id = api.ok(
            "CreateDigitalHumanStreamTask",
            {
                "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
                "RTCConfig": {"RoomId": "room", "StreamId": "browser"},
                "VideoConfig": {"Width": 384, "Height": 384, "Codec": "H264"},
            },
        )["TaskId"]
        api.wait("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] == 3)
        play = api.ok("CreateStreamPlayToken", {"RoomId": "room", "StreamId": "browser"})
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
            try:
                page = await browser.new_page(viewport={"width": 460, "height": 520})
                await page.goto(play["PlayUrl"])
                await wait_js(page, "window.dhStats.framesDecoded > 10")
                assert await js(page, "window.dhStats.frameWidth") == 384
                assert await js(page, "window.dhStats.maxHeardLevel") < 0.01
                await asyncio.to_thread(
                    api.ok,
                    "DriveByText",
                    {
                        "TaskId": task_id,
                        "Text": "Hello from the browser test. Can you hear me?",
                        "TTSConfig": {"TimbreId": "piper-en-us-joe"},
                    },
                )
                await wait_js(page, "window.dhStats.maxHeardLevel > 0.02", 30)
                await asyncio.sleep(0.4)
                await page.screenshot(path=SERVER_SCREENSHOT)
                await wait_js(page, "window.dhStats.events.some(e => e.Data.Status === 4)", 30)
                assert await js(page, "window.dhStats.error") is None
            finally:
                await browser.close()
        api.ok("StopDigitalHumanStreamTask", {"TaskId": task_id})


@pytest.mark.slow
async def test_chromium_publishes_a_microphone_by_whip():
    """The player's Microphone button publishes Chromium's (fake, file-fed) microphone by WHIP;
    the server's follower of that stream gets the WAV's speech at 16 kHz."""
    from playwright.async_api import async_playwright

    wav = "/work/shared/media/audio/zh_bus_chinese.wav"
    task = pattern_task(size=160)
    app = transport_app("browser-secret", task)
    hub = app.state.transport
    await task.start()
    received: list = []

    async def follow():
        stream = await hub.published.wait_for("room1", "mic", 30)
        async for pcm in stream.subscribe():
            received.append(pcm)

    async with serve(app) as base, async_playwright() as pw:
        follower = asyncio.get_running_loop().create_task(follow())
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(str(wav)))
        try:
            page = await browser.new_page()
            play = hub.signer.issue("play", "room1", "s1")
            pub = hub.signer.issue("publish", "room1", "mic")
            await page.goto(
                f"{base}/play?RoomId=room1&StreamId=s1&Token={play}"
                f"&PublishStreamId=mic&PublishToken={pub}"
            )
            await wait_js(page, "window.dhStats.framesDecoded > 5")
            await page.click("#mic")
            await wait_js(page, "window.dhPublish.state === 'connected'")
            await wait_until(lambda: len(received) > 150, 15)  # 3 s of audio
            await page.click("#mic")  # off: DELETE ends the published stream
            await asyncio.wait_for(follower, 10)
            assert await js(page, "window.dhPublish.error") is None
        finally:
            await browser.close()
    await task.stop()
    import numpy as np

    pcm = np.concatenate(received).astype(np.float32)
    chunk_rms = np.sqrt((pcm[: len(pcm) // 320 * 320].reshape(-1, 320) ** 2).mean(axis=1))
    assert np.percentile(chunk_rms, 90) > 1000  # speech, not silence
    assert np.percentile(chunk_rms, 10) < np.percentile(chunk_rms, 90) / 4  # with pauses
