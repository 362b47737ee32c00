"""The runtime with a real video avatar: DoAction of one of the avatar's own recorded actions
plays through its renderer at once, and the picture returns to the idle loop afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from avatar.compose import Scene
from avatar.registry import build_avatar
from avatar.stream.contract import StreamConfig
from avatar.stream.render_host import RenderProcessPool
from avatar.stream.task import StreamTask
from avatar.stream.testing import CollectingSink, RecordingEvents

VIDEO = Path("/work/shared/media/video/en_talking_female_WDA_AOC_000.mp4")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def video_avatar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VIDEO.exists():
        pytest.skip("test media not available")
    folder = tmp_path_factory.mktemp("video_avatar") / "aoc"
    build_avatar("video", VIDEO, folder, {"actions": {"turn": [1.0, 2.2]}})
    return folder


@pytest.fixture(scope="module")
def processes():
    pool = RenderProcessPool(workers=2)
    yield pool
    pool.close()


@pytest.mark.parametrize("where", ["thread", "process"])
async def test_recorded_action_plays_through_the_renderer(
    video_avatar: Path, processes: RenderProcessPool, where: str
) -> None:
    # Two tasks of the same avatar on the same schedule: only one of them plays the action.
    tasks, sinks = [], []
    for name in ("with", "without"):
        sink = CollectingSink()
        task = StreamTask(
            StreamConfig(name, "r", name, Scene(256, 256)),
            video_avatar,
            RecordingEvents(),
            render_processes=processes if where == "process" else None,
        )
        task.add_sink(sink)
        await task.start()
        tasks.append(task)
        sinks.append(sink)
    assert "turn" in tasks[0].action_names()
    await asyncio.sleep(0.8)
    t_action = tasks[0].clock_s
    tasks[0].do_action("turn")
    # Both clocks run past the action's end (the second task started later).
    await asyncio.sleep(t_action + 2.8 - min(t.clock_s for t in tasks))
    for task in tasks:
        await task.stop()
    a = {f.index: f.rgba for _, f in sinks[0].frames}
    b = {f.index: f.rgba for _, f in sinks[1].frames}
    diff = {i: float(np.abs(a[i].astype(np.int16) - b[i]).mean()) for i in set(a) & set(b)}
    before = [d for i, d in diff.items() if i / 25 < t_action - 0.05]
    during = [d for i, d in diff.items() if t_action + 0.15 <= i / 25 <= t_action + 0.9]
    after = [d for i, d in diff.items() if i / 25 >= t_action + 1.4]
    assert before and during and after
    assert max(before) < 1.0  # same picture until the action starts
    assert np.mean(during) > 3.0  # the recorded stretch plays
    assert np.mean(after) < 2.0  # and hands back to the idle loop
