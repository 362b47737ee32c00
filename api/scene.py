"""From CreateDigitalHumanStreamTask's fields to the runtime's Scene (size, background, avatar
layout, asset images fetched under the server's URL rules)."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np

from api.fetch import Fetcher, FetchError
from avatar.compose import Asset, Layout, Scene

# Output size when VideoConfig gives none: portrait, by ExtraConfig.OutputMode (1 web, 2 mobile).
DEFAULT_SIZE = {1: (720, 1280), 2: (360, 640)}
ASSET_MAX_BYTES = 20 * 1024 * 1024


def parse_color(text: str) -> tuple[int, int, int, int]:
    """`#RRGGBB` or the older `#AARRGGBB` → RGBA."""
    h = text.lstrip("#")
    if len(h) == 6:
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255
    return int(h[2:4], 16), int(h[4:6], 16), int(h[6:8], 16), int(h[0:2], 16)


def to_layout(layout) -> Layout | None:  # type: ignore[no-untyped-def]
    if layout is None or not layout.Width or not layout.Height:
        return None
    return Layout(layout.Left, layout.Top, layout.Width, layout.Height, layout.Layer)


def _decode_rgba(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("not an image")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGBA)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGBA)


async def build_scene(req, fetcher: Fetcher) -> Scene:  # type: ignore[no-untyped-def]
    """Raises ValueError with a user-facing reason (the task then fails with Status 2)."""
    dh = req.DigitalHumanConfig
    mode = req.ExtraConfig.OutputMode if req.ExtraConfig else 1
    width, height = DEFAULT_SIZE.get(mode or 1, DEFAULT_SIZE[1])
    if req.VideoConfig is not None:
        width = req.VideoConfig.Width or width
        height = req.VideoConfig.Height or height
    scene = Scene(width=width, height=height, background_rgba=parse_color(dh.BackgroundColor))
    scene.avatar_layout = to_layout(dh.Layout)
    scene.avatar_layer = dh.Layout.Layer if dh.Layout else 0
    for i, a in enumerate(req.Assets or []):
        try:
            data = await fetcher.read(a.AssetUrl, ASSET_MAX_BYTES)
            rgba = await asyncio.to_thread(_decode_rgba, data)
        except (FetchError, ValueError) as e:
            raise ValueError(f"Assets[{i}].AssetUrl: {e}") from None
        layout = to_layout(a.Layout)
        if layout is None:
            # No layout: the asset is the background, covering the whole picture.
            scene.background_image = rgba
        else:
            scene.assets.append(Asset(rgba, layout))
    return scene
