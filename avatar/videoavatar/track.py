"""Face landmarks on every frame of a recording, plus the cheap per-frame measures the checks
and the loop search need (face count, brightness, a small thumbnail, background motion).

MediaPipe's face mesh in video mode tracks from frame to frame (a few ms per frame), so every
frame gets landmarks and the build stays well under the recording's length. Large frames are
scaled down first: the mesh model works on a 192 px face crop anyway.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

N_LANDMARKS = 468
THUMB = 48  # side of the grey thumbnails used to compare frames
MAX_TRACK_SIDE = 960  # frames are decoded at most this large for tracking
MOTION_SIDE = 160  # side of the grey frames used to measure camera motion
N_SAMPLES = 5
TRIM_EVERY = 50  # frames between returns of freed memory to the system  # frames kept for the slower full face detection of the checks


@dataclass(slots=True)
class Track:
    """Per-frame analysis of a recording; arrays are indexed by frame."""

    times: np.ndarray  # (N,) seconds
    landmarks: np.ndarray  # (N, 468, 3) float32, x/y in source pixels, z in the x scale
    ok: np.ndarray  # (N,) bool, a face was tracked
    n_faces: np.ndarray  # (N,) int, faces seen
    brightness: np.ndarray  # (N,) mean luma of the face box (0..255), or of the frame
    thumbs: np.ndarray  # (N, THUMB, THUMB) uint8 grey frame thumbnails
    bg_shift: np.ndarray  # (N,) background motion from the previous frame, in frame widths
    size: tuple[int, int]  # width, height
    samples: list[np.ndarray] = field(default_factory=list)  # a few frames spread over the clip
    sample_scale: float = 1.0  # sample pixels per source pixel


def _libc():  # type: ignore[no-untyped-def]
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def release_memory() -> None:
    """Hand freed heap memory back to the system. Decoding and meshing thousands of frames on
    several threads otherwise leaves glibc's per-thread arenas fragmented: a 3-minute recording
    grew to 1.6 GB resident without this, 0.35 GB with it."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def _face_mesh():
    from mediapipe.python.solutions import face_mesh

    return face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=2,
        refine_landmarks=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


def _bg_shift(
    prev: np.ndarray, cur: np.ndarray, face_box: tuple[int, int, int, int] | None
) -> float:
    """Median motion of background corners between two small grey frames, in frame widths
    (0 when the background has too little texture to tell, and then no motion shows either)."""
    mask = np.full(prev.shape, 255, np.uint8)
    if face_box is not None:
        x0, y0, x1, y1 = face_box
        mask[y0:y1, x0:x1] = 0
    pts = cv2.goodFeaturesToTrack(prev, 80, 0.01, 4, mask=mask)
    if pts is None or len(pts) < 8:
        return 0.0
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, winSize=(15, 15), maxLevel=2)
    good = st.ravel() == 1
    if good.sum() < 8:
        return 0.0
    d = (nxt - pts).reshape(-1, 2)[good]
    return float(np.linalg.norm(np.median(d, axis=0))) / prev.shape[1]


def track_frames(
    frames: Iterable[tuple[float, np.ndarray]],
    n_expected: int,
    source_size: tuple[int, int] | None = None,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Track:
    """Run the face mesh over (time, RGB frame) pairs."""
    fm = _face_mesh()
    times, lms, oks, nf, br, th, bs = [], [], [], [], [], [], []
    size = source_size or (0, 0)
    prev_motion = None
    samples: list[np.ndarray] = []
    sample_at = set(np.linspace(0, max(0, n_expected - 1), N_SAMPLES).astype(int).tolist())
    try:
        for i, (t, small) in enumerate(frames):
            if cancelled is not None and cancelled():
                raise InterruptedError("build cancelled")
            # `small` may come scaled down by the decoder; landmarks are kept in source pixels
            sh, sw = small.shape[:2]
            w, h = size if source_size else (sw, sh)
            size = (w, h)
            scale = sw / w
            if i in sample_at:
                samples.append(small)
            res = fm.process(small)
            faces = res.multi_face_landmarks or []
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
            thumb = cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
            ms = MOTION_SIDE / max(w, h)
            motion = cv2.resize(grey, (int(w * ms), int(h * ms)), interpolation=cv2.INTER_AREA)
            box_t = None
            if faces:
                pts = np.array([(p.x * w, p.y * h, p.z * w) for p in faces[0].landmark], np.float32)
                pts = pts[:N_LANDMARKS]
                x0, y0 = np.maximum(pts[:, :2].min(0), 0).astype(int)
                x1, y1 = pts[:, :2].max(0).astype(int)
                fx0, fy0, fx1, fy1 = (int(v * scale) for v in (x0, y0, x1, y1))
                face = grey[fy0 : max(fy1, fy0 + 1), fx0 : max(fx1, fx0 + 1)]
                br.append(float(face.mean()) if face.size else float(grey.mean()))
                # the face box in motion-frame pixels, with a margin for hair and shoulders
                sx, sy = ms, ms
                mx, my = (x1 - x0) * 0.4, (y1 - y0) * 0.4
                box_t = (
                    max(0, int((x0 - mx) * sx)),
                    max(0, int((y0 - my) * sy)),
                    min(motion.shape[1], int((x1 + mx) * sx) + 1),
                    motion.shape[0],
                )
                lms.append(pts)
                oks.append(True)
            else:
                br.append(float(grey.mean()))
                lms.append(np.zeros((N_LANDMARKS, 3), np.float32))
                oks.append(False)
            nf.append(len(faces))
            bs.append(0.0 if prev_motion is None else _bg_shift(prev_motion, motion, box_t))
            prev_motion = motion
            th.append(thumb)
            times.append(t)
            if progress is not None and i % 10 == 0:
                progress(min(1.0, (i + 1) / max(1, n_expected)))
            if i % TRIM_EVERY == TRIM_EVERY - 1:
                release_memory()
    finally:
        fm.close()
    if not times:
        return Track(
            np.zeros(0),
            np.zeros((0, N_LANDMARKS, 3), np.float32),
            np.zeros(0, bool),
            np.zeros(0, int),
            np.zeros(0),
            np.zeros((0, THUMB, THUMB), np.uint8),
            np.zeros(0),
            size,
        )
    return Track(
        np.array(times),
        np.stack(lms),
        np.array(oks),
        np.array(nf),
        np.array(br),
        np.stack(th),
        np.array(bs),
        size,
        samples,
        samples[0].shape[1] / size[0] if samples else 1.0,
    )
