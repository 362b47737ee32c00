"""Frames of a video file: per-frame parameters, the avatar rendered in frame order, then
matte → compose → subtitles → pixel conversion in a small thread pool, encoded in order by the
calling thread: a three-stage pipeline over bounded queues.

Parameters (lip-sync, idle life, keyword actions) are computed up front in order, since the
trackers and the action player are sequential. The renderer runs on one thread of its own, frame
after frame, because renderers may keep state from one frame to the next (the video avatar picks
each mouth to continue the previous one). The rest is independent per frame, so `workers` threads
run it (numpy, OpenCV and the encoders release the GIL).
"""

from __future__ import annotations

import collections
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from avatar.compose import Asset, Layout, Scene
from avatar.lipsync.speaker import speaker_tracker_factory
from avatar.motion import ActionPlayer, IdleMotion
from avatar.registry import KIND_MODULES, read_meta
from avatar.types import AUDIO_RATE, REST_MOUTH, AvatarRenderer, FrameParams, MouthShape
from avatar.video.encode import VideoEncoder, pixel_format, to_video_frame
from avatar.video.layers import FastCompositor
from avatar.video.matte import Matte, load_person_mask
from avatar.video.spec import VideoSpec
from avatar.video.speech import Speech
from avatar.video.subtitles import SubtitleOverlay

log = logging.getLogger(__name__)

ProgressFn = Callable[[float], None]  # fraction 0..1 of the frames written


class RenderCancelled(Exception):
    """The job was cancelled while rendering; the partial file is gone."""


@dataclass(slots=True)
class RenderInputs:
    """What the job fetched and synthesized before rendering."""

    speech: Speech
    background: np.ndarray | None = None  # RGBA
    assets: list[Asset] = field(default_factory=list)


@dataclass(slots=True)
class RenderResult:
    duration: float  # seconds of audio (= of the video, within one frame)
    frames: int
    seconds: float  # wall time spent


def frame_params(
    spec: VideoSpec,
    speech: Speech,
    n_frames: int,
    seed: int = 0,
    skip_actions: frozenset[str] = frozenset(),
) -> list[FrameParams]:
    """Mouth from the lip-sync tracker, idle life, and keyword actions, for every frame
    (except the actions in `skip_actions`, which the avatar plays itself)."""
    # no latency budget in a file; a video avatar's own audio-to-mouth fit when it has one
    tracker = speaker_tracker_factory(Path(spec.avatar_folder), offline=True)(spec.fps)
    if speech.phonemes:
        tracker.push_phonemes(speech.phonemes)
    mouths: list[MouthShape] = []
    step = AUDIO_RATE // 5  # push in 200 ms pieces as a stream would
    for i in range(0, len(speech.pcm), step):
        mouths += tracker.push_audio(speech.pcm[i : i + step])
    mouths += tracker.flush()
    idle, actions = IdleMotion(seed), ActionPlayer()
    cues = _action_times(spec, speech)
    out: list[FrameParams] = []
    for i in range(n_frames):
        t = i / spec.fps
        while cues and cues[0][0] <= t:
            name = cues.pop(0)[1]
            if name not in skip_actions:
                actions.start(name, t)
        p = idle.params_at(t).with_mouth(mouths[i] if i < len(mouths) else REST_MOUTH)
        out.append(actions.apply(p, t))
    return out


def own_action_starts(spec: VideoSpec, speech: Speech, own: frozenset[str]) -> dict[int, list[str]]:
    """Frame index → the avatar's own actions (recorded ones) that start at that frame."""
    out: dict[int, list[str]] = {}
    for t, name in _action_times(spec, speech):
        if name in own:
            out.setdefault(int(np.ceil(t * spec.fps - 1e-6)), []).append(name)
    return out


def _action_times(spec: VideoSpec, speech: Speech) -> list[tuple[float, str]]:
    """When each keyword is spoken: its word timing when the TTS gave words, else the start of
    the sentence that contains it."""
    out: list[tuple[float, str]] = []
    for ka in spec.keyword_actions:
        kw = ka.keyword.lower()
        t = next((w.start for w in speech.words if kw in w.text.lower()), None)
        if t is None:
            t = next((c.start for c in speech.cues if kw in c.text.lower()), None)
        if t is not None:
            out.append((t, ka.action))
    return sorted(out)


