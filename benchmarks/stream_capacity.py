"""How many concurrent live streams one server holds, each watched by one WebRTC viewer.

Starts a real `python server.py` (built-in avatar), then adds streams one at a time: each is a
stream task at --size×--size and --fps, driven back to back by an audio file (DriveByAudio from
a local HTTP server, so the mouth moves and rendering is real), watched by an aiortc WHEP viewer
in this process. After a warm-up, each step measures for --measure-s seconds:

- video: frames the viewer decoded, and the frames missing from the task's clock (gaps in the
  RTP timestamps: frames dropped anywhere between the render and the viewer);
- audio: frames per second the viewer decoded (50 = full rate);
- CPU: cores used by the server process and its worker processes, by role from the names the
  server gives its threads and processes ("render": the avatar's renderer and compositor,
  threads or DH_RENDER_PROCESSES workers; "encode": yuv420p conversion and VP8/H.264, once per
  task; "loop": the event loop, i.e. RTP/SRTP packing and sending, Opus, the task clocks,
  lip-sync, HTTP; "media workers": DH_MEDIA_WORKERS), and by the viewers (this process:
  RTP receive, VP8 and Opus decoding), reported apart.

A step passes when every stream has < 1 % missing video frames and ≥ 49.5 audio frames/s.
Prints progress to stderr and a final JSON line
{"streams": largest passing count, "cpu_per_stream": server cores per stream at that count (in
% of one core), "cpu_per_stream_by_role": {...}, "steps": [...]}. On this 2-core machine the
viewers share the CPU with the server, so the count is a lower bound for a server with remote
viewers.

    nice python benchmarks/stream_capacity.py --max-streams 12 [--size 512] [--codec VP8]

--transport-only measures the transport alone: the server process holds test-pattern tasks
(no avatar rendering; avatar/transport/pattern.py) speaking a WAV in a loop, with
--media-workers N viewers' worker processes (DH_MEDIA_WORKERS), so the cost of WebRTC can be
told apart from the cost of rendering.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar.transport.client import WhepClient  # noqa: E402
from avatar.transport.ice import configure_ice  # noqa: E402
from tests.support import ApiClient, ServerProcess  # noqa: E402

SPEECH = Path("/work/shared/media/audio/16k_mono/en_musetalk_eng_0-12s.wav")
TICK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process and of its children by role, from their threads' names (the
    server names its render and encode threads and its worker processes)."""
    roles: dict[str, float] = {}
    procs = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                procs.append(int(entry.name))
    for p in procs:
        try:
            tids = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for t in tids:
            try:
                comm = (t / "comm").read_text().strip()
                fields = (t / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if comm.startswith("dh-render"):  # threads and worker processes
                role = "render"
            elif comm.startswith("dh-encode"):
                role = "encode"
            elif comm.startswith("dh-media"):
                role = "media workers"
            elif p == pid and int(t.name) == pid:
                role = "loop"  # RTP/SRTP, Opus, the task clocks, lip-sync, HTTP
            elif p == pid:
                role = "other threads"
            else:
                role = "other processes"
            roles[role] = roles.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return roles


def cpu_seconds_tree(pid: int) -> float:
    """CPU time of a process and of its children (render and media workers)."""
    return sum(thread_cpu(pid).values())


class Counter:
    """One viewer: decoded frames with their RTP timestamps, audio frames."""

    def __init__(self, fps: int) -> None:
        self.step = 90000 // fps
        self.video: list[tuple[float, int]] = []
        self.audio: list[float] = []
        self.client = WhepClient(self._video, self._audio)

    def _video(self, t: float, frame) -> None:
        self.video.append((t, int(frame.pts)))

    def _audio(self, t: float, frame) -> None:
        self.audio.append(t)

    def window(self, t0: float, t1: float) -> dict:
        v = [pts for t, pts in self.video if t0 <= t < t1]
        a = [t for t in self.audio if t0 <= t < t1]
        if len(v) < 2:
            return {
                "video": len(v),
                "missing": None,
                "missing_pct": 100.0,
                "audio_per_s": len(a) / (t1 - t0),
            }
        span = (v[-1] - v[0]) // self.step + 1  # frames the clock made in this window
        missing = max(0, span - len(v))
        return {
            "video": len(v),
            "missing": missing,
            "missing_pct": 100.0 * missing / span,
            "audio_per_s": len(a) / (t1 - t0),
        }


class FileServer:
    """Serves one folder on 127.0.0.1 (the AudioUrl of the drives)."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


async def call(api: ApiClient, action: str, body: dict) -> dict:
    reply = await asyncio.to_thread(api.call, action, body)
    if reply["Code"] != 0:
        raise RuntimeError(f"{action}: {reply['Code']} {reply['Message']}")
    return reply["Data"]


async def add_stream(api: ApiClient, args, n: int, audio_url: str) -> tuple[str, Counter]:
    stream_id = f"cap{n}"
    task_id = (
        await call(
            api,
            "CreateDigitalHumanStreamTask",
            {
                "DigitalHumanConfig": {"DigitalHumanId": args.avatar},
                "RTCConfig": {"RoomId": "capacity", "StreamId": stream_id},
                "VideoConfig": {
                    "Width": args.size,
                    "Height": args.size,
                    "Fps": args.fps,
                    "Codec": args.codec,
                    "Bitrate": args.bitrate,
                },
            },
        )
    )["TaskId"]
    deadline = time.monotonic() + 60
    while (await call(api, "GetDigitalHumanStreamTaskStatus", {"TaskId": task_id}))["Status"] != 3:
        if time.monotonic() > deadline:
            raise RuntimeError(f"task {task_id} did not start")
        await asyncio.sleep(0.2)
    # Speech back to back for the rest of the run: 12 s per drive.
    for _ in range(args.drives_per_stream):
        await call(api, "DriveByAudio", {"TaskId": task_id, "AudioUrl": audio_url})
    tok = await call(api, "CreateStreamPlayToken", {"RoomId": "capacity", "StreamId": stream_id})
    c = Counter(args.fps)
    await c.client.connect(tok["WhepUrl"], tok["Token"])
    return task_id, c


PATTERN_SECRET = "capacity-benchmark"


async def serve_patterns(args) -> None:
    """--serve-pattern: the server process of --transport-only (prints its URL, runs until
    stdin closes)."""
    import soundfile as sf

    from avatar.transport.pattern import PushPcmSource
    from avatar.transport.testing import pattern_task, serve, transport_app
    from avatar.transport.webrtc import WebRTCViewer

    pcm = sf.read(SPEECH, dtype="int16")[0]
    tasks = [
        pattern_task(
            codec=args.codec, size=args.size, fps=args.fps, bitrate=args.bitrate, stream=f"cap{n}"
        )
        for n in range(1, args.max_streams + 1)
    ]
    app = transport_app(PATTERN_SECRET, *tasks, media_workers=args.media_workers)
    for t in tasks:
        await t.start()
        src = PushPcmSource()
        for _ in range(40):  # 8 minutes of speech, back to back
            src.push(pcm)
        src.end()
        t.enqueue("speech", src)

    async def report() -> None:  # where frames were lost on the server's side
        while True:
            await asyncio.sleep(args.measure_s)
            for v in list(app.state.transport.viewers.values()):
                if isinstance(v, WebRTCViewer):
                    enc = [(e.encoded, e.dropped, e.keyframes) for e in v.output.encoders.values()]
                    s = v.stats()
                    log(
                        f"  server {v.task.config.stream_id}: video sent {s['video_sent']} "
                        f"dropped {s['video_dropped']}, encoder (frames, dropped, keyframes) {enc}"
                    )

    async with serve(app) as base:
        print(base, flush=True)
        reporter = asyncio.create_task(report())
        await asyncio.to_thread(sys.stdin.read)  # until the parent closes the pipe
        reporter.cancel()
    for t in tasks:
        await t.stop()


async def add_pattern_stream(base: str, args, n: int) -> tuple[None, Counter]:
    from avatar.transport.tokens import TokenSigner

    token = TokenSigner(PATTERN_SECRET).issue("play", "room1", f"cap{n}")
    c = Counter(args.fps)
    await c.client.connect(f"{base}/whep/room1/cap{n}", token)
    return None, c


async def measure(args, streams, server_pid: int | None, n: int) -> dict:
    """One measuring window over every stream."""
    t0 = time.monotonic()
    s0 = thread_cpu(server_pid) if server_pid else {}
    v0 = cpu_seconds(os.getpid())
    await asyncio.sleep(args.measure_s)
    t1 = time.monotonic()
    s1 = thread_cpu(server_pid) if server_pid else {}
    roles = {k: round((v - s0.get(k, 0.0)) / (t1 - t0), 3) for k, v in s1.items()}
    server_cores = sum(roles.values()) if server_pid else None
    viewer_cores = (cpu_seconds(os.getpid()) - v0) / (t1 - t0)
    per = [c.window(t0, t1) for _, c in streams]
    worst_missing = max(p["missing_pct"] for p in per)
    worst_audio = min(p["audio_per_s"] for p in per)
    return {
        "streams": n,
        "ok": worst_missing < 1.0 and worst_audio >= 49.5,
        "worst_missing_video_pct": round(worst_missing, 2),
        "worst_audio_per_s": round(worst_audio, 1),
        "mean_video_fps": round(np.mean([p["video"] for p in per]) / (t1 - t0), 1),
        "server_cores": round(server_cores, 2) if server_cores is not None else None,
        "viewer_cores": round(viewer_cores, 2),
        "server_cores_by_role": {k: v for k, v in sorted(roles.items()) if v >= 0.005},
    }


async def run(args, api, server_pid: int | None, audio_url: str) -> dict:
    configure_ice("127.0.0.1")
    streams: list[tuple[str, Counter]] = []
    steps = []
    best = 0
    best_cpu = None
    best_roles: dict[str, float] = {}
    try:
        for n in range(1, args.max_streams + 1):
            try:
                if args.transport_only:
                    streams.append(await add_pattern_stream(api, args, n))
                else:
                    streams.append(await add_stream(api, args, n, audio_url))
            except Exception as e:
                log(f"cannot add stream {n}: {e}")
                break
            await asyncio.sleep(args.warm_s)
            for attempt in range(args.retries + 1):
                step = await measure(args, streams, server_pid, n)
                log(json.dumps(step))
                if step["ok"]:
                    break
                if attempt < args.retries:
                    log("step failed: measuring it again (other load on the machine?)")
            steps.append(step)
            if not step["ok"]:
                break
            best = n
            best_cpu = step["server_cores"] / n if step["server_cores"] is not None else None
            best_roles = {k: v / n for k, v in step["server_cores_by_role"].items()}
            best_roles["viewers (this process)"] = step["viewer_cores"] / n
    finally:
        for task_id, c in streams:
            with contextlib.suppress(Exception):
                await c.client.close()
            if task_id is not None:
                with contextlib.suppress(Exception):
                    await call(api, "StopDigitalHumanStreamTask", {"TaskId": task_id})
    return {
        "streams": best,
        "cpu_per_stream": round(100 * best_cpu, 1) if best_cpu is not None else None,
        # % of one core per stream at that count: the server's by role, and the viewers'
        "cpu_per_stream_by_role": {k: round(100 * v, 1) for k, v in best_roles.items()},
        "size": args.size,
        "fps": args.fps,
        "codec": args.codec,
        "mode": "transport only" if args.transport_only else "full server",
        "media_workers": args.media_workers,
        "steps": steps,
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--max-streams", type=int, default=12)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--codec", default="VP8", choices=["VP8", "H264"])
    p.add_argument("--bitrate", type=int, default=1_000_000)
    p.add_argument("--avatar", default="astronaut")
    p.add_argument("--warm-s", type=float, default=4.0)
    p.add_argument("--measure-s", type=float, default=10.0)
    p.add_argument("--drives-per-stream", type=int, default=20)
    p.add_argument("--retries", type=int, default=1, help="re-measure a failing step")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server this script starts",
    )
    p.add_argument("--transport-only", action="store_true", help="test-pattern tasks, no avatar")
    p.add_argument("--media-workers", type=int, default=0, help="DH_MEDIA_WORKERS of the server")
    p.add_argument("--serve-pattern", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_pattern:
        from avatar.transport.ice import configure_ice as _configure

        _configure("127.0.0.1")
        asyncio.run(serve_patterns(args))
        return
    if args.transport_only:
        cmd = [sys.executable, __file__, "--serve-pattern", *sys.argv[1:]]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            base = proc.stdout.readline().strip()
            result = asyncio.run(run(args, base, proc.pid, ""))
        finally:
            proc.stdin.close()
            proc.wait(30)
        print(json.dumps(result))
        return
    env = {
        "DH_ICE_HOST_ADDRESSES": "127.0.0.1",
        "DH_MAX_LIVE_TASKS": str(args.max_streams),
        "DH_MEDIA_WORKERS": str(args.media_workers),
    }
    env.update(kv.split("=", 1) for kv in args.server_env)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FileServer(SPEECH.parent) as files,
        ServerProcess(Path(tmp) / "data", env=env) as srv,
    ):
        pid = srv.proc.pid if srv.proc else None
        result = asyncio.run(run(args, srv.client, pid, f"{files.url}/{SPEECH.name}"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
