"""How much of a real mouth's opening can be predicted from audio at all: reference fits.

`lipsync_eval.py` scores our shipped predictor. This script answers a different question — how
high can r go on these videos with models that are *allowed to cheat* by fitting to them — so the
shipped number can be read against a ceiling. Nothing fitted here is saved or shipped (the shared
media are for evaluation only); the fits live in memory for the length of the run.

For every talking-head video with speech:
- `r_shipped`: the shipped tracker's jaw (same as lipsync_eval's r_audio, offline smoothing off);
- `r_speaker`: a ridge regression fitted on the first 60 % of the SAME video (its own voice and
  mouth: features = our 28 streaming features at -160..+160 ms plus the shipped tracker's four
  outputs with ±120 ms of context), scored on the last 40 % — a person-specific upper reference
  for linear models on these features;
- `r_speaker_shipped`: the shipped tracker on that same last 40 %, for comparison;
- `r_loo`: the same ridge fitted on all OTHER videos (leave one out), scored on this one.
Regularisation is picked per fit on the training part's own last fifth.

    python benchmarks/lipsync_ceiling.py --videos ../shared/media/video

Last line: {"videos": n, "r_shipped": ..., "r_speaker": ..., "r_speaker_shipped": ...,
"r_loo": ...}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.lipsync.features import features  # noqa: E402
from benchmarks.lipsync_eval import FPS, is_speech, lagged_r, predict, real_on_grid  # noqa: E402
from benchmarks.lipsync_measure import has_audio, measure_video, read_audio  # noqa: E402

TRAIN_SHARE = 0.6
LAMBDAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def design(pcm: np.ndarray, shipped: np.ndarray, n: int) -> np.ndarray:
    """Per video frame: features at -160..+160 ms (40 ms steps) and the tracker's outputs ±3."""
    feats = features(pcm)
    centre = np.round((np.arange(n) + 0.5) / FPS * 100).astype(int)
    idx = np.clip(centre[:, None] + np.arange(-16, 17, 4)[None, :], 0, len(feats) - 1)
    own = feats[idx].reshape(n, -1)
    fidx = np.clip(np.arange(n)[:, None] + np.arange(-3, 4)[None, :], 0, n - 1)
    return np.concatenate([own, shipped[fidx].reshape(n, -1)], axis=1)


def fit_ridge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, weights) of a ridge fit whose lambda does best on x's last fifth."""
    cut = int(len(x) * 0.8)

    def solve(xs: np.ndarray, ys: np.ndarray, lam: float) -> tuple:
        mu, sd = xs.mean(axis=0), xs.std(axis=0) + 1e-6
        z = (xs - mu) / sd
        w = np.linalg.solve(z.T @ z + lam * np.eye(z.shape[1]), z.T @ (ys - ys.mean()))
        return mu, sd, w

    def score(lam: float) -> float:
        mu, sd, w = solve(x[:cut], y[:cut], lam)
        r = lagged_r(((x[cut:] - mu) / sd) @ w, y[cut:], 0)
        return -1.0 if np.isnan(r) else r

    best = max(LAMBDAS, key=score)
    return solve(x, y, best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", required=True)
    args = ap.parse_args()
    rows = []
    for v in sorted(Path(args.videos).iterdir()):
        if v.suffix.lower() not in {".mp4", ".mov", ".mkv", ".webm"} or not has_audio(v):
            continue
        pcm = read_audio(v)
        if not is_speech(pcm):
            continue
        opening, times = measure_video(v)
        shipped = predict(pcm, None)
        n = len(shipped)
        real = real_on_grid(opening, times, n)
        rows.append((v.name, design(pcm, shipped, n), real, shipped[:, 0]))

    results = []
    for i, (name, x, real, jaw) in enumerate(rows):
        ok = np.isfinite(real)
        cut = int(len(x) * TRAIN_SHARE)
        train = ok & (np.arange(len(x)) < cut)
        mu, sd, w = fit_ridge(x[train], real[train])
        own = ((x - mu) / sd) @ w
        others = [(xo[np.isfinite(ro)], ro[np.isfinite(ro)]) for j, (_, xo, ro, _) in
                  enumerate(rows) if j != i]  # fmt: skip
        # each other video's opening in its own units: z-scores (faces differ in size)
        xo = np.concatenate([a for a, _ in others])
        yo = np.concatenate([(b - b.mean()) / (b.std() + 1e-9) for _, b in others])
        mu2, sd2, w2 = fit_ridge(xo, yo)
        loo = ((x - mu2) / sd2) @ w2
        res = {
            "video": name,
            "r_shipped": lagged_r(jaw, real, 0),
            "r_speaker": lagged_r(own[cut:], real[cut:], 0),
            "r_speaker_shipped": lagged_r(jaw[cut:], real[cut:], 0),
            "r_loo": lagged_r(loo, real, 0),
        }
        results.append(res)
        print(json.dumps({k: round(x, 3) if isinstance(x, float) else x for k, x in res.items()}))

    def mean(key: str) -> float | None:
        vals = [r[key] for r in results if np.isfinite(r[key])]
        return round(float(np.mean(vals)), 3) if vals else None

    keys = ("r_shipped", "r_speaker", "r_speaker_shipped", "r_loo")
    print(json.dumps({"videos": len(results), **{k: mean(k) for k in keys}}))


if __name__ == "__main__":
    main()
