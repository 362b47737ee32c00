"""One drive inside a stream task: its source pulled ahead into a sample FIFO, its timings and
its place on the task's audio timeline.

A drive is pulled by its own runner task (owned here, cancelled with the drive). The stream
task's clock takes 20 ms chunks out of the FIFO; the runner pauses once `ahead_s` of audio is
waiting, so a long file or text is never decoded or synthesized far ahead of playback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

import numpy as np

from avatar.lipsync.base import MouthTracker
from avatar.stream.contract import DriveSource, DriveStatus
from avatar.types import AUDIO_RATE, PhonemeTiming, WordTiming

log = logging.getLogger(__name__)

_JITTER_STEP = AUDIO_RATE * 40 // 1000
_MAX_JITTER = AUDIO_RATE * 200 // 1000


class PcmFifo:
    """A FIFO of int16 samples stored as the pieces they arrived in."""

    def __init__(self) -> None:
        self._parts: deque[np.ndarray] = deque()
        self.samples = 0

    def push(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self._parts.append(pcm)
            self.samples += len(pcm)

    def underrun(self) -> None:
        """The clock found less than a chunk waiting while the source goes on."""
        self.underrun_chunks += 1
        if self.jitter_samples > 0 and not self.rebuffering:
            self.jitter_samples = min(
                max(self.jitter_samples, _MAX_JITTER), self.jitter_samples + _JITTER_STEP
            )
            self.rebuffering = True

    def take(self, n: int) -> np.ndarray:
        """Up to `n` samples (fewer only when the FIFO holds fewer)."""
        out = np.empty(min(n, self.samples), np.int16)
        filled = 0
        while filled < len(out):
            part = self._parts[0]
            k = min(len(part), len(out) - filled)
            out[filled : filled + k] = part[:k]
            filled += k
            if k == len(part):
                self._parts.popleft()
            else:
                self._parts[0] = part[k:]
        self.samples -= filled
        return out

    def clear(self) -> None:
        self._parts.clear()
        self.samples = 0


class Drive:
    """A queued unit of speech with an id and a status; see DriveStatus."""

    def __init__(self, drive_id: str, source: DriveSource, ahead_s: float = 3.0) -> None:
        self.id = drive_id
        self.source = source
        self.status = DriveStatus.QUEUED
        self.reason: str | None = None
        self.fifo = PcmFifo()
        self.source_done = False
        self.error: str | None = None
        # Live sources wait for `jitter_samples` before starting and after running dry; each
        # new underrun raises the target by 40 ms, up to 200 ms (an adaptive jitter buffer).
        self.jitter_samples = int(getattr(source, "jitter_ms", 0) * AUDIO_RATE / 1000)
        self.ahead_samples = int(ahead_s * AUDIO_RATE)
        # Timings arrive with the audio, relative to the drive's start; kept until the drive
        # has a place on the timeline (`first_chunk`), then handed to the tracker / scheduler.
        self.phonemes: list[PhonemeTiming] = []
        self.words: list[WordTiming] = []
        # Timeline (chunk indices of the task's clock), set by the task as the drive plays.
        self.begin_chunk: int | None = None  # first commit slot after becoming current
        self.first_chunk: int | None = None  # first chunk carrying its audio
        self.last_chunk: int | None = None  # last chunk carrying its audio (set at its end)
        self.first_frame = 0  # video frame whose start is the tracker's time 0
        self.pad_s = 0.0  # silence fed to the tracker before the drive's audio
        self.tracker: MouthTracker | None = None
        self.frames_out = 0  # mouth shapes the tracker has produced
        self.tracker_pcm: list[np.ndarray] = []  # audio for the tracker, not pushed yet
        self.tracker_samples = 0  # samples given to the tracker, pushed or not (pad included)
        self.phonemes_fed = 0
        self.words_fed = 0
        self.rebuffering = False
        self.underrun_chunks = 0
        self._space = asyncio.Event()
        self._space.set()
        self._runner: asyncio.Task[None] | None = None
        self.on_timings: Callable[[Drive], None] | None = None
        self.on_error: Callable[[Drive], None] | None = None

    @property
    def ended(self) -> bool:
        return self.status in (DriveStatus.FAILED, DriveStatus.FINISHED, DriveStatus.INTERRUPTED)

    def start(self) -> None:
        """Start pulling the source (idempotent)."""
        if self._runner is None and not self.ended:
            self._runner = asyncio.create_task(self._pull(), name=f"drive-{self.id}")

    def underrun(self) -> None:
        """The clock found less than a chunk waiting while the source goes on."""
        self.underrun_chunks += 1
        if self.jitter_samples > 0 and not self.rebuffering:
            self.jitter_samples = min(
                max(self.jitter_samples, _MAX_JITTER), self.jitter_samples + _JITTER_STEP
            )
            self.rebuffering = True

    def take(self, n: int) -> np.ndarray:
        pcm = self.fifo.take(n)
        if self.fifo.samples < self.ahead_samples:
            self._space.set()
        return pcm

    def cancel_soon(self) -> asyncio.Task[None] | None:
        """Stop the source: cancel the runner without waiting; returns it so that the owner
        can await its cleanup later."""
        runner = self._runner
        self.fifo.clear()
        if runner is not None and not runner.done():
            runner.cancel()
            return runner
        return None

    async def _pull(self) -> None:
        try:
            stream = self.source.chunks()
            try:
                async for chunk in stream:
                    pcm = np.asarray(chunk.pcm)
                    if pcm.dtype != np.int16:
                        raise TypeError(f"drive audio must be int16, got {pcm.dtype}")
                    if chunk.phonemes or chunk.words:
                        self.phonemes.extend(chunk.phonemes)
                        self.words.extend(chunk.words)
                        if self.on_timings is not None:
                            self.on_timings(self)
                    self.fifo.push(pcm.reshape(-1))
                    while self.fifo.samples >= self.ahead_samples:
                        self._space.clear()
                        await self._space.wait()
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = str(exc) or type(exc).__name__
            log.info("drive %s source failed: %s", self.id, self.error, extra={"drive_id": self.id})
            if self.on_error is not None:
                self.on_error(self)
        else:
            self.source_done = True
