"""The WebSocket drive protocol (DriveByWsStream): live PCM pushed into a stream task's drive.

Text frames: {"Action": "Start", "Payload": {"DriveId", "SampleRate": 16000 | 24000}} and
{"Action": "Stop"}; unknown keys are ignored. Binary frames: raw PCM, 16-bit little-endian mono,
resampled to 16 kHz and pushed into the drive's PcmPush source. The server sends nothing back.
One connection per stream task: a second one is refused with close code 4409.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Protocol

import av
import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from avatar.types import AUDIO_RATE

log = logging.getLogger(__name__)

SAMPLE_RATES = (16000, 24000)
CLOSE_BUSY = 4409  # another connection already drives this task
CLOSE_UNKNOWN = 4404  # no such pending drive (ended, interrupted or never created)
CLOSE_BAD_REQUEST = 4400


class PcmPush(Protocol):
    """What the runtime's push source offers (avatar/stream/sources.PushSource)."""

    def push(self, pcm: np.ndarray) -> None: ...

    def end(self) -> None: ...


@dataclass(slots=True)
class PendingDrive:
    task_id: str
    drive_id: str
    source: PcmPush
    used: bool = False
    # Set when a newer DriveByWsStream replaces this drive: its socket is closed.
    replaced: asyncio.Event = field(default_factory=asyncio.Event)


class WsDriveRegistry:
    """Drives created by DriveByWsStream, waiting for (or holding) their WebSocket."""

    def __init__(self) -> None:
        self._drives: dict[str, PendingDrive] = {}  # drive_id -> drive

    def register(
        self,
        task_id: str,
        drive_id: str,
        source: PcmPush,
        connect_within_s: float | None = None,
    ) -> PendingDrive:
        # A new DriveByWsStream interrupts the task's previous drive: its socket is closed and
        # an unclaimed one can no longer be joined.
        for d in [d for d in self._drives.values() if d.task_id == task_id]:
            d.replaced.set()
            if not d.used:
                del self._drives[d.drive_id]
        drive = PendingDrive(task_id, drive_id, source)
        self._drives[drive_id] = drive
        if connect_within_s is not None:
            # Nobody connected in time: end the drive instead of leaving it waiting forever.
            asyncio.get_running_loop().call_later(connect_within_s, self._expire, drive)
        return drive

    def _expire(self, drive: PendingDrive) -> None:
        if not drive.used and self._drives.get(drive.drive_id) is drive:
            del self._drives[drive.drive_id]
            drive.source.end()

    def claim(self, drive_id: str) -> PendingDrive | int:
        """The drive for a new connection, or a close code saying why not."""
        drive = self._drives.get(drive_id)
        if drive is None or drive.replaced.is_set():
            return CLOSE_UNKNOWN
        if drive.used or self.busy(drive.task_id):
            return CLOSE_BUSY
        drive.used = True
        return drive

    def release(self, drive: PendingDrive) -> None:
        if self._drives.get(drive.drive_id) is drive:
            del self._drives[drive.drive_id]

    def busy(self, task_id: str) -> bool:
        """A live socket drives this task (one that is being replaced does not count)."""
        return any(
            d.used and d.task_id == task_id and not d.replaced.is_set()
            for d in self._drives.values()
        )


class PcmDecoder:
    """16-bit LE mono bytes at 16 or 24 kHz → 16 kHz int16, streaming (keeps odd bytes and the
    resampler's state between frames)."""

    def __init__(self, rate: int) -> None:
        if rate not in SAMPLE_RATES:
            raise ValueError(f"SampleRate must be one of {SAMPLE_RATES}")
        self.rate = rate
        self._odd = b""
        self._resampler = (
            None
            if rate == AUDIO_RATE
            else av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        )
        self._pts = 0

    def decode(self, data: bytes) -> np.ndarray:
        data = self._odd + data
        if len(data) % 2:
            data, self._odd = data[:-1], data[-1:]
        else:
            self._odd = b""
        pcm = np.frombuffer(data, "<i2").astype(np.int16)
        if self._resampler is None or not len(pcm):
            return pcm
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._pts
        self._pts += len(pcm)
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)

    def flush(self) -> np.ndarray:
        if self._resampler is None:
            return np.zeros(0, np.int16)
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(None)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


async def serve_drive(ws: WebSocket, drive: PendingDrive) -> None:
    """Run the protocol on an accepted socket until Stop, disconnect, or the drive's end (a
    newer DriveByWsStream or InterruptDriveTask); the drive's source is ended either way."""
    loop = asyncio.get_running_loop()
    session = loop.create_task(_session(ws, drive))
    replaced = loop.create_task(drive.replaced.wait())
    try:
        await asyncio.wait({session, replaced}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        replaced.cancel()
        if not session.done():
            session.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await session
            with contextlib.suppress(Exception):
                await ws.close(1000, "replaced by a newer drive")
        else:
            session.result()
        drive.source.end()


async def _session(ws: WebSocket, drive: PendingDrive) -> None:
    decoder = PcmDecoder(AUDIO_RATE)  # until Start says otherwise
    bytes_in = 0
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            if msg.get("bytes") is not None:
                pcm = decoder.decode(msg["bytes"])
                bytes_in += len(msg["bytes"])
                if getattr(drive.source, "closed", False):
                    # The drive was interrupted: nothing will play what this socket sends.
                    await ws.close(1000, "the drive has ended")
                    break
                if len(pcm):
                    try:
                        drive.source.push(pcm)
                    except BufferError:
                        await ws.close(1009, "too much audio ahead of playback")
                        break
                continue
            text = msg.get("text")
            if text is None:
                continue
            try:
                cmd = json.loads(text)
                action = cmd.get("Action") if isinstance(cmd, dict) else None
            except ValueError:
                action = None
            if action == "Start":
                payload = cmd.get("Payload") or {}
                try:
                    rate = int(payload.get("SampleRate") or AUDIO_RATE)
                    new = PcmDecoder(rate)
                except (TypeError, ValueError) as e:
                    await ws.close(CLOSE_BAD_REQUEST, str(e)[:100])
                    break
                if bytes_in == 0 or rate != decoder.rate:
                    decoder = new
                given = payload.get("DriveId")
                if given and given != drive.drive_id:
                    log.info("ws drive %s: client calls it %s", drive.drive_id, given)
            elif action == "Stop":
                tail = decoder.flush()
                if len(tail):
                    drive.source.push(tail)
                await ws.close(1000)
                break
            # Anything else (unknown actions, ZEGO's extra keys) is ignored on purpose.
    except WebSocketDisconnect:
        pass
