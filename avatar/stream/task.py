"""The stream task runtime: one clock, a drive queue, lip-sync, rendering, outputs (LiveTask).

Time is one monotonic clock per task with an absolute schedule: audio chunk k goes out at
k × 20 ms and video frame i at i / fps from the task's start, so nothing drifts. Each wake-up:

1. commit: decide the audio of the chunks up to `lead` ahead of the clock, taking 20 ms from the
   current drive (or silence) and feeding the same samples to that drive's mouth tracker. What
   is committed is exactly what will be sent, so the mouth is rendered for the sound heard.
   `lead` = one frame + the tracker's look-ahead: a frame's mouth is known when it is due.
2. send the audio chunks that are due (all of them, if the loop woke late: audio never stalls).
3. the latest frame due for rendering: parameters (idle life + mouth + actions) on the loop,
   rendering and composing off the loop, ahead of the frame's time by the learnt render
   latency, and sending at its time (frames.py); under overload frames are dropped and counted.

Drive statuses follow ZEGO: 1 queued; 2 driving from when it is taken from the queue (its source
starts) or, when the drive before is still sending its tail, from when that one finished; 4 once
its last chunk has played (the clock passed its end); 3 when its source raised; 5 when
interrupted (queue dropped too).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.tts.base import SpeechOptions
from avatar.lipsync.base import MouthTracker, make_mouth_tracker
from avatar.lipsync.speaker import speaker_tracker_factory
from avatar.motion import ActionPlayer, IdleMotion
from avatar.registry import read_meta
from avatar.stream.contract import (
    DriveSource,
    DriveStatus,
    MediaSink,
    StreamConfig,
    StreamEvents,
    TaskStatus,
)
from avatar.stream.drive import Drive
from avatar.stream.frames import FramePipeline
from avatar.stream.keywords import KeywordActions
from avatar.stream.render_host import (
    RenderHost,
    RenderProcessPool,
    ThreadRenderHost,
    default_render_processes,
    render_pool,
)
from avatar.stream.sources import TextSource
from avatar.types import (
    AUDIO_RATE,
    CHUNK_MS,
    CHUNK_SAMPLES,
    REST_MOUTH,
    AudioChunk,
    MouthShape,
    VideoFrame,
)

log = logging.getLogger(__name__)

CHUNK_S = CHUNK_MS / 1000
_SILENCE = np.zeros(CHUNK_SAMPLES, np.int16)
_SILENCE.setflags(write=False)
_HISTORY = 1000  # drive statuses kept for `drive_status` (the API keeps the full history)


@dataclass(slots=True)
class StreamStats:
    """Counters of one task, for benchmarks and health checks."""

    frames_rendered: int = 0
    frames_dropped: int = 0  # due frames never sent: renderer busy, loop late, or render error
    audio_chunks_sent: int = 0
    audio_underrun_chunks: int = 0  # silence inserted inside a drive because its audio ran short
    audio_max_late_ms: float = 0.0  # worst lateness of an audio chunk against its schedule
    render_errors: int = 0
    render_ms_total: float = 0.0

    @property
    def render_ms_avg(self) -> float:
        return self.render_ms_total / self.frames_rendered if self.frames_rendered else 0.0


class StreamTask:
    """A live stream task (implements `LiveTask`). Create it, `await start()`, drive it with
    `enqueue`, `interrupt` and `do_action`, read media through sinks, `await stop()`.

    `executor`: where rendering runs (default: the shared `render_pool()`); `render_processes`:
    a pool of worker processes to render in instead (a worker renders a task's frames in order,
    up to `FRAME_SLOTS` at once). `max_inflight`: frames of this task rendering at once in
    threads before further due frames are dropped; keep 1 unless the renderer is thread-safe
    and order-free (renderers keep per-stream state such as a video avatar's position in its
    loop). `ahead_s`: how much audio a drive's source may run ahead of playback.
    `tracker_factory(fps)`: the lip-sync tracker made for each drive.
    """

    def __init__(
        self,
        config: StreamConfig,
        avatar_folder: Path,
        events: StreamEvents,
        tts_registry: Any = None,
        *,
        executor: Executor | None = None,
        render_processes: RenderProcessPool | None = None,
        max_inflight: int = 1,
        ahead_s: float = 3.0,
        tracker_factory: Callable[[int], MouthTracker] = make_mouth_tracker,
    ) -> None:
        self.config = config
        self.avatar_folder = Path(avatar_folder)
        self._events = events
        self._tts_registry = tts_registry
        self._executor = executor
        if render_processes is None and executor is None:
            render_processes = default_render_processes()  # DH_RENDER_PROCESSES
        self._processes = render_processes
        self._max_inflight = max(1, max_inflight)
        self._ahead_s = ahead_s
        self._tracker_factory = tracker_factory
        self._fps = max(1, int(config.fps))
        lookahead_ms = tracker_factory(config.fps).lookahead_ms
        # A frame's mouth needs audio to its end plus the tracker's look-ahead, by the time the
        # frame starts rendering (`ahead` of its time, learnt by the frame pipeline).
        self._base_lead = 1.0 / self._fps + lookahead_ms / 1000.0

        self._status = TaskStatus.INITIALIZING
        self._reason: str | None = None
        self._started = False
        self._shutting_down = False
        self._done = asyncio.Event()
        self._clock: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self.stats = StreamStats()

        self._host: RenderHost | None = None
        self._idle = IdleMotion(seed=zlib.crc32(config.task_id.encode()) % 1000)
        self._actions = ActionPlayer()
        self._keywords = KeywordActions(None)
        self._avatar_actions: list[str] = []
        self._renderer_actions: set[str] = set()

        self._sinks: list[MediaSink] = []
        self._queue: deque[Drive] = deque()
        self._current: Drive | None = None
        # Drives taken from the queue whose last chunk is not sent yet, in order; the current
        # one (whose audio is being committed) is the last. A drive is announced DRIVING when
        # the one before it has finished, so at most one is 2 at a time.
        self._playing: deque[Drive] = deque()
        self._history: OrderedDict[str, Drive] = OrderedDict()
        self._cancelling: set[asyncio.Task[None]] = set()

        self._committed: deque[AudioChunk] = deque()
        self._commit_next = 0  # next chunk index to commit
        self._audio_next = 0  # next chunk index to send
        self._frame_next = 0  # next video frame index due
        self._mouths: deque[tuple[int, MouthShape]] = deque()  # (frame, shape), ascending
        self._scheduled: list[tuple[float, int, str, str]] = []  # heap: (t, seq, action, drive)
        self._seq = itertools.count()
        self._frames: FramePipeline | None = None
        self._idle_since = 0.0

    # --- LiveTask -------------------------------------------------------------------------

    @property
    def status(self) -> TaskStatus:
        return self._status

    @property
    def reason(self) -> str | None:
        """Why the task failed or stopped (None while it runs)."""
        return self._reason

    @property
    def clock_s(self) -> float:
        """Seconds on the task's clock (0 before streaming)."""
        if self._status != TaskStatus.STREAMING:
            return self._audio_next * CHUNK_S
        return asyncio.get_running_loop().time() - self._t0

    async def start(self) -> None:
        """Load the avatar (in a worker thread) and start the clock: INITIALIZING → STREAMING,
        or INIT_FAILED with the reason."""
        if self._started:
            raise RuntimeError("a stream task starts once")
        self._started = True
        self._emit_task(TaskStatus.INITIALIZING, None)
        loop = asyncio.get_running_loop()
        try:
            meta = await loop.run_in_executor(self._pool(), self._read_meta)
            if self._tracker_factory is make_mouth_tracker:
                # a video avatar's own audio-to-mouth fit, when it has one (same look-ahead)
                self._tracker_factory = await loop.run_in_executor(
                    self._pool(), speaker_tracker_factory, self.avatar_folder
                )
                ahead_ms = self._tracker_factory(self._fps).lookahead_ms
                self._base_lead = 1.0 / self._fps + ahead_ms / 1000.0
            if self._processes is not None:
                host: RenderHost = self._processes.host(self.avatar_folder, self.config.scene)
            else:
                host = ThreadRenderHost(self.avatar_folder, self.config.scene, self._executor)
            self._host = host
            await host.open()
        except Exception as exc:
            reason = f"avatar could not be loaded: {exc}"
            log.warning("task %s: %s", self.config.task_id, reason)
            if not self._shutting_down:
                self._shutting_down = True
                self._fail_all(DriveStatus.FAILED, reason)
                self._close_sinks()
                self._reason = reason
                if self._host is not None:
                    await self._host.close()
                self._emit_task(TaskStatus.INIT_FAILED, reason)
                self._done.set()
            return
        if self._shutting_down:  # stop() was called while the avatar loaded; it finishes
            return
        self._keywords = KeywordActions(meta.get("keywords"))
        self._renderer_actions = set(host.action_names)
        self._avatar_actions = list(meta.get("actions") or []) + host.action_names
        self._t0 = loop.time()
        self._frames = FramePipeline(
            host, self._fps, self._t0, self.stats, self._send_video,
            host.max_inflight or self._max_inflight,
            name=f"task {self.config.task_id}",
        )  # fmt: skip
        self._clock = asyncio.create_task(self._run(), name=f"stream-{self.config.task_id}")
        self._emit_task(TaskStatus.STREAMING, None)

    async def stop(self, reason: str = "stopped by request") -> None:
        """STOPPING → STOPPED: drives still queued or playing end INTERRUPTED with the reason,
        sinks are closed. Idempotent; a second call waits for the first."""
        if self._status in (TaskStatus.STOPPED, TaskStatus.INIT_FAILED):
            return
        if self._shutting_down:
            await self._done.wait()
            return
        self._shutting_down = True
        self._emit_task(TaskStatus.STOPPING, reason)
        clock = self._clock
        if clock is not None and not clock.done():
            clock.cancel()
            await asyncio.wait({clock})
        await self._finish(reason)

    async def wait_stopped(self) -> None:
        """Until the task has stopped (by request, TTL, idle time or a failed start)."""
        await self._done.wait()

    def enqueue(self, drive_id: str, source: DriveSource, interrupt: bool = False) -> None:
        if self._shutting_down or self._status in (TaskStatus.STOPPED, TaskStatus.INIT_FAILED):
            raise RuntimeError("the stream task is not running")
        if interrupt:
            self.interrupt()
        drive = Drive(drive_id, source, self._ahead_s)
        drive.on_error = self._on_source_error
        drive.on_timings = self._on_timings
        self._history[drive_id] = drive
        while len(self._history) > _HISTORY:
            self._history.popitem(last=False)
        self._queue.append(drive)
        self._emit_drive(drive, DriveStatus.QUEUED, None)
        if len(self._queue) == 1 and self._current is None and self._status == TaskStatus.STREAMING:
            drive.start()  # it plays next: start its TTS or download now, not at the next tick

    def enqueue_text(
        self,
        drive_id: str,
        text: str,
        timbre_id: str,
        options: SpeechOptions | None = None,
        interrupt: bool = False,
    ) -> None:
        """DriveByText through the task's TTS registry (KeyError for an unknown timbre)."""
        if self._tts_registry is None:
            raise RuntimeError("this stream task has no TTS registry")
        source = TextSource.from_registry(self._tts_registry, timbre_id, text, options)
        self.enqueue(drive_id, source, interrupt)

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the current drive and drop the queue; sound stops with the next chunk, the
        mouth rests from the next frame rendered."""
        self._fail_all(DriveStatus.INTERRUPTED, reason)

    def do_action(self, name: str) -> None:
        """Play a named action over whatever is playing (unknown names are logged, not raised:
        the API layer validates them)."""
        if self._status != TaskStatus.STREAMING:
            return
        self._start_action(name, self._frame_next / self._fps)

    def _start_action(self, name: str, t: float) -> None:
        """The avatar's own actions (e.g. a video avatar's recorded stretches) are played by
        its renderer; generic ones as parameter timelines over idle life and speech."""
        try:
            if name in self._renderer_actions and self._host is not None:
                self._host.start_action(name, t)
            elif self._actions.start(name, t) is False:
                log.info("task %s: unknown action %r ignored", self.config.task_id, name)
        except Exception:
            log.warning("task %s: action %r cannot play", self.config.task_id, name, exc_info=True)

    def action_names(self) -> list[str]:
        """Actions this task's avatar can play (generic ones, the avatar's own, keywords')."""
        names = list(self._actions.names()) + self._avatar_actions
        return list(dict.fromkeys(names))

    def drive_status(self, drive_id: str) -> DriveStatus | None:
        drive = self._history.get(drive_id)
        return drive.status if drive is not None else None

    @property
    def current_drive_id(self) -> str | None:
        return self._current.id if self._current is not None else None

    def add_sink(self, sink: MediaSink) -> None:
        if self._status in (TaskStatus.STOPPED, TaskStatus.INIT_FAILED):
            sink.on_close()
            return
        if sink not in self._sinks:
            self._sinks.append(sink)

    def remove_sink(self, sink: MediaSink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    # --- start and stop -------------------------------------------------------------------

    def _pool(self) -> Executor:
        return self._executor or render_pool()

    def _read_meta(self) -> dict:
        if not (self.avatar_folder / "avatar.json").is_file():
            raise FileNotFoundError(f"no avatar in {self.avatar_folder.name}")
        return read_meta(self.avatar_folder)

    async def _finish(self, reason: str) -> None:
        self._fail_all(DriveStatus.INTERRUPTED, f"task stopped: {reason}")
        if self._cancelling:
            await asyncio.wait(set(self._cancelling), timeout=2.0)
        if self._frames is not None:
            await self._frames.close()
        if self._host is not None:
            await self._host.close()
        self._close_sinks()
        self._reason = reason
        self._emit_task(TaskStatus.STOPPED, reason)
        self._done.set()

    def _close_sinks(self) -> None:
        sinks, self._sinks = self._sinks, []
        for sink in sinks:
            try:
                sink.on_close()
            except Exception:
                log.exception("task %s: sink close failed", self.config.task_id)

    # --- the clock ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        fps = self._fps
        reason: str | None = None
        while reason is None:
            now = loop.time() - self._t0
            try:
                self._commit_until(now + self._base_lead + self._frames.ahead)
                self._send_audio_until(now)
                self._video_at(now)
                reason = self._limit_reached(now)
            except Exception as exc:  # a bug must end the task visibly, not freeze it
                log.exception("task %s: stream runtime failed", self.config.task_id)
                reason = f"stream runtime failed: {exc}"
            if reason is None:
                due = min(self._audio_next * CHUNK_S, self._frame_next / fps - self._frames.ahead)
                await asyncio.sleep(max(0.0, self._t0 + due - loop.time()))
        # TTL or idle time: the task stops itself (not via stop(), which would cancel us).
        self._shutting_down = True
        self._emit_task(TaskStatus.STOPPING, reason)
        await self._finish(reason)

    def _limit_reached(self, now: float) -> str | None:
        cfg = self.config
        if now >= cfg.ttl_s:
            return f"TTL reached ({cfg.ttl_s:g} s)"
        if self._playing or self._queue:
            self._idle_since = now
        elif now - self._idle_since >= cfg.max_idle_s:
            return f"idle for {cfg.max_idle_s:g} s without a drive"
        return None

    # --- audio: commit ahead, send on time --------------------------------------------------

    def _commit_until(self, t: float) -> None:
        while self._commit_next * CHUNK_S <= t:
            self._commit(self._commit_next)
            self._commit_next += 1
        # Prefetch: the next drive's source starts while the current one plays its tail.
        if self._queue and (self._current is None or self._current.source_done):
            self._queue[0].start()

    def _commit(self, c: int) -> None:
        while True:
            d = self._current
            if d is None:
                d = self._take_next(c)
                if d is None:
                    self._committed.append(AudioChunk(c, _SILENCE, None))
                    return
            if d.first_chunk is None:  # waiting for its first audio (TTS, download, jitter)
                need = max(d.jitter_samples, CHUNK_SAMPLES)
                if d.fifo.samples >= need or (d.source_done and d.fifo.samples):
                    self._place(d, c)
                elif d.source_done:  # it ended without any audio
                    self._end_audio(d, c)
                    continue
                else:
                    self._committed.append(AudioChunk(c, _SILENCE, None))
                    return
            if d.rebuffering and (d.fifo.samples >= d.jitter_samples or d.source_done):
                d.rebuffering = False
            if not d.rebuffering and (
                d.fifo.samples >= CHUNK_SAMPLES or (d.source_done and d.fifo.samples)
            ):
                pcm = d.take(CHUNK_SAMPLES)
                if len(pcm) < CHUNK_SAMPLES:
                    pcm = np.concatenate([pcm, np.zeros(CHUNK_SAMPLES - len(pcm), np.int16)])
                self._committed.append(AudioChunk(c, pcm, d.id))
                self._feed(d, pcm)
                return
            if d.source_done:
                self._end_audio(d, c)
                continue
            # Underrun of a live source: silence (and a closing mouth) until it refills.
            d.underrun()
            self.stats.audio_underrun_chunks += 1
            self._committed.append(AudioChunk(c, _SILENCE, d.id))
            self._feed(d, _SILENCE)
            return

    def _take_next(self, c: int) -> Drive | None:
        while self._queue:
            d = self._queue.popleft()
            if d.ended:
                continue
            d.begin_chunk = c
            self._current = d
            d.start()
            if not self._playing:
                self._emit_drive(d, DriveStatus.DRIVING, None)
            self._playing.append(d)
            return d
        return None

    def _place(self, d: Drive, c: int) -> None:
        """The drive's audio starts at chunk c. Its tracker's time 0 is the start of the video
        frame holding that instant, padded with silence, so tracker frame j is video frame
        first_frame + j exactly, at any fps."""
        d.first_chunk = c
        d.first_frame = math.floor(c * CHUNK_S * self._fps + 1e-9)
        pad = c * CHUNK_SAMPLES - round(d.first_frame * AUDIO_RATE / self._fps)
        d.pad_s = pad / AUDIO_RATE
        d.tracker = self._tracker_factory(self._fps)
        d.frames_out = 0
        d.tracker_pcm = []
        d.tracker_samples = 0
        self._on_timings(d)
        if pad > 0:
            self._feed(d, np.zeros(pad, np.int16))

    def _feed(self, d: Drive, pcm: np.ndarray) -> None:
        """Give committed audio to d's tracker. It is pushed once the tracker can emit its next
        frame (audio to that frame's end plus the look-ahead, `lead` counts on no more): at
        25 fps one call per frame instead of one per 20 ms chunk, the same shapes at the same
        commit, and a third less lip-sync CPU (the tracker's features cost per call)."""
        tracker = d.tracker
        if tracker is None:
            return
        d.tracker_pcm.append(pcm)
        d.tracker_samples += len(pcm)
        due = (d.frames_out + 1) / self._fps + tracker.lookahead_ms / 1000 - 0.001
        if d.tracker_samples >= due * AUDIO_RATE:
            self._push_tracker(d, tracker)

    def _push_tracker(self, d: Drive, tracker: MouthTracker) -> None:
        parts, d.tracker_pcm = d.tracker_pcm, []
        if parts:
            pcm = parts[0] if len(parts) == 1 else np.concatenate(parts)
            self._store_mouths(d, tracker.push_audio(pcm))

    def _store_mouths(self, d: Drive, shapes: list[MouthShape]) -> None:
        for shape in shapes:
            self._mouths.append((d.first_frame + d.frames_out, shape))
            d.frames_out += 1

    def _end_audio(self, d: Drive, c: int) -> None:
        """All of d's audio is committed (the last in chunk c - 1); it finishes once sent."""
        d.last_chunk = c - 1
        if d.tracker is not None:
            self._push_tracker(d, d.tracker)
            self._store_mouths(d, d.tracker.flush())
            d.tracker = None
        self._current = None

    def _on_timings(self, d: Drive) -> None:
        """New phoneme/word timings of d: to its tracker and the keyword scheduler once the
        drive has a place on the timeline (before that they wait in the drive)."""
        if d.first_chunk is None or d.ended:
            return
        if d.tracker is not None and len(d.phonemes) > d.phonemes_fed:
            shift = d.pad_s
            new = d.phonemes[d.phonemes_fed :]
            if shift:
                new = [type(p)(p.phoneme, p.start + shift, p.end + shift, p.lang) for p in new]
            d.tracker.push_phonemes(new)
        d.phonemes_fed = len(d.phonemes)
        if self._keywords:
            t0 = d.first_chunk * CHUNK_S
            for word in d.words[d.words_fed :]:
                for dt, action in self._keywords.hits(word):
                    heapq.heappush(self._scheduled, (t0 + dt, next(self._seq), action, d.id))
        d.words_fed = len(d.words)

    def _send_audio_until(self, now: float) -> None:
        while self._audio_next * CHUNK_S <= now:
            k = self._audio_next
            # Time k * 20 ms is the end of chunk k - 1: drives whose last chunk that was have
            # now played out (and the next one is announced as its audio begins).
            while self._playing:
                d = self._playing[0]
                if d.status == DriveStatus.QUEUED:
                    self._emit_drive(d, DriveStatus.DRIVING, None)
                if d.last_chunk is None or d.last_chunk >= k:
                    break
                self._playing.popleft()
                self._emit_drive(d, DriveStatus.FINISHED, None)
            while self._committed and self._committed[0].index < k:
                self._committed.popleft()
            if self._committed and self._committed[0].index == k:
                chunk = self._committed.popleft()
            else:  # not committed (cannot happen with lead > 0); never hold audio back
                chunk = AudioChunk(k, _SILENCE, None)
            for sink in tuple(self._sinks):
                try:
                    sink.on_audio(chunk)
                except Exception:
                    self._drop_sink(sink)
            self._audio_next = k + 1
            self.stats.audio_chunks_sent += 1
            late_ms = (now - k * CHUNK_S) * 1000
            if late_ms > self.stats.audio_max_late_ms:
                self.stats.audio_max_late_ms = late_ms

    # --- video ------------------------------------------------------------------------------

    def _video_at(self, now: float) -> None:
        """Prepare the latest frame due for rendering: frame i starts rendering `ahead` before
        its time i / fps (see frames.py), so that it can leave together with its audio."""
        fps = self._fps
        assert self._frames is not None
        horizon = now + self._frames.ahead
        if self._frame_next / fps > horizon:
            return
        i = math.floor(horizon * fps + 1e-9)
        if i > self._frame_next:  # the loop woke late: only the latest due frame is made
            self.stats.frames_dropped += i - self._frame_next
        self._frame_next = i + 1
        t = i / fps
        while self._scheduled and self._scheduled[0][0] <= t:
            at, _, action, _ = heapq.heappop(self._scheduled)
            self._start_action(action, at)
        mouth = REST_MOUTH
        mouths = self._mouths
        while mouths and mouths[0][0] < i:
            mouths.popleft()
        if mouths and mouths[0][0] == i:
            mouth = mouths.popleft()[1]
        params = self._actions.apply(self._idle.params_at(t).with_mouth(mouth), t)
        self._frames.submit(i, params, t)

    def _send_video(self, frame: VideoFrame) -> None:
        for sink in tuple(self._sinks):
            try:
                sink.on_video(frame)
            except Exception:
                self._drop_sink(sink)

    # --- drive endings ------------------------------------------------------------------------

    def _fail_all(self, status: DriveStatus, reason: str) -> None:
        """End every drive not yet finished (interrupt, stop) and silence what was committed."""
        drives = [*self._playing, *self._queue]
        self._playing.clear()
        self._current = None
        self._queue.clear()
        for d in drives:
            self._end_drive(d, status, reason)
        self._rollback(self._audio_next, 0)
        self._scheduled.clear()
        # Frames already drawn (or drawing) for a time after now show the old mouth: drop them
        # and draw from the next frame on again.
        if self._frames is not None and self._status == TaskStatus.STREAMING:
            now = asyncio.get_running_loop().time() - self._t0
            cut = math.floor(now * self._fps) + 1
            self._frames.cut(cut)
            self._frame_next = min(self._frame_next, cut)

    def _on_source_error(self, d: Drive) -> None:
        if d.ended:
            return
        if d is self._current:
            self._current = None
            self._playing.remove(d)
            # Its mouth shapes go too (none exist before it was placed on the timeline).
            frame = d.first_frame if d.first_chunk is not None else self._frame_next + 1_000_000
            self._rollback(max(self._audio_next, d.begin_chunk or 0), frame)
        else:
            with contextlib.suppress(ValueError):
                self._queue.remove(d)
        self._scheduled = [s for s in self._scheduled if s[3] != d.id]
        heapq.heapify(self._scheduled)
        # Called from the drive's own runner, which is ending: nothing to cancel.
        self._end_drive(d, DriveStatus.FAILED, d.error or "the drive's source failed", cancel=False)

    def _rollback(self, chunk: int, frame: int) -> None:
        """Forget committed audio from `chunk` on and mouth shapes from `frame` on."""
        while self._committed and self._committed[-1].index >= chunk:
            self._committed.pop()
        self._commit_next = min(self._commit_next, max(chunk, self._audio_next))
        while self._mouths and self._mouths[-1][0] >= frame:
            self._mouths.pop()

    def _end_drive(self, d: Drive, status: DriveStatus, reason: str, cancel: bool = True) -> None:
        if d.ended:
            return
        runner = d.cancel_soon() if cancel else None
        if runner is not None:
            self._cancelling.add(runner)
            runner.add_done_callback(self._cancelling.discard)
        d.tracker = None
        d.tracker_pcm = []
        self._emit_drive(d, status, reason)

    # --- events -------------------------------------------------------------------------------

    def _emit_task(self, status: TaskStatus, reason: str | None) -> None:
        self._status = status
        try:
            self._events.on_task_status(self.config.task_id, status, reason)
        except Exception:
            log.exception("task %s: on_task_status failed", self.config.task_id)

    def _emit_drive(self, d: Drive, status: DriveStatus, reason: str | None) -> None:
        d.status = status
        d.reason = reason
        try:
            self._events.on_drive_status(self.config.task_id, d.id, status, reason)
        except Exception:
            log.exception("task %s: on_drive_status failed", self.config.task_id)
        if status == DriveStatus.QUEUED:
            return
        # Room message (ZEGO Cmd 1001) on start (2) and end (4; also 3 and 5, so that a viewer
        # waiting for the end of a drive hears of it however it ended).
        message = {
            "Product": "digitalhuman",
            "Cmd": 1001,
            "Timestamp": int(time.time() * 1000),
            "Data": {"Status": int(status), "DriveId": d.id},
        }
        for sink in tuple(self._sinks):
            try:
                sink.on_event(message)
            except Exception:
                self._drop_sink(sink)

    def _drop_sink(self, sink: MediaSink) -> None:
        log.exception("task %s: sink %r failed; removed", self.config.task_id, sink)
        self.remove_sink(sink)
