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
from avatar.types import AudioChunk, VideoFrame


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


class MediaSink(Protocol):
    """An output of a stream task (a WebRTC viewer, a push target, a test). Called on the event
    loop at the task's clock; must not block: keep a bounded queue and drop the oldest video
    frame when full, never audio."""

    def on_video(self, frame: VideoFrame) -> None:
        """RGBA frame at the task's output size; `frame.index` counts frames at the task's fps."""

    def on_audio(self, chunk: AudioChunk) -> None:
        """20 ms of 16 kHz int16 mono; `chunk.index` counts chunks from the task's start.
        Silence is sent too while idle, so outputs always have a steady 50 chunks/s."""

    def on_event(self, message: dict) -> None:
        """A room message, e.g. {"Product": "digitalhuman", "Cmd": 1001, "Timestamp": ms,
        "Data": {"Status": 2, "DriveId": "..."}} when a drive starts (2) or finishes (4)."""

    def on_close(self) -> None:
        """The task ended: no more media."""


class LiveTask(Protocol):
    """What the API layer and the outputs see of a running stream task (avatar/stream/task.py)."""

    config: StreamConfig

    @property
    def status(self) -> TaskStatus: ...

    async def start(self) -> None:
        """Load the avatar, start the clock: INITIALIZING → STREAMING (or INIT_FAILED)."""

    async def stop(self, reason: str = "stopped by request") -> None:
        """STOPPING → STOPPED; interrupts the current drive, fails nothing silently."""

    def enqueue(self, drive_id: str, source: DriveSource, interrupt: bool = False) -> None:
        """Queue a drive (DriveStatus.QUEUED); interrupt=True interrupts the current drive and
        drops the queue first (those drives end INTERRUPTED)."""

    def interrupt(self) -> None:
        """Stop the current drive and drop the queue (InterruptDriveTask)."""

    def do_action(self, name: str) -> None:
        """Play a named action over whatever is playing."""

    def add_sink(self, sink: MediaSink) -> None: ...

    def remove_sink(self, sink: MediaSink) -> None: ...
