"""End-to-end latency of live streams, measured at a WebRTC viewer on loopback.

Starts a real `python server.py` (or uses --url), creates a stream task with the built-in avatar,
watches it with an aiortc WHEP viewer (CreateStreamPlayToken) and measures, over --trials runs:

- ws_to_mouth: first WebSocket PCM chunk sent (DriveByWsStream) → first decoded frame whose
  mouth region has left its rest picture;
- text_to_audio: DriveByText call → first audible audio frame decoded at the viewer;
- av_offset: lag of the mouth-motion envelope behind the audio-loudness envelope at the viewer
  (cross-correlation on a 5 ms grid; positive = picture late). The viewer is aiortc with its
  audio prefetch turned off, so both are timed on arrival: this is the offset of what arrives,
  before any player's own lip-sync alignment.

The mouth region is found by calibration: the 24×24 block that changes most while a first text
drive speaks. Prints progress to stderr and a final JSON line:
{"ws_to_mouth_p50_ms", "ws_to_mouth_p95_ms", "text_to_audio_p50_ms", "text_to_audio_p95_ms",
 "av_offset_ms", "av_offset_p95_abs_ms", "ws_to_audio_p50_ms", "trials", ...}. A mouth counts as
open from the first of two frames in a row past a threshold above all idle motion seen.

    python benchmarks/stream_latency.py --trials 10 [--size 512] [--codec VP8] [--soak-s 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar.transport.client import WhepClient  # noqa: E402
from avatar.transport.ice import configure_ice  # noqa: E402
from tests.support import ApiClient, ServerProcess  # noqa: E402

SPEECH = Path("/work/shared/media/audio/16k_mono/en_RD_Radio31_000.wav")
VOICE = "piper-en-us-joe"
SENTENCES = [
    "Hello there.",
    "How are you today?",
    "The weather is lovely.",
    "Let me tell you something.",
    "Welcome to the show.",
    "This is a short answer.",
]
AUDIBLE_RMS = 300.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Viewer:
    def __init__(self) -> None:
        self.frames: list[tuple[float, np.ndarray]] = []
        self.rms: list[tuple[float, float]] = []
        # Audio decoded on arrival, like the pictures (aiortc would hold it 80 ms otherwise).
        self.client = WhepClient(self._video, self._audio, audio_prefetch=False)

    def _video(self, t: float, frame) -> None:
        self.frames.append((t, frame.to_ndarray(format="gray")[::2, ::2].astype(np.float32)))

    def _audio(self, t: float, frame) -> None:
        pcm = frame.to_ndarray().astype(np.float32)
        self.rms.append((t, float(np.sqrt(np.mean(pcm**2)))))

    def done(self, drive_id: str) -> bool:
        return any(
            e["Data"]["DriveId"] == drive_id and e["Data"]["Status"] in (3, 4, 5)
            for e in self.client.events
        )

    def trim(self, keep_after: float) -> None:
        self.frames = [(t, f) for t, f in self.frames if t >= keep_after]
        self.rms = [(t, r) for t, r in self.rms if t >= keep_after]


class Mouth:
    """The mouth region's distance from its rest picture."""

    def __init__(self, box: tuple[int, int, int], rest: np.ndarray, threshold: float) -> None:
        self.box, self.rest, self.threshold = box, rest, threshold

    def value(self, frame: np.ndarray) -> float:
        y, x, k = self.box
        return float(np.abs(frame[y : y + k, x : x + k] - self.rest).mean())


