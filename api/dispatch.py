"""The action endpoint: `POST /?Action=...` (and GET): signature, rate limit, body, handler,
envelope `{Code, Message, RequestId, Data}`. HTTP status is 200; the body's Code decides."""

from __future__ import annotations

import json
import logging
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.context import ActionContext
from api.errors import (
    ACTION_MISSING,
    ACTION_UNSUPPORTED,
    BODY_UNREADABLE,
    RATE_LIMITED,
    SYSTEM_ERROR,
    ApiError,
)
from api.services import Services

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 1024 * 1024  # action bodies are small (a Text is at most 1800 characters)


def envelope(
    request_id: str, code: int = 0, message: str = "success", data: dict | None = None
) -> dict:
    return {"Code": code, "Message": message, "RequestId": request_id, "Data": data or {}}


async def _body(request: Request) -> dict:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        return {}  # the handler reads the form itself (Upload)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_JSON_BYTES:
        raise ApiError(BODY_UNREADABLE, f"HTTP body unreadable: larger than {MAX_JSON_BYTES} bytes")
    try:
        raw = await request.body()
    except Exception:
        raise ApiError(BODY_UNREADABLE) from None
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(BODY_UNREADABLE, f"HTTP body unreadable: larger than {MAX_JSON_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(BODY_UNREADABLE, "HTTP body unreadable: not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(BODY_UNREADABLE, "HTTP body unreadable: not a JSON object")
    return body


async def handle_action(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = uuid.uuid4().hex
    q = dict(request.query_params)
    if request.method == "GET" and not q:
        # A browser opening the server's address: show the pages, not an error envelope.
        return RedirectResponse("/app/" if request.app.state.has_frontend else "/docs/actions")
    action = q.get("Action", "")
    try:
        if not action:
            raise ApiError(ACTION_MISSING)
        app_id = services.verifier.verify(q)
        handler = services.actions.get(action)
        if handler is None:
            raise ApiError(ACTION_UNSUPPORTED, f"Action unsupported: {action[:64]}")
        if not services.limiter.allow(app_id, action):
            raise ApiError(
                RATE_LIMITED, f"rate limit hit: {services.limiter.rate:g} requests/s for {action}"
            )
        body = await _body(request)
        ctx = ActionContext(services, app_id, request_id, action, request)
        data = await handler(ctx, body)
        return JSONResponse(envelope(request_id, data=data))
    except ApiError as e:
        return JSONResponse(envelope(request_id, e.code, e.message))
    except Exception:
        log.exception("action %s failed (RequestId %s)", action, request_id)
        return JSONResponse(envelope(request_id, SYSTEM_ERROR, "system error"))
