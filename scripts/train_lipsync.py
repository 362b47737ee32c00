"""Train the audio lip-sync MLP on synthetic speech (see scripts/lipsync_data.py).

Targets: for every 20 ms frame, the mouth shape that the text path (VisemeTrack: visemes with
coarticulation) gives for the TTS's own phoneme alignment. Inputs: the streaming features of the
same audio after random augmentation (vocal-tract/speed change by resampling, gain, noise, band
limits, reverberation), so that the model hears more than two clean synthetic voices.

    python scripts/train_lipsync.py --data /tmp/lipsync_data --ahead 2 3 4
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

from avatar.lipsync.coarticulation import VisemeTrack
from avatar.lipsync.features import features
from avatar.lipsync.model import MODEL_DIR, MouthMLP, stack
from avatar.types import PhonemeTiming

RATE = 16000
BACK = 8


def source_frames(src: Path, args: argparse.Namespace) -> tuple[list, list]:
    """Train/validation feature copies of one data file (the last 10 % of its utterances are
    validation), cached on disk."""
    key = f"{src.stem}_{src.stat().st_size}_{args.per_source}_{args.copies}.npz"
    cache = Path(args.cache) / key
    if cache.exists():
        with np.load(cache, allow_pickle=True) as z:
            return list(z["train"]), list(z["val"])
    utts = load_utterances(src, args.per_source)
    nval = max(1, len(utts) // 10)
    tr_f = utterance_frames(utts[:-nval], args.copies, seed=1)
    val_f = utterance_frames(utts[-nval:], 2, seed=2)
    cache.parent.mkdir(parents=True, exist_ok=True)
    arr = np.empty(len(tr_f), object)
    arr[:] = tr_f
    varr = np.empty(len(val_f), object)
    varr[:] = val_f
    np.savez(cache, train=arr, val=varr)
    return tr_f, val_f


def load_utterances(
    source: Path, per_source: int = 0
) -> list[tuple[str, np.ndarray, list[PhonemeTiming]]]:
    out = []
    for f in [source]:
        with np.load(f) as z:  # read each array once (NpzFile decompresses on every access)
            d = {k: z[k] for k in z.files}
        offs = d["offsets"]
        utt = d["utt"]
        order = np.argsort(utt, kind="stable")
        bounds = np.searchsorted(utt[order], np.arange(len(offs)))
        ph, st, en, lg = (d[k].tolist() for k in ("ph", "start", "end", "lang"))
        n = len(offs) - 1 if not per_source else min(per_source, len(offs) - 1)
        for u in range(n):
            sel = order[bounds[u] : bounds[u + 1]]
            phs = [PhonemeTiming(ph[i], st[i], en[i], lg[i]) for i in sel]
            out.append((f.stem, d["audio"][offs[u] : offs[u + 1]], phs))
    return out


def augment(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Randomly altered copy of int16 speech and its speed factor f (new time = old time / f)."""
    y = x.astype(np.float64)
    f = float(rng.choice([0.9, 0.95, 1.0, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25]))
    if f != 1.0:  # shorter vocal tract and faster speech at once (higher formants, pitch)
        fr = Fraction(1 / f).limit_denominator(24)
        y = resample_poly(y, fr.numerator, fr.denominator)
        f = fr.denominator / fr.numerator
    if rng.random() < 0.5:
        y = sosfilt(butter(2, rng.uniform(60, 300), "highpass", fs=RATE, output="sos"), y)
    if rng.random() < 0.5:
        y = sosfilt(butter(4, rng.uniform(3200, 7800), "lowpass", fs=RATE, output="sos"), y)
    if rng.random() < 0.4:  # room: exponentially decaying noise tail
        rt = rng.uniform(0.1, 0.6)
        n = int(rt * RATE)
        ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
        ir *= rng.uniform(0.05, 0.5) / np.sqrt(np.sum(ir**2))
        ir[0] = 1.0
        y = fftconvolve(y, ir)[: len(y)]
    rms = np.sqrt(np.mean(y**2)) + 1e-9
    if rng.random() < 0.7:
        noise = rng.standard_normal(len(y))
        if rng.random() < 0.5:  # pinkish
            noise = sosfilt(butter(1, 500, "lowpass", fs=RATE, output="sos"), noise)
        noise *= rms / (np.sqrt(np.mean(noise**2)) + 1e-9) / 10 ** (rng.uniform(12, 45) / 20)
        y = y + noise
    peak = np.max(np.abs(y)) + 1e-9
    y *= 32767 * 10 ** (rng.uniform(-30, -1) / 20) / peak
    return np.clip(y, -32768, 32767).astype(np.int16), f


