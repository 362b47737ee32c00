"""Where a stream task's frames are rendered and composed: a thread pool or worker processes.

`ThreadRenderHost` runs the avatar's renderer and the compositor in a shared thread pool; that is
enough when their native code releases the GIL. Renderers with much Python per frame hold the
GIL and slow the event loop down; `ProcessRenderHost` keeps the renderer inside a worker process
of a `RenderProcessPool` (one process per core, each hosting the renderers of several tasks),
sends it the small per-frame parameters and gets the composed frame back through shared memory.
A process-hosted task may have `FRAME_SLOTS` frames rendering at once: the worker answers in
order, so a worker held up for a moment delays the task's frames instead of dropping them.

Both load the avatar themselves (`open`), render a task's frames one after the other, in order
(renderers keep per-stream state), and forward the avatar's own actions (`start_action`) to its
renderer.

`DH_RENDER_PROCESSES` (0: threads, N, or "auto": one per core) makes `default_render_processes()`
the pool that stream tasks render in when they are given none. Render threads and processes are
named (`dh-render`), so that `top -H` and the capacity benchmark can tell where the CPU goes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import itertools
import logging
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from concurrent.futures import Executor, ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from avatar.compose import Compositor, Scene
from avatar.registry import load_renderer
from avatar.types import AvatarRenderer, FrameParams

log = logging.getLogger(__name__)

Rendered = tuple[np.ndarray, float]  # composed RGBA frame, render + compose time in ms
FRAME_SLOTS = 2  # frames of one process-hosted task in flight at once (one shared slot each)


class RenderHost(Protocol):
    """A task's renderer and compositor, wherever they run. `max_inflight`: frames it may
    render at once, in order (None: as many as the caller's own limit)."""

    action_names: list[str]
    max_inflight: int | None

    async def open(self) -> None: ...

    def render(self, params: FrameParams, t: float) -> asyncio.Future[Rendered]: ...

    def start_action(self, name: str, t: float) -> None: ...

    async def close(self) -> None: ...


def load_avatar(folder: Path, scene: Scene) -> tuple[AvatarRenderer, Compositor]:
    if not (folder / "avatar.json").is_file():
        raise FileNotFoundError(f"no avatar in {folder.name}")
    renderer = load_renderer(folder)
    return renderer, Compositor(scene, renderer.size, avatar_opaque=renderer.opaque)


def render_frame(
    renderer: AvatarRenderer,
    compositor: Compositor,
    params: FrameParams,
    t: float,
    out: np.ndarray | None = None,
) -> Rendered:
    """One composed frame (into `out` if given) and the milliseconds it took."""
    t_start = time.perf_counter()
    frame = compositor.compose(renderer.render(params, t), out)
    return frame, (time.perf_counter() - t_start) * 1000


def name_thread(name: str) -> None:
    """Give the calling OS thread a name (Linux: shown by top -H and /proc/*/task/*/comm)."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


# --- threads ------------------------------------------------------------------------------------

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def named_pool(name: str) -> ThreadPoolExecutor:
    """The process's bounded thread pool for `name` (one thread per core, at least two; threads
    named `dh-<name>` for top -H and the capacity benchmark), made on first use."""
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(
                max_workers=max(2, os.cpu_count() or 2),
                thread_name_prefix=name,
                initializer=name_thread,
                initargs=(f"dh-{name}",),
            )
        return pool


def render_pool() -> ThreadPoolExecutor:
    """The bounded thread pool all stream tasks render in (one per process, made on first use).

    OpenCV and NumPy release the GIL in their kernels, so threads use every core."""
    return named_pool("render")


class ThreadRenderHost:
    """Renderer and compositor in this process; frames made in a thread pool."""

    def __init__(self, folder: Path, scene: Scene, executor: Executor | None = None) -> None:
        self.folder = folder
        self.scene = scene
        self._executor = executor
        self._renderer: AvatarRenderer | None = None
        self._compositor: Compositor | None = None
        self.action_names: list[str] = []
        self.max_inflight: int | None = None

    def _pool(self) -> Executor:
        return self._executor or render_pool()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._renderer, self._compositor = await loop.run_in_executor(
            self._pool(), load_avatar, self.folder, self.scene
        )
        self.action_names = list(self._renderer.action_names())

    def render(self, params: FrameParams, t: float) -> asyncio.Future[Rendered]:
        assert self._renderer is not None and self._compositor is not None
        return asyncio.get_running_loop().run_in_executor(
            self._pool(), render_frame, self._renderer, self._compositor, params, t
        )

    def start_action(self, name: str, t: float) -> None:
        # Read by the render thread: one attribute store in the renderer, keyed by stream time.
        start = getattr(self._renderer, "start_action", None)
        if start is not None:
            start(name, t)

    async def close(self) -> None:
        self._renderer = self._compositor = None


# --- processes ----------------------------------------------------------------------------------


def _worker_main(conn: Connection) -> None:
    """A render worker: hosts renderers by key, answers one request at a time, in order.
    Requests that answer name a request id (task key, frame slot); the others a task key."""
    name_thread("dh-render-proc")
    hosted: dict[int, tuple[AvatarRenderer, Compositor, SharedMemory, tuple[int, ...]]] = {}
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        kind, key = msg[0], msg[1]
        try:
            if kind == "render":
                renderer, compositor, shm, shape = hosted[key[0]]
                size = shape[0] * shape[1] * shape[2]
                slot = np.ndarray(shape, np.uint8, buffer=shm.buf, offset=key[1] * size)
                try:
                    _, ms = render_frame(renderer, compositor, msg[2], msg[3], out=slot)
                finally:
                    del slot  # a view left alive would keep the segment from closing
                conn.send(("ok", key, ms))
            elif kind == "open":
                folder, scene, shm_name = msg[2], msg[3], msg[4]
                renderer, compositor = load_avatar(folder, scene)
                shm = _attach(shm_name)
                hosted[key[0]] = (renderer, compositor, shm, (scene.height, scene.width, 4))
                conn.send(("ok", key, list(renderer.action_names())))
            elif kind == "action":
                start = getattr(hosted[key][0], "start_action", None)
                if start is not None:
                    start(msg[2], msg[3])
            elif kind == "close":
                entry = hosted.pop(key, None)
                if entry is not None:
                    entry[2].close()
            elif kind == "stop":
                return
        except Exception as exc:
            if kind in ("render", "open"):
                detail = f"{type(exc).__name__}: {exc}"
                if kind == "render":
                    detail += "\n" + traceback.format_exc(limit=3)
                with contextlib.suppress(OSError, ValueError):
                    conn.send(("error", key, detail))


def _attach(name: str) -> SharedMemory:
    """Open the parent's segment. The parent owns and unlinks it; a spawned worker shares the
    parent's resource tracker, where this second registration of the same name is a no-op."""
    return SharedMemory(name=name)


