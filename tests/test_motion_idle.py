"""Idle life and action timelines: random blinks with a real close/open curve, smooth drift that
never repeats, pure functions of time, actions that ease in and out and leave the mouth alone."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.motion import GENERIC_ACTIONS, ActionPlayer, IdleMotion, action_duration, blink_curve
from avatar.types import FrameParams, MouthShape

FPS = 25


def _series(idle: IdleMotion, seconds: float, fps: int = FPS) -> list[FrameParams]:
    return [idle.params_at(i / fps) for i in range(int(seconds * fps))]


def test_blinks_come_every_2_to_6_seconds_and_close_fully() -> None:
    idle = IdleMotion(seed=4)
    fine = [idle.blink_at(i / 200) for i in range(200 * 120)]  # 2 minutes at 5 ms
    starts = [i / 200 for i in range(1, len(fine)) if fine[i] > 0 and fine[i - 1] == 0]
    gaps = np.diff(starts)
    assert 18 <= len(starts) <= 65
    singles = gaps[gaps > 1.0]
    assert singles.min() >= 1.9 and singles.max() <= 6.1
    assert np.std(singles) > 0.5  # random, not a metronome
    assert max(fine) == 1.0
    # Fast close, slower open.
    assert blink_curve(0.04) > 0.3 and blink_curve(0.08) == 1.0 and blink_curve(0.2) > 0.3
    assert blink_curve(0.31) == 0.0


def test_idle_is_smooth_alive_and_never_loops() -> None:
    idle = IdleMotion(seed=2)
    ps = _series(idle, 120)
    yaw = np.array([p.head_yaw for p in ps])
    breath = np.array([p.breath for p in ps])
    assert np.abs(np.diff(yaw)).max() < 0.3  # degrees per frame
    assert 0.5 < np.ptp(yaw) < 8
    assert np.ptp(breath) > 1.5
    # No period up to a minute: the motion never comes back to the same state.
    state = np.stack([yaw, [p.head_pitch for p in ps], [p.head_roll for p in ps], breath], 1)
    for lag in range(FPS, 60 * FPS, 5):
        assert np.abs(state[lag:] - state[:-lag]).max() > 0.5


def test_idle_is_a_pure_function_of_time() -> None:
    a, b = IdleMotion(seed=9), IdleMotion(seed=9)
    late = a.params_at(300.0)
    for t in np.arange(0.0, 60.0, 0.37):
        assert a.params_at(float(t)) == b.params_at(float(t))
    assert b.params_at(300.0) == late
    gazes = {IdleMotion(seed=9).gaze_at(float(t)) for t in np.arange(0.0, 60.0, 0.5)}
    assert len(gazes) > 5  # the gaze moves now and then
    assert IdleMotion(seed=10).params_at(1.0) != a.params_at(1.0)


@pytest.mark.parametrize("name", GENERIC_ACTIONS)
def test_actions_ease_in_and_out_over_speech(name: str) -> None:
    player = ActionPlayer()
    speaking = FrameParams(mouth=MouthShape(jaw_open=0.6, lip_round=0.2))
    assert player.start(name, 10.0)
    dur = action_duration(name)
    ts = np.arange(10.0, 10.0 + dur + 0.2, 1 / FPS)
    frames = [player.apply(speaking, float(t)) for t in ts]
    assert all(f.mouth == speaking.mouth for f in frames)
    moved = [f != speaking for f in frames]
    assert any(moved) and frames[0] == speaking and frames[-1] == speaking
    fields = ["head_yaw", "head_pitch", "head_roll", "smile", "brow_raise", "gaze_x"]
    traces = np.array([[getattr(f, k) for k in fields] for f in frames])
    step = np.abs(np.diff(traces, axis=0)).max(0)
    assert step[:3].max() < 3.0 and step[3:].max() < 0.3  # eased: degrees / units per frame
    assert player.playing(10.0 + dur + 0.1) == []


def test_unknown_action_and_restart() -> None:
    player = ActionPlayer()
    assert not player.start("moonwalk", 0.0)
    player.start("nod", 0.0)
    player.start("nod", 0.5)
    assert player.playing(0.6) == ["nod"]
    player.stop_all()
    assert player.apply(FrameParams(), 0.7) == FrameParams()
