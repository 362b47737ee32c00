"""Reading a recording with PyAV: its properties, its frames (RGB) and its audio (16 kHz mono)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from avatar.types import AUDIO_RATE


class SourceError(Exception):
    """The file is not a readable video."""


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the build needs to know before decoding: size, rate, length, audio present."""

    width: int
    height: int
    fps: float
    duration_s: float
    n_frames: int
    has_audio: bool
    rotation: int = 0  # degrees counter-clockwise the frames are turned for display (phones)


def probe(path: Path) -> SourceInfo:
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise SourceError("the file has no video track")
            s = c.streams.video[0]
            fps = float(s.average_rate or s.guessed_rate or 25)
            if s.duration is not None and s.time_base is not None:
                dur = float(s.duration * s.time_base)
            elif c.duration is not None:
                dur = c.duration / av.time_base
            else:
                dur = 0.0
            n = s.frames or int(round(dur * fps))
            w, h = s.codec_context.width, s.codec_context.height
            first = next(c.decode(s), None)
            rot = _rotation(first) if first is not None else 0
            if rot in (90, 270):
                w, h = h, w
            return SourceInfo(w, h, fps, dur, n, bool(c.streams.audio), rot)
    except av.error.FFmpegError as e:
        raise SourceError(f"unreadable video: {e}") from e


def _rotation(frame: av.VideoFrame) -> int:
    """The display rotation of a frame (0, 90, 180 or 270 degrees counter-clockwise)."""
    try:
        rot = int(round(float(frame.rotation or 0)))
    except (AttributeError, TypeError, ValueError):
        return 0
    return (rot % 360) // 90 * 90


def iter_frames(
    path: Path, start_s: float = 0.0, end_s: float | None = None, max_side: int | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time in seconds, H×W×3 RGB uint8) for every frame in [start_s, end_s); frames
    larger than `max_side` come scaled down (by the decoder's scaler, in the same pass)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        w, h = s.codec_context.width, s.codec_context.height
        size = {}
        if max_side is not None and max(w, h) > max_side:
            k = max_side / max(w, h)
            size = {"width": int(round(w * k / 2)) * 2, "height": int(round(h * k / 2)) * 2}
        for f in c.decode(s):
            t = float(f.pts * f.time_base) if f.pts is not None else 0.0
            if t < start_s - 1e-6:
                continue
            if end_s is not None and t >= end_s - 1e-6:
                break
            img = f.to_ndarray(format="rgb24", **size)
            rot = _rotation(f)
            if rot:
                # a phone's portrait recording stored sideways: turn it as a player would
                img = np.ascontiguousarray(np.rot90(img, k=rot // 90))
            yield t, img


def read_audio(path: Path, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray | None:
    """The audio track as 16 kHz mono int16 (None when the file has none)."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        res = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        parts = []
        for f in c.decode(c.streams.audio[0]):
            for g in res.resample(f):
                parts.append(g.to_ndarray().reshape(-1))
        for g in res.resample(None):
            parts.append(g.to_ndarray().reshape(-1))
    pcm = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)
    a = int(round(start_s * AUDIO_RATE))
    b = None if end_s is None else int(round(end_s * AUDIO_RATE))
    return pcm[a:b]
