"""Action previews (the `PreviewUrl` of each of an avatar's Actions): a short GIF of the avatar
playing the action, rendered on first request and cached in the avatar's folder."""

from __future__ import annotations

import asyncio
from pathlib import Path

PREVIEW_S = 2.0
PREVIEW_FPS = 10
PREVIEW_MAX = 256

_locks: dict[str, asyncio.Lock] = {}


def _render(folder: Path, name: str, out: Path) -> None:
    import cv2
    from PIL import Image

    from avatar.build.photo_preview import save_gif
    from avatar.motion import ActionPlayer, IdleMotion
    from avatar.registry import load_renderer

    renderer = load_renderer(folder)
    idle, player = IdleMotion(), ActionPlayer()
    player.start(name, 0.0)
    frames = []
    for i in range(int(PREVIEW_S * PREVIEW_FPS)):
        t = i / PREVIEW_FPS
        rgba = renderer.render(player.apply(idle.params_at(t), t), t)
        h, w = rgba.shape[:2]
        s = PREVIEW_MAX / max(h, w)
        if s < 1:
            rgba = cv2.resize(rgba, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        frames.append(Image.fromarray(rgba[..., :3]))
    save_gif(frames, out, PREVIEW_FPS)


async def action_preview(services, dh_id: str, name: str) -> Path | None:  # type: ignore[no-untyped-def]
    from store.models import DigitalHuman

    async with services.db() as s:
        row = await s.get(DigitalHuman, dh_id)
    if row is None or row.status != 2 or name not in (row.actions or []):
        return None
    folder = services.avatars_dir / dh_id
    out = folder / "previews" / f"{name}.gif"
    lock = _locks.setdefault(f"{dh_id}/{name}", asyncio.Lock())
    async with lock:
        if not out.exists():
            out.parent.mkdir(exist_ok=True)
            await asyncio.to_thread(_render, folder, name, out)
    return out
