"""The contract between the API layer and the stream task runtime.

The API layer (api/, store/) validates requests, persists records and turns runtime events into
database rows and callbacks. The runtime (avatar/stream/) owns the clock, the drive queue, lip-sync,
rendering and the media that outputs (WebRTC, files, tests) subscribe to. Neither imports the other's
internals: only this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from agent.tts.base import SpeechChunk
from avatar.compose import Scene


class TaskStatus(IntEnum):
    INITIALIZING = 1
    INIT_FAILED = 2
    STREAMING = 3
    STOPPING = 4
    STOPPED = 5


class DriveStatus(IntEnum):
    QUEUED = 1
    DRIVING = 2
    FAILED = 3
    FINISHED = 4
    INTERRUPTED = 5


class DriveSource(Protocol):
    """Where a drive's speech comes from: TTS of a text, a decoded audio file, or live PCM pushed
    over a WebSocket or an RTC stream. Iterating it yields 16 kHz int16 speech with optional
    timings; it may raise (the drive then fails with the message as its reason). Cancelling the
    iteration must stop any work behind it (TTS, download, decoder)."""

    def chunks(self) -> AsyncIterator[SpeechChunk]: ...


@dataclass(slots=True)
class StreamConfig:
    """A stream task's validated settings (from CreateDigitalHumanStreamTask)."""

    task_id: str
    room_id: str
    stream_id: str
    scene: Scene  # output size, background, avatar layout and assets
    fps: int = 25
    bitrate: int = 3_000_000
    codec: str = "VP8"
    ttl_s: float = 86400.0
    max_idle_s: float = 900.0
    extra: dict = field(default_factory=dict)


class StreamEvents(Protocol):
    """Callbacks from the runtime, called on the event loop; they must not block."""

    def on_task_status(self, task_id: str, status: TaskStatus, reason: str | None) -> None: ...

    def on_drive_status(
        self, task_id: str, drive_id: str, status: DriveStatus, reason: str | None
    ) -> None: ...
