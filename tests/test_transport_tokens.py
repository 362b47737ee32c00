"""Stream tokens: what they grant, expiry, forgery, and the ICE address restriction."""

import aioice.ice
import pytest

from avatar.transport.ice import configure_ice, parse_addresses, strip_mdns_candidates
from avatar.transport.tokens import TokenError, TokenSigner


def test_token_round_trip_and_scope():
    s = TokenSigner("secret-1")
    tok = s.issue("play", "room1", "s1", ttl_s=60, now=1000)
    g = s.verify(tok, "play", "room1", "s1", now=1059)
    assert (g.kind, g.room_id, g.stream_id, g.expires) == ("play", "room1", "s1", 1060)
    with pytest.raises(TokenError, match="expired"):
        s.verify(tok, "play", "room1", "s1", now=1060)
    with pytest.raises(TokenError, match="publish"):
        s.verify(tok, "publish", "room1", "s1", now=1001)
    with pytest.raises(TokenError, match="another stream"):
        s.verify(tok, "play", "room1", "s2", now=1001)
    with pytest.raises(TokenError, match="another room"):
        s.verify(tok, "play", "room2", "s1", now=1001)


def test_token_forgery_and_other_secret():
    s = TokenSigner("secret-1")
    tok = s.issue("drive", "r", "s", task_id="t1", drive_id="d1")
    assert s.verify(tok, "drive").drive_id == "d1"
    with pytest.raises(TokenError, match="signature"):
        TokenSigner("secret-2").verify(tok, "drive")
    body, sig = tok.split(".")
    forged = s.issue("drive", "r", "s", task_id="t1", drive_id="d2").split(".")[0]
    with pytest.raises(TokenError):
        s.verify(forged + "." + sig, "drive")
    for junk in ("", "abc", "a.b.c", "!!.??"):
        with pytest.raises(TokenError):
            s.verify(junk, "drive")
    assert "secret-1" not in tok


def test_ice_host_addresses(monkeypatch):
    assert parse_addresses(" 127.0.0.1, ::1 ") == ["127.0.0.1", "::1"]
    assert parse_addresses("") is None
    with pytest.raises(ValueError):
        parse_addresses("127.0.0.300")
    configure_ice("127.0.0.1")
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == []
    sdp = (
        "v=0\r\na=candidate:1 1 udp 2113937151 abc-123.local 5000 typ host\r\n"
        "a=candidate:2 1 udp 2113937151 127.0.0.1 5001 typ host\r\n"
    )
    out = strip_mdns_candidates(sdp)
    assert ".local" not in out and "127.0.0.1 5001" in out


def test_ice_servers_setting(monkeypatch):
    from avatar.transport.ice import rtc_configuration

    monkeypatch.delenv("DH_ICE_SERVERS", raising=False)
    assert rtc_configuration().iceServers == []  # never aiortc's default Google STUN
    monkeypatch.setenv("DH_ICE_SERVERS", "stun:stun.example.org:3478, turn:turn.example.org")
    monkeypatch.setenv("DH_TURN_USERNAME", "u")
    monkeypatch.setenv("DH_TURN_PASSWORD", "p")
    stun, turn = rtc_configuration().iceServers
    assert stun.urls == "stun:stun.example.org:3478" and stun.username is None
    assert (turn.urls, turn.username, turn.credential) == ("turn:turn.example.org", "u", "p")


def test_ice_without_a_setting_uses_every_interface(monkeypatch):
    monkeypatch.delenv("DH_ICE_HOST_ADDRESSES", raising=False)
    try:
        assert configure_ice() is None
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    finally:
        configure_ice("127.0.0.1")  # the rest of the suite stays on loopback