def utterance_frames(utts, copies: int, seed: int, step: int = 4):
    """Per utterance copy: (features, centre frames k, targets at k). Computed once, stacked for
    every look-ahead."""
    rng = np.random.default_rng(seed)
    out = []
    for _src, audio, phs in utts:
        track = VisemeTrack()
        track.add(phs)
        grid_t = np.arange(0, len(audio) / RATE + 0.1, 0.005)
        grid = track.frames(200, len(grid_t))  # at (i + 0.5) * 5 ms
        for c in range(copies):
            a, f = (audio, 1.0) if c == 0 else augment(audio, rng)
            feats = features(a)
            ks = np.arange(int(rng.integers(0, step)), len(feats), step)
            t_src = ks * 0.01 * f
            tgt = np.column_stack([np.interp(t_src, grid_t + 0.0025, grid[:, j]) for j in range(4)])
            out.append((feats, ks, tgt.astype(np.float32)))
    return out


def make_rows(frames, ahead: int):
    x = np.concatenate([stack(f, k, BACK, ahead).astype(np.float32) for f, k, _ in frames])
    y = np.concatenate([t for _, _, t in frames])
    return x, y


def train_mlp(
    x, y, xv, yv, hidden=(96, 64), epochs=30, lr=2e-3, seed=0, wd=1e-4, noise=0.25
) -> tuple[list, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-3
    xn = (x - mu) / sd
    xvn = (xv - mu) / sd
    sizes = [x.shape[1], *hidden, y.shape[1]]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        params += [
            rng.standard_normal((a, b)).astype(np.float32) * np.sqrt(2.0 / a),
            np.zeros(b, np.float32),
        ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lw = np.array([2.0, 1.0, 1.0, 1.0], np.float32)  # the opening matters most
    step = 0
    bs = 512
    for ep in range(epochs):
        perm = rng.permutation(len(xn))
        lr_ep = lr * (0.5 * (1 + np.cos(np.pi * ep / epochs)))
        for i in range(0, len(perm), bs):
            idx = perm[i : i + bs]
            # input noise: the model must not lean on fine details of two synthetic voices
            h = [xn[idx] + noise * rng.standard_normal((len(idx), xn.shape[1]), dtype=np.float32)]
            for li in range(0, len(params), 2):
                z = h[-1] @ params[li] + params[li + 1]
                h.append(np.maximum(z, 0) if li < len(params) - 2 else z)
            g = 2 * (h[-1] - y[idx]) * lw / len(idx)
            grads = [None] * len(params)
            for li in range(len(params) - 2, -1, -2):
                grads[li] = h[li // 2].T @ g + wd * params[li]
                grads[li + 1] = g.sum(axis=0)
                if li > 0:
                    g = (g @ params[li].T) * (h[li // 2] > 0)
            step += 1
            for j, p in enumerate(params):
                m[j] = 0.9 * m[j] + 0.1 * grads[j]
                v[j] = 0.999 * v[j] + 0.001 * grads[j] ** 2
                mh = m[j] / (1 - 0.9**step)
                vh = v[j] / (1 - 0.999**step)
                p -= lr_ep * mh / (np.sqrt(vh) + 1e-8)
        pv = predict(params, xvn)
        r = np.corrcoef(pv[:, 0], yv[:, 0])[0, 1]
        print(f"  epoch {ep} val mse {np.mean((pv - yv) ** 2):.4f} r_jaw {r:.3f}", flush=True)
    weights = [(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    return weights, mu, sd


def predict(params, xn):
    h = xn
    for li in range(0, len(params), 2):
        h = h @ params[li] + params[li + 1]
        if li < len(params) - 2:
            h = np.maximum(h, 0)
    return h


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/lipsync_data")
    ap.add_argument("--ahead", type=int, nargs="+", default=[3])
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument(
        "--per-source", type=int, default=0, help="at most this many utterances per file"
    )
    ap.add_argument("--out", default=str(MODEL_DIR))
    ap.add_argument(
        "--cache", default="/tmp/lipsync_feats", help="features per source are kept here"
    )
    ap.add_argument("--features-only", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    frames, vframes = [], []
    for src in sorted(Path(args.data).glob("*.npz")):
        tr_f, val_f = source_frames(src, args)
        frames += tr_f
        vframes += val_f
        print(
            f"{src.name}: {len(tr_f)} train copies, {len(val_f)} val ({time.time() - t0:.0f}s)",
            flush=True,
        )
    if args.features_only:
        return
    for ahead in args.ahead:
        t0 = time.time()
        x, y = make_rows(frames, ahead)
        xv, yv = make_rows(vframes, ahead)
        print(f"ahead={ahead}: {x.shape} rows", flush=True)
        weights, mu, sd = train_mlp(x, y, xv, yv, epochs=args.epochs)
        del x, y
        mlp = MouthMLP(weights, mu, sd, BACK, ahead)
        out = Path(args.out) / f"mouth_mlp_la{ahead * 20:03d}.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        mlp.save(out)
        print("saved", out, out.stat().st_size, "bytes", f"{time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
