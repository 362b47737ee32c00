"""Build a photo avatar from one picture (the "photo" kind of avatar.registry).

Checks the picture (readable, not too large), finds the face (landmarks, or a user's hint for
stylised faces the detector misses), refuses clearly (no face, face too small, several faces
without a hint), computes the person mask and writes what the renderer loads: `source.png` (the
working copy, at most WORK_MAX px a side), `mask.png`, `face.npz`, a rest `preview.png` and
one short GIF per action under `previews/`.

Hint keys (pixels of the uploaded picture, all optional): `FaceBox` [x, y, w, h] picks a face
or places a mean face mesh in the box; `LeftEye`, `RightEye`, `Mouth` [x, y] (all three) place
the mesh on a stylised face, any of them alone picks among detected faces; `RemoveBackground`
true makes frames transparent outside the person.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avatar.face.landmarks import FaceLandmarks, detect_faces, mesh_in_box
from avatar.motion import GENERIC_ACTIONS
from avatar.registry import AvatarBuildError, ProgressFn

MAX_SOURCE_SIDE = 4096
MIN_SOURCE_SIDE = 64
WORK_MAX = 1024  # the renderer works on a copy no larger than this (speed; plenty for video)
DETECT_MAX = 2048  # faces are searched on a copy no larger than this
MIN_EYE_PX = 14.0  # outer-eye distance in the working copy below which a face is too small
MIN_SCORE = 0.5
SECOND_FACE_AREA = 0.25  # another face this large (relative to the largest) is ambiguous


def read_picture(source: Path) -> np.ndarray:
    """RGBA uint8 of a JPEG/PNG/WebP file, or AvatarBuildError with the reason."""
    data = np.fromfile(str(source), np.uint8) if Path(source).exists() else None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None and data.size else None
    if img is None:
        raise AvatarBuildError("unreadable image: expected a JPEG, PNG or WebP picture")
    if img.dtype != np.uint8:
        img = (img / (256 if img.dtype == np.uint16 else 1)).clip(0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    h, w = img.shape[:2]
    if max(h, w) > MAX_SOURCE_SIDE:
        raise AvatarBuildError(f"image too large: {w}x{h}, at most {MAX_SOURCE_SIDE} px a side")
    if min(h, w) < MIN_SOURCE_SIDE:
        raise AvatarBuildError(f"image too small: {w}x{h}, at least {MIN_SOURCE_SIDE} px a side")
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def _resized(rgba: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = rgba.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s == 1.0:
        return rgba, 1.0
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(rgba, size, interpolation=cv2.INTER_AREA), s


def _hint_points(hint: dict, key: str) -> tuple[float, float] | None:
    for k, v in hint.items():
        if k.lower() == key.lower() and v is not None:
            if len(v) != 2:
                raise AvatarBuildError(f"hint {key} must be [x, y]")
            return float(v[0]), float(v[1])
    return None


def _hint_flag(hint: dict | None, key: str) -> bool:
    return any(k.lower() == key.lower() and bool(v) for k, v in (hint or {}).items())


def _hint_box(hint: dict) -> tuple[float, float, float, float] | None:
    for k, v in hint.items():
        if k.lower() == "facebox" and v is not None:
            if len(v) != 4 or v[2] <= 0 or v[3] <= 0:
                raise AvatarBuildError("hint FaceBox must be [x, y, width, height] with a size")
            return float(v[0]), float(v[1]), float(v[2]), float(v[3])
    return None


def _eye_centres(f: FaceLandmarks) -> np.ndarray:
    from avatar.face.geometry import EYE_A_LOWER, EYE_A_UPPER, EYE_B_LOWER, EYE_B_UPPER

    return np.stack(
        [f.points[EYE_A_UPPER + EYE_A_LOWER].mean(0), f.points[EYE_B_UPPER + EYE_B_LOWER].mean(0)]
    )


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    from avatar.face.landmarks import _iou as iou

    return iou(a, b)


def find_face(rgb: np.ndarray, hint: dict | None) -> tuple[FaceLandmarks, str]:
    """The face to animate (pixels of `rgb`) and how it was found: "detector", "hint-mesh" or
    "hint-template". Hint coordinates are in pixels of `rgb`."""
    from avatar.face import template

    faces = [f for f in detect_faces(rgb, max_faces=6) if f.score >= MIN_SCORE]
    hint = hint or {}
    box = _hint_box(hint)
    eyes = [_hint_points(hint, "LeftEye"), _hint_points(hint, "RightEye")]
    mouth = _hint_points(hint, "Mouth")
    if box is not None:
        best = max(faces, key=lambda f: _iou(f.box, box), default=None)
        if best is not None and _iou(best.box, box) > 0.15:
            return best, "detector"
        meshed = mesh_in_box(rgb, box)
        if meshed is not None and _iou(meshed.box, box) > 0.15:
            return meshed, "hint-mesh"
        return template.fit_to_box(box), "hint-template"
    if all(p is not None for p in (*eyes, mouth)):
        e = np.array(sorted(eyes), np.float32)
        d = float(np.linalg.norm(e[1] - e[0]))
        if d < 2:
            raise AvatarBuildError("hint eyes are at the same place")
        for f in faces:
            c = _eye_centres(f)
            if np.abs(c - e).max() < 0.35 * d:
                return f, "detector"
        centre = (e.mean(0) * 2 + np.array(mouth)) / 3
        guess = (centre[0] - 1.1 * d, centre[1] - 1.2 * d, 2.2 * d, 2.4 * d)
        meshed = mesh_in_box(rgb, guess)
        if meshed is not None and np.abs(_eye_centres(meshed) - e).max() < 0.35 * d:
            return meshed, "hint-mesh"
        return template.fit_to_points(tuple(e[0]), tuple(e[1]), mouth), "hint-template"
    given = [p for p in (*eyes, mouth) if p is not None]
    if given and not faces:
        raise AvatarBuildError("a point hint needs LeftEye, RightEye and Mouth together")
    if given:
        # A partial hint (e.g. only Mouth) still says which detected face is meant.
        def miss(f: FaceLandmarks) -> float:
            marks = {"e": _eye_centres(f), "m": (f.points[13] + f.points[14]) / 2}
            d = 0.0
            if mouth is not None:
                d += float(np.linalg.norm(marks["m"] - np.array(mouth)))
            for e in eyes:
                if e is not None:
                    d += float(np.linalg.norm(marks["e"] - np.array(e), axis=1).min())
            return d

        return min(faces, key=miss), "detector"
    if not faces:
        raise AvatarBuildError(
            "no face found: give a hint (FaceBox, or LeftEye, RightEye and Mouth points)"
        )
    largest = faces[0].box[2] * faces[0].box[3]
    rivals = [f for f in faces[1:] if f.box[2] * f.box[3] >= SECOND_FACE_AREA * largest]
    if rivals:
        raise AvatarBuildError(
            f"several faces found ({1 + len(rivals)}): give a FaceBox hint to choose one"
        )
    return faces[0], "detector"


def build(source: Path, folder: Path, hint: dict | None, progress: ProgressFn) -> dict[str, Any]:
    from avatar.face.mask import chroma_key_colour, despill, person_mask

    t0 = time.monotonic()
    rgba = read_picture(source)
    progress(5)
    h0, w0 = rgba.shape[:2]
    det, s_det = _resized(rgba, DETECT_MAX)
    det_hint = _scale_hint(hint, s_det) if hint else None
    face, how = find_face(np.ascontiguousarray(det[..., :3]), det_hint)
    progress(35)
    work, s_work = _resized(rgba, WORK_MAX)
    k = s_work / s_det
    points = face.points * k
    z = face.z * k
    eye_px = float(np.linalg.norm(points[33] - points[263]))
    if eye_px < MIN_EYE_PX:
        raise AvatarBuildError(
            f"face too small: the eyes are {eye_px / s_work:.0f} px apart in a {w0}x{h0} picture;"
            f" use a picture where the face is at least {MIN_EYE_PX / s_work * 2.5:.0f} px wide"
        )
    h, w = work.shape[:2]
    inside = (points[:, 0] > -0.1 * w) & (points[:, 0] < 1.1 * w) & (points[:, 1] > -0.1 * h)
    if inside.mean() < 0.8:
        raise AvatarBuildError("the face is cut off by the picture's edge")
    rgb = np.ascontiguousarray(work[..., :3])
    alpha = work[..., 3]
    # A cut-out picture (transparent background): its alpha is the person.
    cut_out = alpha.min() < 250
    mask = (alpha > 127).astype(np.uint8) * 255 if cut_out else person_mask(rgb, points)
    key = None if cut_out else chroma_key_colour(rgb)
    if key is not None:
        work = work.copy()
        work[..., :3] = despill(rgb, key, mask)
    progress(55)
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "source.png"), cv2.cvtColor(work, cv2.COLOR_RGBA2BGRA))
    cv2.imwrite(str(folder / "mask.png"), mask)
    np.savez_compressed(
        folder / "face.npz", points=points.astype(np.float32), z=z.astype(np.float32)
    )
    meta: dict[str, Any] = {
        "kind": "photo",
        "actions": list(GENERIC_ACTIONS),
        "size": [w, h],
        "source_size": [w0, h0],
        "face_box": [round(float(v) * k, 1) for v in face.box],
        "face_found_by": how,
        "eye_distance_px": round(eye_px, 1),
        # Hint {"RemoveBackground": true}: frames keep only the person (transparent elsewhere).
        "remove_background": bool(_hint_flag(hint, "RemoveBackground")),
    }
    renderer = load(folder, meta)
    meta["mouth_closed_at_rest"] = bool(renderer.close_at_rest)
    from avatar.build.photo_preview import write_previews
    from avatar.types import REST_PARAMS

    rest = renderer.render(REST_PARAMS, 0.0)
    cv2.imwrite(str(folder / "preview.png"), cv2.cvtColor(rest, cv2.COLOR_RGBA2BGRA))
    progress(65)
    meta["previews"] = write_previews(renderer, folder, lambda p: progress(65 + p * 30 // 100))
    meta["build_seconds"] = round(time.monotonic() - t0, 2)
    progress(100)
    return meta


def _scale_hint(hint: dict, s: float) -> dict:
    out: dict = {}
    for k, v in hint.items():
        if isinstance(v, list | tuple) and all(isinstance(x, int | float) for x in v):
            out[k] = [float(x) * s for x in v]
        else:
            out[k] = v
    return out


def load(folder: Path, meta: dict[str, Any]):  # -> PhotoRenderer
    from avatar.render.photo import PhotoRenderer
    from avatar.render.photo_rig import PhotoRig

    bgra = cv2.imread(str(folder / "source.png"), cv2.IMREAD_UNCHANGED)
    if bgra is None:
        raise AvatarBuildError("avatar files are missing")
    rgba = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)
    mask = cv2.imread(str(folder / "mask.png"), cv2.IMREAD_GRAYSCALE)
    face = np.load(folder / "face.npz")
    rig = PhotoRig(rgba, mask, face["points"], face["z"])
    return PhotoRenderer(
        rig,
        actions=meta.get("actions", list(GENERIC_ACTIONS)),
        remove_background=bool(meta.get("remove_background", False)),
        close_mouth_at_rest=meta.get("mouth_closed_at_rest"),
    )
