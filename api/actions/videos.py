"""Video files: CreateDigitalHumanVideo, GetDigitalHumanVideoStatus, CancelDigitalHumanVideo,
QueryDigitalHumanVideos (and ZEGO's older names CreateMetaHumanVideo / DescribeMetaHumanVideo).

A job is validated and stored here; a runner (avatar.video.runner: in process by default, Celery
with DH_VIDEO_RUNNER=celery and DH_CELERY_BROKER_URL) renders it. What can be known at creation
fails the call with a code: an unknown avatar or timbre, a size, format or text length out of
range, an AudioUrl, BackgroundUrl or AssetUrl that cannot be fetched or decoded (they are fetched
into the data dir at creation). What is known only while rendering ends the job with Status 3
and a FailReason. Finished files are served by `router` (GET /videos/{file}, with HTTP range
requests) and deleted after DH_VIDEO_RETENTION_HOURS (default 168).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import Field, field_validator

from agent.sentences import language_of
from api.context import ActionContext
from api.errors import (
    DIGITAL_HUMAN_CONFIG,
    DIGITAL_HUMAN_NOT_FOUND,
    TASK_NOT_FOUND,
    TIMBRE_NOT_FOUND,
    ApiError,
    invalid,
)
from api.schema import Req, action
from avatar.video import jobs
from avatar.video.execute import JobEnv, drop_inputs, read_rgba
from avatar.video.jobs import JobStore, JobView
from avatar.video.runner import InProcessRunner, JobRunner
from avatar.video.spec import (
    MAX_TEXT_CHARS,
    AssetSpec,
    KeywordAction,
    LayoutSpec,
    SpecError,
    SubtitleSpec,
    VideoSpec,
    parse_color,
)
from avatar.video.speech import AudioError, check_audio
from store.avatars import get_digital_human

EVENT_VIDEO = 5  # webhook EventType of video job status (our extension; 3/4 are ZEGO's)
AUDIO_MAX_BYTES = 200 * 1024 * 1024
IMAGE_MAX_BYTES = 20 * 1024 * 1024
_COLOR = r"^#([0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$"


# --- the job service: one runner per app, started with the app or on first use --------------


class VideoJobs:
    """The job store and the runner of one app."""

    def __init__(self, store: JobStore, runner: JobRunner) -> None:
        self.store = store
        self.runner = runner


def _runner_kind(services: Any) -> tuple[str, str | None]:
    s = services.settings
    kind = getattr(s, "video_runner", None) or os.environ.get("DH_VIDEO_RUNNER", "inprocess")
    broker = getattr(s, "celery_broker_url", None) or os.environ.get("DH_CELERY_BROKER_URL")
    return kind, broker


def _retention_s(services: Any) -> float:
    hours = getattr(services.settings, "video_retention_hours", None)
    if hours is None:
        hours = float(os.environ.get("DH_VIDEO_RETENTION_HOURS", "168"))
    return float(hours) * 3600


async def start_video_jobs(services: Any) -> VideoJobs:
    """Build and start the runner (recovering jobs left by the last run). Call once from the
    app's lifespan; the actions also call it on first use."""
    existing = getattr(services.app_state, "video_jobs", None)
    if existing is not None:
        return existing
    store = JobStore(services.db)

    async def fetch(url: str, path: Path) -> int:
        return await services.fetcher.to_file(url, path)

    # Rendering in a child process by default: a crash in native code ends one job, not the
    # server (DH_VIDEO_ISOLATE=0 renders in threads of the server process).
    isolate = os.environ.get("DH_VIDEO_ISOLATE", "1").lower() not in ("0", "false", "no")
    env = JobEnv(data_dir=services.data_dir, fetch=fetch, tts=services.tts, isolate=isolate)

    def notify(job: JobView) -> None:
        services.callbacks.emit(EVENT_VIDEO, job.id, _detail(services, job))

    kind, broker = _runner_kind(services)
    runner: JobRunner
    if kind == "celery":
        from avatar.video.celery_runner import CeleryRunner

        if not broker:
            raise RuntimeError("DH_VIDEO_RUNNER=celery needs DH_CELERY_BROKER_URL")
        runner = CeleryRunner(store, env, broker, notify=notify, retention_s=_retention_s(services))
    else:
        workers = getattr(services.settings, "video_workers", 1)
        runner = InProcessRunner(
            store, env, workers=workers, notify=notify, retention_s=_retention_s(services)
        )
    vj = VideoJobs(store, runner)
    services.app_state.video_jobs = vj
    await runner.start()

    async def close_at_shutdown() -> None:
        # The server cancels its background jobs at shutdown: the runner goes with them.
        try:
            await asyncio.Event().wait()
        finally:
            await stop_video_jobs(services)

    services.spawn(close_at_shutdown(), "video-jobs")
    return vj


