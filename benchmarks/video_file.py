"""Video file render speed as a multiple of real time (seconds of video per second of wall time).

The wall-clock figure depends on what else runs; each line also gives the CPU time used per
second of video, and from it the speed two otherwise idle cores would reach.

Renders the shipped avatar (the astronaut, built as a photo avatar, or a still one where the
photo kind is unavailable) over 8 s of speech: MP4 at 1080p, MP4 at 2K, and transparent WebM
(VP9 with alpha) at 2K, subtitles on. Prints one line per case and a final JSON line:
{"mp4_1080p_x": ..., "mp4_2k_x": ..., "webm_alpha_2k_x": ...} (goals: >= 1.0, 0.5, 0.2).

    python benchmarks/video_file.py [--seconds 8] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from avatar.registry import AvatarBuildError, build_avatar  # noqa: E402
from avatar.types import AUDIO_RATE  # noqa: E402
from avatar.video.render import RenderInputs, render_file  # noqa: E402
from avatar.video.spec import SubtitleSpec, VideoSpec  # noqa: E402
from avatar.video.speech import speech_from_file  # noqa: E402
from avatar.video.subtitles import Cue  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
AUDIO = MEDIA / "audio/16k_mono/en_musetalk_eng_0-12s.wav"
IMAGE = MEDIA / "images/astronaut.png"


def build(folder: Path) -> str:
    for kind in ("photo", "still"):
        try:
            build_avatar(kind, IMAGE, folder / kind)
            return kind
        except (AvatarBuildError, ImportError, ModuleNotFoundError) as e:
            print(f"{kind} avatar unavailable: {e}", file=sys.stderr)
    raise SystemExit("no avatar kind could be built")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="keep the outputs in this folder")
    args = ap.parse_args()

    speech = speech_from_file(AUDIO)
    speech.pcm = speech.pcm[: int(args.seconds * AUDIO_RATE)]
    d = speech.duration
    speech.cues = [
        Cue("This is a benchmark of the video file renderer.", 0.0, d / 2),
        Cue("字幕使用思源黑体渲染。", d / 2, d),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        kind = build(Path(tmp))
        folder = Path(tmp) / kind
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        cases = {
            "mp4_1080p_x": ("mp4", 1920, 1080, (24, 48, 96, 255)),
            "mp4_2k_x": ("mp4", 2560, 1440, (24, 48, 96, 255)),
            "webm_alpha_2k_x": ("webm", 2560, 1440, (0, 0, 0, 0)),
        }
        result: dict[str, float] = {}
        for name, (fmt, w, h, bg) in cases.items():
            spec = VideoSpec(
                str(folder),
                w,
                h,
                fmt,
                audio_url="bench",
                background_rgba=bg,
                remove_background=bg[3] == 0,
                subtitles=SubtitleSpec(enable=True),
            )
            out = out_dir / f"{name}.{fmt}"
            t, cpu = time.perf_counter(), time.process_time()
            res = render_file(spec, RenderInputs(speech), out, workers=args.workers)
            wall = time.perf_counter() - t
            cpu = time.process_time() - cpu  # all threads of this process
            result[name] = round(d / wall, 3)
            print(
                f"{name}: {kind} avatar, {w}x{h} {fmt}, {res.frames} frames, {d:.1f} s of video "
                f"in {wall:.1f} s = {d / wall:.2f}x real time ({res.frames / wall:.1f} fps), "
                f"{out.stat().st_size / 1e6:.1f} MB; CPU {cpu / d:.2f} s per video second "
                f"(two idle cores: about {2 * d / cpu:.2f}x)",
                flush=True,
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
