"""CreateStreamPlayToken / CreateStreamPublishToken through the signed action API (in-process
app), and the tokens they return against the WHEP/WHIP routes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from avatar.transport.tokens import TokenSigner
from settings import Settings
from tests.support import TEST_APP_ID, TEST_SECRET, sign_query

pytestmark = pytest.mark.slow  # the app's lifespan loads the voices


@pytest.fixture
def client(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data",
        app_id=TEST_APP_ID,
        server_secret=TEST_SECRET,
        builtin_avatar=False,
        ice_host_addresses=["127.0.0.1"],
    )
    with TestClient(create_app(settings)) as c:
        yield c


def call(client: TestClient, action: str, body: dict) -> dict:
    r = client.post("/", params=sign_query(action), json=body)
    assert r.status_code == 200
    return r.json()


def test_play_token(client):
    reply = call(
        client, "CreateStreamPlayToken", {"RoomId": "room 1", "StreamId": "s-1", "Expire": 60}
    )
    assert reply["Code"] == 0, reply
    data = reply["Data"]
    assert data["WhepUrl"].endswith("/whep/room%201/s-1")
    assert "/play?RoomId=room+1&StreamId=s-1&Token=" in data["PlayUrl"]
    grant = TokenSigner(TEST_SECRET).verify(data["Token"], "play", "room 1", "s-1")
    assert 55 <= grant.expires - data["ExpireTime"] + 60 <= 61
    assert TEST_SECRET not in data["Token"]
    # The token opens WHEP for that stream only (404: no such live task, not 401/403).
    r = client.post(
        "/whep/room%201/s-1",
        content="v=0\r\n",
        headers={"Authorization": f"Bearer {data['Token']}", "Content-Type": "application/sdp"},
    )
    assert r.status_code == 404
    r = client.post(
        "/whep/room%201/other",
        content="v=0\r\n",
        headers={"Authorization": f"Bearer {data['Token']}", "Content-Type": "application/sdp"},
    )
    assert r.status_code == 403


def test_publish_token_and_validation(client):
    data = call(client, "CreateStreamPublishToken", {"RoomId": "r", "StreamId": "mic"})["Data"]
    assert data["WhipUrl"].endswith("/whip/r/mic")
    TokenSigner(TEST_SECRET).verify(data["Token"], "publish", "r", "mic")
    for body in (
        {"RoomId": "r", "StreamId": "bad id!"},
        {"RoomId": "", "StreamId": "s"},
        {"RoomId": "r", "StreamId": "s", "Expire": 5},
    ):
        reply = call(client, "CreateStreamPlayToken", body)
        assert reply["Code"] == 400000001, reply


def test_live_drives_on_unknown_task(client):
    for action, body in (
        ("DriveByWsStream", {"TaskId": "nope"}),
        ("DriveByRTCStream", {"TaskId": "nope", "RTCConfig": {"RoomId": "r", "StreamId": "m"}}),
    ):
        reply = call(client, action, body)
        assert reply["Code"] == 400000005, reply  # task not found
