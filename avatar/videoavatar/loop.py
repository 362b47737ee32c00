"""Choosing the idle loop: a stretch of the recording whose end leads back into its start.

The loop is frames [start, end). Its last `fade` frames are cross-faded towards the frames just
before `start`, so that playing frame end-1 and then frame start is the same as playing frame
start-1 and then start: no jump. Cut points are chosen where the frames around them match
(grey thumbnails and head position), preferring quiet stretches (mouth mostly closed), since
silent stretches show the person's real lips.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_SEARCH_FRAMES = 1500  # longer recordings are searched on a subsampled grid


@dataclass(frozen=True, slots=True)
class LoopPlan:
    start: int
    end: int
    fade: int
    cost: float

    @property
    def length(self) -> int:
        return self.end - self.start


def frame_distances(thumbs: np.ndarray, head_xy: np.ndarray) -> np.ndarray:
    """(N, N) dissimilarity: mean abs grey difference of 16×16 thumbnails plus head shift."""
    small = np.stack(
        [cv2.resize(t, (16, 16), interpolation=cv2.INTER_AREA) for t in thumbs]
    ).reshape(len(thumbs), -1)
    small = small.astype(np.float32) / 255.0
    sq = (small**2).sum(1)
    d_img = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * small @ small.T, 0) / small.shape[1])
    d_head = np.linalg.norm(head_xy[:, None] - head_xy[None], axis=-1)
    return d_img + 2.0 * d_head


def choose_loop(
    thumbs: np.ndarray,
    head_xy: np.ndarray,
    openness: np.ndarray,
    usable: np.ndarray,
    fps: float,
    min_s: float = 3.0,
    max_s: float = 10.0,
    fade_s: float = 0.4,
) -> LoopPlan:
    """Pick the loop. head_xy: (N, 2) head position in frame units; openness: (N,) 0..1 mouth
    opening; usable: (N,) frames with a good face (frontal, tracked)."""
    n = len(thumbs)
    step = max(1, int(np.ceil(n / MAX_SEARCH_FRAMES)))
    idx = np.arange(0, n, step)
    m = len(idx)
    fade = max(1, int(round(fade_s * fps / step)))
    d = frame_distances(thumbs[idx], head_xy[idx])
    act = np.concatenate([[0.0], np.cumsum(openness[idx])])
    bad = np.concatenate([[0], np.cumsum(~usable[idx])])
    lo = max(2, int(round(min(min_s, 0.5 * n / fps) * fps / step)))
    hi = max(lo, min(int(round(max_s * fps / step)), m - fade))
    best = LoopPlan(min(fade, m - 1) * step, n, fade * step, np.inf)
    for length in range(lo, hi + 1):
        if length + fade > m:
            break
        # pairs (x + length, x): frame x+length stands in for frame x
        x = np.arange(m - length)
        diag = d[x + length, x]
        cs = np.concatenate([[0.0], np.cumsum(diag)])
        a = np.arange(fade, m - length + 1)  # loop start; frames a-fade..a-1 exist
        match = (cs[a] - cs[a - fade]) / fade
        quiet = (act[a + length] - act[a]) / length
        broken = (bad[a + length] - bad[a]) > 0
        cost = match + 0.15 * quiet - 0.01 * length * step / fps + np.where(broken, 10.0, 0.0)
        j = int(np.argmin(cost))
        if cost[j] < best.cost:
            best = LoopPlan(
                int(a[j] * step), int((a[j] + length) * step), fade * step, float(cost[j])
            )
    return best
