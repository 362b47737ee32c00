"""Face landmarks: 478 points in pixels on a real portrait, small faces in large pictures found,
and the mouth/eye opening measures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.face.landmarks import detect_faces, eye_opening, mouth_opening


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def test_portrait(astronaut: np.ndarray) -> None:
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    f = faces[0]
    assert f.points.shape == (478, 2) and f.z.shape == (478,) and f.points.dtype == np.float32
    x, y, w, h = f.box
    assert 150 < x < 220 and 40 < y < 110 and 70 < w < 130 and 80 < h < 140
    assert f.points[33, 0] < f.points[263, 0]  # image-left eye first
    assert 0.05 < mouth_opening(f.points) < 0.2  # she smiles with parted lips
    assert 0.2 < eye_opening(f.points) < 0.5


def test_small_face_in_a_large_picture(astronaut: np.ndarray) -> None:
    canvas = np.full((2400, 2400, 3), 128, np.uint8)
    canvas[1500:1756, 300:556] = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    faces = detect_faces(canvas)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 370 < x < 410 and 1510 < y < 1560 and 35 < w < 60


def test_no_face() -> None:
    assert detect_faces(np.full((300, 300, 3), 90, np.uint8)) == []


def test_measures_are_scale_free(astronaut: np.ndarray) -> None:
    f = detect_faces(astronaut)[0]
    assert mouth_opening(f.points * 3) == pytest.approx(mouth_opening(f.points), rel=1e-5)
    closed = f.points.copy()
    closed[14] = closed[13]
    assert mouth_opening(closed) == 0.0
