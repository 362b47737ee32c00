"""Build checks for a recording, each with a reason a user can act on.

The limits are settings (`VideoChecks`); `min_duration_s` defaults to 5 s, below the 10 s the
product asks for, so that the short clips used in tests build. A server can raise it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from avatar.face.landmarks import detect_faces
from avatar.registry import AvatarBuildError
from avatar.videoavatar import geometry as g
from avatar.videoavatar.track import Track


@dataclass(frozen=True, slots=True)
class VideoChecks:
    min_duration_s: float = 5.0
    max_duration_s: float = 600.0
    max_side: int = 2560  # up to 2K
    min_face_share: float = 0.8  # frames with a tracked face
    max_multi_face_share: float = 0.1  # frames with more than one face
    min_eye_distance_px: float = 40.0  # eye corner to eye corner
    min_brightness: float = 45.0  # mean luma of the face, 0..255
    max_camera_motion: float = 0.004  # median background shift per frame, in frame widths
    max_frontal_angle: float = 25.0  # yaw and pitch, degrees
    min_frontal_s: float = 1.0  # frontal frames needed, in seconds

    @classmethod
    def from_hint(cls, hint: dict | None) -> VideoChecks:
        """Overrides from the build hint, e.g. {"min_duration_s": 3}."""
        hint = hint or {}
        names = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in hint.items() if k in names})  # type: ignore[arg-type]


def _too_small(eye_px: float, c: VideoChecks) -> str:
    return (
        f"face too small: {eye_px:.0f} px between the eye corners, at least "
        f"{c.min_eye_distance_px:.0f} px needed (move closer or record in higher resolution)"
    )


def _too_dark(level: float, c: VideoChecks) -> str:
    return (
        f"too dark: brightness {level:.0f}/255, at least {c.min_brightness:.0f} needed (add light)"
    )


def check_source(duration_s: float, width: int, height: int, c: VideoChecks) -> None:
    if duration_s < c.min_duration_s:
        raise AvatarBuildError(
            f"recording too short: {duration_s:.1f} s, at least {c.min_duration_s:.0f} s needed"
        )
    if duration_s > c.max_duration_s:
        raise AvatarBuildError(
            f"recording too long: {duration_s:.0f} s, at most {c.max_duration_s:.0f} s"
        )
    if max(width, height) > c.max_side:
        raise AvatarBuildError(
            f"video too large: {width}x{height}, at most {int(c.max_side)} px on the long side"
        )


def check_track(tr: Track, fps: float, c: VideoChecks) -> np.ndarray:
    """Raise AvatarBuildError when the recording cannot become an avatar; return the frontal
    frames (bool per frame)."""
    n = len(tr.times)
    # the full detector (small faces included) on a few frames: how many faces, how large
    found = [detect_faces(f) for f in tr.samples]
    sizes = [[f.eye_distance / tr.sample_scale for f in faces] for faces in found]
    several = sum(len(s) > 1 and s[1] > 0.5 * s[0] for s in sizes)
    if several > len(sizes) / 2 or (tr.n_faces > 1).mean() > c.max_multi_face_share:
        raise AvatarBuildError("several faces in the recording: one person only")
    main = [s[0] for s in sizes if s]
    if len(main) > len(sizes) / 2 and np.median(main) < c.min_eye_distance_px:
        raise AvatarBuildError(_too_small(float(np.median(main)), c))
    if n and np.median(tr.brightness) < c.min_brightness and tr.ok.mean() < c.min_face_share:
        raise AvatarBuildError(_too_dark(float(np.median(tr.brightness)), c))
    if n == 0 or not tr.ok.any():
        raise AvatarBuildError("no face found in the recording")
    if tr.ok.mean() < c.min_face_share:
        raise AvatarBuildError(
            f"the face is lost in {100 * (1 - tr.ok.mean()):.0f}% of the frames "
            "(keep the whole face in view)"
        )
    iod = np.array([g.eye_distance(lm) for lm in tr.landmarks[tr.ok]])
    if np.median(iod) < c.min_eye_distance_px:
        raise AvatarBuildError(_too_small(float(np.median(iod)), c))
    if np.median(tr.brightness[tr.ok]) < c.min_brightness:
        raise AvatarBuildError(_too_dark(float(np.median(tr.brightness[tr.ok])), c))
    if n > 2 and np.median(tr.bg_shift[1:]) > c.max_camera_motion:
        raise AvatarBuildError("too much camera motion: use a tripod or hold the camera still")
    poses = np.zeros((n, 3))
    poses[tr.ok] = [g.head_pose(lm) for lm in tr.landmarks[tr.ok]]
    frontal = (
        tr.ok
        & (np.abs(poses[:, 0]) <= c.max_frontal_angle)
        & (np.abs(poses[:, 1]) <= c.max_frontal_angle)
    )
    if frontal.sum() < c.min_frontal_s * fps:
        raise AvatarBuildError("no frontal frames: look at the camera for at least a second")
    return frontal
