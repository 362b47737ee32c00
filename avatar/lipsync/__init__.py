"""Lip-sync: audio (and phoneme timings when known) in, one MouthShape per video frame out.

`MouthTracker` is the streaming interface every drive uses; `make_mouth_tracker` picks the best
available implementation: `PhoneticMouthTracker` (visemes with coarticulation from pushed phoneme
timings; otherwise a small MLP on log-mel/voicing features trained on our own synthetic speech,
see scripts/lipsync_data.py and scripts/train_lipsync.py). The audio path needs
`tracker.lookahead_ms` of audio beyond each frame (98 ms at 25 fps with the default 80 ms model
context; `make_mouth_tracker(ahead_ms=40)` gives 58 ms, `ahead_ms=0` 18 ms).
"""

from avatar.lipsync.base import MouthTracker, make_mouth_tracker

__all__ = ["MouthTracker", "make_mouth_tracker"]
