"""The quick start as a new user meets it: `python server.py` with no settings at all generates
its credentials, prints them, and a call signed with them lists the public digital human."""

from __future__ import annotations

import json
import re

import pytest

from tests.support import ApiClient, ServerProcess

UNSET = [
    "DH_APP_ID",
    "DH_SERVER_SECRET",
    "DH_ALLOW_PRIVATE_URLS",
    "DH_RATE_LIMIT_PER_SECOND",
    "DH_ICE_HOST_ADDRESSES",
]


@pytest.mark.slow
def test_defaults_generate_credentials_and_serve(tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv = ServerProcess(tmp_path / "data", env=dict.fromkeys(UNSET), seed=False)
    # The startup probe signs with the test credentials, which this server does not know: it
    # answers 100000010, which still shows it is up. Probe with the generated ones instead.
    srv.client.call = _probe(srv)  # type: ignore[method-assign]
    srv.start()
    try:
        stored = json.loads((tmp_path / "data" / "credentials.json").read_text())
        printed = srv.log()
        assert re.search(rf"AppId\s+{stored['AppId']}\b", printed)
        assert stored["ServerSecret"] in printed and re.fullmatch(
            r"[0-9a-f]{32}", stored["ServerSecret"]
        )
        client = ApiClient(srv.base_url, stored["AppId"], stored["ServerSecret"])
        data = client.ok("GetDigitalHumanList", {})
        assert any(d["IsPublic"] and d["Status"] == 2 for d in data["DigitalHumans"])
        # The test credentials are unknown to it.
        assert ApiClient(srv.base_url).call("GetDigitalHumanList", {})["Code"] == 100000010
        client.close()
    finally:
        srv.stop()
    # A second start keeps the same credentials.
    srv.start()
    try:
        again = json.loads((tmp_path / "data" / "credentials.json").read_text())
        assert again == stored
    finally:
        srv.stop()


def _probe(srv: ServerProcess):  # type: ignore[no-untyped-def]
    plain = srv.client.call

    def call(action: str, body: dict | None = None, **override: object) -> dict:
        reply = plain(action, body, **override)
        if reply["Code"] == 100000010:
            reply = {**reply, "Code": 0}  # up and answering
        return reply

    return call
