"""Action previews of a photo avatar: one short looping GIF per action, rendered at build time.

Written to `previews/<action>.gif` in the avatar's folder (where the API serves PreviewUrl from),
cropped to the head and shoulders so small faces in full-body pictures stay visible.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from avatar.motion import ActionPlayer, IdleMotion, action_duration
from avatar.types import AvatarRenderer

PREVIEW_FPS = 10
PREVIEW_MAX = 256


def preview_crop(renderer: AvatarRenderer) -> tuple[int, int, int, int]:
    """Head-and-shoulders box (x0, y0, x1, y1) of a photo renderer's frames."""
    w, h = renderer.size
    rig = getattr(renderer, "rig", None)
    if rig is None:
        return 0, 0, w, h
    cx, cy = rig.frame.origin
    side = min(max(4.2 * rig.E, 64), max(w, h))
    x0 = int(np.clip(cx - side / 2, 0, max(w - side, 0)))
    y0 = int(np.clip(cy - side * 0.55, 0, max(h - side, 0)))
    return x0, y0, int(min(x0 + side, w)), int(min(y0 + side, h))


def _small_renderer(renderer: AvatarRenderer) -> AvatarRenderer | None:
    """A photo renderer on the preview crop at preview size (None for other renderers)."""
    import cv2

    from avatar.render.photo import PhotoRenderer
    from avatar.render.photo_rig import PhotoRig

    if not isinstance(renderer, PhotoRenderer):
        return None
    rig = renderer.rig
    x0, y0, x1, y1 = preview_crop(renderer)
    s = min(1.0, PREVIEW_MAX / max(x1 - x0, y1 - y0))
    size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
    rgba = cv2.resize(rig.rgba[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(rig.person_alpha[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    pts = ((rig.points - [x0, y0]) * s).astype(np.float32)
    try:
        small = PhotoRig(rgba, mask, pts, (rig.z_source * s).astype(np.float32))
    except Exception:  # a crop too small to rig: render the full avatar instead
        return None
    return PhotoRenderer(small, renderer.action_names(), close_mouth_at_rest=renderer.close_at_rest)


def render_action(renderer: AvatarRenderer, name: str, fps: int = PREVIEW_FPS) -> list[np.ndarray]:
    """RGBA frames of `name` played once over idle life, plus a short rest after it."""
    idle, player = IdleMotion(seed=1), ActionPlayer()
    player.start(name, 0.0)
    n = int((action_duration(name) + 0.3) * fps)
    return [
        renderer.render(player.apply(idle.params_at(i / fps), i / fps), i / fps) for i in range(n)
    ]


def write_previews(
    renderer: AvatarRenderer, folder: Path, progress: Callable[[int], None] | None = None
) -> dict[str, str]:
    import cv2
    from PIL import Image

    out_dir = folder / "previews"
    out_dir.mkdir(exist_ok=True)
    small = _small_renderer(renderer)
    if small is not None:
        renderer = small  # the same avatar, cropped and scaled to the preview: ~10x faster
    x0, y0, x1, y1 = preview_crop(renderer) if small is None else (0, 0, *renderer.size)
    s = min(1.0, PREVIEW_MAX / max(x1 - x0, y1 - y0))
    size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
    names = renderer.action_names() or ActionPlayer().names()
    written: dict[str, str] = {}
    for k, name in enumerate(n for n in names if n in ActionPlayer().names()):
        frames = []
        palette = None
        for rgba in render_action(renderer, name):
            crop = cv2.resize(rgba[y0:y1, x0:x1, :3], size, interpolation=cv2.INTER_AREA)
            img = Image.fromarray(crop)
            # One fast palette for the whole clip: PIL's default per-frame quantizer is slow.
            if palette is None:
                palette = img.quantize(255, method=Image.Quantize.FASTOCTREE)
            frames.append(img.quantize(palette=palette, dither=Image.Dither.NONE))
        save_gif(frames, out_dir / f"{name}.gif")
        written[name] = f"previews/{name}.gif"
        if progress:
            progress((k + 1) * 100 // len(names))
    return written


def save_gif(frames: list, path: Path, fps: int = PREVIEW_FPS) -> None:
    """A looping GIF of PIL images, written atomically (readers never see half a file)."""
    tmp = path.with_suffix(".tmp")
    frames[0].save(
        tmp, format="GIF", save_all=True, append_images=frames[1:], duration=1000 // fps, loop=0
    )
    tmp.replace(path)
