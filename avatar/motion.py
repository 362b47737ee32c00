"""Idle life and actions as parameter timelines (pure functions of time; no clock reads).

Owned by the photo avatar engine; the stream runtime calls `IdleMotion.params_at` each frame and
`ActionPlayer.apply` on top of it (and on top of speech: actions never touch the mouth).

Idle: blinks at random 2–6 s intervals (sometimes a double blink) with a fast close and a slower
open; head and body drift from sums of incommensurate sines, so the motion never repeats
visibly; breathing with a slowly wandering rate; the gaze rests, then shifts now and then.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import replace

from avatar.types import FrameParams

GENERIC_ACTIONS = ["nod", "shake_head", "tilt_head", "smile", "raise_eyebrows", "greet", "think"]


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def blink_curve(tau: float) -> float:
    """Lid closure over the time since a blink started: ~80 ms down, 40 ms shut, ~180 ms up."""
    if tau < 0.0 or tau > 0.30:
        return 0.0
    if tau < 0.08:
        return _smooth(tau / 0.08)
    if tau < 0.12:
        return 1.0
    return 1.0 - _smooth((tau - 0.12) / 0.18)


class _Drift:
    """Smooth noise: a sum of sines with random incommensurate frequencies and phases."""

    def __init__(self, rng: random.Random, amp: float, f_lo: float = 0.04, f_hi: float = 0.35):
        self.parts = []
        weights = [1.0, 0.6, 0.35]
        norm = sum(weights)
        for w in weights:
            f = rng.uniform(f_lo, f_hi) * (1 + rng.random() * 0.1)
            self.parts.append((amp * w / norm, 2 * math.pi * f, rng.uniform(0, 2 * math.pi)))

    def __call__(self, t: float) -> float:
        return sum(a * math.sin(w * t + p) for a, w, p in self.parts)


class IdleMotion:
    """Blinks, gaze shifts, head drift, sway and breathing while nobody drives (see module doc)."""

    def __init__(self, seed: int = 0, liveliness: float = 1.0) -> None:
        self.seed = seed
        rng = random.Random(seed * 7919 + 17)
        k = liveliness
        self._yaw = _Drift(rng, 2.2 * k)
        self._pitch = _Drift(rng, 1.6 * k)
        self._roll = _Drift(rng, 1.3 * k, 0.03, 0.2)
        self._dx = _Drift(rng, 0.006 * k, 0.03, 0.15)
        self._dy = _Drift(rng, 0.004 * k, 0.03, 0.15)
        self._sway = _Drift(rng, 0.45 * k, 0.02, 0.1)
        self._breath_wander = _Drift(rng, 0.35, 0.01, 0.05)
        # One generator per kind of event: drawing order then never depends on how far ahead
        # either list was extended.
        self._blink_rng = random.Random(seed * 104729 + 3)
        self._gaze_rng = random.Random(seed * 130363 + 5)
        self._blinks: list[float] = []
        self._gaze: list[tuple[float, float, float]] = []  # (start time, x, y)
        self._gaze_times: list[float] = []
        self._extend(10.0)

    def _extend(self, until: float) -> None:
        # Event times are drawn in order from seeded generators and kept, so params_at stays a
        # pure function of t however it is called.
        rng = self._blink_rng
        t = self._blinks[-1] if self._blinks else rng.uniform(0.5, 2.5)
        if not self._blinks:
            self._blinks.append(t)
        while t < until:
            if rng.random() < 0.12:
                t += rng.uniform(0.35, 0.5)  # a double blink
            else:
                t += rng.uniform(2.0, 6.0)
            self._blinks.append(t)
        rng = self._gaze_rng
        g = self._gaze[-1][0] if self._gaze else 0.0
        if not self._gaze:
            self._gaze.append((0.0, 0.0, 0.0))
        while g < until:
            g += rng.uniform(1.5, 5.0)
            centre = rng.random() < 0.5
            gx = 0.0 if centre else rng.uniform(-0.5, 0.5)
            gy = 0.0 if centre else rng.uniform(-0.3, 0.2)
            self._gaze.append((g, gx, gy))

    def blink_at(self, t: float) -> float:
        if t + 1 > self._blinks[-1]:
            self._extend(t + 30)
        i = bisect.bisect_right(self._blinks, t) - 1
        value = 0.0
        for j in (i, i - 1):
            if 0 <= j < len(self._blinks):
                value = max(value, blink_curve(t - self._blinks[j]))
        return value

    def gaze_at(self, t: float) -> tuple[float, float]:
        if t + 1 > self._gaze[-1][0]:
            self._extend(t + 30)
        if len(self._gaze_times) != len(self._gaze):
            self._gaze_times = [g[0] for g in self._gaze]
        i = max(bisect.bisect_right(self._gaze_times, t) - 1, 0)
        _, x1, y1 = self._gaze[i]
        _, x0, y0 = self._gaze[i - 1] if i > 0 else self._gaze[i]
        # Saccade: a quick 120 ms move from the previous target.
        u = _smooth((t - self._gaze[i][0]) / 0.12)
        return x0 + (x1 - x0) * u, y0 + (y1 - y0) * u

    def params_at(self, t: float) -> FrameParams:
        phase = t / 4.2 + self._breath_wander(t)
        gx, gy = self.gaze_at(t)
        return FrameParams(
            blink=self.blink_at(t),
            gaze_x=gx,
            gaze_y=gy,
            head_yaw=self._yaw(t),
            head_pitch=self._pitch(t),
            head_roll=self._roll(t),
            head_dx=self._dx(t),
            head_dy=self._dy(t),
            breath=math.sin(2 * math.pi * phase),
            sway=self._sway(t),
        )


# --- actions ---------------------------------------------------------------------------------


def _bump(u: float, rise: float = 0.2, fall: float = 0.25) -> float:
    """0 -> 1 (eased over `rise`), hold, 1 -> 0 (eased over the last `fall`) for u in [0, 1]."""
    if u <= 0.0 or u >= 1.0:
        return 0.0
    return _smooth(u / rise) * _smooth((1.0 - u) / fall)


def _wave(u: float, cycles: float) -> float:
    """A sine of `cycles` periods under a smooth envelope."""
    return math.sin(2 * math.pi * cycles * u) * math.sin(math.pi * min(max(u, 0.0), 1.0))


Delta = dict[str, float]
_ACTIONS: dict[str, tuple[float, Callable[[float], Delta]]] = {
    "nod": (1.3, lambda u: {"head_pitch": 7.0 * _wave(u, 1.5), "head_dy": 0.01 * _wave(u, 1.5)}),
    "shake_head": (1.5, lambda u: {"head_yaw": 6.5 * _wave(u, 2.0)}),
    "tilt_head": (
        2.2,
        lambda u: {
            "head_roll": 5.0 * _bump(u),
            "head_yaw": 2.0 * _bump(u),
            "brow_raise": 0.2 * _bump(u),
        },
    ),
    "smile": (2.4, lambda u: {"smile": 0.9 * _bump(u, 0.15, 0.3), "head_pitch": -1.5 * _bump(u)}),
    "raise_eyebrows": (1.4, lambda u: {"brow_raise": 1.0 * _bump(u, 0.15, 0.35)}),
    "greet": (
        2.4,
        lambda u: {
            "smile": 0.85 * _bump(u, 0.15, 0.3),
            "brow_raise": 0.5 * _bump(u, 0.1, 0.6),
            "head_pitch": 5.0 * _wave(min(u * 1.6, 1.0), 1.0),
            "head_roll": 3.0 * _bump(u),
        },
    ),
    "think": (
        2.8,
        lambda u: {
            "gaze_x": -0.55 * _bump(u, 0.1, 0.2),
            "gaze_y": -0.35 * _bump(u, 0.1, 0.2),
            "head_yaw": -4.0 * _bump(u),
            "head_roll": 3.5 * _bump(u),
            "head_pitch": -2.5 * _bump(u),
            "brow_raise": 0.35 * _bump(u),
        },
    ),
}


def action_duration(name: str) -> float:
    return _ACTIONS[name][0]


def action_delta(name: str, u: float) -> Delta:
    """Parameter offsets of action `name` at progress u in [0, 1]."""
    return _ACTIONS[name][1](u)


def apply_delta(params: FrameParams, delta: Delta) -> FrameParams:
    """Add offsets to parameters (expressions saturate at 1, never touching the mouth)."""
    changes = {}
    for key, value in delta.items():
        v = getattr(params, key) + value
        if key in ("smile", "brow_raise"):
            v = min(v, 1.0)
        elif key in ("gaze_x", "gaze_y"):
            v = min(max(v, -1.0), 1.0)
        changes[key] = v
    return replace(params, **changes)


class ActionPlayer:
    """Plays named actions as eased parameter timelines over the base parameters.

    Several actions may overlap (their offsets add); starting an action that is already playing
    restarts it. Actions never change the mouth, so they play over speech."""

    def __init__(self) -> None:
        self._active: list[tuple[str, float]] = []

    def names(self) -> list[str]:
        return list(GENERIC_ACTIONS)

    def start(self, name: str, t: float) -> bool:
        """Start `name` at stream time t; False (and nothing played) for an unknown name."""
        if name not in _ACTIONS:
            return False
        self._active = [(n, t0) for n, t0 in self._active if n != name]
        self._active.append((name, t))
        return True

    def stop_all(self) -> None:
        self._active.clear()

    def playing(self, t: float) -> list[str]:
        return [n for n, t0 in self._active if 0 <= t - t0 < _ACTIONS[n][0]]

    def apply(self, params: FrameParams, t: float) -> FrameParams:
        still = []
        for name, t0 in self._active:
            dur, fn = _ACTIONS[name]
            u = (t - t0) / dur
            if u >= 1.0:
                continue
            still.append((name, t0))
            if u >= 0.0:
                params = apply_delta(params, fn(u))
        self._active = still
        return params
