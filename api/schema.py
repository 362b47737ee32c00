"""Request models and the `action` decorator that validates a body before the handler runs.

A handler module declares pydantic models (field names as in the ZEGO docs, PascalCase) and wraps
each handler with `@action(Model, codes=[...])`. The wrapped handler keeps the framework's
signature `async (ctx, body: dict) -> dict`; the docs page reads the model and codes from it.
Validation errors become 400000001 with a Message naming the field and the rule.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from api.context import ActionContext, Handler
from api.errors import invalid

M = TypeVar("M", bound=BaseModel)


class Req(BaseModel):
    """Base of request models: unknown keys are ignored (ZEGO clients send extra ones)."""

    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What the docs page shows of an action."""

    model: type[BaseModel] | None
    codes: tuple[int, ...]
    summary: str
    group: str


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def parse(model: type[M], body: dict) -> M:
    """Validate `body` into `model` or raise 400000001 naming the first bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        rule = msg
        if err["type"] != "missing" and not isinstance(got, dict | list):
            text = repr(got)
            rule += f" (got {text[:40] + '...' if len(text) > 40 else text})"
        raise invalid(_loc(tuple(err["loc"])), rule) from None


def action(
    model: type[BaseModel] | None = None, *, codes: Sequence[int] = ()
) -> Callable[[Callable[[ActionContext, Any], Awaitable[dict]]], Handler]:
    """Wrap `async def fn(ctx, req: Model) -> dict` into a framework handler."""

    def deco(fn: Callable[[ActionContext, Any], Awaitable[dict]]) -> Handler:
        @functools.wraps(fn)
        async def handler(ctx: ActionContext, body: dict) -> dict:
            req = parse(model, body) if model is not None else body
            return await fn(ctx, req)

        summary = (fn.__doc__ or "").strip()
        group = fn.__module__.rsplit(".", 1)[-1]
        handler.spec = ActionSpec(model, tuple(codes), summary, group)  # type: ignore[attr-defined]
        return handler

    return deco
