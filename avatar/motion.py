"""Idle life and actions as parameter timelines (pure functions of time; no clock reads).

Owned by the photo avatar engine; the stream runtime calls `IdleMotion.params_at` each frame and
`ActionPlayer.apply` on top of it.
"""

from __future__ import annotations

import math
from dataclasses import replace

from avatar.types import FrameParams

GENERIC_ACTIONS = ["nod", "shake_head", "tilt_head", "smile", "raise_eyebrows", "greet", "think"]


class IdleMotion:
    """Blinks, sway and breathing while nobody drives (placeholder: smooth sines)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def params_at(self, t: float) -> FrameParams:
        s = self.seed
        blink_phase = (t + s * 0.37) % 4.0
        blink = max(0.0, 1.0 - abs(blink_phase - 0.1) / 0.1) if blink_phase < 0.2 else 0.0
        return FrameParams(
            blink=blink,
            head_yaw=1.5 * math.sin(0.31 * t + s),
            head_pitch=1.0 * math.sin(0.23 * t + 2 * s),
            head_roll=0.8 * math.sin(0.17 * t + 3 * s),
            breath=math.sin(2 * math.pi * t / 4.0),
            sway=0.5 * math.sin(0.13 * t + s),
        )


class ActionPlayer:
    """Plays named actions over the base parameters (placeholder: a nod only)."""

    def __init__(self) -> None:
        self._active: list[tuple[str, float]] = []

    def names(self) -> list[str]:
        return list(GENERIC_ACTIONS)

    def start(self, name: str, t: float) -> None:
        self._active.append((name, t))

    def stop_all(self) -> None:
        self._active.clear()

    def apply(self, params: FrameParams, t: float) -> FrameParams:
        still = []
        for name, t0 in self._active:
            u = (t - t0) / 1.0
            if u >= 1.0:
                continue
            still.append((name, t0))
            if name == "nod":
                params = replace(params, head_pitch=params.head_pitch + 6 * math.sin(2 * math.pi * u))
        self._active = still
        return params
