"""What an action handler gets besides its body: the app's services and the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from settings import Settings

if TYPE_CHECKING:
    from api.services import Services


@dataclass(slots=True)
class ActionContext:
    """Per request. `services` holds the app-wide parts (live tasks, TTS voices, callbacks...);
    `db` opens a database session (`async with ctx.db() as s:`)."""

    services: Services
    app_id: int
    request_id: str
    action: str
    request: Request | None = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        return self.services.db

    @property
    def state(self) -> Any:
        """The FastAPI app state (`app.state`), for parts other helpers hang there."""
        return self.services.app_state


Handler = Callable[[ActionContext, dict], Awaitable[dict]]
