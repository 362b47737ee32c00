"""Short-lived HMAC tokens for viewers, publishers and WebSocket drives.

A token names what it grants (kind, room, stream, optional task/drive) and when it expires, and
is signed with HMAC-SHA256 under a key derived from the server secret, so the secret itself
never reaches a browser. Format: base64url(JSON claims) + "." + base64url(signature).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

KINDS = ("play", "publish", "drive", "agent")
DEFAULT_TTL_S = 3600
MAX_TTL_S = 86400


class TokenError(Exception):
    """The token is malformed, forged, expired or grants something else."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified token allows."""

    kind: str
    room_id: str
    stream_id: str
    expires: int  # Unix seconds
    task_id: str | None = None
    drive_id: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens under one server secret."""

    def __init__(self, secret: str | bytes) -> None:
        if not secret:
            raise ValueError("a server secret is required to sign tokens")
        raw = secret.encode() if isinstance(secret, str) else secret
        # A purpose-specific key: a token can never be replayed as an API signature or vice versa.
        self._key = hmac.new(raw, b"digital-human stream tokens v1", hashlib.sha256).digest()

    def issue(
        self,
        kind: str,
        room_id: str,
        stream_id: str,
        ttl_s: float = DEFAULT_TTL_S,
        *,
        task_id: str | None = None,
        drive_id: str | None = None,
        now: float | None = None,
    ) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown token kind {kind!r}")
        ttl = max(1, min(int(ttl_s), MAX_TTL_S))
        claims = {
            "k": kind,
            "r": room_id,
            "s": stream_id,
            "e": int((time.time() if now is None else now) + ttl),
        }
        if task_id is not None:
            claims["t"] = task_id
        if drive_id is not None:
            claims["d"] = drive_id
        body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        return body + "." + _b64(self._sign(body))

    def verify(
        self,
        token: str,
        kind: str,
        room_id: str | None = None,
        stream_id: str | None = None,
        *,
        now: float | None = None,
    ) -> Grant:
        """Return the token's grant, or raise TokenError if it does not grant `kind` (on that
        room and stream, when given) right now."""
        try:
            body, sig = token.split(".", 1)
            good = hmac.compare_digest(_unb64(sig), self._sign(body))
        except (ValueError, TypeError) as e:
            raise TokenError("malformed token") from e
        if not good:
            raise TokenError("bad token signature")
        try:
            c = json.loads(_unb64(body))
            grant = Grant(
                kind=c["k"],
                room_id=c["r"],
                stream_id=c["s"],
                expires=int(c["e"]),
                task_id=c.get("t"),
                drive_id=c.get("d"),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise TokenError("malformed token") from e
        if grant.kind != kind:
            raise TokenError(f"token is for {grant.kind}, not {kind}")
        if (time.time() if now is None else now) >= grant.expires:
            raise TokenError("token expired")
        if room_id is not None and grant.room_id != room_id:
            raise TokenError("token is for another room")
        if stream_id is not None and grant.stream_id != stream_id:
            raise TokenError("token is for another stream")
        return grant

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()
