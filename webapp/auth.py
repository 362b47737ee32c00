"""Operator sign-in for the studio: the password from settings (DH_ADMIN_PASSWORD), compared in
constant time, and a stateless session cookie signed (HMAC-SHA256) with a key derived from the
server secret. Logging out revokes the cookie's nonce until it would have expired anyway."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque

COOKIE = "dh_studio"
SESSION_TTL_S = 12 * 3600
FAILS_PER_MINUTE = 5  # wrong passwords per client address before sign-in pauses


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def password_matches(given: str, expected: str | None) -> bool:
    """Constant time whatever the lengths: both sides are hashed first."""
    if not expected:
        return False
    a = hashlib.sha256(given.encode()).digest()
    b = hashlib.sha256(expected.encode()).digest()
    return hmac.compare_digest(a, b)


class SessionSigner:
    """Issues and checks `v1.<expiry>.<nonce>.<mac>` cookie values."""

    def __init__(self, server_secret: str) -> None:
        # A key of its own: a cookie is never a valid signature of anything else.
        self._key = hmac.new(server_secret.encode(), b"dh-web-session-v1", hashlib.sha256).digest()
        self._revoked: dict[str, float] = {}
        self._fails: dict[str, deque[float]] = {}

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, now: float | None = None) -> str:
        exp = int((now or time.time()) + SESSION_TTL_S)
        payload = f"v1.{exp}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._mac(payload)}"

    def valid(self, value: str | None, now: float | None = None) -> bool:
        if not value or value.count(".") != 3:
            return False
        payload, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(self._mac(payload), mac):
            return False
        _, exp, nonce = payload.split(".")
        t = now or time.time()
        return exp.isdigit() and int(exp) > t and nonce not in self._revoked

    def revoke(self, value: str | None) -> None:
        if not self.valid(value):
            return
        _, exp, nonce, _ = value.split(".")  # type: ignore[union-attr]
        now = time.time()
        self._revoked = {n: e for n, e in self._revoked.items() if e > now}
        self._revoked[nonce] = float(exp)

    def may_try(self, client: str) -> bool:
        """False while `client` has failed FAILS_PER_MINUTE times in the last minute."""
        now = time.monotonic()
        fails = self._fails.setdefault(client, deque())
        while fails and fails[0] < now - 60:
            fails.popleft()
        return len(fails) < FAILS_PER_MINUTE

    def failed(self, client: str) -> None:
        self._fails.setdefault(client, deque()).append(time.monotonic())
        if len(self._fails) > 10_000:  # bounded: forget the quietest clients
            self._fails = {k: v for k, v in self._fails.items() if v}
