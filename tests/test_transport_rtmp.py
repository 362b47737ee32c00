"""RTMP push (Output.RtmpUrl) into a local nginx-rtmp server (Debian's nginx + libnginx-mod-rtmp),
read back by FFmpeg as a player would: H.264 pictures at the task's size, AAC with the drive's
sound."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from avatar.transport.pattern import PushPcmSource, tone
from avatar.transport.rtmp import start_rtmp_push
from avatar.transport.testing import pattern_task

MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
pytestmark = pytest.mark.skipif(
    not (shutil.which("nginx") and MODULE.exists()),
    reason="needs Debian's nginx and libnginx-mod-rtmp",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rtmp_server(tmp_path):
    port = free_port()
    (tmp_path / "nginx.conf").write_text(
        f"""daemon off; master_process off; worker_processes 1;
pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log info;
load_module {MODULE};
events {{ worker_connections 64; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record off; }} }} }}
"""
    )
    proc = subprocess.Popen(
        [
            "nginx",
            "-c",
            str(tmp_path / "nginx.conf"),
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
        ]
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        time.sleep(0.05)
    yield f"rtmp://127.0.0.1:{port}/live"
    proc.terminate()
    proc.wait(5)


def play(url: str, seconds: float, got: dict) -> None:
    c = av.open(url, options={"rtmp_live": "live"}, timeout=10)
    try:
        t0 = time.monotonic()
        for f in c.decode(*c.streams):
            if isinstance(f, av.VideoFrame):
                got["sizes"].add((f.width, f.height))
                got["video"].append(time.monotonic())
            else:
                pcm = f.to_ndarray().astype(np.float32)
                got["rms"].append((time.monotonic(), float(np.sqrt(np.mean(pcm**2)))))
            if time.monotonic() - t0 > seconds:
                break
    finally:
        c.close()


@pytest.mark.slow
async def test_rtmp_push_is_playable(rtmp_server):
    task = pattern_task(size=320, bitrate=800_000)
    await task.start()
    push = start_rtmp_push(task, f"{rtmp_server}/s1")
    got: dict = {"sizes": set(), "video": [], "rms": []}
    await asyncio.sleep(1.0)
    player = threading.Thread(target=play, args=(f"{rtmp_server}/s1", 4.0, got))
    player.start()
    await asyncio.sleep(1.5)
    src = PushPcmSource()
    task.enqueue("d1", src)
    src.push(tone(1.5, amplitude=12000))
    src.end()
    await asyncio.to_thread(player.join, 20)
    task.remove_sink(push)
    await asyncio.to_thread(push.close)
    await task.stop()
    assert push.error is None
    assert got["sizes"] == {(320, 320)}
    fps = (len(got["video"]) - 1) / (got["video"][-1] - got["video"][0])
    assert 15 < fps < 40  # a live player reads at about the task's 25 fps (bursty start)
    # The tone's RMS is 12000 / 32768 / √2 = 0.26 of full scale; silence before it.
    assert max(r for _, r in got["rms"]) > 0.2
    assert min(r for _, r in got["rms"]) < 0.01
    assert push.video_dropped == 0


async def test_rtmp_push_to_nowhere_ends_without_harming_the_task():
    task = pattern_task(size=64)
    await task.start()
    push = start_rtmp_push(task, f"rtmp://127.0.0.1:{free_port()}/live/x")
    await asyncio.to_thread(push.closed.wait, 10)
    assert push.error
    assert task.status == 3  # still streaming
    task.remove_sink(push)
    await task.stop()
