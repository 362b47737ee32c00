"""Train the offline lip-sync regression on Whisper tiny.en encoder features (synthetic speech).

Data: the files of scripts/lipsync_data.py (our own piper / espeak-ng speech with the voices'
phoneme alignments). For each utterance, clean and one augmented copy (scripts/train_lipsync.py's
`augment`: vocal-tract/speed shift, filters, reverberation, noise, gain), the encoder's 20 ms
frames are stacked ±80 ms (avatar/lipsync/whisper_audio.CONTEXT) and regressed by ridge onto the
mouth that the viseme track gives at each frame. Writes avatar/lipsync/models/mouth_whisper_tiny.npz.

    python scripts/lipsync_data.py --out /tmp/lsd --piper 350 --espeak-en 150 --espeak-zh 300
    python scripts/train_lipsync_whisper.py --data /tmp/lsd
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_lipsync import augment, load_utterances  # noqa: E402

from avatar.lipsync.coarticulation import VisemeTrack  # noqa: E402
from avatar.lipsync.whisper_audio import (  # noqa: E402
    CONTEXT,
    MODEL_FILE,
    RidgeFit,
    context_rows,
    shared_encoder,
)

MAX_S = 20.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/tmp/lipsync_data")
    ap.add_argument("--lam", type=float, default=300.0)
    ap.add_argument("--out", default=str(MODEL_FILE))
    args = ap.parse_args()
    enc = shared_encoder()
    rng = np.random.default_rng(0)
    fit = RidgeFit(384 * len(CONTEXT), 4)
    t0 = time.time()
    for src in sorted(Path(args.data).glob("*.npz")):
        for _name, audio, phs in load_utterances(src):
            track = VisemeTrack()
            track.add(phs)
            for copy in range(2):
                a, f = (audio, 1.0) if copy == 0 else augment(audio, rng)
                a = a[: int(MAX_S * 16000)]
                feats = enc.encode(a)
                centres = np.arange(0, len(feats), 2)  # every 40 ms, as video frames
                fit.add(context_rows(feats, centres), track.at_many((centres * 0.02 + 0.01) * f))
        print(f"{src.name}: {fit.n} rows ({time.time() - t0:.0f} s)", flush=True)
    arrays = fit.solve(args.lam)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"saved {args.out} ({Path(args.out).stat().st_size} bytes) from {fit.n} rows")


if __name__ == "__main__":
    main()
