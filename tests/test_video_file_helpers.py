"""Helpers of the video file tests: test avatars, and reading outputs back by decoding them.

WebM alpha is read with the libvpx-vp9 decoder: FFmpeg's native vp9 decoder drops the alpha
plane (it lives in the Matroska BlockAdditional side data that only libvpx decodes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from avatar.registry import build_avatar, read_meta, write_meta

MEDIA = Path("/work/shared/media")
ASTRONAUT = MEDIA / "images/astronaut.png"
GREEN = MEDIA / "images/greenscreen_male_eastasian_d0frame.png"  # 512x485, face near (250, 250)
SPEECH_3S = MEDIA / "audio/16k_mono/zh_bus_chinese.wav"  # 3.38 s of Mandarin


def make_avatar(folder: Path, image: Path, **meta: object) -> Path:
    """A "still" avatar from `image`, with extra keys in its avatar.json."""
    if not (folder / "avatar.json").exists():
        build_avatar("still", image, folder)
        if meta:
            write_meta(folder, {**read_meta(folder), **meta})
    return folder


@dataclass
class StreamInfo:
    codec: str
    duration: float
    width: int = 0
    height: int = 0
    frames: int = 0


@dataclass
class FileInfo:
    format: str
    video: StreamInfo | None = None
    audio: StreamInfo | None = None
    audio_rms: float = 0.0
    extra: dict = field(default_factory=dict)


def probe(path: Path) -> FileInfo:
    """Codecs, sizes and durations measured from the packets (WebM stores no stream duration)."""
    with av.open(str(path)) as c:
        info = FileInfo(c.format.name)
        ends: dict[int, float] = {}
        counts: dict[int, int] = {}
        for pkt in c.demux():
            if pkt.pts is None or pkt.size == 0:
                continue
            tb = pkt.time_base
            end = float((pkt.pts + (pkt.duration or 0)) * tb)
            ends[pkt.stream.index] = max(ends.get(pkt.stream.index, 0.0), end)
            counts[pkt.stream.index] = counts.get(pkt.stream.index, 0) + 1
        for s in c.streams:
            si = StreamInfo(s.codec_context.name, ends.get(s.index, 0.0))
            if s.type == "video":
                si.width, si.height = s.codec_context.width, s.codec_context.height
                si.frames = counts.get(s.index, 0)
                info.video = si
            elif s.type == "audio":
                info.audio = si
    with av.open(str(path)) as c:
        if c.streams.audio:
            pcm = np.concatenate(
                [f.to_ndarray().astype(np.float32).reshape(-1) for f in c.decode(audio=0)]
            )
            if np.abs(pcm).max() > 2.0:  # integer samples
                pcm /= 32768.0
            info.audio_rms = float(np.sqrt(np.mean(pcm**2)))
    return info


def decode_rgba(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """RGBA arrays of the given video frame indices (alpha kept for VP9 via libvpx)."""
    want = set(indices)
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        if vs.codec_context.name == "vp9":
            dec = av.CodecContext.create("libvpx-vp9", "r")
            frames = (f for pkt in c.demux(vs) for f in dec.decode(pkt))
        else:
            frames = c.decode(vs)
        for i, f in enumerate(frames):
            if i in want:
                out[i] = f.to_ndarray(format="rgba")
            if len(out) == len(want):
                break
    return out
