"""Running one video job from its database record to a finished file, whatever runner calls it.

Claim the job, fetch what it needs (audio, background, decorations), synthesize the script,
render and encode in a worker thread, and record the outcome. Progress goes to the database as
a heartbeat, and the heartbeat's answer carries cancellation, so a job is cancelled the same way
in process and on a remote Celery worker. Every error ends the job (status 3 with a reason);
none escapes to the worker that ran it.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.tts.base import SpeechOptions, TTSError
from avatar.compose import Asset, Layout
from avatar.registry import AvatarBuildError
from avatar.video import jobs
from avatar.video.isolate import RenderCrashed, render_file_isolated
from avatar.video.jobs import JobStore, JobView
from avatar.video.render import RenderCancelled, RenderInputs, RenderResult, render_file
from avatar.video.spec import SpecError, VideoSpec
from avatar.video.speech import AudioError, Speech, speech_from_file, speech_from_text

log = logging.getLogger(__name__)

# url, destination file → size; raises an exception whose message is user-facing.
FetchFn = Callable[[str, Path], Awaitable[int]]


class InputError(Exception):
    """Something the job was given cannot be used; the message is the FailReason."""


@dataclass(slots=True)
class JobEnv:
    """What a worker needs besides the job record."""

    data_dir: Path
    fetch: FetchFn
    tts: Any  # agent.tts.registry.TTSRegistry (get(timbre_id) -> (tts, voice))
    render_workers: int = 2
    preset: str | None = None
    heartbeat_s: float = 0.5
    isolate: bool = False  # render in a child process (a crash ends the job, not the server)

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"


def result_file(job_id: str, fmt: str) -> str:
    return f"{job_id}.{fmt}"


async def execute_job(
    store: JobStore, env: JobEnv, job_id: str, cancel: threading.Event | None = None
) -> JobView | None:
    """Run the job if it can be claimed; returns its final record (None: not ours to run)."""
    job = await store.claim(job_id)
    if job is None:
        return None
    cancel = cancel or threading.Event()
    attempt = int(job.result.get("attempts", 1))  # every write below is guarded by it
    state = {"progress": 0.0, "rendering": False}

    def on_progress(frac: float) -> None:  # called from the render thread
        state["progress"] = 10 + 89 * frac

    def on_sentence(frac: float) -> None:
        state["progress"] = 10 * frac

    work = asyncio.create_task(_work(env, job, cancel, on_progress, on_sentence, state))
    user_cancelled = False
    try:
        while True:
            done, _ = await asyncio.wait({work}, timeout=env.heartbeat_s)
            if done:
                break
            status = await store.heartbeat(job_id, int(state["progress"]), attempt)
            if status in (jobs.CANCELLED, jobs.LOST) and not user_cancelled:
                # Cancelled, or presumed dead and taken over by another worker: stop.
                user_cancelled = True
                cancel.set()
                if not state["rendering"]:
                    work.cancel()  # still fetching or synthesizing: stop at once
        result = work.result()
    except RenderCancelled:
        # The runner set the event after a CancelDigitalHumanVideo (status 5 is stored).
        await store.fail(job_id, "cancelled", attempt)  # a no-op when the job is already 5
    except asyncio.CancelledError:
        if not user_cancelled:
            # Our caller is shutting down: stop the render thread and put the job back in the
            # queue for the next start, without counting this start as a failed attempt.
            cancel.set()
            finished = state.get("finished")
            if finished is not None:  # let the render thread stop and clean up first
                await asyncio.to_thread(finished.wait, 10)
            await store.release(job_id, attempt)
            raise
        await store.fail(job_id, "cancelled", attempt)  # a no-op: the job is already 5
    except (InputError, AudioError, SpecError, TTSError, AvatarBuildError, RenderCrashed) as e:
        await store.fail(job_id, str(e), attempt)
    except Exception as e:
        log.exception("video job %s failed", job_id)
        await store.fail(job_id, f"internal error: {type(e).__name__}: {e}", attempt)
    else:
        if not await store.finish(job_id, result, attempt):
            now = await store.get(job_id)
            if now is not None and now.status == jobs.CANCELLED:
                # Cancelled at the last moment: the file must not outlive the job.
                (env.videos_dir / result["file"]).unlink(missing_ok=True)
    finally:
        if not work.done():
            cancel.set()
            work.cancel()
    final = await store.get(job_id)
    if final is not None and final.status in jobs.FINAL:
        drop_inputs(env.data_dir, final)
    return final


def drop_inputs(data_dir: Path, job: JobView) -> None:
    """Delete the copies of the job's URLs fetched at creation (not needed once it is over)."""
    for rel in (job.request.get("spec", {}).get("inputs") or {}).values():
        (data_dir / rel).unlink(missing_ok=True)


