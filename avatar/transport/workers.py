"""Media worker processes: WebRTC viewers served outside the process that renders.

aiortc does its RTP, SRTP and pacing work in Python, so one process saturates near one core
(about five 512×512 streams), and then audio starves first. With `DH_MEDIA_WORKERS=N`, viewers
are served by N worker processes instead: the server process keeps the stream tasks and hands
each watched task's media to one worker (pictures through shared memory, 20 ms PCM chunks and
room messages through a pipe); the worker runs the peer connections, Opus and video encoders.
Signalling stays in the server (WHEP); the worker only answers the offer it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import multiprocessing as mp
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from avatar.types import AudioChunk, VideoFrame

log = logging.getLogger(__name__)

SLOTS = 4  # pictures in flight per task between the server and its worker


# ---------------------------------------------------------------- server side


class MediaWorker:
    """One worker process and the pipe to it (written by a thread: the loop never blocks)."""

    def __init__(self, index: int, ice_hosts: list[str] | None) -> None:
        ctx = mp.get_context("spawn")
        self.index = index
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=worker_main, args=(child, ice_hosts), name=f"media-{index}", daemon=True
        )
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name=f"media-{index}-pipe", daemon=True)
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future] = {}
        self.on_viewer_closed: Callable[[str], None] = lambda _id: None
        self.on_exit: Callable[[MediaWorker], None] = lambda _w: None
        self.alive = True
        self.tasks = 0

    def start(self) -> None:
        self.process.start()
        self._writer.start()
        asyncio.get_running_loop().add_reader(self.conn.fileno(), self._read)

    def send(self, msg: tuple) -> None:
        self._out.put(msg)

    async def request(self, msg: tuple, timeout_s: float = 30.0):
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self.send((msg[0], rid, *msg[1:]))
        try:
            return await asyncio.wait_for(fut, timeout_s)
        finally:
            self._pending.pop(rid, None)

    def _write(self) -> None:
        while True:
            msg = self._out.get()
            if msg is None:
                return
            try:
                self.conn.send(msg)
            except (OSError, ValueError):
                return  # the worker is gone

    def _read(self) -> None:
        try:
            while self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "reply":
                    fut = self._pending.get(msg[1])
                    if fut is not None and not fut.done():
                        fut.set_result(msg[2])
                elif msg[0] == "closed":
                    self.on_viewer_closed(msg[1])
        except (EOFError, OSError):
            # The worker died: fail what waits on it and let its viewers go.
            self.alive = False
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            log.error("media worker %d exited", self.index)
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(RuntimeError("media worker exited"))
            self.on_exit(self)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
        self._out.put(("exit",))
        self._out.put(None)
        await asyncio.to_thread(self.process.join, 5)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


class MediaWorkerPool:
    """N media workers; each watched task goes to the least busy one."""

    def __init__(self, n: int, ice_hosts: list[str] | None) -> None:
        self.workers = [MediaWorker(i, ice_hosts) for i in range(n)]
        self.viewers: dict[str, RemoteViewer] = {}
        for w in self.workers:
            w.on_viewer_closed = self._viewer_closed
            w.on_exit = self._worker_exited

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def pick(self) -> MediaWorker:
        alive = [w for w in self.workers if w.alive]
        if not alive:
            raise RuntimeError("no media worker is running")
        return min(alive, key=lambda w: w.tasks)

    def _worker_exited(self, worker: MediaWorker) -> None:
        for v in list(self.viewers.values()):
            if v.output.worker is worker:
                v.schedule_close(notify=False)

    def _viewer_closed(self, viewer_id: str) -> None:
        v = self.viewers.get(viewer_id)
        if v is not None:
            v.schedule_close(notify=False)

    async def close(self) -> None:
        for w in self.workers:
            await w.close()


class RemoteStreamOutput:
    """The MediaSink of a task whose viewers live in a media worker."""

    def __init__(self, task, pool: MediaWorkerPool) -> None:
        self.task = task
        self.pool = pool
        self.worker = pool.pick()
        self.key = uuid.uuid4().hex
        self.viewers: list[RemoteViewer] = []
        self.on_empty: list[Callable[[RemoteStreamOutput], None]] = []
        self._attached = False
        self._shm: SharedMemory | None = None
        self._frames: np.ndarray | None = None
        self._seq: np.ndarray | None = None

    def _open(self) -> None:
        cfg = self.task.config
        h, w = cfg.scene.height, cfg.scene.width
        size = SLOTS * h * w * 4 + SLOTS * 8
        self._shm = SharedMemory(create=True, size=size)
        self._frames = np.ndarray((SLOTS, h, w, 4), np.uint8, self._shm.buf)
        self._seq = np.ndarray((SLOTS,), np.int64, self._shm.buf, offset=SLOTS * h * w * 4)
        self._seq[:] = -1
        conf = {
            "room_id": cfg.room_id,
            "stream_id": cfg.stream_id,
            "task_id": cfg.task_id,
            "fps": cfg.fps,
            "bitrate": cfg.bitrate,
            "codec": cfg.codec,
            "size": (w, h),
        }
        self.worker.tasks += 1
        self.worker.send(("open", self.key, conf, self._shm.name))

    def attach(self, viewer: RemoteViewer) -> None:
        self.viewers.append(viewer)
        if not self._attached:
            self._attached = True
            self.task.add_sink(self)

    def detach(self, viewer: RemoteViewer) -> None:
        with contextlib.suppress(ValueError):
            self.viewers.remove(viewer)
        if not self.viewers:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._attached:
            self._attached = False
            with contextlib.suppress(Exception):
                self.task.remove_sink(self)
        if self._shm is not None:
            self.worker.send(("close", self.key))
            self.worker.tasks -= 1
            self._frames = self._seq = None
            self._shm.close()
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()
            self._shm = None
        for cb in self.on_empty:
            cb(self)

    # ---- MediaSink ----

    def on_video(self, frame: VideoFrame) -> None:
        if self._frames is None or self._seq is None:
            return
        slot = frame.index % SLOTS
        img = frame.rgba
        if img.shape != self._frames.shape[1:]:
            return  # not the configured size: the contract says it is
        self._seq[slot] = -1  # being written
        np.copyto(self._frames[slot], img)
        self._seq[slot] = frame.index
        self.worker.send(("v", self.key, slot, frame.index))

    def on_audio(self, chunk: AudioChunk) -> None:
        if self._shm is not None:
            self.worker.send(("a", self.key, chunk.index, chunk.pcm.astype(np.int16).tobytes()))

    def on_event(self, message: dict) -> None:
        if self._shm is not None:
            self.worker.send(("e", self.key, json.dumps(message, ensure_ascii=False)))

    def on_close(self) -> None:
        for v in list(self.viewers):
            v.schedule_close()


class RemoteViewer:
    """The server's handle on a viewer that a media worker serves."""

    def __init__(self, output: RemoteStreamOutput) -> None:
        self.id = uuid.uuid4().hex
        self.output = output
        self.task = output.task
        self.on_closed: list[Callable[[], None]] = []
        self._closed = False
        self._close_task: asyncio.Task | None = None
        self.negotiated_codec: str | None = None

    async def answer(self, offer_sdp: str) -> str:
        if self.output._shm is None:
            self.output._open()
        self.output.pool.viewers[self.id] = self
        self.output.attach(self)
        ok, result = await self.output.worker.request(
            ("offer", self.output.key, self.id, offer_sdp)
        )
        if not ok:
            raise ValueError(result)
        self.negotiated_codec = result["codec"]
        return result["sdp"]

    def schedule_close(self, notify: bool = True) -> None:
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self.close(notify))

    async def close(self, notify: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        if notify:
            self.output.worker.send(("bye", self.id))
        self.output.pool.viewers.pop(self.id, None)
        self.output.detach(self)
        for cb in self.on_closed:
            cb()

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> dict:
        return {"id": self.id, "worker": self.output.worker.index, "codec": self.negotiated_codec}


# ---------------------------------------------------------------- worker side


@dataclass
class _Config:
    task_id: str
    room_id: str
    stream_id: str
    fps: int
    bitrate: int
    codec: str


class _TaskStub:
    """What a StreamOutput in a worker needs of its task: the settings (media comes by pipe)."""

    def __init__(self, config: _Config) -> None:
        self.config = config

    def add_sink(self, sink) -> None:
        pass

    def remove_sink(self, sink) -> None:
        pass


def worker_main(conn: Connection, ice_hosts: list[str] | None) -> None:
    """Entry point of a media worker process."""
    from avatar.stream.render_host import name_thread

    name_thread("dh-media")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(conn, ice_hosts))


