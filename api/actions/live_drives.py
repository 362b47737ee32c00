"""DriveByWsStream and DriveByRTCStream: real-time streaming drives.

Implemented with the WebRTC transport in api/actions/webrtc.py (`LIVE_DRIVE_ACTIONS`) and
registered here, so each action has one owner. When the transport cannot be imported (aiortc
missing), they answer 400010001 with a clear Message instead of disappearing.
"""

from __future__ import annotations

import logging

from api.context import ActionContext, Handler
from api.errors import NO_PERMISSION, ApiError
from api.schema import action

log = logging.getLogger(__name__)


def _unavailable(name: str, why: str) -> Handler:
    @action(None, codes=[NO_PERMISSION])
    async def handler(ctx: ActionContext, body: dict) -> dict:
        raise ApiError(NO_PERMISSION, f"{name} is not available on this server: {why}")

    handler.__doc__ = f"Not available: {why}"
    return handler


try:
    from api.actions.webrtc import LIVE_DRIVE_ACTIONS

    ACTIONS: dict[str, Handler] = dict(LIVE_DRIVE_ACTIONS)
except ImportError as e:  # the transport's dependencies are not installed
    log.warning("real-time drives unavailable: %s", e)
    ACTIONS = {
        name: _unavailable(name, f"the WebRTC transport is not installed ({e})")
        for name in ("DriveByWsStream", "DriveByRTCStream")
    }
