"""The actions, one module per group (assets, streams, drives, upload, ...).

Each module exposes `ACTIONS: dict[str, Handler]`, a handler being
`async def handler(ctx: ActionContext, body: dict) -> dict` that returns the reply's `Data` and
raises `ApiError(code, message)` on failure (wrap it with `api.schema.action` to validate the
body with a pydantic model and show it on the docs page). `collect()` imports every module of this
package, so a new group is a new file here and nothing else.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

from api.context import Handler

log = logging.getLogger(__name__)


def collect() -> dict[str, Handler]:
    """All actions of all modules; a module that fails to import is logged and skipped, so one
    broken group does not take the whole API down."""
    actions: dict[str, Handler] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception:
            log.exception(
                "action module %s failed to import; its actions are unavailable", info.name
            )
            continue
        for name, handler in getattr(module, "ACTIONS", {}).items():
            if name in actions:
                raise RuntimeError(f"action {name} defined twice (second in {info.name})")
            actions[name] = handler
    return actions
