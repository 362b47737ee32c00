"""Assets: GetDigitalHumanList, GetDigitalHumanInfo, GetTimbreList."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.context import ActionContext
from api.errors import DIGITAL_HUMAN_NOT_FOUND, ApiError
from api.schema import Req, action
from store.avatars import get_digital_human, list_digital_humans, list_timbres
from store.models import DigitalHuman


def digital_human_item(ctx: ActionContext, row: DigitalHuman) -> dict:
    base = ctx.settings.base_url
    ready = row.status == 2
    return {
        "DigitalHumanId": row.id,
        "Name": row.name,
        "AvatarUrl": f"{base}/avatars/{row.id}/preview.png" if ready else "",
        "IsPublic": row.is_public,
        "Actions": [
            {"Action": a, "PreviewUrl": f"{base}/avatars/{row.id}/actions/{a}.gif"}
            for a in (row.actions or [])
        ],
        "Status": row.status,
        "Progress": row.progress,
        "FailReason": row.fail_reason or "",
        "Kind": row.kind,
        "CreateTime": int(row.create_time),
    }


class ListReq(Req):
    FetchMode: Literal[1, 2, 3] = Field(1, description="1 all, 2 public, 3 private")
    Offset: int = Field(0, ge=0, le=1_000_000)
    Limit: int = Field(20, ge=1, le=20)
    InferenceMode: Literal[1, 2] | None = Field(None, description="accepted for older clients")


@action(ListReq)
async def get_digital_human_list(ctx: ActionContext, req: ListReq) -> dict:
    """Digital humans this app can use: public ones and its own."""
    async with ctx.db() as s:
        total, rows = await list_digital_humans(s, ctx.app_id, req.FetchMode, req.Offset, req.Limit)
    return {"Total": total, "DigitalHumans": [digital_human_item(ctx, r) for r in rows]}


class InfoReq(Req):
    DigitalHumanId: str = Field(min_length=1, max_length=64)


@action(InfoReq, codes=[DIGITAL_HUMAN_NOT_FOUND])
async def get_digital_human_info(ctx: ActionContext, req: InfoReq) -> dict:
    """One digital human, with its Actions and (our extension) Status, Progress, FailReason."""
    async with ctx.db() as s:
        row = await get_digital_human(s, ctx.app_id, req.DigitalHumanId)
    if row is None:
        raise ApiError(DIGITAL_HUMAN_NOT_FOUND)
    return digital_human_item(ctx, row)


class TimbreReq(Req):
    DigitalHumanId: str | None = Field(None, max_length=64, description="absent: public timbres")
    Offset: int = Field(0, ge=0, le=1_000_000)
    Limit: int = Field(20, ge=1, le=20)


@action(TimbreReq, codes=[DIGITAL_HUMAN_NOT_FOUND])
async def get_timbre_list(ctx: ActionContext, req: TimbreReq) -> dict:
    """Voices for DriveByText: the public offline voices, or one digital human's own."""
    async with ctx.db() as s:
        if (
            req.DigitalHumanId is not None
            and await get_digital_human(s, ctx.app_id, req.DigitalHumanId) is None
        ):
            raise ApiError(DIGITAL_HUMAN_NOT_FOUND)
        total, rows = await list_timbres(s, req.DigitalHumanId, req.Offset, req.Limit)
    return {
        "Total": total,
        "Timbres": [
            {"TimbreId": t.id, "Name": t.name, "AvatarUrl": "", "Language": t.language}
            for t in rows
        ],
    }


ACTIONS = {
    "GetDigitalHumanList": get_digital_human_list,
    "GetDigitalHumanInfo": get_digital_human_info,
    "GetTimbreList": get_timbre_list,
}
