"""Facial landmarks (mediapipe face mesh, 478 points) in pixel coordinates, small faces included.

mediapipe 0.10.21 ships its face-detection and face-mesh models inside the wheel, so this runs
offline. The mesh's own detector only sees faces that fill a good part of the picture, so faces
are first found with the full-range face detector and each one is meshed on an upscaled crop
around it; the whole picture is meshed directly as a fallback.

Also the mouth and eye opening measures the lip-sync evaluation and the tests use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

# Landmark indices of the 478-point refined mesh used across the project.
UPPER_INNER_LIP = 13
LOWER_INNER_LIP = 14
RIGHT_EYE_OUTER = 33  # the subject's right eye, on the image's left
LEFT_EYE_OUTER = 263
RIGHT_EYE_INNER = 133
LEFT_EYE_INNER = 362
RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 159, 145
LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 386, 374
MOUTH_LEFT_CORNER, MOUTH_RIGHT_CORNER = 291, 61

_CROP_FACE_PX = 320  # a face is meshed on a crop where it is about this wide
_MAX_FULL_SIDE = 1280  # the whole-picture fallback runs on a copy no larger than this


@dataclass(slots=True)
class FaceLandmarks:
    """One face: 478 points in pixels of the analysed picture.

    points: N×2 float32 (x, y); z: N float32 depth in pixels (smaller = nearer the camera);
    box: (x, y, w, h) of the face in pixels; score: detector confidence in [0, 1].
    """

    points: np.ndarray
    z: np.ndarray
    box: tuple[float, float, float, float]
    score: float

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.points[RIGHT_EYE_OUTER] - self.points[LEFT_EYE_OUTER]))


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap (13–14) divided by the outer-eye-corner distance (33–263): scale-free."""
    gap = np.linalg.norm(points[UPPER_INNER_LIP] - points[LOWER_INNER_LIP])
    eyes = np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER])
    return float(gap / max(eyes, 1e-6))


def eye_opening(points: np.ndarray) -> float:
    """Mean lid gap of both eyes divided by each eye's corner-to-corner width (≈0.3 open, ≈0 shut)."""
    r = np.linalg.norm(points[RIGHT_EYE_TOP] - points[RIGHT_EYE_BOTTOM]) / max(
        np.linalg.norm(points[RIGHT_EYE_OUTER] - points[RIGHT_EYE_INNER]), 1e-6
    )
    left = np.linalg.norm(points[LEFT_EYE_TOP] - points[LEFT_EYE_BOTTOM]) / max(
        np.linalg.norm(points[LEFT_EYE_OUTER] - points[LEFT_EYE_INNER]), 1e-6
    )
    return float((r + left) / 2)


