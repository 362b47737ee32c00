"""Lip-sync: audio (and phoneme timings when known) in, one MouthShape per video frame out.

`MouthTracker` is the streaming interface every drive uses; `make_mouth_tracker` picks the best
available implementation: `PhoneticMouthTracker` (visemes with coarticulation from pushed phoneme
timings; otherwise a small MLP on log-mel/voicing features trained on our own synthetic speech,
see scripts/lipsync_data.py and scripts/train_lipsync.py). The audio path needs
`tracker.lookahead_ms` of audio beyond each frame (38 ms at 25 fps with the default 40 ms model
context; `ahead_ms=80` gives 78 ms, `ahead_ms=0` none). `make_mouth_tracker(offline=True)` is for
video files: it sees the whole drive and uses Whisper's encoder (`whisper_audio`) when installed.
"""

from avatar.lipsync.base import MouthTracker, make_mouth_tracker

__all__ = ["MouthTracker", "make_mouth_tracker"]