class _Worker:
    """The parent's end of one worker process."""

    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.load = 0  # tasks hosted
        self.pending: dict[Any, asyncio.Future[Any]] = {}  # request id -> its answer
        self.loop: asyncio.AbstractEventLoop | None = None
        self.alive = True

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.loop is loop:
            return
        if self.loop is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.conn.fileno())
        self.loop = loop
        loop.add_reader(self.conn.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        try:
            while self.conn.poll():
                status, key, value = self.conn.recv()
                fut = self.pending.pop(key, None)
                if fut is None or fut.done():
                    continue
                if status == "ok":
                    fut.set_result(value)
                else:
                    fut.set_exception(RuntimeError(value))
        except (EOFError, OSError):
            self._died()

    def _died(self) -> None:
        self.alive = False
        if self.loop is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.conn.fileno())
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(RuntimeError("render worker process died"))
        self.pending.clear()

    def request(self, msg: tuple) -> asyncio.Future[Any]:
        """Send a request whose id (`msg[1]`) is not in flight; its answer comes to the future."""
        loop = asyncio.get_running_loop()
        self.attach(loop)
        fut: asyncio.Future[Any] = loop.create_future()
        rid = msg[1]
        if not self.alive:
            fut.set_exception(RuntimeError("render worker process died"))
            return fut
        if rid in self.pending:
            fut.set_exception(RuntimeError("that frame slot of the task is still rendering"))
            return fut
        self.pending[rid] = fut
        try:
            self.conn.send(msg)
        except (OSError, ValueError) as exc:
            self.pending.pop(rid, None)
            fut.set_exception(RuntimeError(f"render worker unreachable: {exc}"))
            self._died()
        return fut

    def tell(self, msg: tuple) -> None:
        if self.alive:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(msg)

    def stop(self) -> None:
        self.tell(("stop", 0))
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.conn.fileno())
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=1)
        self.conn.close()


