"""DriveByWsStream and DriveByRTCStream: real-time streaming drives.

Until the transport is wired into the API they answer 400010001 with a clear Message. The lead
replaces this module (same ACTIONS names) when avatar/transport is connected.
"""

from __future__ import annotations

from api.context import ActionContext
from api.errors import NO_PERMISSION, ApiError
from api.schema import action


@action(None, codes=[NO_PERMISSION])
async def drive_by_ws_stream(ctx: ActionContext, body: dict) -> dict:
    """Not available yet: real-time WebSocket drives come with the streaming transport."""
    raise ApiError(NO_PERMISSION, "DriveByWsStream is not available on this server yet")


@action(None, codes=[NO_PERMISSION])
async def drive_by_rtc_stream(ctx: ActionContext, body: dict) -> dict:
    """Not available yet: RTC-stream drives come with the streaming transport."""
    raise ApiError(NO_PERMISSION, "DriveByRTCStream is not available on this server yet")


ACTIONS = {"DriveByWsStream": drive_by_ws_stream, "DriveByRTCStream": drive_by_rtc_stream}
