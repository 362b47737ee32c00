"""Lip-sync: audio (and phoneme timings when known) in, one MouthShape per video frame out.

`MouthTracker` is the streaming interface every drive uses; `make_mouth_tracker` picks the best
available implementation.
"""

from avatar.lipsync.base import MouthTracker, make_mouth_tracker

__all__ = ["MouthTracker", "make_mouth_tracker"]
