"""The stream tasks that are live in this process (`app.state.live`).

An entry exists from CreateDigitalHumanStreamTask until the task has ended; its runtime object
(`LiveTask`, avatar/stream/task.py) appears once the scene is ready. Outputs (WebRTC) find a
task by RoomId and StreamId with `find`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from avatar.stream.contract import LiveTask, TaskStatus

ENDED = (TaskStatus.INIT_FAILED, TaskStatus.STOPPED)


@dataclass(eq=False)
class LiveEntry:
    """A live task's bookkeeping on the API side."""

    task_id: str
    app_id: int
    room_id: str
    stream_id: str
    digital_human_id: str
    create_time: float
    ttl_s: float
    max_idle_s: float
    task: LiveTask | None = None
    stopping: bool = False
    reported: TaskStatus | None = None  # last status reported through the events
    open_drives: set[str] = field(default_factory=set)  # queued or playing
    drive_status: dict[str, int] = field(default_factory=dict)
    last_activity: float = field(default_factory=time.monotonic)
    runner: asyncio.Task | None = None

    @property
    def status(self) -> TaskStatus:
        status = self.task.status if self.task is not None else TaskStatus.INITIALIZING
        if self.reported is not None:
            status = max(status, self.reported)
        if self.stopping and status < TaskStatus.STOPPING:
            return TaskStatus.STOPPING
        return status

    def idle_for(self, now: float) -> float:
        return 0.0 if self.open_drives else now - self.last_activity


class LiveTasks:
    """Live tasks by TaskId, with lookups by (RoomId, StreamId) and by StreamId per app."""

    def __init__(self) -> None:
        self._entries: dict[str, LiveEntry] = {}

    def add(self, entry: LiveEntry) -> None:
        self._entries[entry.task_id] = entry

    def remove(self, task_id: str) -> LiveEntry | None:
        return self._entries.pop(task_id, None)

    def entry(self, task_id: str) -> LiveEntry | None:
        return self._entries.get(task_id)

    def entries(self) -> list[LiveEntry]:
        return list(self._entries.values())

    def get(self, task_id: str) -> LiveTask | None:
        e = self._entries.get(task_id)
        return e.task if e is not None else None

    def find(self, room_id: str, stream_id: str) -> LiveTask | None:
        for e in self._entries.values():
            if e.room_id == room_id and e.stream_id == stream_id and e.task is not None:
                return e.task
        return None

    def all(self) -> list[LiveTask]:
        return [e.task for e in self._entries.values() if e.task is not None]

    def stream_in_use(self, app_id: int, stream_id: str) -> bool:
        return any(e.app_id == app_id and e.stream_id == stream_id for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
