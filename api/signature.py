"""The ZEGO request signature (MD5, SignatureVersion 2.0) and the callback signature (SHA-1),
with replay protection: a SignatureNonce is accepted once within the time window."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict

from api.errors import (
    APPID_FORMAT,
    NO_SECRET,
    NONCE_MISSING,
    SIGNATURE_EXPIRED,
    SIGNATURE_MISSING,
    SIGNATURE_WRONG,
    TIMESTAMP_FORMAT,
    TIMESTAMP_MISSING,
    VERSION_MISSING,
    VERSION_WRONG,
    ApiError,
)

WINDOW_S = 600  # ZEGO accepts up to 10 minutes of clock skew either way


def sign(app_id: int | str, nonce: str, secret: str, timestamp: int | str) -> str:
    """Lower-case hex MD5 of AppId + SignatureNonce + ServerSecret + Timestamp."""
    return hashlib.md5(f"{app_id}{nonce}{secret}{timestamp}".encode()).hexdigest()


def callback_signature(secret: str, timestamp: str, nonce: str) -> str:
    """SHA-1 hex of [secret, timestamp, nonce] sorted as strings and concatenated."""
    return hashlib.sha1("".join(sorted([secret, str(timestamp), str(nonce)])).encode()).hexdigest()


class NonceCache:
    """Remembers nonces until their timestamps leave the window, bounded in size."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: OrderedDict[tuple[int, str], float] = OrderedDict()
        self._max = max_entries

    def add(self, app_id: int, nonce: str, now: float) -> bool:
        """Record a nonce; False if it was already used within the window."""
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now and len(self._seen) < self._max:
                break
            self._seen.popitem(last=False)
        key = (app_id, nonce)
        if key in self._seen:
            return False
        # Keep it for twice the window: a timestamp up to WINDOW_S in the future stays valid that long.
        self._seen[key] = now + 2 * WINDOW_S
        return True


class Verifier:
    """Checks the signature query parameters of one request against the known app secrets."""

    def __init__(self, secrets: dict[int, str]) -> None:
        self.secrets = secrets
        self.nonces = NonceCache()

    def verify(self, q: dict[str, str], now: float | None = None) -> int:
        """Return the caller's AppId or raise ApiError with ZEGO's code for what is wrong."""
        now = time.time() if now is None else now
        raw_app = q.get("AppId", "")
        try:
            app_id = int(raw_app)
        except ValueError:
            raise ApiError(APPID_FORMAT, "AppId missing or not a number") from None
        nonce = q.get("SignatureNonce")
        if not nonce:
            raise ApiError(NONCE_MISSING)
        ts_raw = q.get("Timestamp")
        if not ts_raw:
            raise ApiError(TIMESTAMP_MISSING)
        try:
            ts = int(ts_raw)
        except ValueError:
            raise ApiError(TIMESTAMP_FORMAT, "Timestamp must be Unix seconds") from None
        signature = q.get("Signature")
        if not signature:
            raise ApiError(SIGNATURE_MISSING)
        version = q.get("SignatureVersion")
        if not version:
            raise ApiError(VERSION_MISSING)
        if version != "2.0":
            raise ApiError(VERSION_WRONG)
        secret = self.secrets.get(app_id)
        if secret is None:
            raise ApiError(NO_SECRET)
        if abs(now - ts) > WINDOW_S:
            raise ApiError(
                SIGNATURE_EXPIRED, "signature expired: Timestamp is more than 10 minutes off"
            )
        if not hmac.compare_digest(sign(raw_app, nonce, secret, ts_raw), signature.lower()):
            raise ApiError(SIGNATURE_WRONG)
        if not self.nonces.add(app_id, nonce, now):
            raise ApiError(SIGNATURE_WRONG, "signature wrong: SignatureNonce already used (replay)")
        return app_id