class RenderProcessPool:
    """Worker processes (spawned, one per core by default) that host task renderers.

    Made once by the server and shared by its tasks; `close()` ends the processes."""

    def __init__(self, workers: int | None = None) -> None:
        ctx = mp.get_context("spawn")  # no fork: the parent has threads and an event loop
        self._workers = [_Worker(ctx) for _ in range(workers or max(1, os.cpu_count() or 1))]
        self._keys = itertools.count(1)

    def _pick(self) -> _Worker:
        alive = [w for w in self._workers if w.alive] or self._workers
        return min(alive, key=lambda w: w.load)

    def host(self, folder: Path, scene: Scene) -> ProcessRenderHost:
        return ProcessRenderHost(self, folder, scene)

    def close(self) -> None:
        for w in self._workers:
            w.stop()


class ProcessRenderHost:
    """A task's renderer living in a worker process; frames come back in shared memory, one
    slot per frame in flight (`FRAME_SLOTS`, used in turn)."""

    max_inflight = FRAME_SLOTS

    def __init__(self, pool: RenderProcessPool, folder: Path, scene: Scene) -> None:
        self.folder = folder
        self.scene = scene
        self._pool = pool
        self._worker: _Worker | None = None
        self._key = next(pool._keys)
        self._shm: SharedMemory | None = None
        self._slots: list[np.ndarray] = []
        self._next_slot = 0
        self.action_names: list[str] = []

    async def open(self) -> None:
        w, s = self._pool._pick(), self.scene
        size = max(1, s.width * s.height * 4)
        self._shm = SharedMemory(create=True, size=size * FRAME_SLOTS)
        self._slots = [
            np.ndarray((s.height, s.width, 4), np.uint8, buffer=self._shm.buf, offset=i * size)
            for i in range(FRAME_SLOTS)
        ]
        self._worker = w
        w.load += 1
        try:
            self.action_names = await w.request(
                ("open", (self._key, -1), self.folder, s, self._shm.name)
            )
        except BaseException:
            await self.close()
            raise

    def render(self, params: FrameParams, t: float) -> asyncio.Future[Rendered]:
        """Render in the next slot; a caller keeps at most `max_inflight` frames in flight
        (more fail: the slot is still in use)."""
        assert self._worker is not None and self._slots
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Rendered] = loop.create_future()
        slot = self._next_slot
        self._next_slot = (slot + 1) % FRAME_SLOTS
        out = self._slots[slot]
        req = self._worker.request(("render", (self._key, slot), params, t))

        def copy_out(f: asyncio.Future[Any]) -> None:
            if done.cancelled():
                return
            if f.cancelled():
                done.cancel()
            elif f.exception() is not None:
                done.set_exception(f.exception())  # type: ignore[arg-type]
            else:
                done.set_result((out.copy(), f.result()))  # the slot is reused next frame

        req.add_done_callback(copy_out)
        return done

    def start_action(self, name: str, t: float) -> None:
        if self._worker is not None:
            self._worker.tell(("action", self._key, name, t))

    async def close(self) -> None:
        w, self._worker = self._worker, None
        if w is not None:
            w.load -= 1
            pending = {w.pending.get((self._key, i)) for i in range(-1, FRAME_SLOTS)} - {None}
            if pending:  # let the frames in flight land before the memory goes
                await asyncio.wait(pending, timeout=2.0)
            w.tell(("close", self._key))
        self._slots = []
        if self._shm is not None:
            shm, self._shm = self._shm, None
            with contextlib.suppress(BufferError):  # a view still alive: freed when it goes
                shm.close()
            with contextlib.suppress(FileNotFoundError):
                shm.unlink()


# --- the default pool ---------------------------------------------------------------------------

_default: RenderProcessPool | None = None
_default_lock = threading.Lock()


def render_processes_setting(value: str | None = None) -> int:
    """Worker processes asked for by `DH_RENDER_PROCESSES` (0: render in threads)."""
    raw = (os.environ.get("DH_RENDER_PROCESSES", "0") if value is None else value).strip()
    if raw.lower() == "auto":
        return max(1, os.cpu_count() or 1)
    return max(0, int(raw or 0))


def default_render_processes() -> RenderProcessPool | None:
    """The process-wide render pool of `DH_RENDER_PROCESSES`, made on first use (None: threads).
    Its processes end with this one."""
    global _default
    with _default_lock:
        if _default is None:
            n = render_processes_setting()
            if n <= 0:
                return None
            _default = RenderProcessPool(n)
            atexit.register(_default.close)
        return _default