async def until(cond, limit_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not cond():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


def most_moving_block(frames: list[np.ndarray], k: int = 24) -> tuple[int, int, int]:
    d = np.mean([np.abs(a - b) for a, b in zip(frames[1:], frames[:-1], strict=False)], axis=0)
    h, w = d.shape
    blocks = d[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k).mean(axis=(1, 3))
    by, bx = np.unravel_index(np.argmax(blocks), blocks.shape)
    return int(by * k), int(bx * k), k


def av_lag_ms(
    rms: list[tuple[float, float]], mouth: list[tuple[float, float]], t0: float, t1: float
) -> float | None:
    """Lag (ms) of the mouth envelope behind the audio envelope in [t0, t1)."""
    grid = np.arange(t0, t1, 0.005)
    if len(rms) < 10 or len(mouth) < 10:
        return None
    ta, va = np.array(rms).T
    tm, vm = np.array(mouth).T
    # Each decoded frame holds until the next one: step interpolation.
    a = va[np.clip(np.searchsorted(ta, grid) - 1, 0, len(va) - 1)]
    m = vm[np.clip(np.searchsorted(tm, grid) - 1, 0, len(vm) - 1)]
    a = (a - a.mean()) / (a.std() + 1e-9)
    m = (m - m.mean()) / (m.std() + 1e-9)
    lags = range(-40, 41)  # ±200 ms
    scores = [
        float(np.mean(a[max(0, -k) : len(a) - max(0, k)] * m[max(0, k) : len(m) - max(0, -k)]))
        for k in lags
    ]
    best = int(np.argmax(scores))
    # A weak or edge peak means the envelopes did not match (idle motion, starved video).
    if scores[best] < 0.3 or best in (0, len(scores) - 1):
        return None
    return lags[best] * 5.0


async def call(api: ApiClient, action: str, body: dict) -> dict:
    reply = await asyncio.to_thread(api.call, action, body)
    if reply["Code"] != 0:
        raise RuntimeError(f"{action}: {reply['Code']} {reply['Message']}")
    return reply["Data"]


async def text_trial(api, task_id, v: Viewer, text: str) -> float | None:
    v.trim(time.monotonic() - 2)
    t_call = time.monotonic()
    d = await call(
        api, "DriveByText", {"TaskId": task_id, "Text": text, "TTSConfig": {"TimbreId": VOICE}}
    )
    await until(lambda: v.done(d["DriveId"]), 30)
    await asyncio.sleep(0.5)
    heard = [t for t, r in v.rms if t > t_call and r > AUDIBLE_RMS]
    return (heard[0] - t_call) * 1000 if heard else None


async def ws_trial(
    api, task_id, v: Viewer, mouth: Mouth, pcm: np.ndarray
) -> tuple[float | None, float | None]:
    v.trim(time.monotonic() - 2)
    d = await call(api, "DriveByWsStream", {"TaskId": task_id})
    async with websockets.connect(d["WssAddress"]) as ws:
        await ws.send(
            json.dumps(
                {"Action": "Start", "Payload": {"DriveId": d["DriveId"], "SampleRate": 16000}}
            )
        )
        t_first = time.monotonic()
        for i in range(0, len(pcm), 320):  # 20 ms chunks at real-time pace, like a microphone
            await ws.send(pcm[i : i + 320].astype("<i2").tobytes())
            delay = t_first + (i + 320) / 16000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await ws.send(json.dumps({"Action": "Stop"}))
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            await asyncio.wait_for(ws.recv(), 5)  # the server closes after Stop
    await until(lambda: v.done(d["DriveId"]), 10)
    await asyncio.sleep(0.6)
    mvals = [(t, mouth.value(f)) for t, f in v.frames]
    # Open = two frames in a row past the threshold (one can be idle motion or a blink).
    after = [(t, m) for t, m in mvals if t > t_first]
    opened = [
        t0
        for (t0, m0), (_, m1) in zip(after, after[1:], strict=False)
        if m0 > mouth.threshold and m1 > mouth.threshold
    ]
    to_mouth = (opened[0] - t_first) * 1000 if opened else None
    heard = [t for t, r in v.rms if t > t_first and r > AUDIBLE_RMS]
    to_audio = (heard[0] - t_first) * 1000 if heard else None
    t_end = t_first + len(pcm) / 16000 + 0.5
    lag = av_lag_ms(
        [x for x in v.rms if t_first <= x[0] < t_end],
        [x for x in mvals if t_first <= x[0] < t_end],
        t_first,
        t_end,
    )
    return to_mouth, lag, to_audio


def speech_clip(seconds: float) -> np.ndarray:
    pcm, rate = sf.read(SPEECH, dtype="int16")
    assert rate == 16000
    rms = np.sqrt((pcm[: len(pcm) // 320 * 320].astype(np.float32).reshape(-1, 320) ** 2).mean(1))
    start = int(np.argmax(rms > 1000)) * 320  # begin where the speech begins
    return pcm[start : start + int(seconds * 16000)]


def pct(values: list[float], q: float) -> float | None:
    vals = [x for x in values if x is not None]
    return round(float(np.percentile(vals, q)), 1) if vals else None


async def run(args, api: ApiClient) -> dict:
    configure_ice("127.0.0.1")
    stream_id = f"lat{int(time.time())}"
    task_id = (
        await call(
            api,
            "CreateDigitalHumanStreamTask",
            {
                "DigitalHumanConfig": {"DigitalHumanId": args.avatar},
                "RTCConfig": {"RoomId": "bench", "StreamId": stream_id},
                "VideoConfig": {"Width": args.size, "Height": args.size, "Codec": args.codec},
            },
        )
    )["TaskId"]
    await until(
        lambda: api.ok("GetDigitalHumanStreamTaskStatus", {"TaskId": task_id})["Status"] == 3, 60
    )
    tok = await call(api, "CreateStreamPlayToken", {"RoomId": "bench", "StreamId": stream_id})
    v = Viewer()
    await v.client.connect(tok["WhepUrl"], tok["Token"])
    result: dict = {"size": args.size, "codec": args.codec, "trials": args.trials}
    try:
        await until(lambda: len(v.frames) > 50, 20)
        # Calibrate the mouth region on a text drive, and its rest picture on idle frames.
        t0 = time.monotonic()
        d = await call(
            api,
            "DriveByText",
            {
                "TaskId": task_id,
                "Text": "Hello, I am calibrating my mouth now.",
                "TTSConfig": {"TimbreId": VOICE},
            },
        )
        await until(lambda: v.done(d["DriveId"]), 30)
        speaking = [
            f
            for t, f in v.frames
            if t > t0 and any(r > AUDIBLE_RMS and abs(ta - t) < 0.1 for ta, r in v.rms[-400:])
        ]
        box = most_moving_block(speaking or [f for t, f in v.frames if t > t0])
        await asyncio.sleep(0.6)
        t_rest = time.monotonic()
        await asyncio.sleep(4.0)  # long enough to see blinks and sway: idle motion's range
        idle = [f for t, f in v.frames if t > t_rest]
        y, x, k = box
        rest = np.median([f[y : y + k, x : x + k] for f in idle], axis=0)
        probe = Mouth(box, rest, 0.0)
        idle_vals = [probe.value(f) for f in idle]
        speak_vals = [probe.value(f) for f in speaking] or [0.0]
        # Above anything idle motion produced, and a fair part of a speaking mouth.
        threshold = max(float(np.max(idle_vals)) * 1.2, 0.4 * float(np.percentile(speak_vals, 90)))
        mouth = Mouth(box, rest, threshold)
        log(
            f"mouth box {box} (half-size frame), idle p99 {np.percentile(idle_vals, 99):.2f}, speaking p90 {np.percentile(speak_vals, 90):.2f}, threshold {threshold:.2f}"
        )

        text_ms = []
        for i in range(args.trials):
            ms = await text_trial(api, task_id, v, SENTENCES[i % len(SENTENCES)])
            log(f"text trial {i}: first audio after {ms} ms")
            text_ms.append(ms)
        result["text_to_audio_p50_ms"] = pct(text_ms, 50)
        result["text_to_audio_p95_ms"] = pct(text_ms, 95)

        pcm = speech_clip(3.0)
        ws_ms, lags, ws_audio = [], [], []
        ws_ok = True
        for i in range(args.trials):
            try:
                ms, lag, heard = await ws_trial(api, task_id, v, mouth, pcm)
            except RuntimeError as e:
                log(f"DriveByWsStream unavailable: {e}")
                ws_ok = False
                break
            log(f"ws trial {i}: sound after {heard} ms, mouth open after {ms} ms, av lag {lag} ms")
            ws_ms.append(ms)
            lags.append(lag)
            ws_audio.append(heard)
        if args.soak_s > 0 and ws_ok:
            log(f"soaking {args.soak_s} s with the stream idle, then measuring again")
            await asyncio.sleep(args.soak_s)
            late = []
            for i in range(max(3, args.trials // 2)):
                ms, lag, _heard = await ws_trial(api, task_id, v, mouth, pcm)
                log(f"late ws trial {i}: mouth open after {ms} ms, av lag {lag} ms")
                late.append(lag)
            result["av_offset_late_ms"] = pct(late, 50)
        result["ws_to_mouth_p50_ms"] = pct(ws_ms, 50)
        result["ws_to_mouth_p95_ms"] = pct(ws_ms, 95)
        result["ws_to_audio_p50_ms"] = pct(ws_audio, 50)
        good = [x for x in lags if x is not None]
        result["av_offset_ms"] = pct(good, 50)
        result["av_offset_p95_abs_ms"] = pct([abs(x) for x in good], 95)
        result["video_fps_at_viewer"] = round(
            len(v.frames) / max(1e-3, v.frames[-1][0] - v.frames[0][0]), 1
        )
        if not ws_ok:
            result["note"] = "DriveByWsStream is not available on this server"
    finally:
        await v.client.close()
        await call(api, "StopDigitalHumanStreamTask", {"TaskId": task_id})
    return result


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--codec", default="VP8", choices=["VP8", "H264"])
    p.add_argument("--avatar", default="astronaut")
    p.add_argument("--soak-s", type=float, default=0.0, help="idle time before a second batch")
    p.add_argument("--url", help="use a running server (with --app-id and --secret)")
    p.add_argument("--app-id", type=int)
    p.add_argument("--secret")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server this script starts",
    )
    args = p.parse_args()
    if args.url:
        api = ApiClient(args.url, args.app_id, args.secret)
        result = asyncio.run(run(args, api))
    else:
        env = {"DH_ICE_HOST_ADDRESSES": "127.0.0.1"}
        env.update(kv.split("=", 1) for kv in args.server_env)
        with (
            tempfile.TemporaryDirectory() as tmp,
            ServerProcess(Path(tmp) / "data", env=env) as srv,
        ):
            result = asyncio.run(run(args, srv.client))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
