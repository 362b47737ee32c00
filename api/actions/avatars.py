"""Avatar creation (extension): CreateImageDigitalHuman, CreateVideoDigitalHuman,
DeleteDigitalHuman. Built in the background; GetDigitalHumanInfo shows Status (1 building,
2 ready, 3 failed), Progress and FailReason."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from typing import Literal

from pydantic import Field
from sqlalchemy import delete

from api.builds import run_build
from api.context import ActionContext
from api.errors import DIGITAL_HUMAN_NOT_FOUND, NO_PERMISSION, ApiError, invalid
from api.fetch import FetchError
from api.schema import Req, action
from store.models import DigitalHuman, Timbre

IMAGE_MAX_BYTES = 30 * 1024 * 1024
VIDEO_MAX_BYTES = 300 * 1024 * 1024


Point = list[float]


class ImageHint(Req):
    """Helps the face analysis where a stylised face is missed or several faces are seen
    (pixels of the uploaded image)."""

    Kind: Literal["photo", "still"] = Field("photo", description="still: no face analysis")
    FaceBox: list[float] | None = Field(
        None, min_length=4, max_length=4, description="[x, y, width, height] of the face to use"
    )
    LeftEye: Point | None = Field(None, min_length=2, max_length=2, description="[x, y]")
    RightEye: Point | None = Field(None, min_length=2, max_length=2, description="[x, y]")
    Mouth: Point | None = Field(None, min_length=2, max_length=2, description="[x, y]")
    RemoveBackground: bool = Field(False, description="frames transparent outside the person")
    Keywords: dict[str, list[str]] | None = Field(
        None, description="{action: [words]}: a text drive saying a word starts the action"
    )


class CreateImageReq(Req):
    Name: str = Field(min_length=1, max_length=256)
    ImageUrl: str = Field(min_length=1, max_length=1024, pattern=r"^https?://")
    Hint: ImageHint | None = None


class VideoActionReq(Req):
    Action: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    Start: float = Field(ge=0, description="seconds into the recording")
    End: float = Field(gt=0)
    Keywords: list[str] = Field(default_factory=list, max_length=20)


class VideoHint(Req):
    Range: list[float] | None = Field(
        None, min_length=2, max_length=2, description="[start, end] seconds of the recording to use"
    )
    Actions: list[VideoActionReq] = Field(
        default_factory=list, max_length=20, description="named stretches played by DoAction"
    )


class CreateVideoReq(Req):
    Name: str = Field(min_length=1, max_length=256)
    VideoUrl: str = Field(min_length=1, max_length=1024, pattern=r"^https?://")
    Hint: VideoHint | None = None


async def _create(
    ctx: ActionContext,
    name: str,
    url: str,
    kinds: list[str],
    hint: dict | None,
    limit: int,
    kind: str,
) -> str:
    services = ctx.services
    dh_id = uuid.uuid4().hex
    async with ctx.db() as s, s.begin():
        s.add(
            DigitalHuman(
                id=dh_id,
                app_id=ctx.app_id,
                name=name,
                kind=kind,
                is_public=False,
                status=1,
                source_url=url,
            )
        )

    async def job() -> None:
        tmp = services.data_dir / "tmp" / dh_id
        tmp.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
        try:
            suffix = (
                "." + url.split("?", 1)[0].rsplit(".", 1)[-1][:5]
                if "." in url.rsplit("/", 1)[-1]
                else ""
            )
            src = tmp / f"source{suffix}"
            try:
                await services.fetcher.to_file(url, src, limit)
            except FetchError as e:
                from api.builds import _set

                await _set(services, dh_id, status=3, fail_reason=str(e))
                return
            await run_build(services, dh_id, kinds, src, hint)
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
            services.builds.pop(dh_id, None)

    services.builds[dh_id] = services.spawn(job(), f"build-{dh_id}")
    return dh_id


@action(CreateImageReq)
async def create_image_digital_human(ctx: ActionContext, req: CreateImageReq) -> dict:
    """Make a digital human from one photo (face analysed once; built in the background)."""
    hint = req.Hint.model_dump(exclude_none=True) if req.Hint else None
    # "still" stands in only when the photo engine is not installed (not when it finds no face).
    kinds = ["still"] if hint and hint.get("Kind") == "still" else ["photo", "still"]
    dh_id = await _create(ctx, req.Name, req.ImageUrl, kinds, hint, IMAGE_MAX_BYTES, kinds[0])
    return {"DigitalHumanId": dh_id}


@action(CreateVideoReq)
async def create_video_digital_human(ctx: ActionContext, req: CreateVideoReq) -> dict:
    """Make a digital human from a short talking video (built in the background)."""
    hint = None
    if req.Hint is not None:
        hint = {"Actions": [a.model_dump(exclude={"Keywords"}) for a in req.Hint.Actions]}
        if req.Hint.Range:
            hint["range"] = req.Hint.Range
        keywords = {a.Action: a.Keywords for a in req.Hint.Actions if a.Keywords}
        if keywords:
            hint["keywords"] = keywords
    dh_id = await _create(ctx, req.Name, req.VideoUrl, ["video"], hint, VIDEO_MAX_BYTES, "video")
    return {"DigitalHumanId": dh_id}


class DeleteReq(Req):
    DigitalHumanId: str = Field(min_length=1, max_length=64)


@action(DeleteReq, codes=[DIGITAL_HUMAN_NOT_FOUND, NO_PERMISSION])
async def delete_digital_human(ctx: ActionContext, req: DeleteReq) -> dict:
    """Delete one of this app's digital humans (not while a live task uses it)."""
    services = ctx.services
    async with ctx.db() as s:
        row = await s.get(DigitalHuman, req.DigitalHumanId)
    if row is None or (row.app_id != ctx.app_id and not row.is_public):
        raise ApiError(DIGITAL_HUMAN_NOT_FOUND)
    if row.is_public:
        raise ApiError(NO_PERMISSION, "public digital humans cannot be deleted")
    users = [e.task_id for e in services.live.entries() if e.digital_human_id == row.id]
    if users:
        raise invalid("DigitalHumanId", f"in use by live task {users[0]}")
    build = services.builds.pop(row.id, None)
    if build is not None:
        build.cancel()
        await asyncio.wait({build}, timeout=10)
    async with ctx.db() as s, s.begin():
        await s.execute(delete(DigitalHuman).where(DigitalHuman.id == row.id))
        await s.execute(delete(Timbre).where(Timbre.digital_human_id == row.id))
    await asyncio.to_thread(shutil.rmtree, services.avatars_dir / row.id, True)
    return {}


ACTIONS = {
    "CreateImageDigitalHuman": create_image_digital_human,
    "CreateVideoDigitalHuman": create_video_digital_human,
    "DeleteDigitalHuman": delete_digital_human,
}
