"""Helpers to watch a stream task from tests and benchmarks: a sink that keeps what it gets,
an events recorder, and a small drawn "still" avatar built through the real registry."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from avatar.registry import build_avatar
from avatar.stream.contract import DriveStatus, TaskStatus
from avatar.types import AudioChunk, VideoFrame


@dataclass(slots=True)
class CollectingSink:
    """A MediaSink that records frames (optionally only every n-th picture), audio and
    messages, each with the loop time it arrived at."""

    keep_frames: bool = True
    frames: list[tuple[float, VideoFrame]] = field(default_factory=list)
    audio: list[tuple[float, AudioChunk]] = field(default_factory=list)
    events: list[tuple[float, dict]] = field(default_factory=list)
    closed: bool = False

    def on_video(self, frame: VideoFrame) -> None:
        if not self.keep_frames:
            frame = VideoFrame(frame.index, frame.rgba[:1, :1])
        self.frames.append((time.monotonic(), frame))

    def on_audio(self, chunk: AudioChunk) -> None:
        self.audio.append((time.monotonic(), chunk))

    def on_event(self, message: dict) -> None:
        self.events.append((time.monotonic(), message))

    def on_close(self) -> None:
        self.closed = True

    def pcm(self, drive_id: str | None = ...) -> np.ndarray:  # type: ignore[assignment]
        """Concatenated audio; with `drive_id`, only the chunks of that drive."""
        parts = [c.pcm for _, c in self.audio if drive_id is ... or c.drive_id == drive_id]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)


@dataclass(slots=True)
class RecordingEvents:
    """StreamEvents that keep every status change with its time, and can be awaited."""

    tasks: list[tuple[float, str, TaskStatus, str | None]] = field(default_factory=list)
    drives: list[tuple[float, str, DriveStatus, str | None]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_task_status(self, task_id: str, status: TaskStatus, reason: str | None) -> None:
        self.tasks.append((time.monotonic(), task_id, status, reason))
        self._changed.set()

    def on_drive_status(
        self, task_id: str, drive_id: str, status: DriveStatus, reason: str | None
    ) -> None:
        self.drives.append((time.monotonic(), drive_id, status, reason))
        self._changed.set()

    def task_statuses(self) -> list[TaskStatus]:
        return [s for _, _, s, _ in self.tasks]

    def drive_statuses(self, drive_id: str) -> list[DriveStatus]:
        return [s for _, d, s, _ in self.drives if d == drive_id]

    def drive_time(self, drive_id: str, status: DriveStatus) -> float | None:
        for t, d, s, _ in self.drives:
            if d == drive_id and s == status:
                return t
        return None

    def drive_reason(self, drive_id: str) -> str | None:
        reasons = [r for _, d, _, r in self.drives if d == drive_id and r]
        return reasons[-1] if reasons else None

    async def wait_drive(self, drive_id: str, statuses: set[DriveStatus]) -> None:
        """Until the drive reached one of `statuses` (wrap in asyncio.timeout)."""
        while not set(self.drive_statuses(drive_id)) & statuses:
            self._changed.clear()
            await self._changed.wait()

    async def wait_task(self, status: TaskStatus) -> None:
        while status not in self.task_statuses():
            self._changed.clear()
            await self._changed.wait()


def draw_face(size: int = 128) -> np.ndarray:
    """A simple drawn face (BGR) with a flat, light mouth area."""
    img = np.full((size, size, 3), (200, 170, 120), np.uint8)
    c = size // 2
    cv2.circle(img, (c, c), int(size * 0.42), (150, 190, 235), -1)
    for dx in (-1, 1):
        cv2.circle(
            img, (c + dx * size // 6, int(size * 0.42)), max(2, size // 20), (60, 40, 30), -1
        )
    return img


def make_still_avatar(folder: Path, size: int = 128, keywords: dict | None = None) -> Path:
    """Build a "still" avatar from a drawn face into `folder` (real registry, real files)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = folder.parent / f"{folder.name}_source.png"
    cv2.imwrite(str(src), draw_face(size))
    build_avatar("still", src, folder, hint=None)
    if keywords:
        from avatar.registry import read_meta, write_meta

        meta = read_meta(folder)
        meta["keywords"] = keywords
        write_meta(folder, meta)
    return folder


def mouth_box(size: int = 128) -> tuple[slice, slice]:
    """Rows and columns around the still renderer's mouth in a `size`×`size` avatar frame."""
    cy, cx, r = int(size * 0.62), size // 2, max(4, size // 14) + 2
    return slice(cy - r, cy + r), slice(cx - r, cx + r)
