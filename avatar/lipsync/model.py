"""The small learned audio-to-mouth model: context stacking and a numpy MLP (no framework).

Input for a video frame centred at feature frame k: the 10 ms features averaged over three
frames around k + 2j for j = -back..ahead (20 ms steps), normalised by the training set's mean and
spread. Output: (jaw_open, lip_width, lip_round, lip_press). Weights live in `models/*.npz`,
made by `scripts/train_lipsync.py` from synthetic speech.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.lipsync.features import HOP, WIN

MODEL_DIR = Path(__file__).parent / "models"


def context_index(k: np.ndarray | int, back: int, ahead: int) -> np.ndarray:
    """Feature-frame indices (…, positions, 3) of the stacked context of centre frame(s) k."""
    k = np.asarray(k)
    pos = k[..., None] + 2 * np.arange(-back, ahead + 1)
    return pos[..., None] + np.array([-1, 0, 1])


def stack(feats: np.ndarray, k: np.ndarray | int, back: int, ahead: int) -> np.ndarray:
    """Stacked context rows for centre frame(s) k; indices outside the features are clamped."""
    idx = np.clip(context_index(k, back, ahead), 0, len(feats) - 1)
    ctx = feats[idx].mean(axis=-2)  # (..., positions, N_FEAT)
    return ctx.reshape(*ctx.shape[:-2], -1)


@dataclass
class MouthMLP:
    """ReLU MLP with per-input normalisation; `back`/`ahead` are context sizes in 20 ms steps."""

    weights: list[tuple[np.ndarray, np.ndarray]]
    mu: np.ndarray
    sd: np.ndarray
    back: int
    ahead: int

    @property
    def ahead_s(self) -> float:
        """Audio needed beyond a frame's centre before it can be predicted (seconds)."""
        last_frame = 2 * self.ahead + 1
        return (last_frame * HOP + WIN // 2) / 16000.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mu) / self.sd
        for i, (w, b) in enumerate(self.weights):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return h

    def save(self, path: Path) -> None:
        arrays = {f"w{i}": w.astype(np.float16) for i, (w, _) in enumerate(self.weights)}
        arrays |= {f"b{i}": b.astype(np.float32) for i, (_, b) in enumerate(self.weights)}
        np.savez_compressed(
            path, mu=self.mu.astype(np.float32), sd=self.sd.astype(np.float32),
            back=self.back, ahead=self.ahead, **arrays,
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> MouthMLP:
        d = np.load(path)
        n = sum(1 for k in d.files if k.startswith("w"))
        weights = [(d[f"w{i}"].astype(np.float32), d[f"b{i}"].astype(np.float32)) for i in range(n)]
        return cls(weights, d["mu"], d["sd"], int(d["back"]), int(d["ahead"]))


def model_path(lookahead_ms: int) -> Path:
    return MODEL_DIR / f"mouth_mlp_la{lookahead_ms:03d}.npz"


@functools.lru_cache(maxsize=8)
def shipped_model(lookahead_ms: int) -> MouthMLP:
    """The model shipped for a look-ahead, read once per process (every drive makes a tracker;
    the weights are only read, never changed, so trackers share them)."""
    return MouthMLP.load(model_path(lookahead_ms))
