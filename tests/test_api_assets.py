"""Assets: the built-in public digital human, list paging and modes, info with Actions and
working preview URLs, timbres, and the served API docs."""

from __future__ import annotations

import io

from PIL import Image

from api.errors import DIGITAL_HUMAN_NOT_FOUND, INVALID_PARAMETER
from tests.support import InProcessApp


def test_builtin_public_digital_human(api: InProcessApp) -> None:
    data = api.client.ok("GetDigitalHumanList", {})
    assert data["Total"] >= 1
    dh = next(d for d in data["DigitalHumans"] if d["DigitalHumanId"] == "astronaut")
    assert dh["IsPublic"] is True and dh["Status"] == 2 and dh["Progress"] == 100
    assert dh["Actions"] and all(a["PreviewUrl"].startswith("http") for a in dh["Actions"])
    # The preview is a real picture of the avatar.
    r = api.http.get(dh["AvatarUrl"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert min(img.size) >= 256


def test_action_preview_is_an_animation(api: InProcessApp) -> None:
    dh = api.client.ok("GetDigitalHumanInfo", {"DigitalHumanId": "astronaut"})
    action = dh["Actions"][0]
    r = api.http.get(action["PreviewUrl"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    gif = Image.open(io.BytesIO(r.content))
    assert max(gif.size) <= 256
    if dh["Kind"] in ("photo", "video"):
        # A moving avatar: the action shows as distinct frames (identical ones are merged).
        assert gif.n_frames >= 5, gif.n_frames
    assert (
        api.http.get(action["PreviewUrl"].replace(action["Action"], "no_such_action")).status_code
        == 404
    )


def test_list_modes_and_paging(api: InProcessApp) -> None:
    all_ = api.client.ok("GetDigitalHumanList", {"FetchMode": 1})
    public = api.client.ok("GetDigitalHumanList", {"FetchMode": 2})
    private = api.client.ok("GetDigitalHumanList", {"FetchMode": 3})
    assert public["Total"] + private["Total"] == all_["Total"]
    assert all(d["IsPublic"] for d in public["DigitalHumans"])
    assert not any(d["IsPublic"] for d in private["DigitalHumans"])
    page = api.client.ok("GetDigitalHumanList", {"Offset": all_["Total"], "Limit": 1})
    assert page["Total"] == all_["Total"] and page["DigitalHumans"] == []


def test_list_field_errors(api: InProcessApp) -> None:
    for body, field in [
        ({"Limit": 21}, "Limit"),
        ({"Limit": 0}, "Limit"),
        ({"Offset": -1}, "Offset"),
        ({"Offset": 1_000_001}, "Offset"),
        ({"FetchMode": 4}, "FetchMode"),
        ({"Limit": "many"}, "Limit"),
    ]:
        reply = api.client.call("GetDigitalHumanList", body)
        assert reply["Code"] == INVALID_PARAMETER, (body, reply)
        assert field in reply["Message"], reply["Message"]
    assert "20" in api.client.call("GetDigitalHumanList", {"Limit": 21})["Message"]


def test_info_not_found(api: InProcessApp) -> None:
    assert api.client.call("GetDigitalHumanInfo", {"DigitalHumanId": "nope"})["Code"] == (
        DIGITAL_HUMAN_NOT_FOUND
    )
    missing = api.client.call("GetDigitalHumanInfo", {})
    assert missing["Code"] == INVALID_PARAMETER and "DigitalHumanId" in missing["Message"]


def test_timbres(api: InProcessApp) -> None:
    data = api.client.ok("GetTimbreList", {})
    assert data["Total"] == len(api.services.tts.voices()) >= 1
    ids = {t["TimbreId"] for t in data["Timbres"]}
    assert ids <= {v.timbre_id for v in api.services.tts.voices()}
    assert all(t["Name"] for t in data["Timbres"])
    # An avatar's own timbres: the built-in one has none; an unknown avatar is an error.
    assert api.client.ok("GetTimbreList", {"DigitalHumanId": "astronaut"})["Total"] == 0
    assert (
        api.client.call("GetTimbreList", {"DigitalHumanId": "nope"})["Code"]
        == DIGITAL_HUMAN_NOT_FOUND
    )
    assert api.client.call("GetTimbreList", {"Limit": 21})["Code"] == INVALID_PARAMETER


def test_docs_list_every_action(api: InProcessApp) -> None:
    page = api.http.get("/docs/actions").text
    spec = api.http.get("/docs/actions.json").json()
    names = {a["Action"] for a in spec}
    assert names == set(api.services.actions)
    for name in (
        "CreateDigitalHumanStreamTask",
        "DriveByText",
        "GetDigitalHumanList",
        "UploadFile",
    ):
        assert name in page
    drive = next(a for a in spec if a["Action"] == "DriveByText")
    fields = {f["Field"]: f for f in drive["Fields"]}
    assert fields["Text"]["Required"] and "max length 1800" in fields["Text"]["Rules"]
    assert "<= 500" in fields["TTSConfig.SpeechRate"]["Rules"]
    assert any(c["Code"] == 400000004 for c in drive["Codes"])
