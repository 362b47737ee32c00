"""The stream task runtime with real parts: a real "still" avatar built by the registry, real
speech from the media kit, the real decoder, lip-sync tracker, renderer and compositor; a sink
that collects what a viewer would get."""

from __future__ import annotations

import asyncio
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatar.compose import Scene
from avatar.lipsync.base import MouthTracker, make_mouth_tracker
from avatar.lipsync.energy import EnergyMouthTracker
from avatar.motion import ActionPlayer
from avatar.stream.contract import DriveStatus, StreamConfig, TaskStatus
from avatar.stream.sources import AudioBytesSource, PushSource
from avatar.stream.task import StreamTask
from avatar.stream.testing import CollectingSink, RecordingEvents, make_still_avatar, mouth_box
from avatar.types import AUDIO_RATE, CHUNK_SAMPLES, MouthShape

SPEECH = Path("/work/shared/media/audio/16k_mono/en_RD_Radio31_000.wav")
SIZE = 128
ENDED = {DriveStatus.FAILED, DriveStatus.FINISHED, DriveStatus.INTERRUPTED}


@pytest.fixture(scope="module")
def avatar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_still_avatar(tmp_path_factory.mktemp("avatar") / "still", SIZE)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    pcm, rate = sf.read(SPEECH, dtype="int16")
    assert rate == AUDIO_RATE
    return pcm


