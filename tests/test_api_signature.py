"""The signature (documented test vectors, every way it can be wrong) and the action endpoint's
protocol errors, rate limit and envelope, against the real app in process."""

from __future__ import annotations

import time

import pytest

from api.errors import (
    ACTION_MISSING,
    ACTION_UNSUPPORTED,
    APPID_FORMAT,
    BODY_UNREADABLE,
    NO_SECRET,
    NONCE_MISSING,
    RATE_LIMITED,
    SIGNATURE_EXPIRED,
    SIGNATURE_MISSING,
    SIGNATURE_WRONG,
    TIMESTAMP_FORMAT,
    TIMESTAMP_MISSING,
    VERSION_MISSING,
    VERSION_WRONG,
)
from api.signature import Verifier, callback_signature, sign
from tests.support import TEST_APP_ID, TEST_SECRET, InProcessApp, sign_query


def test_documented_md5_vector() -> None:
    assert (
        sign(12345, "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", 1615186943)
        == "43e5cfcca828314675f91b001390566a"
    )
    # AppId and Timestamp as strings (how sample clients pass them) sign the same.
    assert sign("12345", "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", "1615186943") == (
        "43e5cfcca828314675f91b001390566a"
    )


def test_documented_callback_vector() -> None:
    assert callback_signature("secret", "1470820198", "123412") == (
        "5bd59fd62953a8059fb7eaba95720f66d19e4517"
    )


def _q(**override: object) -> dict[str, str]:
    return sign_query("GetDigitalHumanList", **override)


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"AppId": None}, APPID_FORMAT),
        ({"AppId": "abc"}, APPID_FORMAT),
        ({"SignatureNonce": None}, NONCE_MISSING),
        ({"Timestamp": None}, TIMESTAMP_MISSING),
        ({"Timestamp": "yesterday"}, TIMESTAMP_FORMAT),
        ({"Signature": None}, SIGNATURE_MISSING),
        ({"SignatureVersion": None}, VERSION_MISSING),
        ({"SignatureVersion": "1.0"}, VERSION_WRONG),
        ({"Signature": "0" * 32}, SIGNATURE_WRONG),
        ({"AppId": 42}, NO_SECRET),
    ],
)
def test_verifier_codes(override: dict, code: int) -> None:
    v = Verifier({TEST_APP_ID: TEST_SECRET})
    with pytest.raises(Exception) as e:
        v.verify(_q(**override))
    assert getattr(e.value, "code", None) == code


def test_verifier_window_and_replay() -> None:
    v = Verifier({TEST_APP_ID: TEST_SECRET})
    q = _q()
    now = int(q["Timestamp"])
    assert v.verify(q, now=now + 599) == TEST_APP_ID  # inside the 10-minute window
    with pytest.raises(Exception) as e:
        v.verify(q, now=now + 600)  # the same nonce again: replay
    assert e.value.code == SIGNATURE_WRONG and "replay" in e.value.message
    with pytest.raises(Exception) as e:
        v.verify(_q(), now=now + 601)
    assert e.value.code == SIGNATURE_EXPIRED
    with pytest.raises(Exception) as e:
        v.verify(_q(), now=now - 601)  # a timestamp from the future is out of the window too
    assert e.value.code == SIGNATURE_EXPIRED
    # A different nonce with the same timestamp is fine.
    assert v.verify(_q(), now=now) == TEST_APP_ID


def _post(api: InProcessApp, q: dict, body: object = None, **kw: object) -> dict:
    r = api.http.post("/", params=q, json=body if body is not None else {}, **kw)
    assert r.status_code == 200
    return r.json()


def test_endpoint_errors(api: InProcessApp) -> None:
    assert _post(api, _q(Action=None))["Code"] == ACTION_MISSING
    reply = _post(api, sign_query("NoSuchAction"))
    assert reply["Code"] == ACTION_UNSUPPORTED and "NoSuchAction" in reply["Message"]
    expired = _q(Timestamp=int(time.time()) - 700)
    expired["Signature"] = sign(
        TEST_APP_ID, expired["SignatureNonce"], TEST_SECRET, expired["Timestamp"]
    )
    assert _post(api, expired)["Code"] == SIGNATURE_EXPIRED
    assert _post(api, _q(Signature="f" * 32))["Code"] == SIGNATURE_WRONG
    q = _q()
    assert _post(api, q)["Code"] == 0
    replay = _post(api, q)
    assert replay["Code"] == SIGNATURE_WRONG and "replay" in replay["Message"]
    r = api.http.post(
        "/", params=_q(), content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.json()["Code"] == BODY_UNREADABLE
    r = api.http.post("/", params=_q(), content=b"[1, 2]")
    assert r.json()["Code"] == BODY_UNREADABLE


def test_envelope_get_post_and_no_slash(api: InProcessApp) -> None:
    for method in ("GET", "POST"):
        for path in ("/", ""):
            r = api.http.request(method, f"http://testserver{path}", params=_q())
            body = r.json()
            assert r.status_code == 200 and body["Code"] == 0, body
            assert set(body) == {"Code", "Message", "RequestId", "Data"}
            assert body["Message"] == "success" and len(body["RequestId"]) >= 16
            assert body["Data"]["Total"] >= 1


def test_rate_limit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with InProcessApp(tmp_path / "data", rate_limit_per_second=3, builtin_avatar=False) as app:
        codes = [app.client.call("QueryDigitalHumanStreamTasks", {})["Code"] for _ in range(6)]
        assert codes[:3] == [0, 0, 0]
        assert RATE_LIMITED in codes[3:]
        # Per action: another action still has its own budget.
        assert app.client.call("GetTimbreList", {})["Code"] == 0
        time.sleep(1.1)
        assert app.client.call("QueryDigitalHumanStreamTasks", {})["Code"] == 0