async def _work(
    env: JobEnv,
    job: JobView,
    cancel: threading.Event,
    on_progress: Callable[[float], None],
    on_sentence: Callable[[float], None],
    state: dict[str, Any],
) -> dict[str, Any]:
    spec = VideoSpec.from_dict(job.request["spec"])
    spec.validate()
    # A relative folder is inside the data dir, which may be mounted elsewhere on a worker.
    spec.avatar_folder = str(env.data_dir / spec.avatar_folder)
    if not (Path(spec.avatar_folder) / "avatar.json").exists():
        raise InputError("the digital human's files are missing")
    with tempfile.TemporaryDirectory(prefix="dh-video-") as tmp:
        inputs = await prepare_inputs(spec, env, Path(tmp), on_sentence)
    state["progress"] = 10
    state["rendering"] = True
    out = env.videos_dir / result_file(job.id, spec.format)
    if int(job.result.get("attempts", 1)) > 1:
        # Partial files of earlier attempts, whose processes died (or lost the job).
        for p in env.videos_dir.glob(f"{out.name}.*.part"):
            p.unlink(missing_ok=True)
    finished = state["finished"] = threading.Event()

    render = render_file_isolated if env.isolate else render_file

    def run() -> RenderResult:
        try:
            return render(spec, inputs, out, on_progress, cancel, env.render_workers, env.preset)
        finally:
            finished.set()  # the partial file is gone by now

    res = await asyncio.to_thread(run)
    return {
        "file": out.name,
        "duration": round(res.duration, 3),
        "size": out.stat().st_size,
        "render_seconds": round(res.seconds, 2),
        "width": spec.width,
        "height": spec.height,
        "format": spec.format,
    }


async def prepare_inputs(
    spec: VideoSpec, env: JobEnv, tmp: Path, on_sentence: Callable[[float], None] | None = None
) -> RenderInputs:
    """Fetch and decode the job's media and synthesize its speech."""
    speech = await _speech(spec, env, tmp, on_sentence)
    background = None
    if spec.background_url:
        background = await _image(env, spec, spec.background_url, tmp / "bg", "BackgroundUrl")
    assets = []
    for i, a in enumerate(spec.assets):
        rgba = await _image(env, spec, a.url, tmp / f"asset{i}", f"Assets[{i}].AssetUrl")
        lay = a.layout
        assets.append(Asset(rgba, Layout(lay.left, lay.top, lay.width, lay.height, lay.layer)))
    return RenderInputs(speech, background, assets)


async def _speech(
    spec: VideoSpec, env: JobEnv, tmp: Path, on_sentence: Callable[[float], None] | None
) -> Speech:
    if spec.audio_url:
        path = await _local(env, spec, spec.audio_url, tmp / "audio", "AudioUrl")
        return await asyncio.to_thread(speech_from_file, path)
    try:
        tts, voice = env.tts.get(spec.timbre_id)
    except (KeyError, AttributeError):
        raise InputError(f"timbre {spec.timbre_id!r} not found") from None
    options = SpeechOptions(spec.speech_rate, spec.pitch_rate, spec.volume)
    return await speech_from_text(spec.text or "", tts, voice, options, on_sentence)


async def _local(env: JobEnv, spec: VideoSpec, url: str, path: Path, field: str) -> Path:
    """A local file with the URL's bytes: the copy made at creation, else a fresh download."""
    rel = spec.inputs.get(url)
    if rel:
        copy = env.data_dir / rel
        if not copy.is_file():
            raise InputError(f"{field}: the copy fetched at creation is missing")
        return copy
    try:
        await env.fetch(url, path)
    except Exception as e:
        raise InputError(f"{field} cannot be fetched: {e}") from e
    return path


async def _image(env: JobEnv, spec: VideoSpec, url: str, path: Path, field: str) -> np.ndarray:
    local = await _local(env, spec, url, path, field)
    rgba = await asyncio.to_thread(read_rgba, local)
    if rgba is None:
        raise InputError(f"{field} is not an image OpenCV can read")
    return rgba


def read_rgba(path: Path) -> np.ndarray | None:
    """Any image OpenCV reads, as RGBA (None when it cannot)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1, int(img.max())))
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGBA)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGBA)
