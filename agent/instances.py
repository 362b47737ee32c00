"""Live agent instances (CreateDigitalHumanAgentInstance): a conversation bound to a stream task.

`AgentInstances` lives on `app.state.agents`. It owns each instance's background work (the
microphone follower, the idle reaper) and ends an instance when no user has been connected for
`idle_timeout_s` (ZEGO: 120 s), when its stream task ends, or on DeleteAgentInstance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent.conversation import Conversation

log = logging.getLogger(__name__)

# QueryAgentInstanceStatus: 1 starting, 2 running (idle), 3 the user speaks, 4 the agent thinks,
# 5 the agent speaks, 6 ended.
STARTING, IDLE, LISTENING, THINKING, SPEAKING, ENDED = 1, 2, 3, 4, 5, 6


@dataclass(eq=False)
class AgentInstance:
    """One user's session with an agent."""

    instance_id: str
    app_id: int
    agent_id: str
    task_id: str
    conversation: Conversation
    user_id: str = ""
    create_time: float = field(default_factory=time.time)
    connections: int = 0
    last_user_seen: float = field(default_factory=time.monotonic)
    state: int = IDLE
    reason: str | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)
    listeners: set[Callable[[dict[str, Any]], None]] = field(default_factory=set)
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    def on_event(self, event: dict[str, Any]) -> None:
        """Conversation events: keep the state and the transcript, fan out to the sockets."""
        kind = event.get("type")
        if kind == "speech":
            self.state = LISTENING if event.get("state") == "start" else THINKING
        elif kind == "reply":
            self.state = SPEAKING
        elif kind in ("interrupted", "error"):
            self.state = IDLE
        if kind in ("transcript", "reply", "interrupted", "error"):
            self.transcript.append({**event, "time": time.time()})
            del self.transcript[:-200]
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("agent event listener failed")

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task


class AgentInstances:
    """The instances of this process, by AgentInstanceId."""

    def __init__(self, idle_timeout_s: float = 120.0) -> None:
        self.idle_timeout_s = idle_timeout_s
        self._items: dict[str, AgentInstance] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.on_end: Callable[[AgentInstance], Awaitable[None]] | None = None

    def add(self, instance: AgentInstance) -> None:
        self._items[instance.instance_id] = instance
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    def get(self, instance_id: str) -> AgentInstance | None:
        return self._items.get(instance_id)

    def all(self) -> list[AgentInstance]:
        return list(self._items.values())

    def by_task(self, task_id: str) -> AgentInstance | None:
        return next((i for i in self._items.values() if i.task_id == task_id), None)

    async def end(self, instance: AgentInstance, reason: str) -> None:
        """Stop the conversation and its background work; the caller stops the stream task."""
        if self._items.pop(instance.instance_id, None) is None:
            return
        instance.state = ENDED
        instance.reason = reason
        instance.on_event({"type": "closed", "reason": reason})
        for t in list(instance.background):
            t.cancel()
        await instance.conversation.close()
        if self.on_end is not None:
            try:
                await self.on_end(instance)
            except Exception:
                log.exception("ending agent instance %s", instance.instance_id)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for instance in self.all():
            await self.end(instance, "server shutting down")

    async def _reap(self) -> None:
        while self._items:
            await asyncio.sleep(min(5.0, self.idle_timeout_s / 4))
            now = time.monotonic()
            for instance in self.all():
                idle = instance.connections == 0 and now - instance.last_user_seen
                if idle and idle > self.idle_timeout_s:
                    await self.end(instance, f"no user for {self.idle_timeout_s:.0f} s")
