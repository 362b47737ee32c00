"""The mouth search on a synthetic library: it follows the target shape, prefers the recording's
own next frame (continuity), does not freeze, and the streaming search costs little more than
the offline Viterbi optimum."""

from __future__ import annotations

import numpy as np

from avatar.videoavatar.select import LibraryIndex, MouthSearch, unary_costs, viterbi


def _library(n: int = 300, seed: int = 0) -> LibraryIndex:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    # a recording: the mouth opens and closes a few times a second, width drifts
    jaw = np.clip(0.5 + 0.5 * np.sin(t * 0.45) + 0.05 * rng.standard_normal(n), 0, 1)
    width = np.clip(0.4 * np.sin(t * 0.07), -1, 1)
    shapes = np.stack([jaw, width, np.clip(-width, 0, 1) * 0.5, np.zeros(n)], 1).astype(np.float32)
    embed = np.concatenate([shapes[:, :2] * 3, 0.05 * rng.standard_normal((n, 4))], 1)
    return LibraryIndex(
        shapes,
        jaw > 0.5,
        np.zeros((n, 2), np.float32),
        embed.astype(np.float32),
        t.astype(np.int32),
    )


def _cost(index: LibraryIndex, trans: np.ndarray, path: np.ndarray, targets: np.ndarray) -> float:
    pose = np.zeros(2, np.float32)
    u = sum(float(unary_costs(index, targets[i], pose)[p]) for i, p in enumerate(path))
    return u + float(sum(trans[a, b] for a, b in zip(path[:-1], path[1:], strict=True)))


def test_follows_target_and_prefers_continuity() -> None:
    index = _library()
    trans = index.transition_matrix()
    search = MouthSearch(index, trans)
    # targets: the library's own stretch 100..160, slightly perturbed
    targets = index.shapes[100:160] + 0.02
    pose = np.zeros(2, np.float32)
    path = np.array([search.step(t, pose) for t in targets])
    err = np.abs(index.shapes[path, 0] - targets[:, 0])
    assert np.median(err) < 0.08, np.median(err)
    successors = np.mean(np.diff(index.frame[path]) == 1)
    assert successors > 0.5, successors
    holds = np.mean(np.diff(path) == 0)
    assert holds < 0.3, holds


def test_streaming_close_to_offline_optimum() -> None:
    index = _library(seed=1)
    trans = index.transition_matrix()
    rng = np.random.default_rng(2)
    # a target the library never recorded: a slower, smoothed random opening
    jaw = np.convolve(rng.random(120), np.ones(5) / 5, "same")
    targets = np.stack([jaw, np.zeros(120), np.zeros(120), np.zeros(120)], 1).astype(np.float32)
    poses = np.zeros((120, 2), np.float32)
    best = viterbi(index, trans, targets, poses)
    search = MouthSearch(index, trans)
    stream = np.array([search.step(t, p) for t, p in zip(targets, poses, strict=True)])
    c_best, c_stream = _cost(index, trans, best, targets), _cost(index, trans, stream, targets)
    assert c_best <= c_stream + 1e-6
    assert c_stream < 1.6 * c_best, (c_stream, c_best)
    # and the streaming mouth still tracks the target opening
    assert np.corrcoef(index.shapes[stream, 0], jaw)[0, 1] > 0.9