class FaceLandmarker:
    """Face detector + face mesh pair. Not thread-safe: use one per thread or `detect_faces`."""

    def __init__(self, min_confidence: float = 0.3) -> None:
        from mediapipe.python.solutions import face_detection, face_mesh

        self._detector = face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence
        )
        self._mesh = face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=min_confidence,
        )
        self._mesh_many = face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=4,
            refine_landmarks=True,
            min_detection_confidence=min_confidence,
        )

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()
        self._mesh_many.close()

    def detect(
        self, rgb: np.ndarray, max_faces: int = 4, small_faces: bool = True
    ) -> list[FaceLandmarks]:
        """All faces in an RGB uint8 picture, largest first. `small_faces=False` skips the tiled
        search for faces a few dozen pixels wide (faster, e.g. for video frames)."""
        rgb = np.ascontiguousarray(rgb[..., :3])
        faces: list[FaceLandmarks] = []
        for box, score in self._boxes(rgb, small_faces)[: max_faces * 2]:
            face = self._mesh_crop(rgb, box, score)
            if face is not None and not any(_iou(face.box, f.box) > 0.3 for f in faces):
                faces.append(face)
        # The detector can miss stylised faces the mesh still finds: mesh the whole picture too
        # (unless enough faces were found already).
        if len(faces) < max_faces:
            for face in self._mesh_full(rgb):
                if not any(_iou(face.box, f.box) > 0.3 for f in faces):
                    faces.append(face)
        faces.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)
        return faces[:max_faces]

    def mesh_in_box(
        self, rgb: np.ndarray, box: tuple[float, float, float, float]
    ) -> FaceLandmarks | None:
        """Mesh the face inside a given box (x, y, w, h), e.g. a user's hint."""
        return self._mesh_crop(np.ascontiguousarray(rgb[..., :3]), box, 1.0)

    def _boxes(
        self, rgb: np.ndarray, small_faces: bool = True
    ) -> list[tuple[tuple[float, float, float, float], float]]:
        h, w = rgb.shape[:2]
        out: list[tuple[tuple[float, float, float, float], float]] = []
        # The whole picture, then overlapping tiles: a face a few dozen pixels wide in a large
        # picture is too small for the detector once the picture is scaled to its input size.
        views = [(0, 0, w, h)]
        tile = 512
        if small_faces and max(h, w) > tile * 1.25:
            step = tile * 3 // 4
            for y in range(0, max(h - tile, 0) + step, step):
                for x in range(0, max(w - tile, 0) + step, step):
                    views.append((x, y, min(tile, w - x), min(tile, h - y)))
        for vx, vy, vw, vh in views:
            view = rgb[vy : vy + vh, vx : vx + vw]
            s = min(1.0, 1024 / max(vw, vh))
            if s < 1.0:
                view = cv2.resize(
                    view, (round(vw * s), round(vh * s)), interpolation=cv2.INTER_AREA
                )
            res = self._detector.process(np.ascontiguousarray(view))
            for d in res.detections or []:
                bb = d.location_data.relative_bounding_box
                box = (vx + bb.xmin * vw, vy + bb.ymin * vh, bb.width * vw, bb.height * vh)
                score = float(d.score[0])
                if not any(_iou(box, b) > 0.3 for b, _ in out):
                    out.append((box, score))
        out.sort(key=lambda b: b[0][2] * b[0][3], reverse=True)
        return out

    def _mesh_crop(
        self, rgb: np.ndarray, box: tuple[float, float, float, float], score: float
    ) -> FaceLandmarks | None:
        h, w = rgb.shape[:2]
        bx, by, bw, bh = box
        side = max(bw, bh) * 2.2  # the mesh wants the face in the middle with room around it
        cx, cy = bx + bw / 2, by + bh / 2
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        side_i = int(round(side))
        scale = _CROP_FACE_PX * 2.2 / side
        # Affine crop with border replicate so faces at the picture's edge still mesh.
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
        out_side = max(64, int(round(side_i * scale)))
        crop = cv2.warpAffine(
            rgb,
            m,
            (out_side, out_side),
            flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REPLICATE,
        )
        res = self._mesh.process(crop)
        if not res.multi_face_landmarks:
            return None
        pts, z = _to_pixels(res.multi_face_landmarks[0], out_side, out_side)
        pts = pts / scale + np.array([x0, y0], np.float32)
        z = z / scale
        return FaceLandmarks(
            pts.astype(np.float32), z.astype(np.float32), _box_of(pts, w, h), score
        )

    def _mesh_full(self, rgb: np.ndarray) -> list[FaceLandmarks]:
        h, w = rgb.shape[:2]
        s = min(1.0, _MAX_FULL_SIDE / max(h, w))
        img = rgb if s == 1.0 else cv2.resize(rgb, (round(w * s), round(h * s)), cv2.INTER_AREA)
        res = self._mesh_many.process(np.ascontiguousarray(img))
        faces = []
        for lm in res.multi_face_landmarks or []:
            pts, z = _to_pixels(lm, img.shape[1], img.shape[0])
            pts, z = pts / s, z / s
            faces.append(FaceLandmarks(pts, z, _box_of(pts, w, h), 0.5))
        return faces


def _to_pixels(lm, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    arr = np.array([(p.x * w, p.y * h, p.z * w) for p in lm.landmark], np.float32)
    return arr[:, :2].copy(), arr[:, 2].copy()


def _box_of(pts: np.ndarray, w: int, h: int) -> tuple[float, float, float, float]:
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


_local = threading.local()


def _landmarker() -> FaceLandmarker:
    # One model pair per thread: mediapipe graphs are not thread-safe, and loading costs ~50 ms.
    lm = getattr(_local, "landmarker", None)
    if lm is None:
        lm = _local.landmarker = FaceLandmarker()
    return lm


def detect_faces(
    rgb: np.ndarray, max_faces: int = 4, small_faces: bool = True
) -> list[FaceLandmarks]:
    """All faces (up to `max_faces`, largest first) in an RGB uint8 picture, in its pixels.

    For one face per video frame, `detect_faces(frame, 1, small_faces=False)` is the fast path
    (one detector and one mesh run, ~10 ms)."""
    return _landmarker().detect(rgb, max_faces, small_faces)


def mesh_in_box(rgb: np.ndarray, box: tuple[float, float, float, float]) -> FaceLandmarks | None:
    """The face mesh inside a box (x, y, w, h) given by the caller; None if none is found."""
    return _landmarker().mesh_in_box(rgb, box)
