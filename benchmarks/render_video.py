"""Video avatar render speed on one thread at 720p and 1080p.

The shared 512×512 news clip is scaled and padded to 1280×720 and 1920×1080 (first 6 s), an
avatar is built from each, and `render` is timed over 250 frames of a speech-like mouth
sequence (the mouth search, one JPEG decode, a crop warp and the blend per frame).

    python benchmarks/render_video.py      # prints a JSON line {"video_720p_fps": ..., ...}
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.build.video import FORMAT_VERSION  # noqa: E402
from avatar.registry import build_avatar, load_renderer  # noqa: E402
from avatar.types import FrameParams, MouthShape  # noqa: E402

SOURCE = Path("/work/shared/media/video/de_talking_male_newsanchor_German_20s.mp4")
CACHE = Path(tempfile.gettempdir()) / "dh_bench_video"
FRAMES = 250


def _scaled_source(w: int, h: int) -> Path:
    out = CACHE / f"src_{w}x{h}.mp4"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        vf = f"scale=-2:{h},pad={w}:{h}:(ow-iw)/2:0:color=0x30405a"
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(SOURCE), "-t", "6", "-vf", vf]
        subprocess.run([*cmd, "-an", "-c:v", "libx264", "-crf", "18", str(out)], check=True)
    return out


def _avatar(w: int, h: int) -> tuple[Path, float]:
    folder = CACHE / f"avatar_{w}x{h}"
    src = _scaled_source(w, h)
    t0 = time.perf_counter()
    meta = folder / "avatar.json"
    if not meta.exists() or json.loads(meta.read_text()).get("version") != FORMAT_VERSION:
        build_avatar("video", src, folder, {"min_duration_s": 3})
    return folder, time.perf_counter() - t0


def _fps(folder: Path) -> tuple[float, float]:
    r = load_renderer(folder)
    opening = np.abs(np.sin(np.arange(FRAMES) * 0.35)) * (np.arange(FRAMES) % 50 < 40)
    params = [FrameParams(mouth=MouthShape(jaw_open=float(o))) for o in opening]
    for i in range(10):  # warm-up
        r.render(params[i], i / 25)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, p in enumerate(params):
        r.render(p, 1.0 + i / 25)
    return FRAMES / (time.perf_counter() - t0), FRAMES / (time.process_time() - c0)


def measure() -> dict:
    """{"video_720p_fps", "video_1080p_fps"} (wall clock) and the same per CPU second
    ("..._cpu_fps"): one render thread, OpenCV threads set to 1."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        out = {}
        for name, (w, h) in {"720p": (1280, 720), "1080p": (1920, 1080)}.items():
            folder, _ = _avatar(w, h)
            wall, cpu = _fps(folder)
            out[f"video_{name}_fps"] = round(wall, 1)
            # frames per CPU second of the render thread: what one free core would give
            out[f"video_{name}_cpu_fps"] = round(cpu, 1)
        return out
    finally:
        cv2.setNumThreads(threads)


if __name__ == "__main__":
    print(json.dumps(measure()))
