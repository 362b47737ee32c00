"""Compositor: background colour or cover-scaled image, avatar and assets placed by Layout in
layer order, transparent avatars blended, output sizes up to 1080×1920 / 1920×1080."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.compose import Asset, Compositor, Layout, Scene, cover


def _solid(w: int, h: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    img = np.empty((h, w, 4), np.uint8)
    img[:] = rgba
    return img


def test_colour_background_and_default_fit() -> None:
    comp = Compositor(Scene(1080, 1920, background_rgba=(10, 20, 30, 255)), (512, 512))
    out = comp.compose(_solid(512, 512, (200, 0, 0, 255)))
    assert out.shape == (1920, 1080, 4)
    lay = comp.avatar_layout
    assert (lay.width, lay.height) == (1080, 1080) and lay.top + lay.height == 1920
    assert tuple(out[10, 10]) == (10, 20, 30, 255)
    assert tuple(out[1500, 540]) == (200, 0, 0, 255)


def test_background_image_covers_without_distortion() -> None:
    # Left half red, right half blue, 2:1 → covering 1080×1920 keeps the middle (both colours).
    bg = np.zeros((100, 200, 4), np.uint8)
    bg[:, :100] = (255, 0, 0, 255)
    bg[:, 100:] = (0, 0, 255, 255)
    out = cover(bg, 1080, 1920)
    assert out.shape == (1920, 1080, 4)
    assert tuple(out[960, 100]) == (255, 0, 0, 255) and tuple(out[960, 1000]) == (0, 0, 255, 255)


def test_layers_in_order_and_alpha_blending() -> None:
    behind = Asset(_solid(100, 100, (0, 255, 0, 255)), Layout(0, 0, 300, 300, 0))
    front = Asset(_solid(50, 50, (0, 0, 255, 128)), Layout(200, 200, 200, 200, 5))
    scene = Scene(
        1920,
        1080,
        (0, 0, 0, 255),
        assets=[front, behind],
        avatar_layout=Layout(100, 100, 400, 400, 1),
        avatar_layer=1,
    )
    comp = Compositor(scene, (512, 512))
    avatar = _solid(512, 512, (255, 0, 0, 255))
    avatar[:, :256, 3] = 0  # left half transparent: the green asset shows through
    out = comp.compose(avatar)
    assert out.shape == (1080, 1920, 4)
    assert tuple(out[50, 50]) == (0, 255, 0, 255)  # asset behind, outside the avatar
    assert tuple(out[250, 150]) == (0, 255, 0, 255)  # transparent part of the avatar
    assert tuple(out[150, 450]) == (255, 0, 0, 255)  # opaque avatar over the green asset
    r, g, b, a = out[350, 350]
    assert abs(int(r) - 127) <= 3 and b >= 125 and a == 255  # half-transparent blue in front
    assert tuple(out[900, 1800]) == (0, 0, 0, 255)


def test_transparent_background_keeps_straight_alpha() -> None:
    comp = Compositor(Scene(640, 360, (0, 0, 0, 0)), (100, 100))
    avatar = _solid(100, 100, (200, 100, 50, 255))
    avatar[:50] = (200, 100, 50, 0)
    out = comp.compose(avatar)
    assert tuple(out[0, 0]) == (0, 0, 0, 0)
    assert tuple(out[350, 320]) == (200, 100, 50, 255)
    assert out[10, 320, 3] == 0


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (640, 480)])
def test_output_sizes(size: tuple[int, int]) -> None:
    w, h = size
    bg = np.dstack(
        [
            np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8),
            np.full((300, 400), 255, np.uint8),
        ]
    )
    comp = Compositor(Scene(w, h, background_image=bg), (512, 512))
    assert comp.compose(_solid(512, 512, (1, 2, 3, 255))).shape == (h, w, 4)


def test_opaque_avatars_compose_the_same_into_a_given_buffer() -> None:
    """`avatar_opaque` skips looking at alpha, `out` receives the frame: same pictures."""
    avatar = np.random.default_rng(1).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    avatar[..., 3] = 255
    for scene in (Scene(64, 64), Scene(128, 96, background_rgba=(9, 8, 7, 255))):
        plain = Compositor(scene, (64, 64)).compose(avatar)
        out = np.zeros_like(plain)
        got = Compositor(scene, (64, 64), avatar_opaque=True).compose(avatar, out)
        assert got is out and np.array_equal(out, plain)
        assert not np.shares_memory(plain, avatar)
