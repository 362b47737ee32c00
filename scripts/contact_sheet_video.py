"""Contact sheet of video avatars: for each recording, the loop frame and the rendered rest, open,
rounded and closed mouths and an action, side by side with a zoom on the mouth.

    python scripts/contact_sheet_video.py [--out /tmp/video_sheets] [videos...]

Builds each avatar into a temporary folder (the shared test videos by default) and writes one
PNG per video. The action is the recording's second 1.0-2.5 s, named "clip".
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from avatar.registry import build_avatar, load_renderer
from avatar.types import FrameParams, MouthShape

VIDEOS = Path("/work/shared/media/video")
SHAPES = {
    "rest": MouthShape(),
    "open": MouthShape(jaw_open=0.9),
    "rounded": MouthShape(jaw_open=0.35, lip_width=-0.8, lip_round=0.9),
    "closed": MouthShape(lip_press=1.0),
    "wide": MouthShape(jaw_open=0.3, lip_width=0.9),
}
TILE = 256


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = np.ascontiguousarray(img)
    cv2.putText(img, text, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 80), 1, cv2.LINE_AA)
    return img


def _tiles(rgba: np.ndarray, place, text: str) -> tuple[np.ndarray, np.ndarray]:
    rgb = rgba[..., :3]
    h, w = rgb.shape[:2]
    s = TILE / max(h, w)
    full = np.zeros((TILE, TILE, 3), np.uint8)
    small = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
    full[: small.shape[0], : small.shape[1]] = small
    x0, y0, x1, y1 = place.x0, place.y0, place.x1, place.y1
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    a = max(0, cx - side // 2)
    b = max(0, cy - side // 2)
    zoom = cv2.resize(rgb[b : b + side, a : a + side], (TILE, TILE), interpolation=cv2.INTER_CUBIC)
    return _label(full, text), _label(zoom, text + " (mouth)")


def sheet(video: Path, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "a"
        t0 = time.perf_counter()
        meta = build_avatar(
            "video", video, folder, {"actions": {"clip": [1.0, 2.5]}, "min_duration_s": 3}
        )
        dt = time.perf_counter() - t0
        r = load_renderer(folder)
        t = 1.0
        cols = []
        loop = r.loop_frame(t)
        cols.append(_tiles(loop, r._loop.places[r.loop_index(t)], "loop"))
        for name, shape in SHAPES.items():
            # a few frames of the same target so the search settles, as in speech
            for k in range(6):
                frame = r.render(FrameParams(mouth=shape), t + k / r.fps)
            tt = t + 5 / r.fps
            cols.append(_tiles(frame, r._loop.places[r.loop_index(tt)], name))
            t += 2.0
        r.start_action("clip", t)
        for k in range(20):
            frame = r.render(FrameParams(mouth=MouthShape(jaw_open=0.5 * (k % 2))), t + k / r.fps)
        cols.append(_tiles(frame, r._actions["clip"].places[19], "action clip"))
    top = np.hstack([c[0] for c in cols])
    bottom = np.hstack([c[1] for c in cols])
    img = np.vstack([top, bottom])
    fit = meta.get("speaker", {}).get("live", {})
    fit_txt = f"speaker fit cv r {fit['cv_r']:.2f}" if fit.get("used") else "no speaker fit"
    title = (
        f"{video.name}  build {dt:.1f}s for {meta['source_seconds']:.1f}s  "
        f"lib {meta['library_size']}  {fit_txt}"
    )
    img = _label(np.vstack([np.zeros((30, img.shape[1], 3), np.uint8), img]), title)
    path = out / f"{video.stem}.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/video_sheets")
    ap.add_argument("videos", nargs="*")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    videos = [Path(v) for v in args.videos] or sorted(VIDEOS.glob("*.mp4"))
    for v in videos:
        print(sheet(v, out))


if __name__ == "__main__":
    main()