async def stop_video_jobs(services: Any) -> None:
    """At shutdown: jobs cut off here run again at the next start."""
    vj = getattr(services.app_state, "video_jobs", None)
    if vj is not None:
        services.app_state.video_jobs = None
        await vj.runner.close()


async def _jobs(ctx: ActionContext) -> VideoJobs:
    state = ctx.services.app_state
    vj = getattr(state, "video_jobs", None)
    if vj is not None:
        return vj
    lock = getattr(state, "video_jobs_lock", None)
    if lock is None:
        lock = state.video_jobs_lock = asyncio.Lock()
    async with lock:
        return await start_video_jobs(ctx.services)


# --- request models ---------------------------------------------------------------------------


class LayoutReq(Req):
    Top: int = Field(0, ge=-2560, le=2560)
    Left: int = Field(0, ge=-2560, le=2560)
    Width: int = Field(0, ge=0, le=2560, description="0: fit the avatar into the output")
    Height: int = Field(0, ge=0, le=2560)
    Layer: int = Field(0, ge=0, le=100, description="larger is in front")


class TTSConfigReq(Req):
    TimbreId: str | None = Field(
        None, max_length=128, description="absent: the default voice of the text's language"
    )
    SpeechRate: int = Field(0, ge=-500, le=500, description="+500 = 2x faster, -500 = 2x slower")
    PitchRate: int = Field(0, ge=-500, le=500)
    Volume: int = Field(50, ge=1, le=100, description="50 = unchanged")


class AssetReq(Req):
    AssetType: Literal[1] = Field(1, description="1 = image")
    AssetUrl: str = Field(min_length=1, max_length=1024)
    Layout: LayoutReq | None = Field(None, description="absent: the asset is the background")


class SubtitlesReq(Req):
    Enable: bool = False
    FontSize: int = Field(0, ge=0, le=200, description="pixels; 0: 4.5 % of the short side")
    Color: str = Field("#FFFFFF", pattern=_COLOR)
    StrokeColor: str = Field("#000000", pattern=_COLOR)
    BottomMargin: int = Field(0, ge=0, le=1000, description="pixels; 0: 6 % of the height")


class KeywordActionReq(Req):
    Keyword: str = Field(min_length=1, max_length=64)
    Action: str = Field(min_length=1, max_length=64)


