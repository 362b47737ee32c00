"""Micro-benchmark of the stream task runtime alone (no encoder, no network).

N stream tasks render an avatar at W×H and fps while speech drives them back to back; the
event loop's responsiveness is probed meanwhile. Prints a final JSON line:
{"streams", "size", "fps", "seconds", "video_fps_per_stream", "dropped_pct", "audio_chunks_per_s",
 "audio_max_late_ms", "loop_lag_p50_ms", "loop_lag_p99_ms", "render_ms_avg", "cpu_per_stream",
 "loop_cpu_pct" (CPU of the event loop's thread), "render_in"}.

    python benchmarks/stream_runtime.py --streams 8 --seconds 10 [--avatar FOLDER] [--processes N]

--processes N renders in N worker processes instead of the thread pool.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.compose import Scene  # noqa: E402
from avatar.stream.contract import DriveStatus, StreamConfig  # noqa: E402
from avatar.stream.render_host import RenderProcessPool  # noqa: E402
from avatar.stream.sources import PushSource  # noqa: E402
from avatar.stream.task import StreamTask  # noqa: E402
from avatar.stream.testing import CollectingSink, RecordingEvents, make_still_avatar  # noqa: E402

SPEECH = Path("/work/shared/media/audio/16k_mono/en_musetalk_eng_0-12s.wav")


class CountingSink(CollectingSink):
    """Counts without keeping pictures."""

    def __init__(self) -> None:
        super().__init__(keep_frames=False)


async def drive_forever(task: StreamTask, events: RecordingEvents, pcm: np.ndarray) -> None:
    n = 0
    while True:
        src = PushSource()
        src.push(pcm)
        src.end()
        drive_id = f"d{n}"
        task.enqueue(drive_id, src)
        await events.wait_drive(drive_id, {DriveStatus.FINISHED, DriveStatus.FAILED})
        n += 1


async def probe_loop(lags: list[float], period: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(period)
        lags.append((loop.time() - t - period) * 1000)


async def main(args: argparse.Namespace) -> dict:
    pcm, _ = sf.read(SPEECH, dtype="int16")
    processes = RenderProcessPool(args.processes) if args.processes else None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.avatar) if args.avatar else make_still_avatar(Path(tmp) / "a", 512)
        tasks, sinks, drivers = [], [], []
        for i in range(args.streams):
            events, sink = RecordingEvents(), CountingSink()
            cfg = StreamConfig(
                f"bench-{i}", "r", f"s{i}", Scene(args.width, args.height), fps=args.fps
            )
            task = StreamTask(cfg, folder, events, render_processes=processes)
            task.add_sink(sink)
            await task.start()
            tasks.append(task)
            sinks.append(sink)
            drivers.append(asyncio.create_task(drive_forever(task, events, pcm)))
        lags: list[float] = []
        prober = asyncio.create_task(probe_loop(lags))
        await asyncio.sleep(1.0)  # warm-up
        base = [
            (t.stats.frames_rendered, t.stats.frames_dropped, t.stats.audio_chunks_sent)
            for t in tasks
        ]
        base_frames = [len(s.frames) for s in sinks]
        lags.clear()
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        loop_cpu0 = time.thread_time()  # CPU of this (the event loop's) thread alone
        await asyncio.sleep(args.seconds)
        loop_cpu1 = time.thread_time()
        cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        wall = wall1 - wall0
        sent = [len(s.frames) - b for s, b in zip(sinks, base_frames, strict=True)]
        dropped = [t.stats.frames_dropped - b[1] for t, b in zip(tasks, base, strict=True)]
        chunks = [t.stats.audio_chunks_sent - b[2] for t, b in zip(tasks, base, strict=True)]
        for job in [*drivers, prober]:
            job.cancel()
        await asyncio.gather(*drivers, prober, return_exceptions=True)
        for task in tasks:
            await task.stop()
    if processes is not None:
        processes.close()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if processes is not None:  # the workers' CPU: children are counted once they have exited
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += kids.ru_utime + kids.ru_stime
    due = sum(sent) + sum(dropped)
    return {
        "streams": args.streams,
        "size": f"{args.width}x{args.height}",
        "fps": args.fps,
        "seconds": round(wall, 2),
        "video_fps_per_stream": round(sum(sent) / wall / args.streams, 2),
        "dropped_pct": round(100 * sum(dropped) / max(1, due), 2),
        "audio_chunks_per_s": round(min(chunks) / wall, 2),
        "audio_max_late_ms": round(max(t.stats.audio_max_late_ms for t in tasks), 1),
        "loop_lag_p50_ms": round(float(np.percentile(lags, 50)), 2),
        "loop_lag_p99_ms": round(float(np.percentile(lags, 99)), 2),
        "render_ms_avg": round(float(np.mean([t.stats.render_ms_avg for t in tasks])), 2),
        "cpu_per_stream": round(cpu / wall / args.streams, 3),
        "loop_cpu_pct": round(100 * (loop_cpu1 - loop_cpu0) / wall, 1),
        "render_in": f"{args.processes} processes" if args.processes else "threads",
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--avatar", help="folder of a built avatar (default: a drawn still avatar)")
    p.add_argument("--processes", type=int, default=0, help="render in N worker processes")
    result = asyncio.run(main(p.parse_args()))
    print(json.dumps(result))
