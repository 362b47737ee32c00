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


def transport_app(secret: str, *tasks: LiveTask) -> FastAPI:
    """A FastAPI app with only the transport routes and the given tasks."""
    from avatar.transport.http import router
    from avatar.transport.hub import TransportHub

    app = FastAPI()
    app.include_router(router)
    app.state.live = LiveTasks(*tasks)
    app.state.transport = TransportHub(secret, ice_host_addresses="127.0.0.1")
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