def wav_bytes(pcm: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, pcm, AUDIO_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


async def byte_stream(data: bytes, piece: int = 4096, fail_after: int | None = None):
    for i in range(0, len(data), piece):
        if fail_after is not None and i >= fail_after:
            raise ConnectionError("download broke")
        yield data[i : i + piece]
        await asyncio.sleep(0)


def file_source(pcm: np.ndarray, **kw) -> AudioBytesSource:
    return AudioBytesSource(byte_stream(wav_bytes(pcm), **kw))


def push_all(pcm: np.ndarray) -> PushSource:
    src = PushSource()
    src.push(pcm)
    src.end()
    return src


async def start_task(
    avatar: Path, *, ttl_s: float = 30.0, max_idle_s: float = 30.0, fps: int = 25, **kw
):
    events, sink = RecordingEvents(), CollectingSink()
    scene = Scene(SIZE, SIZE)
    config = StreamConfig(
        "task-1", "room-1", "stream-1", scene, fps, ttl_s=ttl_s, max_idle_s=max_idle_s
    )
    task = StreamTask(config, avatar, events, **kw)
    task.add_sink(sink)
    await task.start()
    return task, events, sink


def mouth_open(frame_rgba: np.ndarray, rest: np.ndarray) -> float:
    """Mean change of the mouth area against the resting picture (0 = closed)."""
    rows, cols = mouth_box(SIZE)
    a = frame_rgba[rows, cols, :3].astype(np.int16)
    return float(np.abs(a - rest[rows, cols, :3]).mean())


async def assert_no_tasks_left() -> None:
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not left, left


async def test_statuses_steady_audio_and_ttl(avatar: Path) -> None:
    task, events, sink = await start_task(avatar, ttl_s=1.0)
    assert task.status == TaskStatus.STREAMING
    t0 = time.monotonic()
    async with asyncio.timeout(5):
        await task.wait_stopped()
    elapsed = time.monotonic() - t0
    assert events.task_statuses() == [
        TaskStatus.INITIALIZING,
        TaskStatus.STREAMING,
        TaskStatus.STOPPING,
        TaskStatus.STOPPED,
    ]
    assert "TTL" in (events.tasks[-1][3] or "")
    assert 0.95 <= elapsed < 1.5
    # 50 chunks/s of silence, consecutive indices, paced on the clock (not sent in a burst).
    idx = [c.index for _, c in sink.audio]
    assert idx == list(range(len(idx)))
    assert 48 <= len(idx) <= 52
    assert all(not c.pcm.any() and len(c.pcm) == CHUNK_SAMPLES for _, c in sink.audio)
    # Paced on an absolute schedule: chunk k leaves at start + k * 20 ms, without drift.
    arrival = np.array([t for t, _ in sink.audio])
    lateness = arrival - arrival[0] - 0.02 * np.arange(len(arrival))
    assert arrival[-1] - arrival[0] > 0.9
    assert np.all(lateness < 0.25) and np.all(lateness > -0.02)  # a loaded machine stalls
    assert np.median(lateness[-10:]) - np.median(lateness[:10]) < 0.02
    # 25 fps video, counted.
    st = task.stats
    assert st.audio_chunks_sent == len(idx)
    assert len(sink.frames) <= st.frames_rendered
    assert 20 <= len(sink.frames) + st.frames_dropped <= 27
    assert sink.frames[0][1].rgba.shape == (SIZE, SIZE, 4)
    assert sink.closed
    await task.stop()  # a stopped task stays stopped
    assert events.task_statuses()[-1] == TaskStatus.STOPPED
    with pytest.raises(RuntimeError):
        task.enqueue("late", push_all(np.zeros(320, np.int16)))
    await assert_no_tasks_left()


async def test_init_failed_without_avatar(tmp_path: Path) -> None:
    task, events, sink = await start_task(tmp_path / "missing")
    assert task.status == TaskStatus.INIT_FAILED
    assert events.task_statuses() == [TaskStatus.INITIALIZING, TaskStatus.INIT_FAILED]
    assert "avatar" in (task.reason or "")
    assert sink.closed
    await task.stop()
    assert task.status == TaskStatus.INIT_FAILED
    await assert_no_tasks_left()


class _LookaheadTracker(MouthTracker):
    """The energy tracker, holding each frame back until 40 ms of audio beyond it arrived,
    as a look-ahead tracker does: the runtime must pull audio that far ahead of its clock."""

    def __init__(self, fps: int) -> None:
        super().__init__(fps)
        self._inner = EnergyMouthTracker(fps=fps)
        self._ready: list[MouthShape] = []
        self._samples = 0
        self._emitted = 0

    @property
    def lookahead_ms(self) -> int:
        return 40

    def push_audio(self, pcm: np.ndarray) -> list[MouthShape]:
        self._ready += self._inner.push_audio(pcm)
        self._samples += len(pcm)
        out = []
        while self._ready and (self._emitted + 1) / self.fps + 0.04 <= self._samples / AUDIO_RATE:
            out.append(self._ready.pop(0))
            self._emitted += 1
        return out

    def flush(self) -> list[MouthShape]:
        out = self._ready + self._inner.flush()
        self._ready = []
        return out


@pytest.mark.parametrize(
    "fps, tracker",
    [(25, make_mouth_tracker), (30, make_mouth_tracker), (25, _LookaheadTracker)],
    ids=["25fps", "30fps", "lookahead"],
)
async def test_audio_drive_plays_exactly_with_moving_mouth(
    avatar: Path, speech, fps: int, tracker
) -> None:
    pcm = speech[: int(1.5 * AUDIO_RATE)]
    task, events, sink = await start_task(avatar, fps=fps, tracker_factory=tracker)
    await asyncio.sleep(0.2)
    task.enqueue("d1", file_source(pcm))
    async with asyncio.timeout(6):
        await events.wait_drive("d1", ENDED)
    await asyncio.sleep(0.3)
    await task.stop()

    assert events.drive_statuses("d1") == [
        DriveStatus.QUEUED,
        DriveStatus.DRIVING,
        DriveStatus.FINISHED,
    ]
    played = events.drive_time("d1", DriveStatus.FINISHED) - events.drive_time(
        "d1", DriveStatus.DRIVING
    )
    assert played >= len(pcm) / AUDIO_RATE
    # The sound sent is exactly the file, in consecutive chunks, then silence.
    out = sink.pcm("d1")
    assert np.array_equal(out[: len(pcm)], pcm) and not out[len(pcm) :].any()
    drive_idx = [c.index for _, c in sink.audio if c.drive_id == "d1"]
    assert drive_idx == list(range(drive_idx[0], drive_idx[0] + len(drive_idx)))
    # Room messages at start and end.
    msgs = [m["Data"] for _, m in sink.events if m["Cmd"] == 1001]
    assert msgs == [{"Status": 2, "DriveId": "d1"}, {"Status": 4, "DriveId": "d1"}]

    # The mouth follows the sound on the same clock: per video frame, the loudness of the audio
    # sent for that frame's time span correlates with how open the mouth is drawn.
    rest = sink.frames[0][1].rgba
    audio = sink.pcm().astype(np.float32)
    loud, opened = [], []
    for _, f in sink.frames:
        seg = audio[f.index * AUDIO_RATE // fps : (f.index + 1) * AUDIO_RATE // fps]
        if len(seg) >= AUDIO_RATE // fps:
            loud.append(float(np.sqrt(np.mean(seg**2))))
            opened.append(mouth_open(f.rgba, rest))
    loud_a, open_a = np.array(loud), np.array(opened)
    assert (open_a > 5).sum() >= 10, "the mouth should open while speech plays"
    loud_a = np.log1p(loud_a)
    corr = {
        lag: np.corrcoef(loud_a[max(0, lag) : len(loud_a) + min(0, lag)], open_a[max(0, -lag) : len(open_a) - max(0, lag)])[0, 1]
        for lag in range(-3, 4)
    }  # fmt: skip
    assert corr[0] > 0.6
    assert abs(max(corr, key=corr.get)) <= 1, f"mouth and sound are out of step: {corr}"
    # After the drive the mouth rests.
    end_frame = (drive_idx[-1] + 1) * CHUNK_SAMPLES * fps // AUDIO_RATE + 3
    after = [mouth_open(f.rgba, rest) for _, f in sink.frames if f.index > end_frame]
    assert after and max(after) == 0.0
    await assert_no_tasks_left()


async def test_queue_order_and_statuses(avatar: Path, speech) -> None:
    task, events, sink = await start_task(avatar)
    task.enqueue("d1", push_all(speech[: int(0.6 * AUDIO_RATE)]))
    task.enqueue("d2", file_source(speech[AUDIO_RATE : int(1.4 * AUDIO_RATE)]))
    assert task.drive_status("d2") == DriveStatus.QUEUED
    async with asyncio.timeout(4):
        await events.wait_drive("d1", {DriveStatus.DRIVING})
        assert task.drive_status("d2") == DriveStatus.QUEUED
        await events.wait_drive("d2", ENDED)
    await task.stop()
    order = [(d, s) for _, d, s, _ in events.drives]
    assert order == [
        ("d1", DriveStatus.QUEUED),
        ("d2", DriveStatus.QUEUED),
        ("d1", DriveStatus.DRIVING),
        ("d1", DriveStatus.FINISHED),
        ("d2", DriveStatus.DRIVING),
        ("d2", DriveStatus.FINISHED),
    ]
    idx1 = [c.index for _, c in sink.audio if c.drive_id == "d1"]
    idx2 = [c.index for _, c in sink.audio if c.drive_id == "d2"]
    assert idx1[-1] < idx2[0]
    assert len(sink.pcm("d2")) >= int(0.4 * AUDIO_RATE)
    await assert_no_tasks_left()


async def test_interrupt_silences_and_rests_within_100ms(avatar: Path, speech) -> None:
    task, events, sink = await start_task(avatar)
    task.enqueue("d1", file_source(speech[: 4 * AUDIO_RATE]))
    task.enqueue("d2", push_all(speech[:AUDIO_RATE]))
    async with asyncio.timeout(4):
        await events.wait_drive("d1", {DriveStatus.DRIVING})
    await asyncio.sleep(0.9)
    assert len(sink.pcm("d1")) >= int(0.6 * AUDIO_RATE)
    rest = sink.frames[0][1].rgba
    assert max(mouth_open(f.rgba, rest) for _, f in sink.frames) > 5
    t_int = time.monotonic()
    clock_int = task.clock_s
    task.interrupt()
    assert task.drive_status("d1") == DriveStatus.INTERRUPTED
    assert task.drive_status("d2") == DriveStatus.INTERRUPTED
    await asyncio.sleep(0.5)
    await task.stop()
    # Sound: every chunk sent after the interrupt is silence (the first one already is).
    after = [c for t, c in sink.audio if t > t_int]
    assert after and all(not c.pcm.any() and c.drive_id is None for c in after)
    # Picture: frames timed 100 ms or more after the interrupt show the mouth at rest.
    late = [f for _, f in sink.frames if f.index / 25 >= clock_int + 0.1]
    assert late and all(mouth_open(f.rgba, rest) == 0.0 for f in late)
    assert DriveStatus.FINISHED not in events.drive_statuses("d1")
    assert events.drive_statuses("d2") == [DriveStatus.QUEUED, DriveStatus.INTERRUPTED]
    assert not sink.pcm("d2").any()
    await assert_no_tasks_left()


async def test_enqueue_with_interrupt_replaces_current(avatar: Path, speech) -> None:
    task, events, sink = await start_task(avatar)
    task.enqueue("d1", file_source(speech[: 3 * AUDIO_RATE]))
    async with asyncio.timeout(4):
        await events.wait_drive("d1", {DriveStatus.DRIVING})
        await asyncio.sleep(0.3)
        task.enqueue("d2", push_all(speech[: int(0.4 * AUDIO_RATE)]), interrupt=True)
        await events.wait_drive("d2", ENDED)
    await task.stop()
    assert events.drive_statuses("d1")[-1] == DriveStatus.INTERRUPTED
    assert events.drive_statuses("d2") == [
        DriveStatus.QUEUED,
        DriveStatus.DRIVING,
        DriveStatus.FINISHED,
    ]
    assert np.array_equal(sink.pcm("d2")[: int(0.4 * AUDIO_RATE)], speech[: int(0.4 * AUDIO_RATE)])
    await assert_no_tasks_left()


async def test_failing_sources_fail_their_drive_only(avatar: Path, speech) -> None:
    task, events, sink = await start_task(avatar)
    pcm = speech[: 2 * AUDIO_RATE]
    task.enqueue("broken", file_source(pcm, fail_after=20_000))
    task.enqueue("garbage", AudioBytesSource(byte_stream(b"<html>not audio</html>" * 50)))
    task.enqueue("ok", push_all(speech[: int(0.3 * AUDIO_RATE)]))
    async with asyncio.timeout(5):
        await events.wait_drive("ok", ENDED)
    await task.stop()
    assert events.drive_statuses("broken")[-1] == DriveStatus.FAILED
    assert "download broke" in (events.drive_reason("broken") or "")
    assert events.drive_statuses("garbage")[-1] == DriveStatus.FAILED
    assert events.drive_reason("garbage")
    assert events.drive_statuses("ok")[-1] == DriveStatus.FINISHED
    # Nothing of the broken drive plays after it failed.
    t_fail = events.drive_time("broken", DriveStatus.FAILED)
    assert not any(c.drive_id == "broken" for t, c in sink.audio if t > t_fail + 0.001)
    assert len(sink.pcm("broken")) < len(pcm)
    await assert_no_tasks_left()


async def test_push_source_gap_closes_mouth_and_waits_for_end(avatar: Path, speech) -> None:
    task, events, sink = await start_task(avatar)
    src = PushSource(jitter_ms=60)
    task.enqueue("ws", src)
    src.push(speech[: int(0.6 * AUDIO_RATE)])
    await asyncio.sleep(1.2)  # the pushed audio has played; then nothing arrives for a while
    assert task.drive_status("ws") == DriveStatus.DRIVING
    t_gap = time.monotonic()
    src.push(speech[AUDIO_RATE : int(1.6 * AUDIO_RATE)].tobytes())  # bytes work as well
    await asyncio.sleep(0.3)
    src.end()
    async with asyncio.timeout(3):
        await events.wait_drive("ws", ENDED)
    await task.stop()
    assert events.drive_statuses("ws")[-1] == DriveStatus.FINISHED
    assert task.stats.audio_underrun_chunks > 10
    assert src.closed and not src.push(speech[:320])
    played = sink.pcm("ws")
    voiced = np.concatenate(
        [speech[: int(0.6 * AUDIO_RATE)], speech[AUDIO_RATE : int(1.6 * AUDIO_RATE)]]
    )
    nz = played[np.abs(played) > 0]
    assert np.array_equal(nz, voiced[np.abs(voiced) > 0])  # all of it, in order, nothing else
    # During the gap the mouth is closed (frames between 0.3 s after the first part and t_gap).
    rest = sink.frames[0][1].rgba
    first = next(c.index for _, c in sink.audio if c.drive_id == "ws") * 0.02
    gap = [f for t, f in sink.frames if f.index / 25 > first + 0.9 and t < t_gap - 0.05]
    assert gap and all(mouth_open(f.rgba, rest) < 1.0 for f in gap)
    await assert_no_tasks_left()


async def test_idle_time_stops_the_task(avatar: Path) -> None:
    task, events, _ = await start_task(avatar, max_idle_s=0.4)
    async with asyncio.timeout(3):
        await task.wait_stopped()
    assert events.task_statuses()[-1] == TaskStatus.STOPPED
    assert "idle" in (task.reason or "")
    await assert_no_tasks_left()


async def test_stop_interrupts_running_and_queued_drives(avatar: Path, speech) -> None:
    task, events, sink = await start_task(avatar)
    task.enqueue("d1", file_source(speech[: 3 * AUDIO_RATE]))
    task.enqueue("d2", push_all(speech[:AUDIO_RATE]))
    async with asyncio.timeout(3):
        await events.wait_drive("d1", {DriveStatus.DRIVING})
    await asyncio.gather(task.stop("bye"), task.stop())
    assert events.task_statuses()[-2:] == [TaskStatus.STOPPING, TaskStatus.STOPPED]
    assert events.tasks[-1][3] == "bye"
    for d in ("d1", "d2"):
        assert events.drive_statuses(d)[-1] == DriveStatus.INTERRUPTED
        assert "bye" in (events.drive_reason(d) or "")
    assert sink.closed
    await assert_no_tasks_left()


class _RecordingActions(ActionPlayer):
    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[str, float]] = []

    def start(self, name: str, t: float) -> None:
        self.started.append((name, t))
        super().start(name, t)


async def test_do_action_over_speech_and_unknown_names(avatar: Path, speech) -> None:
    task, events, _ = await start_task(avatar)
    actions = _RecordingActions()
    task._actions = actions  # observe what the runtime starts
    task.enqueue("d1", push_all(speech[: int(0.6 * AUDIO_RATE)]))
    async with asyncio.timeout(3):
        await events.wait_drive("d1", {DriveStatus.DRIVING})
        await asyncio.sleep(0.1)
        task.do_action("nod")
        task.do_action("no_such_action")  # the API rejects these; the runtime must not crash
        await events.wait_drive("d1", ENDED)
    await task.stop()
    assert [n for n, _ in actions.started] == ["nod", "no_such_action"]
    assert events.drive_statuses("d1")[-1] == DriveStatus.FINISHED
    assert "nod" in task.action_names()
    await assert_no_tasks_left()


async def test_frames_dropped_when_rendering_falls_behind_audio_steady(avatar: Path) -> None:
    pool = ThreadPoolExecutor(1)
    try:
        task, _, sink = await start_task(avatar, executor=pool, max_inflight=1)
        await asyncio.sleep(0.3)
        before = task.stats.frames_dropped
        blocker = asyncio.get_running_loop().run_in_executor(pool, time.sleep, 0.5)
        await blocker
        await asyncio.sleep(0.3)
        await task.stop()
    finally:
        pool.shutdown()
    st = task.stats
    assert st.frames_dropped - before >= 8  # ~12 frames fell due while the renderer was busy
    idx = [c.index for _, c in sink.audio]
    assert idx == list(range(len(idx)))  # audio went on without a gap
    assert st.audio_max_late_ms < 250  # the loop was never blocked by the busy renderer
    frames = [f.index for _, f in sink.frames]
    assert frames == sorted(set(frames))
    await assert_no_tasks_left()


async def test_jitter_buffer_absorbs_late_pushes(avatar: Path, speech) -> None:
    """Live audio in 20 ms pieces, each up to 30 ms late: the 40 ms jitter buffer plays it
    without gaps (with no buffer, the same pattern runs dry several times)."""
    task, events, sink = await start_task(avatar)
    src = PushSource(jitter_ms=40)
    task.enqueue("live", src)
    loop = asyncio.get_running_loop()
    rng = np.random.default_rng(1)
    t0 = loop.time()
    pcm = speech[: 2 * AUDIO_RATE]
    for i in range(0, len(pcm), CHUNK_SAMPLES):
        await asyncio.sleep(max(0.0, t0 + i / AUDIO_RATE + rng.uniform(0, 0.03) - loop.time()))
        src.push(pcm[i : i + CHUNK_SAMPLES])
    src.end()
    async with asyncio.timeout(3):
        await events.wait_drive("live", ENDED)
    await task.stop()
    assert events.drive_statuses("live")[-1] == DriveStatus.FINISHED
    assert np.array_equal(sink.pcm("live")[sink.pcm("live") != 0], pcm[pcm != 0])
    if task.stats.audio_max_late_ms > 35:  # the loop itself stalled longer than the buffer
        pytest.skip("machine too loaded to judge the jitter buffer")
    assert task.stats.audio_underrun_chunks <= 1
    await assert_no_tasks_left()


class _BrokenSink(CollectingSink):
    def on_video(self, frame) -> None:
        raise RuntimeError("viewer went away")


async def test_several_tasks_at_once_and_a_failing_sink(avatar: Path, speech) -> None:
    started = [await start_task(avatar) for _ in range(4)]
    broken = _BrokenSink()
    started[0][0].add_sink(broken)
    for n, (task, _, _) in enumerate(started):
        task.enqueue(f"d{n}", push_all(speech[n * 8000 : n * 8000 + AUDIO_RATE]))
    async with asyncio.timeout(5):
        for n, (_, events, _) in enumerate(started):
            await events.wait_drive(f"d{n}", ENDED)
    await asyncio.gather(*(task.stop() for task, _, _ in started))
    for n, (_task, events, sink) in enumerate(started):
        assert events.drive_statuses(f"d{n}")[-1] == DriveStatus.FINISHED
        want = speech[n * 8000 : n * 8000 + AUDIO_RATE]
        assert np.array_equal(sink.pcm(f"d{n}")[: len(want)], want)
        idx = [c.index for _, c in sink.audio]
        assert idx == list(range(len(idx)))
        assert len(sink.frames) > 0
    # The failing viewer was dropped; the task and its other sink went on.
    assert not broken.closed and started[0][2].closed
    await assert_no_tasks_left()


class _SlowPool(ThreadPoolExecutor):
    """A render pool whose jobs take 30 ms longer, as a heavier renderer's would."""

    def submit(self, fn, /, *args, **kwargs):
        def slow():
            time.sleep(0.03)
            return fn(*args, **kwargs)

        return super().submit(slow)


async def test_frames_render_ahead_and_leave_with_their_audio(avatar: Path) -> None:
    pool = _SlowPool(2)
    try:
        task, _, sink = await start_task(avatar, executor=pool)
        await asyncio.sleep(2.0)
        await task.stop()
    finally:
        pool.shutdown()
    assert 0.03 <= task._frames.ahead <= 0.12  # learnt from the render latency
    sent_at = {c.index: t for t, c in sink.audio}
    # A frame goes out when the audio chunk of its start time does, not 30 ms after it.
    offsets = [t - sent_at[f.index * 2] for t, f in sink.frames[10:] if f.index * 2 in sent_at]
    assert len(offsets) > 20
    assert abs(float(np.median(offsets))) < 0.01
    assert task.stats.frames_dropped <= 0.1 * len(sink.frames)


class _CountingTracker(MouthTracker):
    """The default tracker, recording how often and with how much audio it is called."""

    def __init__(self, fps: int, pushes: list[int]) -> None:
        super().__init__(fps)
        self._inner = make_mouth_tracker(fps)
        self.pushes = pushes  # frames out per call, appended to the caller's list

    @property
    def lookahead_ms(self) -> int:
        return self._inner.lookahead_ms

    def push_audio(self, pcm: np.ndarray) -> list[MouthShape]:
        out = self._inner.push_audio(pcm)
        self.pushes.append(len(out))
        return out

    def flush(self) -> list[MouthShape]:
        return self._inner.flush()


async def test_tracker_is_fed_once_per_frame_it_can_emit(avatar: Path, speech) -> None:
    """The runtime gives the tracker its audio when a frame can come out (once per frame at
    25 fps, not once per 20 ms chunk), and the mouth still follows the sound."""
    pushes: list[int] = []
    pcm = speech[: int(2.0 * AUDIO_RATE)]
    task, events, sink = await start_task(
        avatar, fps=25, tracker_factory=lambda fps: _CountingTracker(fps, pushes)
    )
    await asyncio.sleep(0.2)
    task.enqueue("d1", file_source(pcm))
    async with asyncio.timeout(6):
        await events.wait_drive("d1", ENDED)
    await task.stop()
    chunks = len(pcm) // CHUNK_SAMPLES
    assert len(pushes) <= chunks // 2 + 2  # one call per two chunks at 25 fps
    assert sum(1 for n in pushes if n == 0) <= 2  # hardly a call that yields no frame
    assert sum(pushes) >= 45  # 2 s at 25 fps, less the look-ahead emitted by flush
    rest = sink.frames[0][1].rgba
    assert sum(mouth_open(f.rgba, rest) > 5 for _, f in sink.frames) >= 10
    await assert_no_tasks_left()
