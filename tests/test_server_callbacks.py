"""Callbacks: a local webhook receiver gets events 3 (stream status) and 4 (drive status),
signed with SHA-1 as documented; when it answers 500 the same event comes again after ~2 s;
a failing receiver does not slow the stream."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from api.signature import callback_signature
from tests.support import TEST_APP_ID, ServerProcess, WebhookReceiver

SECRET = "callback-secret-for-tests"


@pytest.mark.slow
def test_signed_events_and_retries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with (
        WebhookReceiver(fail_first=True) as hook,
        ServerProcess(
            tmp_path / "data", env={"DH_CALLBACK_URL": hook.url, "DH_CALLBACK_SECRET": SECRET}
        ) as srv,
    ):
        c = srv.client
        task_id = c.ok(
            "CreateDigitalHumanStreamTask",
            {
                "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
                "RTCConfig": {"RoomId": "room", "StreamId": "hooked"},
                "VideoConfig": {"Width": 360, "Height": 640},
            },
        )["TaskId"]
        c.wait("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] == 3)
        timbre = c.ok("GetTimbreList", {})["Timbres"][0]["TimbreId"]
        t0 = time.monotonic()
        drive = c.ok(
            "DriveByText",
            {"TaskId": task_id, "Text": "Short and sweet.", "TTSConfig": {"TimbreId": timbre}},
        )
        c.wait(
            "GetDriveStatus",
            {"DriveId": drive["DriveId"]},
            lambda d: d["DriveList"][0]["Status"] == 4,
        )
        assert time.monotonic() - t0 < 8, "the failing receiver slowed the drive"
        c.ok("StopDigitalHumanStreamTask", {"TaskId": task_id})
        c.wait("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}, lambda d: d["Status"] == 5)
        # Every event is answered 500 once, so each must arrive a second time ~2 s later.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            by_nonce = defaultdict(list)
            for t, body, code in hook.events():
                by_nonce[body["Nonce"]].append((t, body, code))
            if by_nonce and all(len(v) >= 2 for v in by_nonce.values()) and len(by_nonce) >= 7:
                break
            time.sleep(0.2)

    assert by_nonce, "no callback arrived"
    stream_statuses, drive_statuses = [], []
    for deliveries in by_nonce.values():
        assert len(deliveries) >= 2, deliveries
        (t1, body, code1), (t2, again, code2) = deliveries[0], deliveries[1]
        assert code1 == 500 and code2 == 200 and again == body
        assert 1.5 <= t2 - t1 <= 4.0, t2 - t1  # the first retry comes after 2 s
        assert body["AppId"] == TEST_APP_ID and body["TaskId"] == task_id
        assert body["Signature"] == callback_signature(SECRET, body["Timestamp"], body["Nonce"])
        assert isinstance(body["Timestamp"], str) and body["EventTime"] > 1e12
        if body["EventType"] == 3:
            assert body["Detail"]["RoomId"] == "room" and body["Detail"]["StreamId"] == "hooked"
            stream_statuses.append((body["EventTime"], body["Detail"]["Status"]))
        else:
            assert body["EventType"] == 4 and body["Detail"]["DriveId"] == drive["DriveId"]
            drive_statuses.append((body["EventTime"], body["Detail"]["Status"]))
    assert [s for _, s in sorted(stream_statuses)] == [1, 3, 4, 5]
    assert [s for _, s in sorted(drive_statuses)] == [1, 2, 4]
