"""A test-pattern stream task: the LiveTask contract without an avatar, for transport tests and
benchmarks that measure WebRTC alone.

It runs a real-time clock (audio chunk every 20 ms from an absolute schedule, a video frame at
the configured fps), plays queued DriveSources as audio, and draws a "mouth" box whose height
follows the loudness of the audio chunk sent at the same clock index, so a viewer can measure
lip-sync and latency from the pictures. It is not the avatar runtime (avatar/stream/task.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

import numpy as np

from avatar.stream.contract import (
    DriveSource,
    DriveStatus,
    MediaSink,
    StreamConfig,
    TaskStatus,
)
from avatar.types import AUDIO_RATE, CHUNK_MS, CHUNK_SAMPLES, AudioChunk, VideoFrame

log = logging.getLogger(__name__)

MOUTH_BOX = (0.35, 0.55, 0.65, 0.85)  # x0, y0, x1, y1 as fractions of the frame
FULL_SCALE_RMS = 6000.0  # chunk RMS that opens the mouth fully


def mouth_open_from_rms(rms: float) -> float:
    return float(min(1.0, rms / FULL_SCALE_RMS))


def measure_mouth(rgb: np.ndarray) -> float:
    """The mouth opening (0..1) drawn by PatternTask, read back from a decoded RGB(A) frame."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = MOUTH_BOX
    col = rgb[int(y0 * h) : int(y1 * h), int((x0 + x1) / 2 * w), 0].astype(np.float32)
    return float((col > 128).mean())


class PushPcmSource:
    """A DriveSource fed by push(pcm)/end(), like a WebSocket drive."""

    def __init__(self) -> None:
        self._q: asyncio.Queue[np.ndarray | None] = asyncio.Queue()

    def push(self, pcm: np.ndarray) -> None:
        self._q.put_nowait(np.asarray(pcm, np.int16).copy())

    def end(self) -> None:
        self._q.put_nowait(None)

    async def chunks(self):
        from agent.tts.base import SpeechChunk

        while (pcm := await self._q.get()) is not None:
            yield SpeechChunk(pcm=pcm)


