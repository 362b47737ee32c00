"""Webhook callbacks (EventType 3: stream status, 4: drive status), signed as ZEGO signs them.

Events are sent in order by one worker; a failed delivery is retried after 2, 4, 8, 16 and 32 s
by its own background task, so a slow or dead receiver delays only other callbacks, never a
stream (the runtime only puts events on a queue).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import httpx

from api.signature import callback_signature

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (2, 4, 8, 16, 32)
QUEUE_MAX = 10_000


class CallbackSender:
    """`emit(event_type, task_id, detail)` never blocks; delivery happens in the background."""

    def __init__(
        self,
        url: str | None,
        app_id: int,
        secret: str,
        retry_delays: tuple[float, ...] = RETRY_DELAYS_S,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.app_id = app_id
        self.secret = secret
        self.retry_delays = retry_delays
        self._timeout = timeout_s
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_MAX)
        self._worker: asyncio.Task | None = None
        self._retries: set[asyncio.Task] = set()
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        if self.url and self._worker is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="callbacks")

    async def close(self) -> None:
        tasks = [t for t in (self._worker, *self._retries) if t is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        if self._client is not None:
            await self._client.aclose()

    def emit(self, event_type: int, task_id: str, detail: dict[str, Any]) -> None:
        if not self.url:
            return
        nonce = str(secrets.randbelow(10**9))
        ts = str(int(time.time()))
        event = {
            "AppId": self.app_id,
            "EventType": event_type,
            "Nonce": nonce,
            "Timestamp": ts,
            "Signature": callback_signature(self.secret, ts, nonce),
            "EventTime": int(time.time() * 1000),
            "TaskId": task_id,
            "Detail": detail,
        }
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("callback queue full; event %s of %s dropped", event_type, task_id)

    async def _post(self, event: dict[str, Any]) -> bool:
        assert self._client is not None and self.url
        try:
            r = await self._client.post(self.url, json=event)
        except httpx.HTTPError as e:
            log.info("callback to %s failed: %s", self.url, e)
            return False
        if 200 <= r.status_code < 300:
            return True
        log.info("callback to %s answered %s", self.url, r.status_code)
        return False

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            if not await self._post(event):
                task = asyncio.get_running_loop().create_task(self._retry(event))
                self._retries.add(task)
                task.add_done_callback(self._retries.discard)

    async def _retry(self, event: dict[str, Any]) -> None:
        for delay in self.retry_delays:
            await asyncio.sleep(delay)
            if await self._post(event):
                return
        log.warning("callback %s for %s given up", event["EventType"], event["TaskId"])
