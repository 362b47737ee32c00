"""The whole life of a stream task against a real server process: create → 3; DriveByText
1 → 2 → 4, finishing no earlier than its audio lasts; DriveByAudio (MP3 and WAV) from a local
HTTP server; InterruptDriveTask → 5 with the queue dropped; stop → 5; stop again → 400000007."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from api.errors import TASK_STOPPED
from tests.support import MEDIA, ApiClient, ServerProcess, serve_directory

TEXT = "Hello there. I am the astronaut, and this is a test of my voice."


def speech_seconds(timbre: str, text: str) -> float:
    """How long the server's voice takes to say `text` (synthesized here with the same voice)."""
    from agent.tts.base import SpeechOptions
    from agent.tts.registry import default_registry

    tts, voice = default_registry().get(timbre)

    async def run() -> float:
        total = 0
        async for chunk in tts.synthesize(text, voice, SpeechOptions()):
            total += len(chunk.pcm)
        return total / 16000

    return asyncio.run(run())


def follow(client: ApiClient, drive_id: str, timeout: float = 60) -> tuple[list[int], float]:
    """Poll a drive until it ends; returns the statuses seen (in order) and when it ended."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = client.ok("GetDriveStatus", {"DriveId": drive_id})["DriveList"][0]
        if not seen or seen[-1] != row["Status"]:
            seen.append(row["Status"])
        if row["Status"] >= 3:
            return seen, time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"drive {drive_id} did not end: {seen}")


@pytest.mark.slow
def test_lifecycle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    media = tmp_path / "media"
    media.mkdir()
    # A real MP3 made by FFmpeg from one of the test clips (48 kHz stereo, 3.4 s).
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(MEDIA / "audio" / "zh_bus_chinese.wav"),
            str(media / "bus.mp3"),
        ],
        check=True,
    )
    (media / "long.wav").symlink_to(MEDIA / "audio" / "16k_mono" / "en_RD_Radio31_000.wav")
    with ServerProcess(tmp_path / "data") as srv, serve_directory(media) as files:
        c = srv.client
        task_id = c.ok(
            "CreateDigitalHumanStreamTask",
            {
                "DigitalHumanConfig": {"DigitalHumanId": "astronaut", "BackgroundColor": "#203040"},
                "RTCConfig": {"RoomId": "room", "StreamId": "life"},
                "VideoConfig": {"Width": 360, "Height": 640},
            },
        )["TaskId"]
        first = c.ok("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id})
        assert (
            first["Status"] in (1, 3) and first["RoomId"] == "room" and first["StreamId"] == "life"
        )
        status = c.wait(
            "GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] != 1
        )
        assert status["Status"] == 3, status

        timbre = c.ok("GetTimbreList", {})["Timbres"][0]["TimbreId"]
        duration = speech_seconds(timbre, TEXT)
        t0 = time.monotonic()
        drive = c.ok(
            "DriveByText", {"TaskId": task_id, "Text": TEXT, "TTSConfig": {"TimbreId": timbre}}
        )
        seen, t_end = follow(c, drive["DriveId"])
        assert seen[-1] == 4 and 2 in seen and seen == sorted(seen), seen
        assert t_end - t0 >= duration, (t_end - t0, duration)
        assert t_end - t0 <= duration + 6, (t_end - t0, duration)

        t0 = time.monotonic()
        mp3 = c.ok("DriveByAudio", {"TaskId": task_id, "AudioUrl": f"{files}/bus.mp3"})["DriveId"]
        seen, t_end = follow(c, mp3)
        assert seen[-1] == 4 and 2 in seen, seen
        assert 3.3 <= t_end - t0 <= 3.4 + 5

        # A long WAV, a text queued behind it; interrupt while the WAV plays.
        wav = c.ok("DriveByAudio", {"TaskId": task_id, "AudioUrl": f"{files}/long.wav"})["DriveId"]
        queued = c.ok(
            "DriveByText", {"TaskId": task_id, "Text": TEXT, "TTSConfig": {"TimbreId": timbre}}
        )["DriveId"]
        c.wait("GetDriveStatus", {"DriveId": wav}, lambda d: d["DriveList"][0]["Status"] == 2)
        assert c.ok("GetDriveStatus", {"DriveId": queued})["DriveList"][0]["Status"] == 1
        time.sleep(1.0)
        assert c.ok("InterruptDriveTask", {"TaskId": task_id}) == {}
        drives = c.wait(
            "GetDriveStatus",
            {"TaskId": task_id},
            lambda d: all(x["Status"] >= 3 for x in d["DriveList"]),
            timeout=5,
        )["DriveList"]
        by_id = {d["DriveId"]: d["Status"] for d in drives}
        assert by_id == {drive["DriveId"]: 4, mp3: 4, wav: 5, queued: 5}, by_id
        assert [d["DriveId"] for d in drives] == [drive["DriveId"], mp3, wav, queued]

        # InterruptMode 1: a new drive replaces the one playing.
        long2 = c.ok("DriveByAudio", {"TaskId": task_id, "AudioUrl": f"{files}/long.wav"})[
            "DriveId"
        ]
        c.wait("GetDriveStatus", {"DriveId": long2}, lambda d: d["DriveList"][0]["Status"] == 2)
        now = c.ok(
            "DriveByText",
            {
                "TaskId": task_id,
                "Text": "Sorry.",
                "InterruptMode": 1,
                "TTSConfig": {"TimbreId": timbre},
            },
        )["DriveId"]
        assert (
            c.wait(
                "GetDriveStatus", {"DriveId": long2}, lambda d: d["DriveList"][0]["Status"] >= 3
            )["DriveList"][0]["Status"]
            == 5
        )
        assert follow(c, now)[0][-1] == 4

        assert c.ok("StopDigitalHumanStreamTask", {"TaskId": task_id}) == {}
        assert c.ok("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id})["Status"] in (4, 5)
        done = c.wait(
            "GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] == 5
        )
        assert done["FailReason"] == "stopped by request"
        assert c.call("StopDigitalHumanStreamTask", {"TaskId": task_id})["Code"] == TASK_STOPPED
        # Ended tasks keep answering, with their history.
        assert len(c.ok("GetDriveStatus", {"TaskId": task_id})["DriveList"]) == 6
