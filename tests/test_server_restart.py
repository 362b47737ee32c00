"""A restart keeps every record and tells the truth about what was live: tasks end as stopped
(5) with a reason, a playing drive as interrupted (5), a queued one as failed (3), each with a
reason; after a crash (SIGKILL) as well as after a clean shutdown (SIGINT)."""

from __future__ import annotations

import pytest

from tests.support import MEDIA, ApiClient, ServerProcess, serve_directory


def live_task_with_drives(c: ApiClient, files: str, stream_id: str) -> tuple[str, str, str]:
    task_id = c.ok(
        "CreateDigitalHumanStreamTask",
        {
            "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
            "RTCConfig": {"RoomId": "room", "StreamId": stream_id},
            "VideoConfig": {"Width": 360, "Height": 640},
        },
    )["TaskId"]
    c.wait("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] == 3)
    playing = c.ok("DriveByAudio", {"TaskId": task_id, "AudioUrl": f"{files}/long.wav"})["DriveId"]
    queued = c.ok("DriveByAudio", {"TaskId": task_id, "AudioUrl": f"{files}/long.wav"})["DriveId"]
    c.wait("GetDriveStatus", {"DriveId": playing}, lambda d: d["DriveList"][0]["Status"] == 2)
    return task_id, playing, queued


@pytest.mark.slow
@pytest.mark.parametrize("kill", [True, False], ids=["crash", "shutdown"])
def test_restart_keeps_records_and_ends_live_work(tmp_path, kill: bool) -> None:  # type: ignore[no-untyped-def]
    media = tmp_path / "media"
    media.mkdir()
    (media / "long.wav").symlink_to(MEDIA / "audio" / "16k_mono" / "en_RD_Radio31_000.wav")
    with ServerProcess(tmp_path / "data") as srv, serve_directory(media) as files:
        c = srv.client
        url = srv.client.http.post(
            srv.base_url + "/",
            params=__import__("tests.support", fromlist=["sign_query"]).sign_query("UploadFile"),
            files={"File": ("face.jpg", (MEDIA / "images" / "astronaut.png").read_bytes())},
        ).json()["Data"]["Url"]
        dh = c.ok(
            "CreateImageDigitalHuman", {"Name": "Mine", "ImageUrl": url, "Hint": {"Kind": "still"}}
        )
        c.wait("GetDigitalHumanInfo", dh, lambda d: d["Status"] == 2)
        ended = c.ok(
            "CreateDigitalHumanStreamTask",
            {
                "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
                "RTCConfig": {"RoomId": "room", "StreamId": "old"},
                "VideoConfig": {"Width": 360, "Height": 640},
            },
        )["TaskId"]
        c.wait("GetDigitalHumanStreamTaskStatus", {"TaskId": ended}, lambda d: d["Status"] == 3)
        c.ok("StopDigitalHumanStreamTask", {"TaskId": ended})
        c.wait("GetDigitalHumanStreamTaskStatus", {"TaskId": ended}, lambda d: d["Status"] == 5)
        task_id, playing, queued = live_task_with_drives(c, files, "live")

        srv.restart(kill=kill)

        status = c.ok("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id})
        assert status["Status"] == 5 and status["FailReason"], status
        expected = "restarted" if kill else "shutting down"
        assert expected in status["FailReason"], status
        drives = {d["DriveId"]: d for d in c.ok("GetDriveStatus", {"TaskId": task_id})["DriveList"]}
        assert drives[playing]["Status"] == 5 and drives[playing]["FailReason"], drives
        assert drives[queued]["Status"] in (3, 5) and drives[queued]["FailReason"], drives
        if kill:
            assert drives[queued]["Status"] == 3
        # Nothing is listed as live, everything else is still there.
        assert c.ok("QueryDigitalHumanStreamTasks", {})["TaskList"] == []
        old = c.ok("GetDigitalHumanStreamTaskStatus", {"TaskId": ended})
        assert old["Status"] == 5 and old["FailReason"] == "stopped by request"
        mine = c.ok("GetDigitalHumanInfo", dh)
        assert mine["Status"] == 2 and mine["Name"] == "Mine"
        assert c.http.get(url).status_code == 200
        assert c.http.get(mine["AvatarUrl"]).status_code == 200
        # The StreamId is free again and the server streams as before.
        again, _, _ = live_task_with_drives(c, files, "live")
        c.ok("StopDigitalHumanStreamTask", {"TaskId": again})
