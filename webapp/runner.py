"""Run an action in-process as the app itself: the same handlers and envelope as the signed
endpoint (api/dispatch.py), without re-signing over HTTP. Only callers this server already trusts
use it (a signed-in operator, or the fixed calls the session endpoint makes)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.requests import Request

from api.context import ActionContext
from api.dispatch import envelope
from api.errors import ACTION_UNSUPPORTED, RATE_LIMITED, SYSTEM_ERROR, ApiError
from api.services import Services

log = logging.getLogger(__name__)


def services_of(request: Request) -> Services:
    return request.app.state.services


async def run_action(request: Request, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """The reply envelope `{Code, Message, RequestId, Data}` of `action` with `body`."""
    services = services_of(request)
    request_id = uuid.uuid4().hex
    app_id = services.credentials.app_id
    try:
        handler = services.actions.get(action)
        if handler is None:
            raise ApiError(ACTION_UNSUPPORTED, f"Action unsupported: {action[:64]}")
        if not services.limiter.allow(app_id, action):
            raise ApiError(RATE_LIMITED, f"rate limit hit for {action}")
        ctx = ActionContext(services, app_id, request_id, action, request)
        data = await handler(ctx, body)
        return envelope(request_id, data=data)
    except ApiError as e:
        return envelope(request_id, e.code, e.message)
    except Exception:
        log.exception("web action %s failed (RequestId %s)", action, request_id)
        return envelope(request_id, SYSTEM_ERROR, "system error")


async def ok(request: Request, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """`run_action` that raises ApiError unless Code is 0; returns Data."""
    reply = await run_action(request, action, body)
    if reply["Code"] != 0:
        raise ApiError(reply["Code"], reply["Message"])
    return reply["Data"]
