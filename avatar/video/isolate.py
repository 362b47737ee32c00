"""render_file in a child process, so a crash in native code (a renderer, an encoder) or running
out of memory ends one job with a reason instead of taking the server down with it.

The child is spawned fresh (no inherited threads or event loop), gets the spec and the fetched
inputs by pickle, and reports progress and its outcome over a pipe; cancellation is a
multiprocessing Event that render_file polls like a threading one.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from avatar.video.render import (
    ProgressFn,
    RenderCancelled,
    RenderInputs,
    RenderResult,
    partial_path,
)
from avatar.video.spec import VideoSpec

POLL_S = 0.1


class RenderCrashed(Exception):
    """The render process died or failed; the message is the job's FailReason."""


def render_file_isolated(
    spec: VideoSpec,
    inputs: RenderInputs,
    out_path: Path,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    workers: int = 2,
    preset: str | None = None,
) -> RenderResult:
    """Blocking, like render_file; raises RenderCancelled or RenderCrashed."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    args = (spec.to_dict(), inputs, str(out_path), child, stop, workers, preset, os.getpid())
    proc = ctx.Process(target=_child_main, args=args, name="video-render", daemon=True)
    proc.start()
    child.close()  # the parent keeps the reading end only: EOF when the child is gone
    try:
        while True:
            if cancel is not None and cancel.is_set():
                stop.set()
            if parent.poll(POLL_S):
                try:
                    kind, value = parent.recv()
                except EOFError:
                    proc.join(5)
                    raise RenderCrashed(_death(proc.exitcode)) from None
                if kind == "progress" and progress is not None:
                    progress(value)
                elif kind == "done":
                    return value
                elif kind == "cancelled":
                    raise RenderCancelled()
                elif kind == "error":
                    raise RenderCrashed(value)
            elif not proc.is_alive():
                raise RenderCrashed(_death(proc.exitcode))
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        parent.close()
        # A child that died mid-file could not remove its partial output.
        if proc.pid is not None:
            partial_path(out_path, proc.pid).unlink(missing_ok=True)


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when the parent dies (a killed server leaves no orphan
    renderer writing files)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the render process was killed by signal {-code}"
    return f"the render process ended unexpectedly (exit code {code})"


def _child_main(
    spec_d: dict[str, Any],
    inputs: RenderInputs,
    out: str,
    conn: Connection,
    stop: Any,
    workers: int,
    preset: str | None,
    parent_pid: int,
) -> None:
    from avatar.video.render import render_file

    _die_with_parent(parent_pid)
    try:
        res = render_file(
            VideoSpec.from_dict(spec_d),
            inputs,
            Path(out),
            lambda f: conn.send(("progress", f)),
            stop,
            workers,
            preset,
        )
        conn.send(("done", res))
    except RenderCancelled:
        conn.send(("cancelled", None))
    except Exception as e:  # reported to the parent as the job's reason
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()
