"""The FastAPI app factory. The lifespan builds every service once (database, voices, live
tasks, callbacks), ends what the last process left live, and stops live tasks at shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from api import routes
from api.actions import collect
from api.actions import modules as action_modules
from api.callbacks import CallbackSender
from api.credentials import load_credentials
from api.dispatch import handle_action
from api.events import TaskEvents
from api.fetch import Fetcher
from api.live import LiveTasks
from api.ratelimit import RateLimiter
from api.services import Services
from api.signature import Verifier
from settings import Settings
from store.db import init_db, make_engine
from store.recovery import end_orphans

log = logging.getLogger(__name__)

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"


def _tts_registry(settings: Settings):  # type: ignore[no-untyped-def]
    from agent.tts.registry import TTSRegistry

    try:
        from agent.tts.registry import default_registry

        return default_registry(
            threads=settings.tts_threads,
            online=settings.tts_online,
            cache_dir=Path(settings.data_dir) / "models",
        )
    except Exception:
        log.exception("no TTS voices: DriveByText will answer 400000004")
        return TTSRegistry([])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start
    creds = load_credentials(settings)
    engine = make_engine(settings.db_url)
    db = await init_db(engine)
    ended = await end_orphans(db)
    if any(ended.values()):
        log.warning("records left live by the last run were ended: %s", ended)
    live = LiveTasks()
    callbacks = CallbackSender(settings.callback_url, creds.app_id, creds.callback_secret)
    events = TaskEvents(db, live, callbacks)
    services = Services(
        settings=settings,
        credentials=creds,
        engine=engine,
        db=db,
        actions=collect(),
        verifier=Verifier({creds.app_id: creds.server_secret}),
        limiter=RateLimiter(settings.rate_limit_per_second),
        live=live,
        callbacks=callbacks,
        tts=_tts_registry(settings),
        events=events,
        fetcher=Fetcher(
            settings.allow_private_urls,
            settings.fetch_max_bytes,
            settings.fetch_timeout_s,
            local_file=lambda url: routes.local_file(services, url),
        ),
        app_state=app.state,
    )
    app.state.services = services
    app.state.live = live
    callbacks.start()
    events.start()
    from api.builtin import ensure_builtin_avatar
    from api.timbres import sync_timbres

    await sync_timbres(services)
    if hasattr(services.tts, "preload"):
        # Load the default voices in the background: the first drive must not wait for them.
        services.spawn(services.tts.preload(), "tts-preload")
    if settings.builtin_avatar:
        await ensure_builtin_avatar(services)
    hooked = [m for m in action_modules() if hasattr(m, "on_startup") or hasattr(m, "on_shutdown")]
    for module in hooked:
        if hasattr(module, "on_startup"):
            try:
                await module.on_startup(services)
            except Exception:
                log.exception("startup of %s failed", module.__name__)
    try:
        yield
    finally:
        from api.tasks import stop_all

        for module in hooked:
            if hasattr(module, "on_shutdown"):
                try:
                    await module.on_shutdown(services)
                except Exception:
                    log.exception("shutdown of %s failed", module.__name__)

        agents = getattr(app.state, "agent_backends", None)
        if agents is not None:
            await agents.close()
        await stop_all(services, "server shutting down")
        await services.cancel_background()
        await events.close()
        await callbacks.close()
        await engine.dispose()


def _extra_routers(app: FastAPI) -> None:
    """Routers of other parts, mounted when they import: WebRTC WHEP/WHIP and the WebSocket
    drive (avatar.transport.http), the conversation WebSocket (agent.http), the browser pages'
    sessions and studio (webapp.routes)."""
    import importlib

    for module_name in ("avatar.transport.http", "agent.http", "webapp.routes"):
        try:
            router = importlib.import_module(module_name).router
        except ImportError as e:
            log.info("routes of %s not mounted: %s", module_name, e)
            continue
        if isinstance(router, APIRouter):
            app.include_router(router)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="digital-human",
        lifespan=lifespan,
        docs_url="/docs/openapi",
        redoc_url=None,
    )
    app.state.settings = settings or Settings()
    app.state.has_frontend = (FRONTEND / "index.html").exists()
    app.add_api_route("/", handle_action, methods=["GET", "POST"], include_in_schema=False)
    app.include_router(routes.router)
    for module in action_modules():
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            app.include_router(router)
    _extra_routers(app)
    if FRONTEND.is_dir():
        app.mount("/app", StaticFiles(directory=FRONTEND, html=True), name="frontend")
    return app
