"""The actions, one module per group (assets, streams, drives, upload, ...).

Each module exposes `ACTIONS: dict[str, Handler]`, a handler being
`async def handler(ctx: ActionContext, body: dict) -> dict` that returns the reply's `Data` and
raises `ApiError(code, message)` on failure (wrap it with `api.schema.action` to validate the
body with a pydantic model and show it on the docs page). `collect()` imports every module of this
package, so a new group is a new file here and nothing else.

Optional hooks a module may define:
- `router: fastapi.APIRouter`: plain HTTP routes it serves (mounted by the app factory);
- `async def on_startup(services) -> None`: run once in the lifespan, after the services exist
  (e.g. start a job runner); `async def on_shutdown(services) -> None`: run at shutdown.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from types import ModuleType

from api.context import Handler

log = logging.getLogger(__name__)


def modules() -> list[ModuleType]:
    """Every action module that imports; one that fails is logged and skipped, so one broken
    group does not take the whole API down."""
    out = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            out.append(importlib.import_module(f"{__name__}.{info.name}"))
        except Exception:
            log.exception(
                "action module %s failed to import; its actions are unavailable", info.name
            )
    return out


def collect() -> dict[str, Handler]:
    """All actions of all modules."""
    actions: dict[str, Handler] = {}
    for module in modules():
        for name, handler in getattr(module, "ACTIONS", {}).items():
            if name in actions:
                raise RuntimeError(f"action {name} defined twice (second in {module.__name__})")
            actions[name] = handler
    return actions