class FrameRenderer:
    """Turns frame parameters into encoder-ready frames. `avatar` must be called in frame
    order from one thread; `finish` may run on several threads at once."""

    def __init__(self, spec: VideoSpec, inputs: RenderInputs) -> None:
        folder = Path(spec.avatar_folder)
        meta = read_meta(folder)
        # Kinds that can cut the person out themselves do it before warping (the matte moves
        # with the head); they read "remove_background" from the avatar's meta.
        if spec.remove_background:
            meta = {**meta, "remove_background": True}
        module = importlib.import_module(KIND_MODULES[meta["kind"]])
        first: AvatarRenderer = module.load(folder, meta)
        self.renderer = first
        self.action_starts: dict[int, list[str]] = {}
        mask = None
        if spec.remove_background:
            mask = load_person_mask(folder, meta)
            if mask is None:
                mask = getattr(getattr(first, "rig", None), "person_alpha", None)
            if mask is not None and _already_cut(first, mask):
                mask = None
        green = spec.green_screen or bool(meta.get("green_screen"))
        if green and int(first.render(FrameParams(), 0.0)[..., 3].min()) < 255:
            green = False  # the renderer already keys its green screen (video avatars do)
        self.matte = Matte(mask, green)
        lay = spec.layout
        scene = Scene(
            width=spec.width,
            height=spec.height,
            background_rgba=spec.background_rgba,
            background_image=inputs.background,
            avatar_layout=Layout(lay.left, lay.top, lay.width, lay.height, lay.layer)
            if lay
            else None,
            avatar_layer=lay.layer if lay else 0,
            assets=inputs.assets,
        )
        self.compositor = FastCompositor(scene, first.size)
        self.pix_fmt = pixel_format(spec.format, spec.transparent)
        self.fps = spec.fps
        self.subtitles = (
            SubtitleOverlay(inputs.speech.cues, spec.width, spec.height, spec.subtitles)
            if spec.subtitles.enable and inputs.speech.cues
            else None
        )

    @property
    def own_actions(self) -> frozenset[str]:
        """Actions the renderer plays itself (start_action), e.g. a video avatar's recordings."""
        if not hasattr(self.renderer, "start_action"):
            return frozenset()
        return frozenset(self.renderer.action_names())

    def avatar(self, params: FrameParams, index: int) -> np.ndarray:
        """The avatar's RGBA frame (call in frame order, from one thread)."""
        t = index / self.fps
        for name in self.action_starts.get(index, ()):
            self.renderer.start_action(name, t)  # type: ignore[attr-defined]
        return self.renderer.render(params, t)

    def compose(self, avatar: np.ndarray, index: int) -> np.ndarray:
        """The output picture of frame `index` around the avatar (subtitles included)."""
        if self.matte.active:
            avatar = self.matte.apply(avatar)
        frame = self.compositor.compose(avatar)
        if self.subtitles is not None:
            self.subtitles.apply(frame, index / self.fps)
        return frame

    def rgba(self, params: FrameParams, index: int) -> np.ndarray:
        """Both steps at once (for checks of single frames)."""
        return self.compose(self.avatar(params, index), index)

    def finish(self, avatar: Future, index: int):  # -> av.VideoFrame
        """Compose and convert once the avatar frame (a future of the render thread) is there."""
        return to_video_frame(self.compose(avatar.result(), index), self.pix_fmt)


def _already_cut(renderer: AvatarRenderer, mask: np.ndarray) -> bool:
    """Whether the renderer's frames are already transparent where the person mask is empty
    (then the static mask is not applied on top)."""
    rgba = renderer.render(FrameParams(), 0.0)
    if mask.shape != rgba.shape[:2]:
        mask = cv2.resize(mask, (rgba.shape[1], rgba.shape[0]), interpolation=cv2.INTER_NEAREST)
    outside = mask == 0
    return bool(outside.any()) and int(rgba[..., 3][outside].max()) <= 8


def partial_path(out_path: Path, pid: int) -> Path:
    """Where a process writes `out_path` before it is complete: one name per process, so an
    orphaned or parallel writer never shares a file with the current one."""
    return out_path.with_name(f"{out_path.name}.{pid}.part")


def render_file(
    spec: VideoSpec,
    inputs: RenderInputs,
    out_path: Path,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    workers: int = 2,
    preset: str | None = None,
) -> RenderResult:
    """Blocking: render and encode the whole video to `out_path` (written under a temporary
    name, renamed when complete). Raises RenderCancelled when `cancel` is set."""
    t0 = time.perf_counter()
    duration = inputs.speech.duration
    n = max(1, int(np.ceil(duration * spec.fps - 1e-6)))
    fr = FrameRenderer(spec, inputs)
    own = fr.own_actions
    fr.action_starts = own_action_starts(spec, inputs.speech, own)
    params = frame_params(spec, inputs.speech, n, skip_actions=own)
    tmp = partial_path(out_path, os.getpid())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    enc = VideoEncoder(
        tmp, spec.format, spec.width, spec.height, spec.fps, spec.transparent, preset
    )
    enc.set_audio(inputs.speech.pcm)
    # One thread renders the avatar in frame order; `workers` threads finish the frames.
    render = ThreadPoolExecutor(1, thread_name_prefix="video-avatar")
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="video-frame")
    pending: collections.deque[Future] = collections.deque()
    ok = False
    try:
        ahead = 2 * max(1, workers) + 1  # bounded: at most this many frames in memory
        nxt = 0
        for i in range(n):
            while nxt < n and len(pending) < ahead:
                avatar = render.submit(fr.avatar, params[nxt], nxt)
                pending.append(pool.submit(fr.finish, avatar, nxt))
                nxt += 1
            if cancel is not None and cancel.is_set():
                raise RenderCancelled()
            enc.add_video(pending.popleft().result())
            if progress is not None and (i % 10 == 9 or i == n - 1):
                progress((i + 1) / n)
        enc.close()
        tmp.replace(out_path)
        ok = True
    finally:
        for f in pending:
            f.cancel()
        # Cancelled frames leave their avatar futures pending: stop the renderer first.
        render.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=True, cancel_futures=True)
        if not ok:
            enc.abort()
            tmp.unlink(missing_ok=True)
    return RenderResult(duration, n, time.perf_counter() - t0)
