"""The shared video encoder: pictures encoded once per task and codec for all its WebRTC viewers,
keyframes on request that a fresh decoder can start from, viewers that fall behind skip to a
keyframe, and OpenCV's yuv420p conversion agreeing with swscale's."""

import asyncio

import av
import numpy as np
import pytest
from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload

from avatar.transport.encode import to_yuv420p
from avatar.transport.testing import RecordingViewer, pattern_task, serve, transport_app, wait_until
from avatar.transport.video import EncodedFrame, EncodedVideoFeed, SharedVideoEncoder
from avatar.types import VideoFrame

SIZE = 128


def picture(i: int) -> np.ndarray:
    """A moving gradient with a bright box: enough detail for real P-frames."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    img = np.zeros((SIZE, SIZE, 4), np.uint8)
    img[..., 0] = (x * 2 + i * 3) % 256
    img[..., 1] = (y * 2) % 256
    img[..., 2] = 90
    img[..., 3] = 255
    img[20 + i % 40 : 50 + i % 40, 30:70, :3] = 240
    return img


def test_yuv420p_matches_swscale():
    img = picture(5)
    ours = to_yuv420p(VideoFrame(3, img), 25)
    ref = av.VideoFrame.from_ndarray(img, format="rgba").reformat(format="yuv420p")
    assert ours.format.name == "yuv420p" and ours.pts == 3 * 90_000 // 25
    a, b = ours.to_ndarray().astype(int), ref.to_ndarray().astype(int)
    assert np.abs(a[:SIZE] - b[:SIZE]).max() <= 1  # luma: the same BT.601 limited range
    assert np.abs(a - b).mean() < 1.0  # chroma: box vs swscale's filter, at edges only


def _decode(codec: str, frames: list[EncodedFrame]) -> list[np.ndarray]:
    """Decode from the first frame given, with a fresh decoder (as a new viewer would)."""
    dec = av.CodecContext.create("libvpx" if codec == "VP8" else "h264", "r")
    depay = vp8_depayload if codec == "VP8" else h264_depayload
    out = []
    for f in frames:
        data = b"".join(depay(p) for p in f.payloads)
        out += [x.to_ndarray(format="rgb24") for x in dec.decode(av.Packet(data))]
    return out


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_keyframes_on_request_start_a_fresh_decoder(codec):
    got: list[EncodedFrame] = []
    ready = asyncio.Event()

    def encoded(frame: EncodedFrame) -> None:
        got.append(frame)
        ready.set()

    enc = SharedVideoEncoder(codec, 500_000, 25, encoded)
    for i in range(40):
        if i == 25:
            enc.request_keyframe(restart=True)  # a viewer joins
        ready.clear()
        enc.submit(VideoFrame(i, picture(i)))
        await asyncio.wait_for(ready.wait(), 5)  # one at a time: none waits, none is dropped
    enc.close()
    assert enc.encoded == len(got) == 40 and enc.dropped == 0 and enc.keyframes == 2
    assert [f.index for f in got] == list(range(40))
    assert [f.timestamp for f in got[:2]] == [0, 3600]  # 90 kHz clock from the frame index
    keys = [f.index for f in got if f.keyframe]
    assert keys == [0, 25]  # the first frame, then only the one asked for
    # A decoder that starts at the requested keyframe shows the picture it was made from.
    pictures = _decode(codec, got[25:])
    assert len(pictures) == 15
    err = np.abs(pictures[0].astype(int) - picture(25)[..., :3]).mean()
    assert err < 12, err


async def test_feed_skips_to_a_keyframe_when_its_viewer_falls_behind():
    asked: list[bool] = []
    feed = EncodedVideoFeed(3, asked.append)

    def frame(i: int, key: bool = False) -> EncodedFrame:
        return EncodedFrame(i, [b"x"], i * 3600, key)

    feed.put(frame(0, True))  # before the viewer's first pull: nothing is kept
    assert len(feed) == 0 and not asked
    pulling = asyncio.ensure_future(feed.get())
    await asyncio.sleep(0)
    assert asked == [True]  # the first pull asks for a keyframe for a new decoder
    feed.put(frame(1))  # not a keyframe: a decoder cannot start there
    feed.put(frame(2, True))
    assert (await pulling).index == 2
    for i in range(3, 6):
        feed.put(frame(i))
    assert len(feed) == 3
    feed.put(frame(6))  # the reader is 3 frames behind: drop them, wait for a keyframe
    assert len(feed) == 0 and asked == [True, False] and feed.dropped == 1 + 4
    feed.put(frame(7))
    feed.put(frame(8, True))
    feed.put(frame(9))
    assert [(await feed.get()).index for _ in range(2)] == [8, 9]
    assert feed.dropped == 6 and feed.delivered == 3


async def test_viewers_of_a_task_share_one_encode():
    task = pattern_task(size=SIZE)
    app = transport_app("secret", task)
    hub = app.state.transport
    await task.start()
    async with serve(app) as base:
        viewers = [RecordingViewer() for _ in range(2)]
        await viewers[0].client.connect(
            f"{base}/whep/room1/s1", hub.signer.issue("play", "room1", "s1")
        )
        await wait_until(lambda: len(viewers[0].mouths) > 10)
        # A viewer joining later starts at a keyframe asked for it, and decodes from there.
        await viewers[1].client.connect(
            f"{base}/whep/room1/s1", hub.signer.issue("play", "room1", "s1")
        )
        await wait_until(lambda: all(len(v.mouths) > 30 for v in viewers))
        (output,) = hub.outputs.values()
        (enc,) = output.encoders.values()
        sent = [v.stats()["video_sent"] for v in hub.viewers.values()]
        assert enc.encoded <= max(sent) + 3  # once per picture, not once per viewer
        assert enc.keyframes >= 2
        for v in viewers:
            await v.client.close()
        await wait_until(lambda: not hub.outputs, 5)
        assert enc._closed  # the last viewer of the codec took the encoder with it
    await task.stop()
