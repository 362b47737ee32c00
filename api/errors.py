"""Return codes of the ZEGO Digital Human API and the one exception that carries them.

A handler raises `ApiError(code, message)`; the dispatcher turns it into the reply envelope.
"""

from __future__ import annotations

# Signature and protocol errors.
APPID_FORMAT = 100000001
TIMESTAMP_MISSING = 100000002
TIMESTAMP_FORMAT = 100000003
SIGNATURE_EXPIRED = 100000004
SIGNATURE_WRONG = 100000005
ACTION_MISSING = 100000006
ACTION_UNSUPPORTED = 100000007
NONCE_MISSING = 100000008
SIGNATURE_MISSING = 100000009
NO_SECRET = 100000010
BODY_UNREADABLE = 100000012
VERSION_MISSING = 100000013
VERSION_WRONG = 100000014

# Business errors.
INVALID_PARAMETER = 400000001
DIGITAL_HUMAN_NOT_FOUND = 400000003
TIMBRE_NOT_FOUND = 400000004
TASK_NOT_FOUND = 400000005
TASK_NOT_STARTED = 400000006
TASK_STOPPED = 400000007
CONCURRENCY_LIMIT = 400000008
TIMBRE_NOT_SUPPORTED = 400000009
DIGITAL_HUMAN_CONFIG = 400000010
STREAM_ID_IN_USE = 400000015
MODEL_VERSION = 400000016
SYSTEM_ERROR = 400010000
NO_PERMISSION = 400010001
SYSTEM_BUSY = 400010002
NO_RESOURCES = 400010007
RATE_LIMITED = 400010009

MESSAGES: dict[int, str] = {
    0: "success",
    APPID_FORMAT: "AppId format error",
    TIMESTAMP_MISSING: "Timestamp missing",
    TIMESTAMP_FORMAT: "Timestamp malformed",
    SIGNATURE_EXPIRED: "signature expired",
    SIGNATURE_WRONG: "signature wrong",
    ACTION_MISSING: "Action missing",
    ACTION_UNSUPPORTED: "Action unsupported",
    NONCE_MISSING: "SignatureNonce missing",
    SIGNATURE_MISSING: "Signature missing",
    NO_SECRET: "no ServerSecret for this AppId",
    BODY_UNREADABLE: "HTTP body unreadable",
    VERSION_MISSING: "SignatureVersion missing",
    VERSION_WRONG: "SignatureVersion must be 2.0",
    INVALID_PARAMETER: "invalid parameter",
    DIGITAL_HUMAN_NOT_FOUND: "digital human not found",
    TIMBRE_NOT_FOUND: "timbre not found",
    TASK_NOT_FOUND: "task not found",
    TASK_NOT_STARTED: "stream task not started yet",
    TASK_STOPPED: "stream task already stopped",
    CONCURRENCY_LIMIT: "stream concurrency limit reached",
    TIMBRE_NOT_SUPPORTED: "this stream does not support that timbre",
    DIGITAL_HUMAN_CONFIG: "digital human configuration error",
    STREAM_ID_IN_USE: "StreamId already in use",
    MODEL_VERSION: "digital human model version error",
    SYSTEM_ERROR: "system error",
    NO_PERMISSION: "no permission for this API",
    SYSTEM_BUSY: "system busy, retry later",
    NO_RESOURCES: "insufficient resources",
    RATE_LIMITED: "rate limit hit",
}


class ApiError(Exception):
    """An error reply: `code` is one of the constants above, `message` says what and why."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "error")
        super().__init__(f"{code}: {self.message}")


def invalid(field: str, rule: str) -> ApiError:
    """400000001 with a Message that names the field and the rule it broke."""
    return ApiError(INVALID_PARAMETER, f"invalid parameter {field}: {rule}")
