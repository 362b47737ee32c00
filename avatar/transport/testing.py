"""Helpers for transport tests and benchmarks: a real uvicorn server inside the running event
loop, and a minimal live-task registry for apps built without the API layer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from avatar.stream.contract import LiveTask


class LiveTasks:
    """The two lookups the transport needs from `app.state.live`."""

    def __init__(self, *tasks: LiveTask) -> None:
        self.tasks: dict[str, LiveTask] = {t.config.task_id: t for t in tasks}

    def add(self, task: LiveTask) -> None:
        self.tasks[task.config.task_id] = task

    def get(self, task_id: str) -> LiveTask | None:
        return self.tasks.get(task_id)

    def find(self, room_id: str, stream_id: str) -> LiveTask | None:
        for t in self.tasks.values():
            if t.config.room_id == room_id and t.config.stream_id == stream_id:
                return t
        return None


def transport_app(secret: str, *tasks: LiveTask, media_workers: int = 0) -> FastAPI:
    """A FastAPI app with only the transport routes and the given tasks."""
    from avatar.transport.http import router
    from avatar.transport.hub import TransportHub

    app = FastAPI()
    app.include_router(router)
    app.state.live = LiveTasks(*tasks)
    app.state.transport = TransportHub(
        secret, ice_host_addresses="127.0.0.1", media_workers=media_workers
    )
    return app


@contextlib.asynccontextmanager
async def serve(app: FastAPI, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run `app` with uvicorn on a free port of `host`; yields its base URL."""
    config = uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{host}:{port}"
    finally:
        hub = getattr(app.state, "transport", None)
        if hub is not None:
            await hub.aclose()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


def pattern_task(
    codec="VP8", size=256, fps=25, bitrate=800_000, stream="s1", room="room1", noisy=False
):
    """A started-later PatternTask with a square output."""
    from avatar.compose import Scene
    from avatar.stream.contract import StreamConfig
    from avatar.transport.pattern import PatternTask

    cfg = StreamConfig(
        task_id=f"task-{stream}",
        room_id=room,
        stream_id=stream,
        scene=Scene(width=size, height=size),
        fps=fps,
        bitrate=bitrate,
        codec=codec,
    )
    return PatternTask(cfg, noisy=noisy)


class RecordingViewer:
    """A WhepClient that records, per decoded frame, the pattern's mouth opening and the audio
    RMS with their arrival times."""

    def __init__(self) -> None:
        from avatar.transport.client import WhepClient

        self.mouths: list[tuple[float, float]] = []
        self.audio_rms: list[tuple[float, float]] = []
        self.sizes: set[tuple[int, int]] = set()
        self.client = WhepClient(self._video, self._audio)

    def _video(self, t, frame) -> None:
        from avatar.transport.pattern import measure_mouth

        self.sizes.add((frame.width, frame.height))
        self.mouths.append((t, measure_mouth(frame.to_ndarray(format="rgb24"))))

    def _audio(self, t, frame) -> None:
        import numpy as np

        pcm = frame.to_ndarray().astype(np.float32)
        self.audio_rms.append((t, float(np.sqrt(np.mean(pcm**2)))))


async def wait_until(cond, limit_s: float = 10.0) -> None:
    """Poll `cond` until true; AssertionError after limit_s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.05)