class CreateReq(Req):
    DigitalHumanId: str = Field(min_length=1, max_length=64)
    Text: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    TTSConfig: TTSConfigReq | None = None
    AudioUrl: str | None = Field(None, max_length=1024, description="MP3, WAV, ... (not with Text)")
    Format: Literal["mp4", "webm"] = Field("mp4", description="webm keeps alpha if transparent")
    Width: int = Field(1920, description="1920x1080, 1080x1920, 2560x1440 or 1440x2560")
    Height: int = 1080
    Fps: int = Field(25, ge=10, le=30)
    BackgroundColor: str | None = Field(
        None, pattern=_COLOR, description="#RRGGBB or #AARRGGBB (#00000000 transparent)"
    )
    BackgroundUrl: str | None = Field(None, max_length=1024)
    RemoveBackground: bool | None = Field(
        None, description="cut the person out; default: when a background is given"
    )
    GreenScreen: bool = Field(False, description="key out a green screen behind the avatar")
    Layout: LayoutReq | None = None
    Assets: list[AssetReq] = Field(default_factory=list, max_length=10)
    Subtitles: SubtitlesReq | None = None
    KeywordActions: list[KeywordActionReq] = Field(default_factory=list, max_length=50)

    @field_validator("Format", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v


class JobReq(Req):
    VideoTaskId: str = Field(min_length=1, max_length=64)


class QueryReq(Req):
    Status: Literal[1, 2, 3, 4, 5] | None = None
    Offset: int = Field(0, ge=0, le=1_000_000)
    Limit: int = Field(20, ge=1, le=100)


# --- handlers ---------------------------------------------------------------------------------


def _lay(lay: LayoutReq | None) -> LayoutSpec | None:
    if lay is None or not lay.Width or not lay.Height:
        return None
    return LayoutSpec(lay.Left, lay.Top, lay.Width, lay.Height, lay.Layer)


async def _prefetch(ctx: ActionContext, spec: VideoSpec, url: str, field: str, kind: str) -> None:
    """Download a URL into the data dir (workers on other machines share it) and check that it
    decodes, so a bad URL fails the call with a code instead of failing the job later."""
    if url in spec.inputs:
        return
    rel = f"videos/inputs/{uuid.uuid4().hex}.{kind}"
    path = ctx.services.data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a mkdir
    limit = AUDIO_MAX_BYTES if kind == "audio" else IMAGE_MAX_BYTES
    try:
        await ctx.services.fetcher.to_file(url, path, limit)
    except Exception as e:
        raise invalid(field, f"cannot be fetched: {e}") from None
    spec.inputs[url] = rel  # from here on the caller removes it on failure
    if kind == "audio":
        try:
            await asyncio.to_thread(check_audio, path)
        except AudioError as e:
            raise invalid(field, str(e)) from None
    elif await asyncio.to_thread(read_rgba, path) is None:
        raise invalid(field, "is not an image (PNG, JPEG, WebP, ...)")


async def _prefetch_all(ctx: ActionContext, spec: VideoSpec) -> None:
    try:
        if spec.audio_url:
            await _prefetch(ctx, spec, spec.audio_url, "AudioUrl", "audio")
        if spec.background_url:
            await _prefetch(ctx, spec, spec.background_url, "BackgroundUrl", "image")
        for i, a in enumerate(spec.assets):
            await _prefetch(ctx, spec, a.url, f"Assets[{i}].AssetUrl", "image")
    except BaseException:
        for rel in spec.inputs.values():
            (ctx.services.data_dir / rel).unlink(missing_ok=True)  # noqa: ASYNC240 - unlinks
        raise


def _relative(path: Path, root: Path) -> str:
    """`path` relative to the data dir when inside it (workers mount the data dir elsewhere)."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


@action(CreateReq, codes=[DIGITAL_HUMAN_NOT_FOUND, DIGITAL_HUMAN_CONFIG, TIMBRE_NOT_FOUND])
async def create_video(ctx: ActionContext, req: CreateReq) -> dict:
    """Render a script (Text + TTSConfig) or a recording (AudioUrl) into an MP4 or WebM file,
    asynchronously: poll GetDigitalHumanVideoStatus, or wait for the webhook (EventType 5)."""
    async with ctx.db() as s:
        dh = await get_digital_human(s, ctx.app_id, req.DigitalHumanId)
    if dh is None:
        raise ApiError(DIGITAL_HUMAN_NOT_FOUND)
    folder = ctx.services.avatars_dir / dh.id
    if dh.status != 2 or not (folder / "avatar.json").exists():
        raise ApiError(DIGITAL_HUMAN_CONFIG, "the digital human is not ready (still building?)")
    has_text = bool(req.Text and req.Text.strip())
    if has_text == bool(req.AudioUrl):
        raise invalid("Text", "give exactly one of Text and AudioUrl")
    bg_color = parse_color(req.BackgroundColor) if req.BackgroundColor else (0, 0, 0, 255)
    background_url = req.BackgroundUrl
    assets = []
    for a in req.Assets:
        lay = _lay(a.Layout)
        if lay is None:
            background_url = background_url or a.AssetUrl  # as in stream tasks
        else:
            assets.append(AssetSpec(a.AssetUrl, lay))
    given_bg = req.BackgroundColor is not None or background_url is not None
    sub = req.Subtitles or SubtitlesReq()
    tts = req.TTSConfig or TTSConfigReq()
    spec = VideoSpec(
        avatar_folder=_relative(folder, ctx.services.data_dir),
        width=req.Width,
        height=req.Height,
        format=req.Format,
        fps=req.Fps,
        text=req.Text if has_text else None,
        speech_rate=tts.SpeechRate,
        pitch_rate=tts.PitchRate,
        volume=tts.Volume,
        audio_url=req.AudioUrl,
        background_rgba=bg_color,
        background_url=background_url,
        remove_background=req.RemoveBackground if req.RemoveBackground is not None else given_bg,
        green_screen=req.GreenScreen,
        layout=_lay(req.Layout),
        assets=assets,
        subtitles=SubtitleSpec(
            enable=sub.Enable,
            font_size=sub.FontSize,
            color=parse_color(sub.Color),
            stroke_color=parse_color(sub.StrokeColor),
            bottom_margin=sub.BottomMargin,
        ),
        keyword_actions=[KeywordAction(k.Keyword, k.Action) for k in req.KeywordActions],
    )
    try:
        spec.validate()
    except SpecError as e:
        raise invalid("request", str(e)) from None
    if has_text:
        registry = ctx.services.tts
        try:
            if tts.TimbreId:
                registry.get(tts.TimbreId)
                spec.timbre_id = tts.TimbreId
            else:
                spec.timbre_id = registry.default_voice(language_of(req.Text or "")).timbre_id
        except KeyError:
            raise ApiError(TIMBRE_NOT_FOUND, f"timbre not found: {tts.TimbreId}") from None
    await _prefetch_all(ctx, spec)
    vj = await _jobs(ctx)
    job_id = await vj.store.create(ctx.app_id, dh.id, {"spec": spec.to_dict()})
    await vj.runner.submit(job_id)
    return {"VideoTaskId": job_id}


def _detail(services: Any, job: JobView) -> dict:
    spec = job.request.get("spec", {})
    r = job.result
    done = job.status == jobs.DONE and not r.get("expired")
    return {
        "VideoTaskId": job.id,
        "DigitalHumanId": job.digital_human_id,
        "Status": job.status,
        "Progress": job.progress,
        "VideoUrl": f"{services.settings.base_url}/videos/{r['file']}" if done else "",
        "Duration": r.get("duration", 0) if job.status == jobs.DONE else 0,
        "Size": r.get("size", 0) if done else 0,
        "Expired": bool(r.get("expired")),
        "FailReason": job.fail_reason or "" if job.status in (jobs.FAILED, jobs.CANCELLED) else "",
        "Format": spec.get("format", ""),
        "Width": spec.get("width", 0),
        "Height": spec.get("height", 0),
        "CreateTime": int(job.create_time),
        "UpdateTime": int(job.update_time),
    }


async def _get(ctx: ActionContext, job_id: str) -> JobView:
    vj = await _jobs(ctx)
    job = await vj.store.get(job_id)
    if job is None or job.app_id != ctx.app_id:
        raise ApiError(TASK_NOT_FOUND, f"video task not found: {job_id}")
    return job


@action(JobReq, codes=[TASK_NOT_FOUND])
async def get_video_status(ctx: ActionContext, req: JobReq) -> dict:
    """Status (1 queued, 2 rendering, 3 failed, 4 done, 5 cancelled), Progress 0-100, VideoUrl
    when done, Duration in seconds, FailReason."""
    return _detail(ctx.services, await _get(ctx, req.VideoTaskId))


@action(JobReq, codes=[TASK_NOT_FOUND])
async def cancel_video(ctx: ActionContext, req: JobReq) -> dict:
    """Cancel a queued or rendering job (a finished one is left as it is)."""
    job = await _get(ctx, req.VideoTaskId)
    vj = await _jobs(ctx)
    before = await vj.store.cancel(job.id)
    if before in (jobs.QUEUED, jobs.RENDERING):
        await vj.runner.cancel(job.id, was_queued=before == jobs.QUEUED)
        if before == jobs.QUEUED:
            drop_inputs(ctx.services.data_dir, job)
    job = await _get(ctx, req.VideoTaskId)
    return {"VideoTaskId": job.id, "Status": job.status}


@action(QueryReq)
async def query_videos(ctx: ActionContext, req: QueryReq) -> dict:
    """This app's video jobs, newest first."""
    vj = await _jobs(ctx)
    total, rows = await vj.store.list(ctx.app_id, req.Offset, req.Limit, req.Status)
    return {"Total": total, "VideoTasks": [_detail(ctx.services, j) for j in rows]}


ACTIONS = {
    "CreateDigitalHumanVideo": create_video,
    "GetDigitalHumanVideoStatus": get_video_status,
    "CancelDigitalHumanVideo": cancel_video,
    "QueryDigitalHumanVideos": query_videos,
    # ZEGO's older names.
    "CreateMetaHumanVideo": create_video,
    "DescribeMetaHumanVideo": get_video_status,
}


# --- the files --------------------------------------------------------------------------------

router = APIRouter()
_FILE = re.compile(r"^[0-9a-f]{32}\.(mp4|webm)$")


@router.api_route("/videos/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def get_video_file(name: str, request: Request) -> FileResponse:
    """A finished video; Starlette's FileResponse answers Range requests (206) itself."""
    if not _FILE.match(name):
        raise HTTPException(404)
    path = request.app.state.services.data_dir / "videos" / name
    if not path.is_file():  # noqa: ASYNC240 - one stat
        raise HTTPException(404)
    media = "video/mp4" if name.endswith(".mp4") else "video/webm"
    return FileResponse(path, media_type=media)


# The app calls these from its lifespan: queued jobs resume at start, running ones are put back.
on_startup = start_video_jobs
on_shutdown = stop_video_jobs