async def _serve(conn: Connection, ice_hosts: list[str] | None) -> None:
    from avatar.transport.ice import configure_ice
    from avatar.transport.webrtc import StreamOutput, WebRTCViewer

    configure_ice(ice_hosts or None)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    outputs: dict[str, tuple[StreamOutput, SharedMemory, np.ndarray, np.ndarray]] = {}
    viewers: dict[str, WebRTCViewer] = {}
    tasks: set[asyncio.Task] = set()
    lock = threading.Lock()

    def reply(*msg) -> None:
        with lock:
            conn.send(msg)

    async def offer(rid: int, key: str, viewer_id: str, sdp: str) -> None:
        entry = outputs.get(key)
        if entry is None:
            reply("reply", rid, (False, "unknown stream"))
            return
        viewer = WebRTCViewer(entry[0])
        viewer.id = viewer_id
        viewers[viewer_id] = viewer
        viewer.on_closed.append(lambda: _closed(viewer_id))
        try:
            answer = await viewer.answer(sdp)
        except Exception as e:
            await viewer.close()
            reply("reply", rid, (False, str(e)))
            return
        reply("reply", rid, (True, {"sdp": answer, "codec": viewer.negotiated_codec}))

    def _closed(viewer_id: str) -> None:
        if viewers.pop(viewer_id, None) is not None:
            with contextlib.suppress(OSError):
                reply("closed", viewer_id)

    def spawn(coro) -> None:
        t = loop.create_task(coro)
        tasks.add(t)
        t.add_done_callback(tasks.discard)

    def handle(msg: tuple) -> None:
        kind = msg[0]
        if kind == "v":
            _, key, slot, index = msg
            entry = outputs.get(key)
            if entry is None:
                return
            out, _shm, frames, seq = entry
            img = frames[slot].copy()
            if seq[slot] != index:
                return  # overwritten while we were behind: skip this picture
            out.on_video(VideoFrame(index, img))
        elif kind == "a":
            _, key, index, data = msg
            entry = outputs.get(key)
            if entry is not None:
                entry[0].on_audio(AudioChunk(index, np.frombuffer(data, np.int16)))
        elif kind == "e":
            entry = outputs.get(msg[1])
            if entry is not None:
                entry[0].on_event(json.loads(msg[2]))
        elif kind == "open":
            _, key, conf, shm_name = msg
            w, h = conf.pop("size")
            stub = _TaskStub(_Config(**conf))
            out = StreamOutput(stub)
            shm = SharedMemory(name=shm_name)
            frames = np.ndarray((SLOTS, h, w, 4), np.uint8, shm.buf)
            seq = np.ndarray((SLOTS,), np.int64, shm.buf, offset=SLOTS * h * w * 4)
            outputs[key] = (out, shm, frames, seq)
        elif kind == "offer":
            _, rid, key, viewer_id, sdp = msg
            spawn(offer(rid, key, viewer_id, sdp))
        elif kind == "bye":
            v = viewers.get(msg[1])
            if v is not None:
                spawn(v.close())
        elif kind == "close":
            entry = outputs.pop(msg[1], None)
            if entry is not None:
                out, shm, _f, _s = entry
                out.on_close()
                del _f, _s
                entry = None
                spawn(_release(shm))
        elif kind == "exit" and not done.done():
            done.set_result(None)

    async def _release(shm: SharedMemory) -> None:
        await asyncio.sleep(1.0)  # viewers finish closing first
        with contextlib.suppress(BufferError):
            shm.close()

    def readable() -> None:
        try:
            while conn.poll():
                handle(conn.recv())
        except (EOFError, OSError):
            if not done.done():
                done.set_result(None)

    loop.add_reader(conn.fileno(), readable)
    await done
    loop.remove_reader(conn.fileno())
    for v in list(viewers.values()):
        with contextlib.suppress(Exception):
            await v.close()
