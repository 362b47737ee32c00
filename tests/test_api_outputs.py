"""Push outputs of CreateDigitalHumanStreamTask (Output.WhipUrl, Output.RtmpUrl) against a real
server process: a task pushes itself by WHIP into the same server, where a second task follows
that stream with DriveByRTCStream; a bad push target fails the task with a reason."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support import ServerProcess

pytestmark = pytest.mark.slow


def wait_status(srv: ServerProcess, task_id: str, want: set[int], within: float = 60) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        data = srv.client.ok("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id})
        if data["Status"] in want:
            return data
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} never reached {want}: {data}")


def test_whip_push_and_bad_targets(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as srv:
        c = srv.client
        publish = c.ok("CreateStreamPublishToken", {"RoomId": "push", "StreamId": "pushed"})
        pusher = c.ok(
            "CreateDigitalHumanStreamTask",
            {
                "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
                "RTCConfig": {"RoomId": "push", "StreamId": "source"},
                "VideoConfig": {"Width": 256, "Height": 256},
                "Output": {"WhipUrl": publish["WhipUrl"], "WhipToken": publish["Token"]},
            },
        )["TaskId"]
        assert wait_status(srv, pusher, {2, 3})["Status"] == 3
        # The pushed stream is live on the WHIP side: a second task can follow its audio.
        follower = c.ok(
            "CreateDigitalHumanStreamTask",
            {
                "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
                "RTCConfig": {"RoomId": "push", "StreamId": "follower"},
                "VideoConfig": {"Width": 256, "Height": 256},
            },
        )["TaskId"]
        wait_status(srv, follower, {3})
        drive = c.ok(
            "DriveByRTCStream",
            {"TaskId": follower, "RTCConfig": {"RoomId": "push", "StreamId": "pushed"}},
        )["DriveId"]
        got = c.wait(
            "GetDriveStatus", {"DriveId": drive}, lambda d: d["DriveList"][0]["Status"] > 1
        )
        assert got["DriveList"][0]["Status"] == 2, got  # following the pushed audio

        for output, word in (
            ({"RtmpUrl": "ftp://example.com/live"}, "Output.RtmpUrl"),  # refused: 2
            ({"WhipUrl": "http://127.0.0.1:9/whip/x/y"}, "push output failed"),  # fails: 5
        ):
            task = c.ok(
                "CreateDigitalHumanStreamTask",
                {
                    "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
                    "RTCConfig": {"RoomId": "push", "StreamId": "bad" + str(len(word))},
                    "VideoConfig": {"Width": 256, "Height": 256},
                    "Output": output,
                },
            )["TaskId"]
            failed = wait_status(srv, task, {2, 5})
            assert word in failed["FailReason"], failed
            assert failed["Status"] == (2 if "Rtmp" in word else 5), failed
        for t in (pusher, follower):
            c.ok("StopDigitalHumanStreamTask", {"TaskId": t})
