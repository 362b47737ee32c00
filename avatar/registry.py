"""Avatars on disk: build one from a source file, load its renderer.

An avatar lives in its own folder with `avatar.json` ({"kind": ..., "actions": [...], ...}) and
whatever its kind's builder wrote there. Builders and renderers are looked up by kind, so photo and
video avatars (and later kinds) plug in without the API layer knowing them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avatar.types import AvatarRenderer

ProgressFn = Callable[[int], None]


class AvatarBuildError(Exception):
    """A source cannot become an avatar; the message is the FailReason shown to the user."""


# kind -> module with `build(source: Path, folder: Path, hint: dict | None, progress) -> dict`
# and `load(folder: Path, meta: dict) -> AvatarRenderer`.
KIND_MODULES: dict[str, str] = {
    "still": "avatar.registry",
    "photo": "avatar.build.photo",
    "video": "avatar.build.video",
}


def read_meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "avatar.json").read_text())


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    tmp = folder / "avatar.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(folder / "avatar.json")


def build_avatar(
    kind: str,
    source: Path,
    folder: Path,
    hint: dict | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Blocking CPU work: run it in a worker thread. Writes `avatar.json` last, so a folder
    without it is a half-made avatar that the caller deletes. Returns the meta dict."""
    module = importlib.import_module(KIND_MODULES[kind])
    folder.mkdir(parents=True, exist_ok=True)
    meta = module.build(source, folder, hint, progress or (lambda p: None))
    meta.setdefault("kind", kind)
    keywords = (hint or {}).get("keywords") or (hint or {}).get("Keywords")
    if isinstance(keywords, dict):  # words that start actions in text drives (any kind)
        meta.setdefault("keywords", {str(k): [str(w) for w in v] for k, v in keywords.items()})
    write_meta(folder, meta)
    return meta


def load_renderer(folder: Path) -> AvatarRenderer:
    meta = read_meta(folder)
    module = importlib.import_module(KIND_MODULES[meta["kind"]])
    return module.load(folder, meta)


# --- the "still" kind: a picture and a drawn mouth, needing no face model -----------------------


def build(source: Path, folder: Path, hint: dict | None, progress: ProgressFn) -> dict[str, Any]:
    img = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise AvatarBuildError("unreadable image")
    rgba = _to_rgba(img)
    cv2.imwrite(str(folder / "source.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    progress(100)
    mouth = (hint or {}).get("Mouth")
    return {"kind": "still", "mouth": mouth, "actions": []}


def load(folder: Path, meta: dict[str, Any]) -> AvatarRenderer:
    from avatar.render.still import StillImageRenderer

    bgra = cv2.imread(str(folder / "source.png"), cv2.IMREAD_UNCHANGED)
    mouth = tuple(meta["mouth"]) if meta.get("mouth") else None
    return StillImageRenderer(_to_rgba(bgra), mouth)


def _to_rgba(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGBA)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGBA)