class PatternTask:
    """LiveTask with a drawn test pattern instead of an avatar."""

    def __init__(self, config: StreamConfig, events=None, *, noisy: bool = False) -> None:
        self.config = config
        self.events = events
        self._status = TaskStatus.INITIALIZING
        self._sinks: list[MediaSink] = []
        self._queue: deque[tuple[str, DriveSource]] = deque()
        self._pcm = np.zeros(0, np.int16)  # audio of the current drive not yet played
        self._drive_id: str | None = None
        self._feeder: asyncio.Task | None = None
        self._source_done = False
        self._clock: asyncio.Task | None = None
        self.start_time = 0.0
        self.size = (int(config.scene.width), int(config.scene.height))
        self._bg = self._background()
        # Noisy pictures make the encoder spend its whole bitrate (bitrate tests).
        self._noise = (
            [
                np.clip(
                    self._bg.astype(np.int16)
                    + np.random.default_rng(i).integers(-24, 25, self._bg.shape, np.int16),
                    0,
                    255,
                ).astype(np.uint8)
                for i in range(8)
            ]
            if noisy
            else None
        )
        self.drive_log: list[tuple[str, DriveStatus]] = []

    # ---- LiveTask ----

    @property
    def status(self) -> TaskStatus:
        return self._status

    async def start(self) -> None:
        self.start_time = time.monotonic()
        self._status = TaskStatus.STREAMING
        self._clock = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, reason: str = "stopped by request") -> None:
        if self._status >= TaskStatus.STOPPING:
            return
        self._status = TaskStatus.STOPPING
        self.interrupt()
        if self._clock:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
        self._status = TaskStatus.STOPPED
        for s in list(self._sinks):
            s.on_close()
        self._sinks.clear()

    def enqueue(self, drive_id: str, source: DriveSource, interrupt: bool = False) -> None:
        if interrupt:
            self.interrupt()
        self._queue.append((drive_id, source))
        self.drive_log.append((drive_id, DriveStatus.QUEUED))

    def interrupt(self) -> None:
        for drive_id, _ in self._queue:
            self.drive_log.append((drive_id, DriveStatus.INTERRUPTED))
        self._queue.clear()
        if self._drive_id is not None:
            self._finish(DriveStatus.INTERRUPTED)

    def do_action(self, name: str) -> None:
        pass

    def add_sink(self, sink: MediaSink) -> None:
        self._sinks.append(sink)

    def remove_sink(self, sink: MediaSink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    # ---- clock ----

    async def _run(self) -> None:
        fps = self.config.fps
        index = 0
        next_frame = 0
        while True:
            due = self.start_time + index * CHUNK_MS / 1000
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._maybe_start_drive()
            pcm = self._take_chunk()
            rms = float(np.sqrt(np.mean(pcm.astype(np.float32) ** 2)))
            mouth = mouth_open_from_rms(rms)
            chunk = AudioChunk(index=index, pcm=pcm, drive_id=self._drive_id)
            for s in list(self._sinks):
                s.on_audio(chunk)
            # A video frame is due when its time has come on the same clock (drawn only when
            # someone watches).
            while next_frame * 1000 / fps <= index * CHUNK_MS:
                if self._sinks:
                    frame = VideoFrame(index=next_frame, rgba=self._draw(next_frame, mouth))
                    for s in list(self._sinks):
                        s.on_video(frame)
                next_frame += 1
            index += 1

    def _maybe_start_drive(self) -> None:
        if self._drive_id is not None or not self._queue:
            return
        drive_id, source = self._queue.popleft()
        self._drive_id = drive_id
        self._source_done = False
        self._pcm = np.zeros(0, np.int16)
        self.drive_log.append((drive_id, DriveStatus.DRIVING))
        self._emit(2, drive_id)
        self._feeder = asyncio.get_running_loop().create_task(self._feed(source))

    async def _feed(self, source: DriveSource) -> None:
        try:
            async for sc in source.chunks():
                self._pcm = np.concatenate([self._pcm, np.asarray(sc.pcm, np.int16)])
        finally:
            self._source_done = True

    def _take_chunk(self) -> np.ndarray:
        if self._drive_id is None:
            return np.zeros(CHUNK_SAMPLES, np.int16)
        if len(self._pcm) >= CHUNK_SAMPLES:
            out, self._pcm = self._pcm[:CHUNK_SAMPLES], self._pcm[CHUNK_SAMPLES:]
            return out
        if self._source_done:
            out = np.zeros(CHUNK_SAMPLES, np.int16)
            out[: len(self._pcm)] = self._pcm
            self._finish(DriveStatus.FINISHED)
            return out
        return np.zeros(CHUNK_SAMPLES, np.int16)  # the source runs short: silence, mouth closed

    def _finish(self, status: DriveStatus) -> None:
        drive_id = self._drive_id
        if drive_id is None:
            return
        if self._feeder:
            self._feeder.cancel()
            self._feeder = None
        self._drive_id = None
        self._pcm = np.zeros(0, np.int16)
        self.drive_log.append((drive_id, status))
        self._emit(4 if status == DriveStatus.FINISHED else int(status), drive_id)

    def _emit(self, status: int, drive_id: str) -> None:
        msg = {
            "Product": "digitalhuman",
            "Cmd": 1001,
            "Timestamp": int(time.time() * 1000),
            "Data": {"Status": status, "DriveId": drive_id},
        }
        for s in list(self._sinks):
            s.on_event(msg)

    # ---- drawing ----

    def _background(self) -> np.ndarray:
        w, h = self.size
        y, x = np.mgrid[0:h, 0:w]
        bg = np.zeros((h, w, 4), np.uint8)
        bg[..., 1] = (x * 255 // max(1, w - 1)).astype(np.uint8) // 2
        bg[..., 2] = (y * 255 // max(1, h - 1)).astype(np.uint8) // 2
        bg[..., 3] = 255
        return bg

    def _draw(self, index: int, mouth: float) -> np.ndarray:
        w, h = self.size
        img = self._bg.copy() if self._noise is None else self._noise[index % 8].copy()
        # A bar that moves every frame keeps the encoder honest (not a static picture).
        bx = (index * 7) % max(1, w - 16)
        img[: h // 10, bx : bx + 16, :3] = 200
        x0, y0, x1, y1 = MOUTH_BOX
        top = int(y0 * h)
        bottom = int(y1 * h)
        open_rows = int(round(mouth * (bottom - top)))
        if open_rows:
            img[top : top + open_rows, int(x0 * w) : int(x1 * w), 0] = 255
            img[top : top + open_rows, int(x0 * w) : int(x1 * w), 1:3] = 0
        return img


def tone(seconds: float, freq: float = 220.0, amplitude: float = 12000) -> np.ndarray:
    """A sine tone in the task's audio format."""
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)
