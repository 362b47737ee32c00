"""Render speed on ONE thread: the photo avatar alone at 512×512 and composed at 1080×1920.

(a) photo_512_fps: a photo avatar built from scikit-image's public-domain astronaut portrait
    (512×512), driven by idle life, a speaking mouth and actions, frames rendered back to back.
(b) composed_1080x1920_fps: the same frames composed at 1080×1920 over a background image
    (scikit-image's coffee picture) with two RGBA assets (one behind, one in front).
Goals: (a) ≥ 100 fps, (b) ≥ 30 fps. If benchmarks/render_video.py is present its measure()
keys (video_720p_fps, video_1080p_fps) are merged into the final JSON line.

    python benchmarks/render.py [--frames N]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.compose import Asset, Compositor, Layout, Scene  # noqa: E402
from avatar.motion import GENERIC_ACTIONS, ActionPlayer, IdleMotion  # noqa: E402
from avatar.registry import build_avatar, load_renderer  # noqa: E402
from avatar.types import MouthShape  # noqa: E402


def _params(n: int, fps: int = 25) -> list:
    """Frame parameters of n frames: idle life, a speaking mouth, an action every 2 s."""
    idle, player = IdleMotion(seed=3), ActionPlayer()
    out = []
    for i in range(n):
        t = i / fps
        if i % (2 * fps) == 0:
            player.start(GENERIC_ACTIONS[(i // (2 * fps)) % len(GENERIC_ACTIONS)], t)
        jaw = max(0.0, math.sin(2 * math.pi * 3.1 * t)) * 0.8
        mouth = MouthShape(jaw, 0.3 * math.sin(1.3 * t), max(0.0, math.sin(0.7 * t)) * 0.5, 0.0)
        out.append(player.apply(idle.params_at(t), t).with_mouth(mouth))
    return out


def _assets() -> list[Asset]:
    logo = np.zeros((200, 200, 4), np.uint8)
    cv2.circle(logo, (100, 100), 90, (230, 60, 40, 255), -1, cv2.LINE_AA)
    cv2.putText(logo, "DH", (45, 125), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (255, 255, 255, 255), 5)
    banner = np.zeros((160, 1000, 4), np.uint8)
    banner[:] = (20, 40, 90, 200)
    cv2.putText(banner, "digital human", (40, 110), cv2.FONT_HERSHEY_SIMPLEX, 3, (255,) * 4, 6)
    return [Asset(logo, Layout(40, 40, 200, 200, 0)), Asset(banner, Layout(40, 1700, 1000, 160, 2))]


def astronaut_renderer():  # type: ignore[no-untyped-def]
    """The photo avatar of scikit-image's astronaut portrait (512×512), built in a temp dir."""
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "astronaut.png"
        cv2.imwrite(str(src), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
        build_avatar("photo", src, Path(tmp) / "avatar")
        renderer = load_renderer(Path(tmp) / "avatar")
    assert renderer.size == (512, 512)
    return renderer


def reference_render_ms(frames: int = 200) -> float:
    """CPU ms per astronaut frame on one thread, the best of three passes: a gauge of this
    machine's speed, which drifts by a fifth from one hour to the next here, for benchmarks
    whose figures scale with it."""
    cv2.setNumThreads(1)
    renderer, params = astronaut_renderer(), _params(frames)
    for p in params[:10]:
        renderer.render(p, 0.0)
    best = math.inf
    for _ in range(3):
        # This thread's CPU time alone: other threads of the caller (a landmark model's pool
        # after the build, say) must not count.
        c0 = time.thread_time()
        for i, p in enumerate(params):
            renderer.render(p, i / 25)
        best = min(best, (time.thread_time() - c0) / frames * 1000)
    return round(best, 2)


def measure(frames: int = 300) -> dict:
    from skimage import data

    cv2.setNumThreads(1)
    renderer = astronaut_renderer()
    params = _params(frames)
    for p in params[:10]:
        renderer.render(p, 0.0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, p in enumerate(params):
        renderer.render(p, i / 25)
    photo_fps = frames / (time.perf_counter() - t0)
    photo_cpu = frames / (time.process_time() - c0)

    background = np.dstack([data.coffee(), np.full((400, 600), 255, np.uint8)])
    scene = Scene(1080, 1920, background_image=background, assets=_assets(), avatar_layer=1)
    scene.avatar_layout = Layout(0, 420, 1080, 1080, 1)
    comp = Compositor(scene, renderer.size)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, p in enumerate(params):
        out = comp.compose(renderer.render(p, i / 25))
    composed_fps = frames / (time.perf_counter() - t0)
    composed_cpu = frames / (time.process_time() - c0)
    assert out.shape == (1920, 1080, 4)
    # Wall-clock rates are the figures; the CPU-time rates tell what one core gives when the
    # machine is shared (wall-clock then undercounts).
    return {
        "photo_512_fps": round(photo_fps, 1),
        "composed_1080x1920_fps": round(composed_fps, 1),
        "photo_512_cpu_fps": round(photo_cpu, 1),
        "composed_1080x1920_cpu_fps": round(composed_cpu, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    result = measure(args.frames)
    video = Path(__file__).with_name("render_video.py")
    if video.exists():
        spec = importlib.util.spec_from_file_location("render_video", video)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        result.update(mod.measure())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
