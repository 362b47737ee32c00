"""Upload and avatar creation: a signed multipart upload gives a URL that CreateImageDigitalHuman
accepts; builds report Progress/Status/FailReason and leave nothing half-made; delete."""

from __future__ import annotations

import json
import time

import pytest

from api.errors import DIGITAL_HUMAN_NOT_FOUND, INVALID_PARAMETER, NO_PERMISSION
from tests.support import MEDIA, InProcessApp, sign_query

PHOTO = MEDIA / "images" / "real_female_eastasian_frontal_s42.jpg"
VIDEO = MEDIA / "video" / "talking_male_eastasian_d12.mp4"


def upload(api: InProcessApp, name: str, data: bytes) -> dict:
    r = api.http.post("/", params=sign_query("UploadFile"), files={"File": (name, data)})
    return r.json()


def wait_built(api: InProcessApp, dh_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        info = api.client.ok("GetDigitalHumanInfo", {"DigitalHumanId": dh_id})
        seen.append(info["Progress"])
        if info["Status"] != 1:
            info["_progress_seen"] = seen
            return info
        time.sleep(0.2)
    raise AssertionError(f"build of {dh_id} did not end")


def test_upload_roundtrip(api: InProcessApp) -> None:
    data = PHOTO.read_bytes()
    reply = upload(api, "../../etc/my photo.jpg", data)
    assert reply["Code"] == 0, reply
    url = reply["Data"]["Url"]
    assert reply["Data"]["Size"] == len(data) and "/files/" in url and ".." not in url
    got = api.http.get(url)
    assert got.status_code == 200 and got.content == data
    # Uploads need a signature like every action.
    r = api.http.post(
        "/", params=sign_query("UploadFile", Signature="0" * 32), files={"File": ("a", b"x")}
    )
    assert r.json()["Code"] == 100000005
    # No file field: the Message names the field.
    r = api.http.post("/", params=sign_query("UploadFile"), files={"Other": ("a", b"x")})
    assert r.json()["Code"] == INVALID_PARAMETER and "File" in r.json()["Message"]


def test_create_image_digital_human_and_delete(api: InProcessApp) -> None:
    url = upload(api, "face.jpg", PHOTO.read_bytes())["Data"]["Url"]
    dh_id = api.client.ok("CreateImageDigitalHuman", {"Name": "Face", "ImageUrl": url})[
        "DigitalHumanId"
    ]
    info = wait_built(api, dh_id)
    assert info["Status"] == 2, info
    assert info["Progress"] == 100 and info["IsPublic"] is False and info["FailReason"] == ""
    assert api.http.get(info["AvatarUrl"]).status_code == 200
    private = api.client.ok("GetDigitalHumanList", {"FetchMode": 3})
    assert dh_id in {d["DigitalHumanId"] for d in private["DigitalHumans"]}
    folder = api.services.avatars_dir / dh_id
    assert (folder / "avatar.json").exists()

    assert api.client.ok("DeleteDigitalHuman", {"DigitalHumanId": dh_id}) == {}
    assert not folder.exists()
    assert api.client.call("GetDigitalHumanInfo", {"DigitalHumanId": dh_id})["Code"] == (
        DIGITAL_HUMAN_NOT_FOUND
    )
    assert (
        api.client.call("DeleteDigitalHuman", {"DigitalHumanId": "astronaut"})["Code"]
        == NO_PERMISSION
    )


def test_failed_build_leaves_nothing_half_made(api: InProcessApp) -> None:
    url = upload(api, "notes.jpg", b"this is not an image at all")["Data"]["Url"]
    dh_id = api.client.ok("CreateImageDigitalHuman", {"Name": "Bad", "ImageUrl": url})[
        "DigitalHumanId"
    ]
    info = wait_built(api, dh_id)
    assert info["Status"] == 3 and info["FailReason"], info
    assert not (api.services.avatars_dir / dh_id).exists()
    # A failed avatar cannot start a stream.
    reply = api.client.call(
        "CreateDigitalHumanStreamTask",
        {
            "DigitalHumanConfig": {"DigitalHumanId": dh_id},
            "RTCConfig": {"RoomId": "r", "StreamId": "bad"},
        },
    )
    assert reply["Code"] == 400000010 and "failed" in reply["Message"]


def test_create_from_unreachable_url_fails_with_reason(api: InProcessApp) -> None:
    dh_id = api.client.ok(
        "CreateImageDigitalHuman", {"Name": "Gone", "ImageUrl": "http://127.0.0.1:9/none.png"}
    )["DigitalHumanId"]
    info = wait_built(api, dh_id, timeout=30)
    assert info["Status"] == 3 and "127.0.0.1" in info["FailReason"]


def test_create_field_errors(api: InProcessApp) -> None:
    for body, field in [
        ({"ImageUrl": "http://x/y.png"}, "Name"),
        ({"Name": "a", "ImageUrl": "ftp://x/y.png"}, "ImageUrl"),
        ({"Name": "a" * 257, "ImageUrl": "http://x/y.png"}, "Name"),
    ]:
        reply = api.client.call("CreateImageDigitalHuman", body)
        assert reply["Code"] == INVALID_PARAMETER and field in reply["Message"], reply


@pytest.mark.slow
def test_create_video_digital_human(api: InProcessApp) -> None:
    url = upload(api, "talk.mp4", VIDEO.read_bytes())["Data"]["Url"]
    hint = {"Actions": [{"Action": "wave", "Start": 1.0, "End": 2.5, "Keywords": ["hello"]}]}
    dh_id = api.client.ok(
        "CreateVideoDigitalHuman", {"Name": "Talk", "VideoUrl": url, "Hint": hint}
    )["DigitalHumanId"]
    info = wait_built(api, dh_id, timeout=240)
    assert info["Status"] == 2, info
    assert info["Kind"] == "video"
    assert max(info["_progress_seen"]) <= 100
    # The named stretch of the recording is an action, started by its keyword in text drives.
    assert "wave" in {a["Action"] for a in info["Actions"]}
    meta = json.loads((api.services.avatars_dir / dh_id / "avatar.json").read_text())
    assert meta["keywords"] == {"wave": ["hello"]}


def test_image_hint_fields(api: InProcessApp) -> None:
    url = upload(api, "face.jpg", PHOTO.read_bytes())["Data"]["Url"]
    body = {"Name": "Hinted", "ImageUrl": url, "Hint": {"FaceBox": [1, 2, 3]}}
    reply = api.client.call("CreateImageDigitalHuman", body)
    assert reply["Code"] == INVALID_PARAMETER and "Hint.FaceBox" in reply["Message"]
    body["Hint"] = {"FaceBox": [100, 80, 320, 380], "Keywords": {"nod": ["yes"]}}
    dh_id = api.client.ok("CreateImageDigitalHuman", body)["DigitalHumanId"]
    assert wait_built(api, dh_id)["Status"] == 2
    meta = json.loads((api.services.avatars_dir / dh_id / "avatar.json").read_text())
    assert meta["keywords"] == {"nod": ["yes"]}
