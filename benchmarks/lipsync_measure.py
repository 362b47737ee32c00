"""Measure mouth openings in videos and read their audio (helpers of `lipsync_eval.py`).

Opening per frame = inner-lip gap (face-mesh landmarks 13-14) / outer eye corners (33-263).
Uses the project's `avatar.face.landmarks` (detector + mesh per frame), or MediaPipe's face mesh
directly where that module is missing. Results are cached per video file (keyed by size and mtime) because the mesh
is the slow part.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np

CACHE = Path("/tmp/lipsync_eval_cache")

UPPER_INNER, LOWER_INNER, EYE_L, EYE_R = 13, 14, 33, 263


def _key(path: Path, extra: str = "") -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime}:{extra}".encode()).hexdigest()


def read_frames(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """All frames as RGB uint8 with their presentation times in seconds (videos may be VFR)."""
    import av

    frames, times = [], []
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        for frame in box.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time) if frame.time is not None else len(times) / 25.0)
    return frames, np.array(times, np.float64)


def audio_start(path: Path) -> float:
    """Start time of the first audio stream (seconds on the container clock)."""
    import av

    with av.open(str(path)) as box:
        s = box.streams.audio[0]
        return float(s.start_time * s.time_base) if s.start_time is not None else 0.0


def has_audio(path: Path) -> bool:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=index",
         "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return bool(out.stdout.strip())


def read_audio(path: Path, rate: int = 16000) -> np.ndarray:
    """The file's first audio track as mono int16 at `rate`."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate),
         "-f", "s16le", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    return np.frombuffer(out.stdout, np.int16).copy()


class MouthMeter:
    """Opening of the mouth in RGB frames (NaN where no face is found)."""

    def __init__(self) -> None:
        try:  # helper C's landmarks (face detector + mesh on a crop), the project's measure
            from avatar.face.landmarks import detect_faces, mouth_opening

            self._detect, self._opening = detect_faces, mouth_opening
            self._mesh = None
        except ImportError:
            import mediapipe as mp

            self._detect = None
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False, max_num_faces=1, refine_landmarks=False,
                min_detection_confidence=0.3, min_tracking_confidence=0.3,
            )  # fmt: skip

    def opening(self, rgb: np.ndarray) -> float:
        rgb = np.ascontiguousarray(rgb[..., :3])
        if self._detect is not None:
            faces = self._detect(rgb, 1)
            return self._opening(faces[0].points) if faces else float("nan")
        res = self._mesh.process(rgb)
        if not res.multi_face_landmarks:
            return float("nan")
        h, w = rgb.shape[:2]
        lms = res.multi_face_landmarks[0].landmark
        pts = np.array([(p.x * w, p.y * h) for p in lms], np.float32)
        gap = np.linalg.norm(pts[UPPER_INNER] - pts[LOWER_INNER])
        eyes = np.linalg.norm(pts[EYE_L] - pts[EYE_R])
        return float(gap / max(eyes, 1e-6))

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()


def measure_video(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(opening per frame, frame times in seconds from the audio's start), cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / f"{_key(path, 'v3')}.json"
    if cache.exists():
        d = json.loads(cache.read_text())
        return np.array(d["open"], np.float64), np.array(d["t"], np.float64)
    meter = MouthMeter()
    frames, times = read_frames(path)
    vals = [meter.opening(f) for f in frames]
    meter.close()
    t0 = audio_start(path) if has_audio(path) else 0.0
    times = times - t0
    cache.write_text(json.dumps({"open": vals, "t": times.tolist()}))
    return np.array(vals, np.float64), times


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        o, t = measure_video(Path(p))
        print(p, len(o), t[:2], np.nanmean(o), np.nanstd(o), np.isnan(o).mean())
