"""Stream tasks and drives against the real app and runtime in process: field ranges, the
documented errors, StreamId uniqueness, the live-task limit, TTL and MaxIdleTime, bad audio URLs."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from api.errors import (
    CONCURRENCY_LIMIT,
    DIGITAL_HUMAN_NOT_FOUND,
    INVALID_PARAMETER,
    STREAM_ID_IN_USE,
    TASK_NOT_FOUND,
    TASK_NOT_STARTED,
    TASK_STOPPED,
    TIMBRE_NOT_FOUND,
)
from tests.support import MEDIA, ApiClient, InProcessApp, serve_directory

SMALL = {"Width": 360, "Height": 640}


def create_body(stream_id: str, **extra: object) -> dict:
    return {
        "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
        "RTCConfig": {"RoomId": "room-1", "StreamId": stream_id},
        "VideoConfig": SMALL,
        **extra,
    }


def start_task(client: ApiClient, stream_id: str, **extra: object) -> str:
    task_id = client.ok("CreateDigitalHumanStreamTask", create_body(stream_id, **extra))["TaskId"]
    data = client.wait(
        "GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] != 1
    )
    assert data["Status"] == 3, data
    return task_id


def stop(client: ApiClient, task_id: str) -> None:
    client.ok("StopDigitalHumanStreamTask", {"TaskId": task_id})
    client.wait("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] == 5)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessApp]:
    with InProcessApp(tmp_path_factory.mktemp("streams") / "data", max_live_tasks=2) as app:
        yield app


@pytest.fixture(scope="module")
def timbre(api: InProcessApp) -> str:
    return api.client.ok("GetTimbreList", {})["Timbres"][0]["TimbreId"]


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("CreateDigitalHumanStreamTask", create_body("has space"), "RTCConfig.StreamId"),
        ("CreateDigitalHumanStreamTask", create_body("a" * 129), "RTCConfig.StreamId"),
        (
            "CreateDigitalHumanStreamTask",
            {**create_body("s"), "RTCConfig": {"RoomId": "房" * 43, "StreamId": "s"}},
            "RoomId",
        ),
        (
            "CreateDigitalHumanStreamTask",
            create_body("s", VideoConfig={"Width": 1920, "Height": 1088}),
            "Width×Height",
        ),
        (
            "CreateDigitalHumanStreamTask",
            create_body("s", VideoConfig={"Width": 1922, "Height": 100}),
            "VideoConfig.Width",
        ),
        (
            "CreateDigitalHumanStreamTask",
            create_body("s", VideoConfig={"Height": 2562}),
            "VideoConfig.Height",
        ),
        (
            "CreateDigitalHumanStreamTask",
            create_body("s", VideoConfig={"Bitrate": 99_999}),
            "VideoConfig.Bitrate",
        ),
        ("CreateDigitalHumanStreamTask", create_body("s", TTL=9), "TTL"),
        ("CreateDigitalHumanStreamTask", create_body("s", TTL=86401), "TTL"),
        ("CreateDigitalHumanStreamTask", create_body("s", MaxIdleTime=29), "MaxIdleTime"),
        (
            "CreateDigitalHumanStreamTask",
            {
                **create_body("s"),
                "DigitalHumanConfig": {"DigitalHumanId": "astronaut", "BackgroundColor": "red"},
            },
            "DigitalHumanConfig.BackgroundColor",
        ),
        (
            "CreateDigitalHumanStreamTask",
            {"RTCConfig": {"RoomId": "r", "StreamId": "s"}},
            "DigitalHumanConfig",
        ),
        (
            "DriveByText",
            {"TaskId": "t", "Text": "x" * 1801, "TTSConfig": {"TimbreId": "v"}},
            "Text",
        ),
        (
            "DriveByText",
            {"TaskId": "t", "Text": "hi", "TTSConfig": {"TimbreId": "v", "SpeechRate": 501}},
            "TTSConfig.SpeechRate",
        ),
        (
            "DriveByText",
            {"TaskId": "t", "Text": "hi", "TTSConfig": {"TimbreId": "v", "PitchRate": -501}},
            "TTSConfig.PitchRate",
        ),
        (
            "DriveByText",
            {"TaskId": "t", "Text": "hi", "TTSConfig": {"TimbreId": "v", "Volume": 0}},
            "TTSConfig.Volume",
        ),
        ("DriveByText", {"TaskId": "t", "Text": "hi", "TTSConfig": {}}, "TTSConfig.TimbreId"),
        (
            "DriveByText",
            {"TaskId": "t", "Text": "hi", "InterruptMode": 2, "TTSConfig": {"TimbreId": "v"}},
            "InterruptMode",
        ),
        ("DriveByAudio", {"TaskId": "t", "AudioUrl": "file:///etc/passwd"}, "AudioUrl"),
        ("GetDriveStatus", {}, "TaskId or DriveId"),
        ("GetDigitalHumanStreamTaskStatus", {}, "TaskId"),
    ],
)
def test_field_rules(api: InProcessApp, action: str, body: dict, field: str) -> None:
    reply = api.client.call(action, body)
    assert reply["Code"] == INVALID_PARAMETER, reply
    assert field in reply["Message"], reply["Message"]


def test_documented_errors(api: InProcessApp, timbre: str) -> None:
    c = api.client
    body = create_body("x")
    body["DigitalHumanConfig"]["DigitalHumanId"] = "nobody"
    assert c.call("CreateDigitalHumanStreamTask", body)["Code"] == DIGITAL_HUMAN_NOT_FOUND
    for action in (
        "GetDigitalHumanStreamTaskStatus",
        "StopDigitalHumanStreamTask",
        "InterruptDriveTask",
    ):
        assert c.call(action, {"TaskId": "nope"})["Code"] == TASK_NOT_FOUND
    text = {"TaskId": "nope", "Text": "hi", "TTSConfig": {"TimbreId": timbre}}
    assert c.call("DriveByText", text)["Code"] == TASK_NOT_FOUND
    assert c.call("GetDriveStatus", {"TaskId": "nope"})["Code"] == TASK_NOT_FOUND

    task_id = start_task(c, "errors")
    bad_voice = {"TaskId": task_id, "Text": "hi", "TTSConfig": {"TimbreId": "no-such-voice"}}
    assert c.call("DriveByText", bad_voice)["Code"] == TIMBRE_NOT_FOUND
    reply = c.call("DoAction", {"TaskId": task_id, "Action": "backflip"})
    assert reply["Code"] == INVALID_PARAMETER and "Action" in reply["Message"]
    action = c.ok("GetDigitalHumanInfo", {"DigitalHumanId": "astronaut"})["Actions"][0]["Action"]
    assert c.ok("DoAction", {"TaskId": task_id, "Action": action}) == {}
    listed = c.ok("QueryDigitalHumanStreamTasks", {})["TaskList"]
    assert [t["TaskId"] for t in listed] == [task_id] and listed[0]["Status"] == 3
    stop(c, task_id)
    assert c.ok("QueryDigitalHumanStreamTasks", {})["TaskList"] == []
    assert c.call("StopDigitalHumanStreamTask", {"TaskId": task_id})["Code"] == TASK_STOPPED
    assert (
        c.call("DriveByText", {**bad_voice, "TTSConfig": {"TimbreId": timbre}})["Code"]
        == TASK_STOPPED
    )
    assert c.call("InterruptDriveTask", {"TaskId": task_id})["Code"] == TASK_STOPPED


def test_stream_id_unique_and_live_limit(api: InProcessApp) -> None:
    c = api.client
    first = start_task(c, "same")
    assert c.call("CreateDigitalHumanStreamTask", create_body("same"))["Code"] == STREAM_ID_IN_USE
    second = start_task(c, "other")
    reply = c.call("CreateDigitalHumanStreamTask", create_body("third"))
    assert reply["Code"] == CONCURRENCY_LIMIT and "2" in reply["Message"]
    stop(c, first)
    # Once ended, the StreamId and the slot are free again.
    again = start_task(c, "same")
    stop(c, again)
    stop(c, second)


def test_bad_audio_url_fails_the_drive_not_the_task(api: InProcessApp, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = api.client
    task_id = start_task(c, "badurl")
    with serve_directory(tmp_path) as base:
        drive = c.ok("DriveByAudio", {"TaskId": task_id, "AudioUrl": f"{base}/missing.wav"})[
            "DriveId"
        ]
        d = c.wait("GetDriveStatus", {"DriveId": drive}, lambda d: d["DriveList"][0]["Status"] >= 3)
    row = d["DriveList"][0]
    assert row["Status"] == 3 and "404" in row["FailReason"], row
    (tmp_path / "noise.wav").write_bytes(b"RIFF this is not audio" * 10)
    with serve_directory(tmp_path) as base:
        drive = c.ok("DriveByAudio", {"TaskId": task_id, "AudioUrl": f"{base}/noise.wav"})[
            "DriveId"
        ]
        d = c.wait("GetDriveStatus", {"DriveId": drive}, lambda d: d["DriveList"][0]["Status"] >= 3)
    assert d["DriveList"][0]["Status"] == 3 and d["DriveList"][0]["FailReason"]
    assert c.ok("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id})["Status"] == 3
    stop(c, task_id)


@pytest.mark.slow
def test_ttl_and_idle_end_the_task_with_a_reason(api: InProcessApp) -> None:
    c = api.client
    t0 = time.monotonic()
    ttl = start_task(c, "ttl", TTL=10)
    idle = start_task(c, "idle", MaxIdleTime=30)
    d = c.wait(
        "GetDigitalHumanStreamTaskStatus", {"TaskId": ttl}, lambda d: d["Status"] == 5, timeout=20
    )
    assert 9.5 <= time.monotonic() - t0 <= 16
    assert "TTL" in d["FailReason"]
    d = c.wait(
        "GetDigitalHumanStreamTaskStatus", {"TaskId": idle}, lambda d: d["Status"] == 5, timeout=40
    )
    assert 29.5 <= time.monotonic() - t0 <= 40
    assert "idle" in d["FailReason"].lower()


@pytest.mark.slow
def test_tts_config_is_honoured(api: InProcessApp, timbre: str) -> None:
    """SpeechRate +500 speaks twice as fast: the drive plays in about half the time."""
    c = api.client
    task_id = start_task(c, "rate")
    text = "One, two, three, four, five, six, seven, eight, nine, ten."

    def play(rate: int) -> float:
        drive = c.ok(
            "DriveByText",
            {
                "TaskId": task_id,
                "Text": text,
                "TTSConfig": {"TimbreId": timbre, "SpeechRate": rate},
            },
        )["DriveId"]
        c.wait(
            "GetDriveStatus",
            {"DriveId": drive},
            lambda d: d["DriveList"][0]["Status"] >= 2,
            every=0.02,
        )
        t0 = time.monotonic()
        d = c.wait(
            "GetDriveStatus",
            {"DriveId": drive},
            lambda d: d["DriveList"][0]["Status"] >= 3,
            every=0.02,
        )
        assert d["DriveList"][0]["Status"] == 4
        return time.monotonic() - t0

    normal, fast = play(0), play(500)
    assert fast < 0.7 * normal, (normal, fast)
    stop(c, task_id)


class _SlowMissing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(2.0)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_init_states_and_assets(api: InProcessApp, timbre: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Status 1 while the scene's assets download (drives → 400000006), 2 with a FailReason
    when an asset cannot be fetched, 3 with a working background and decoration."""
    c = api.client
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowMissing)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        slow = f"http://127.0.0.1:{httpd.server_address[1]}/bg.png"
        task_id = c.ok(
            "CreateDigitalHumanStreamTask", create_body("init", Assets=[{"AssetUrl": slow}])
        )["TaskId"]
        assert c.ok("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id})["Status"] == 1
        listed = c.ok("QueryDigitalHumanStreamTasks", {})["TaskList"]
        assert {"TaskId": task_id, "Status": 1}.items() <= next(
            t for t in listed if t["TaskId"] == task_id
        ).items()
        text = {"TaskId": task_id, "Text": "hi", "TTSConfig": {"TimbreId": timbre}}
        assert c.call("DriveByText", text)["Code"] == TASK_NOT_STARTED
        d = c.wait(
            "GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] != 1
        )
        assert (
            d["Status"] == 2
            and "Assets[0].AssetUrl" in d["FailReason"]
            and "404" in d["FailReason"]
        ), d
        assert c.call("StopDigitalHumanStreamTask", {"TaskId": task_id})["Code"] == TASK_STOPPED
    finally:
        httpd.shutdown()
        httpd.server_close()
    (tmp_path / "bg.png").symlink_to(MEDIA / "images" / "astronaut.png")
    with serve_directory(tmp_path) as base:
        assets = [
            {"AssetType": 1, "AssetUrl": f"{base}/bg.png"},
            {
                "AssetUrl": f"{base}/bg.png",
                "Layout": {"Left": 10, "Top": 10, "Width": 64, "Height": 64, "Layer": 2},
            },
        ]
        task_id = start_task(c, "assets", Assets=assets)
    # The picture really has the decoration where its Layout says (in front of the avatar).
    frames: list = []

    class Sink:
        def on_video(self, frame) -> None:  # type: ignore[no-untyped-def]
            frames.append(frame.rgba)

        def on_audio(self, chunk) -> None:  # type: ignore[no-untyped-def]
            pass

        def on_event(self, message) -> None:  # type: ignore[no-untyped-def]
            pass

        def on_close(self) -> None:
            pass

    task = api.services.live.get(task_id)
    api.http.portal.call(task.add_sink, Sink())
    deadline = time.monotonic() + 10
    while not frames and time.monotonic() < deadline:
        time.sleep(0.1)
    assert frames, "no frame came out"
    frame = frames[-1]
    assert frame.shape == (640, 360, 4)
    ref = cv2.resize(
        cv2.cvtColor(cv2.imread(str(MEDIA / "images" / "astronaut.png")), cv2.COLOR_BGR2RGB),
        (64, 64),
    )
    diff = np.abs(frame[10:74, 10:74, :3].astype(int) - ref.astype(int)).mean()
    assert diff < 25, diff
    stop(c, task_id)
