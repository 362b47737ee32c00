"""How many concurrent live streams one server holds, each watched by one WebRTC viewer.

Starts a real `python server.py` (built-in avatar), then adds streams one at a time: each is a
stream task at --size×--size and --fps, driven back to back by an audio file (DriveByAudio from
a local HTTP server, so the mouth moves and rendering is real), watched by one WHEP viewer in
this process. After a warm-up, each step measures for --measure-s seconds.

The viewers. A viewer on another machine costs the server the same whether or not it decodes,
but here the viewers share the server's 2 cores, so they should cost what the server's side of
a connection needs and no more:

- the first --decoding-viewers streams (default 1) get a full aiortc viewer (`WhepClient`):
  jitter buffer, NACK/PLI, VP8 and Opus decoding; its video counts are decoded pictures and its
  audio counts decoded frames, the proof that what is sent decodes;
- every other stream gets a counting viewer (`RtpCounter`): aiortc does ICE, DTLS and SRTP
  decryption, then each RTP packet's sequence number, timestamp and marker bit are recorded,
  nothing is depacketized or decoded and no NACK or PLI is sent (a packet lost on the way
  loses its frame; nothing is retransmitted). A video frame counts only when all its packets
  arrived (consecutive sequence numbers from the previous frame's marker packet to its own);
  an audio frame is one Opus packet (20 ms).

Per step and stream:

- video: frames that arrived whole, and the frames missing from the task's clock (gaps in the
  RTP timestamps: frames dropped anywhere between the render and the viewer);
- audio: audio frames per second that arrived (50 = full rate);
- CPU: cores used by the server process and its worker processes, by role from the names the
  server gives its threads and processes ("render": the avatar's renderer and compositor,
  threads or DH_RENDER_PROCESSES workers; "encode": yuv420p conversion and VP8/H.264, once per
  task; "loop": the event loop, i.e. RTP/SRTP packing and sending, Opus, the task clocks,
  lip-sync, HTTP; "media workers": DH_MEDIA_WORKERS), and by the viewers (this process),
  reported apart.

The server renders in worker processes (DH_RENDER_PROCESSES=auto: one per core) unless
--server-env DH_RENDER_PROCESSES=0 asks for threads; the final JSON names the server's settings
("server_env").

A step passes when every stream has < 1 % missing video frames and ≥ 49.5 audio frames/s.
Prints progress to stderr and a final JSON line
{"streams": largest passing count, "cpu_per_stream": server cores per stream at that count (in
% of one core), "cpu_per_stream_by_role": {...}, "steps": [...], "reference_render_ms": ...}. On
this 2-core machine the viewers share the CPU with the server, so the count is a lower bound for
a server with remote viewers. The machine's speed drifts (the same build measured 20 % of a core
per stream one day, 22-27 % the next): `reference_render_ms`, one astronaut frame rendered on
one thread before the server starts (benchmarks/render.py), tells runs on a slower machine
apart.

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
    """A decoding viewer: decoded frames with their RTP timestamps, decoded audio frames."""

    def __init__(self, fps: int) -> None:
        self.step = 90000 // fps
        self.video: list[tuple[float, int]] = []
        self.audio: list[float] = []
        self.client = WhepClient(self._video, self._audio)

    async def connect(self, url: str, token: str | None) -> None:
        await self.client.connect(url, token)

    async def close(self) -> None:
        await self.client.close()

    def _video(self, t: float, frame) -> None:
        self.video.append((t, int(frame.pts)))

    def _audio(self, t: float, frame) -> None:
        self.audio.append(t)

    def window(self, t0: float, t1: float) -> dict:
        v = [pts for t, pts in self.video if t0 <= t < t1]
        a = [t for t in self.audio if t0 <= t < t1]
        return _window(v, len(a), t0, t1, self.step, decoded=True)


def _window(v: list[int], audio: int, t0: float, t1: float, step: int, decoded: bool) -> dict:
    """Video frames that arrived in [t0, t1) (their RTP timestamps, ascending), audio frames."""
    if len(v) < 2:
        return {
            "video": len(v),
            "missing": None,
            "missing_pct": 100.0,
            "audio_per_s": audio / (t1 - t0),
            "decoded": decoded,
        }
    span = (v[-1] - v[0]) // step + 1  # frames the clock made in this window
    missing = max(0, span - len(v))
    return {
        "video": len(v),
        "missing": missing,
        "missing_pct": 100.0 * missing / span,
        "audio_per_s": audio / (t1 - t0),
        "decoded": decoded,
    }


class _Unwrap:
    """16- or 32-bit RTP counters made monotonic (wrap-around removed)."""

    def __init__(self, bits: int) -> None:
        self.mod = 1 << bits
        self.last: int | None = None
        self.base = 0

    def __call__(self, x: int) -> int:
        if self.last is not None:
            d = (x - self.last) % self.mod
            if d > self.mod // 2:  # reordered: an older value
                d -= self.mod
            self.base += d
        else:
            self.base = x
        self.last = x
        return self.base


class RtpCounter:
    """A viewer that counts what arrives instead of decoding it (what a remote viewer costs the
    server is the same: ICE, DTLS-SRTP, RTP; decoding happens on the viewer's machine).

    aiortc still does ICE, DTLS and SRTP decryption; the receivers' RTP handler is replaced by
    one that records each packet's sequence number, RTP timestamp and marker bit, so there is
    no jitter buffer, no depacketizing, no VP8/Opus decoding and no NACK or PLI (a lost packet
    loses its frame). A video frame counts as arrived when its packets are all there: every
    sequence number from the one after the previous frame's last packet (marker bit) to its
    own marker; audio frames are the Opus packets (one per 20 ms) that arrived."""

    def __init__(self, fps: int) -> None:
        from aiortc import RTCPeerConnection

        from avatar.transport.ice import rtc_configuration

        self.step = 90000 // fps
        self.pc = RTCPeerConnection(rtc_configuration())
        self.location: str | None = None
        self._token: str | None = None
        video = self.pc.addTransceiver("video", direction="recvonly")
        audio = self.pc.addTransceiver("audio", direction="recvonly")
        self.video: list[tuple[float, int]] = []  # (arrival, unwrapped timestamp) complete frames
        self.audio: list[float] = []  # arrival of each Opus packet
        self._seq = _Unwrap(16)
        self._ts = _Unwrap(32)
        self._aseq = _Unwrap(16)
        self._audio_seen: set[int] = set()
        self._frame_ts: int | None = None  # timestamp of the frame being received
        self._frame_first = 0  # its lowest sequence number
        self._frame_packets: set[int] = set()
        self._last_marker: int | None = None  # sequence number ending the previous frame
        video.receiver._handle_rtp_packet = self._on_video
        audio.receiver._handle_rtp_packet = self._on_audio
        self.pc.createDataChannel("events")

    async def connect(self, url: str, token: str | None) -> None:
        from avatar.transport.client import exchange_offer

        self._token = token
        self.location = await exchange_offer(self.pc, url, token)

    async def close(self) -> None:
        from avatar.transport.client import delete_resource

        await delete_resource(self.location, self._token)
        await self.pc.close()

    async def _on_video(self, packet, arrival_time_ms: int = 0) -> None:
        seq = self._seq(packet.sequence_number)
        ts = self._ts(packet.timestamp)
        if ts != self._frame_ts:
            if self._frame_ts is not None and ts < self._frame_ts:
                return  # a late packet of an older frame: that frame was counted lost
            self._frame_ts, self._frame_first = ts, seq
            self._frame_packets = set()
        self._frame_packets.add(seq)
        self._frame_first = min(self._frame_first, seq)
        if packet.marker:
            first = self._frame_first
            whole = len(self._frame_packets) == seq - first + 1
            starts_clean = self._last_marker is None or self._last_marker == first - 1
            if whole and starts_clean:
                self.video.append((time.monotonic(), ts))
            self._last_marker = seq

    async def _on_audio(self, packet, arrival_time_ms: int = 0) -> None:
        seq = self._aseq(packet.sequence_number)
        if seq not in self._audio_seen:  # a duplicate is not a second frame
            self._audio_seen.add(seq)
            self.audio.append(time.monotonic())

    def window(self, t0: float, t1: float) -> dict:
        v = [ts for t, ts in self.video if t0 <= t < t1]
        a = sum(1 for t in self.audio if t0 <= t < t1)
        return _window(v, a, t0, t1, self.step, decoded=False)


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


def make_viewer(args, n: int) -> Counter | RtpCounter:
    """The first --decoding-viewers streams get a decoding viewer, the others a counting one."""
    return Counter(args.fps) if n <= args.decoding_viewers else RtpCounter(args.fps)


async def call(api: ApiClient, action: str, body: dict) -> dict:
    reply = await asyncio.to_thread(api.call, action, body)
    if reply["Code"] != 0:
        raise RuntimeError(f"{action}: {reply['Code']} {reply['Message']}")
    return reply["Data"]


async def add_stream(
    api: ApiClient, args, n: int, audio_url: str
) -> tuple[str, Counter | RtpCounter]:
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
    c = make_viewer(args, n)
    await c.connect(tok["WhepUrl"], tok["Token"])
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


async def add_pattern_stream(base: str, args, n: int) -> tuple[None, Counter | RtpCounter]:
    from avatar.transport.tokens import TokenSigner

    token = TokenSigner(PATTERN_SECRET).issue("play", "room1", f"cap{n}")
    c = make_viewer(args, n)
    await c.connect(f"{base}/whep/room1/cap{n}", token)
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
    streams: list[tuple[str | None, Counter | RtpCounter]] = []
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
            if n < args.start:
                continue  # added without a measurement (--start)
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
                await c.close()
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
    p.add_argument(
        "--start",
        type=int,
        default=1,
        help="add this many streams before the first step (a failing first step reports 0)",
    )
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
    p.add_argument(
        "--decoding-viewers",
        type=int,
        default=1,
        help="streams (the first ones) whose viewer decodes VP8/Opus; the others count RTP",
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
        # Renderers hold the GIL: in threads, the renderers, the event loop and the encoders'
        # Python share one core, and frames drop at 5 streams with half the CPU idle.
        "DH_RENDER_PROCESSES": "auto",
    }
    env.update(kv.split("=", 1) for kv in args.server_env)
    from render import reference_render_ms  # benchmarks/render.py

    gauge = reference_render_ms()  # before the server starts: on a quiet machine
    log(f"reference render: {gauge} ms per frame on one thread")
    with (
        tempfile.TemporaryDirectory() as tmp,
        FileServer(SPEECH.parent) as files,
        ServerProcess(Path(tmp) / "data", env=env) as srv,
    ):
        pid = srv.proc.pid if srv.proc else None
        result = asyncio.run(run(args, srv.client, pid, f"{files.url}/{SPEECH.name}"))
    result["server_env"] = {k: v for k, v in env.items() if k != "DH_ICE_HOST_ADDRESSES"}
    result["reference_render_ms"] = gauge
    print(json.dumps(result))


if __name__ == "__main__":
    main()
