"""Choosing library mouths for a sequence of target shapes: a dynamic-programming search over
shape distance (how well an entry matches the target), pose distance (how well it fits the
current head pose) and continuity (how smoothly it follows the previous entry; an entry's own
successor in the recording follows it for free, as in Video Rewrite).

`MouthSearch` is the streaming form used per frame: it keeps the forward costs of a Viterbi
search over the frames seen so far (a decaying window) and shows the best end state, held to
the previously shown entry by the same transition cost. `viterbi` is the offline form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOLD_GROWTH = 0.01  # extra cost per frame an entry has already been held
SHAPE_WEIGHTS = np.array([2.0, 0.7, 0.7, 1.0], np.float32)  # jaw, width, round, press


@dataclass(slots=True)
class LibraryIndex:
    """What the search knows about each library entry."""

    shapes: np.ndarray  # (N, 4) MouthShape units
    teeth: np.ndarray  # (N,) bool
    pose: np.ndarray  # (N, 2) yaw, pitch in degrees
    embed: np.ndarray  # (N, D) appearance embedding
    frame: np.ndarray  # (N,) source frame index

    def transition_matrix(self, jump: float = 0.02, hold: float = 0.015) -> np.ndarray:
        """(N, N) cost of showing entry j after entry i."""
        e = self.embed
        sq = (e**2).sum(1)
        d = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * e @ e.T, 0.0))
        med = float(np.median(d)) or 1.0
        c = jump + 0.03 * (d / med) ** 2
        nxt = self.frame[None, :] == self.frame[:, None] + 1
        c[nxt] = 0.0
        np.fill_diagonal(c, hold)
        return c.astype(np.float32)


def unary_costs(
    index: LibraryIndex, target: np.ndarray, pose: np.ndarray, pose_sigma: float = 8.0
) -> np.ndarray:
    """(N,) cost of each entry for one target shape (4,) at head pose (yaw, pitch)."""
    diff = index.shapes - target[None]
    cost = (diff**2 * SHAPE_WEIGHTS).sum(1)
    cost += 0.04 * (((index.pose - pose[None]) / pose_sigma) ** 2).sum(1)
    if index.teeth.any() and target[0] > 0.35:
        # open mouths show teeth when the recording has them
        cost += np.where(index.teeth, 0.0, 0.03 * target[0])
    return cost.astype(np.float32)


def viterbi(
    index: LibraryIndex, trans: np.ndarray, targets: np.ndarray, poses: np.ndarray
) -> np.ndarray:
    """Offline search: the entry per frame minimising unary plus transition costs."""
    n = len(targets)
    back = np.zeros((n, len(index.shapes)), np.int32)
    d = unary_costs(index, targets[0], poses[0])
    for t in range(1, n):
        tot = d[:, None] + trans
        back[t] = np.argmin(tot, 0)
        d = tot[back[t], np.arange(tot.shape[1])] + unary_costs(index, targets[t], poses[t])
    path = np.zeros(n, np.int32)
    path[-1] = int(np.argmin(d))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


class MouthSearch:
    """Streaming search: one call per frame, O(N²) numpy work with N library entries."""

    def __init__(self, index: LibraryIndex, trans: np.ndarray, forget: float = 0.7) -> None:
        self.index = index
        self.trans = trans
        self.forget = forget  # how much of the past forward cost carries over (a soft window)
        self._d: np.ndarray | None = None
        self.shown: int | None = None
        self._held = 0

    def reset(self) -> None:
        self._d = None
        self.shown = None
        self._held = 0

    def step(self, target: np.ndarray, pose: np.ndarray) -> int:
        u = unary_costs(self.index, target, pose)
        d = u
        if self._d is not None:
            d = d + np.min(self.forget * self._d[:, None] + self.trans, 0)
        d = d - d.min()
        self._d = d
        if self.shown is None:
            score = d
        else:
            score = d + self.trans[self.shown]
            # a held mouth looks frozen: holding gets dearer the longer it lasts
            score[self.shown] += HOLD_GROWTH * self._held
        j = int(np.argmin(score))
        self._held = self._held + 1 if j == self.shown else 0
        self.shown = j
        return j
