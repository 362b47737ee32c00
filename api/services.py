"""The app-wide parts the actions use, built once in the lifespan and kept on `app.state`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.callbacks import CallbackSender
from api.context import Handler
from api.credentials import Credentials
from api.events import TaskEvents
from api.fetch import Fetcher
from api.live import LiveTasks
from api.ratelimit import RateLimiter
from api.signature import Verifier
from settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    credentials: Credentials
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    actions: dict[str, Handler]
    verifier: Verifier
    limiter: RateLimiter
    live: LiveTasks
    callbacks: CallbackSender
    tts: Any  # agent.tts.registry.TTSRegistry (no voices installed: an empty registry)
    events: TaskEvents
    fetcher: Fetcher
    app_state: Any
    builds: dict[str, asyncio.Task] = field(default_factory=dict)  # DigitalHumanId → build job
    _background: set[asyncio.Task] = field(default_factory=set)

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def avatars_dir(self) -> Path:
        return self.data_dir / "avatars"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run a background job owned by the server: kept referenced, logged if it fails,
        cancelled at shutdown."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)

        def _done(t: asyncio.Task) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background job %s failed", name, exc_info=t.exception())

        task.add_done_callback(_done)
        return task

    async def cancel_background(self, wait_s: float = 5.0) -> None:
        tasks = list(self._background)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=wait_s)
