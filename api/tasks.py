"""The life of a stream task on the API side: start the runtime, watch TTL and MaxIdleTime,
stop it. Statuses flow through `TaskEvents`, whoever causes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from api.live import ENDED, LiveEntry
from api.scene import build_scene
from avatar.stream.contract import StreamConfig, TaskStatus

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.5
STOP_TIMEOUT_S = 10.0
SAFETY_SLACK_S = 2.0


def _runtime_class():  # type: ignore[no-untyped-def]
    from avatar.stream.task import StreamTask

    return StreamTask


async def run_task(services, entry: LiveEntry, req) -> None:  # type: ignore[no-untyped-def]
    """Build the scene, start the runtime, then end the task when its TTL or idle time is up."""
    events = services.events
    try:
        await _check_outputs(services, req)
        scene = await build_scene(req, services.fetcher)
        video = req.VideoConfig
        config = StreamConfig(
            task_id=entry.task_id,
            room_id=entry.room_id,
            stream_id=entry.stream_id,
            scene=scene,
            fps=video.Fps if video else 25,
            bitrate=video.Bitrate if video else 3_000_000,
            codec=video.Codec if video else "VP8",
            ttl_s=float(entry.ttl_s),
            max_idle_s=float(entry.max_idle_s),
            extra={
                "OutputMode": req.ExtraConfig.OutputMode if req.ExtraConfig else None,
                "WhipUrl": req.Output.WhipUrl if req.Output else None,
                "RtmpUrl": req.Output.RtmpUrl if req.Output else None,
                "WhipToken": req.Output.WhipToken if req.Output else None,
                "DigitalHumanId": entry.digital_human_id,
            },
        )
        task = _runtime_class()(
            config, services.avatars_dir / entry.digital_human_id, events, services.tts
        )
        entry.task = task
        await task.start()
    except asyncio.CancelledError:
        raise
    except Exception as e:
        log.warning(
            "task %s failed to start: %s", entry.task_id, e, exc_info=not isinstance(e, ValueError)
        )
        reason = str(e) or type(e).__name__
        if entry.task is not None:
            with contextlib.suppress(Exception):
                await entry.task.stop(f"init failed: {reason}")
        events.on_task_status(entry.task_id, TaskStatus.INIT_FAILED, reason)
        return
    if entry.task.status in ENDED:
        # The runtime reported INIT_FAILED itself; make sure the API side has ended it too.
        events.on_task_status(entry.task_id, entry.task.status, "init failed")
        return
    if entry.task.config.extra.get("WhipUrl") or entry.task.config.extra.get("RtmpUrl"):
        from avatar.transport.hub import hub_from_state

        try:
            await hub_from_state(services.app_state).start_outputs(entry.task)
        except Exception as e:  # the task streamed briefly: it ends (5) with the reason
            reason = f"push output failed: {e}"
            log.warning("task %s: %s", entry.task_id, reason)
            await stop_task(services, entry, reason)
            return
    await _watch(services, entry)


async def _check_outputs(services, req) -> None:  # type: ignore[no-untyped-def]
    """Output.WhipUrl / Output.RtmpUrl are refused before the task starts when their scheme or
    address breaks the server's URL rules (ValueError: the task fails with Status 2)."""
    from api.fetch import FetchError

    output = req.Output
    for field, schemes in (("WhipUrl", ("https", "http")), ("RtmpUrl", ("rtmp", "rtmps"))):
        url = getattr(output, field, None) if output is not None else None
        if url:
            try:
                await services.fetcher.check_target(url, schemes)
            except FetchError as e:
                raise ValueError(f"Output.{field}: {e}") from None


async def _watch(services, entry: LiveEntry) -> None:  # type: ignore[no-untyped-def]
    while services.live.entry(entry.task_id) is entry and not entry.stopping:
        await asyncio.sleep(WATCH_INTERVAL_S)
        # The runtime ends its task at TTL and MaxIdleTime itself; this is the safety net,
        # a little later, for a runtime whose clock got stuck.
        now = time.time()
        if now - entry.create_time >= entry.ttl_s + SAFETY_SLACK_S:
            await stop_task(services, entry, f"TTL of {entry.ttl_s:g} s reached")
            return
        if entry.idle_for(time.monotonic()) >= entry.max_idle_s + SAFETY_SLACK_S:
            await stop_task(services, entry, f"no drive for {entry.max_idle_s:g} s (MaxIdleTime)")
            return


async def stop_task(services, entry: LiveEntry, reason: str) -> None:  # type: ignore[no-untyped-def]
    """STOPPING → STOPPED with `reason`; safe to call more than once."""
    events = services.events
    first = not entry.stopping
    entry.stopping = True
    if first:
        events.on_task_status(entry.task_id, TaskStatus.STOPPING, None)
    task = entry.task
    if task is None:
        # Still building the scene: no runtime to stop, just the starter.
        if entry.runner is not None and entry.runner is not asyncio.current_task():
            entry.runner.cancel()
    else:
        try:
            await asyncio.wait_for(task.stop(reason), STOP_TIMEOUT_S)
        except Exception:
            log.exception("task %s did not stop cleanly", entry.task_id)
    # The runtime reports STOPPED itself; this covers a runtime that did not.
    events.on_task_status(entry.task_id, TaskStatus.STOPPED, reason)


async def stop_all(services, reason: str) -> None:  # type: ignore[no-untyped-def]
    entries = services.live.entries()
    if entries:
        await asyncio.gather(
            *(stop_task(services, e, reason) for e in entries), return_exceptions=True
        )
