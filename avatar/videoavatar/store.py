"""A compact on-disk list of images: encoded bytes in one file, offsets in another.

Loop frames and mouth crops are kept as JPEG (alpha mattes as PNG), so an avatar of a long
recording stays a few tens of MB and loads quickly; the renderer decodes one frame per call.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageListWriter:
    """Appends RGB (or single-channel) images to `<stem>.bin` and writes `<stem>.idx.npy` on close."""

    def __init__(self, folder: Path, stem: str, ext: str = ".jpg", quality: int = 92) -> None:
        self._f = (folder / f"{stem}.bin").open("wb")
        self._idx_path = folder / f"{stem}.idx.npy"
        self._offsets = [0]
        self._ext = ext
        self._params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []

    def add(self, img: np.ndarray) -> None:
        bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(self._ext, bgr, self._params)
        if not ok:
            raise RuntimeError("image encoding failed")
        self._f.write(buf.tobytes())
        self._offsets.append(self._offsets[-1] + len(buf))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def close(self) -> None:
        self._f.close()
        np.save(self._idx_path, np.array(self._offsets, np.int64))


class ImageList:
    """Read side of ImageListWriter: the encoded bytes stay in memory, decoded on demand."""

    def __init__(self, folder: Path, stem: str) -> None:
        self._data = (folder / f"{stem}.bin").read_bytes()
        self._offsets = np.load(folder / f"{stem}.idx.npy")

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def raw(self, i: int) -> np.ndarray:
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        return np.frombuffer(self._data, np.uint8, b - a, a)

    def bgr(self, i: int) -> np.ndarray:
        return cv2.imdecode(self.raw(i), cv2.IMREAD_COLOR)

    def rgb(self, i: int) -> np.ndarray:
        return cv2.cvtColor(self.bgr(i), cv2.COLOR_BGR2RGB)

    def grey(self, i: int) -> np.ndarray:
        return cv2.imdecode(self.raw(i), cv2.IMREAD_GRAYSCALE)
