"""Building a digital human from a source file in a worker thread, with Progress and FailReason.

The record is created first with Status 1 (building); the avatar folder is written by the
kind's builder (avatar.registry) and gets a preview picture; on failure the folder is removed
and the record says why (Status 3), so nothing half-made is ever used.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import cv2

from store.models import DigitalHuman

log = logging.getLogger(__name__)


def build_folder(kind: str, source: Path, folder: Path, hint: dict | None, progress) -> dict:  # type: ignore[no-untyped-def]
    """Blocking: build the avatar and render its preview. Raises on failure."""
    from avatar.registry import build_avatar, load_renderer
    from avatar.types import REST_PARAMS

    meta = build_avatar(kind, source, folder, hint, progress)
    renderer = load_renderer(folder)
    rgba = renderer.render(REST_PARAMS, 0.0)
    cv2.imwrite(str(folder / "preview.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    actions = list(dict.fromkeys([*meta.get("actions", []), *renderer.action_names()]))
    meta["actions"] = actions
    return meta


def generic_actions() -> list[str]:
    try:
        from avatar.motion import ActionPlayer

        return ActionPlayer().names()
    except Exception:
        return []


async def run_build(
    services,
    dh_id: str,
    kinds: list[str],
    source: Path,
    hint: dict | None = None,
    fallback_on_any_error: bool = False,
    kind_hints: dict[str, dict] | None = None,
) -> bool:
    """Build into the avatar's folder, trying `kinds` in order: the next kind is tried when a
    kind's module is not installed (or, with `fallback_on_any_error`, when it fails at all).
    `kind_hints` replaces `hint` for the kinds it names. Updates the record's Progress/Status. Returns True when the avatar is ready."""
    folder = services.avatars_dir / dh_id
    loop = asyncio.get_running_loop()
    last_write = 0.0

    def progress(p: int) -> None:
        # Called from the worker thread: hand the number to the event loop, throttled.
        nonlocal last_write
        now = time.monotonic()
        if now - last_write > 0.5 or p >= 100:
            last_write = now
            loop.call_soon_threadsafe(
                lambda: services.spawn(_set(services, dh_id, progress=min(p, 99)), "progress")
            )

    error = "no avatar kind given"
    for kind in kinds:
        shutil.rmtree(folder, ignore_errors=True)
        try:
            kind_hint = (kind_hints or {}).get(kind, hint)
            meta = await asyncio.to_thread(build_folder, kind, source, folder, kind_hint, progress)
        except asyncio.CancelledError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except Exception as e:
            log.warning("building %s as %s failed: %s", dh_id, kind, e)
            error = str(e) or type(e).__name__
            if isinstance(e, ImportError) or fallback_on_any_error:
                continue
            break
        actions = list(dict.fromkeys([*meta.get("actions", []), *generic_actions()]))
        await _set(
            services, dh_id, status=2, progress=100, kind=kind, actions=actions, fail_reason=None
        )
        return True
    shutil.rmtree(folder, ignore_errors=True)
    await _set(services, dh_id, status=3, fail_reason=error)
    return False


async def _set(services, dh_id: str, **values) -> None:  # type: ignore[no-untyped-def]
    async with services.db() as s, s.begin():
        row = await s.get(DigitalHuman, dh_id)
        if row is None or (row.status != 1 and "status" not in values):
            return
        for k, v in values.items():
            setattr(row, k, v)
