"""API latency under load: GetDigitalHumanStreamTaskStatus while 8 stream tasks are live and
driven (audio files played in a loop), against a real server process on 127.0.0.1.

    python benchmarks/api.py [--tasks 8] [--requests 500] [--width 360 --height 640]

Prints progress, then a final JSON line {"p50_ms": ..., "p99_ms": ..., ...}. Goal: p99 < 20 ms
on a 2-core machine (rendering must not block the event loop).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import MEDIA, ApiClient, ServerProcess, serve_directory  # noqa: E402

CLIP = MEDIA / "audio" / "16k_mono" / "en_musetalk_eng_0-12s.wav"


def keep_driving(client: ApiClient, task_ids: list[str], url: str, stop: threading.Event) -> None:
    """Queue the clip on every task whenever its queue runs short, until `stop`."""
    while not stop.is_set():
        for task_id in task_ids:
            drives = client.ok("GetDriveStatus", {"TaskId": task_id})["DriveList"]
            if sum(1 for d in drives if d["Status"] in (1, 2)) < 2:
                client.ok("DriveByAudio", {"TaskId": task_id, "AudioUrl": url})
        stop.wait(2.0)


def measure(client: ApiClient, task_ids: list[str], n: int, interval: float) -> list[float]:
    """Latency in ms of `n` GetDigitalHumanStreamTaskStatus calls, round-robin over the tasks."""
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        reply = client.call(
            "GetDigitalHumanStreamTaskStatus", {"TaskId": task_ids[i % len(task_ids)]}
        )
        lat.append((time.perf_counter() - t0) * 1000)
        assert reply["Code"] == 0 and reply["Data"]["Status"] == 3, reply
        time.sleep(interval)
    return lat


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--interval", type=float, default=0.02, help="seconds between requests")
    ap.add_argument("--width", type=int, default=0, help="0: the server's default size")
    ap.add_argument("--height", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp) / "media"
        media.mkdir()
        (media / "clip.wav").symlink_to(CLIP)
        env = {"DH_MAX_LIVE_TASKS": str(args.tasks), "DH_RATE_LIMIT_PER_SECOND": "10000"}
        with ServerProcess(Path(tmp) / "data", env=env) as srv, serve_directory(media) as files:
            c = srv.client
            video = {"Width": args.width, "Height": args.height} if args.width else None
            task_ids: list[str] = []
            baseline: list[float] = []
            for i in range(args.tasks):
                body = {
                    "DigitalHumanConfig": {"DigitalHumanId": "astronaut"},
                    "RTCConfig": {"RoomId": "bench", "StreamId": f"bench-{i}"},
                }
                if video:
                    body["VideoConfig"] = video
                task_ids.append(c.ok("CreateDigitalHumanStreamTask", body)["TaskId"])
                if i == 0:
                    # Baseline under the same machine load: one idle task, nothing driven.
                    c.wait(
                        "GetDigitalHumanStreamTaskStatus",
                        {"TaskId": task_ids[0]},
                        lambda d: d["Status"] == 3,
                    )
                    baseline = measure(c, task_ids, args.requests // 3, args.interval)
            for t in task_ids:
                c.wait("GetDigitalHumanStreamTaskStatus", {"TaskId": t}, lambda d: d["Status"] == 3)
            stop = threading.Event()
            driver = ApiClient(srv.base_url)
            feeder = threading.Thread(
                target=keep_driving, args=(driver, task_ids, f"{files}/clip.wav", stop), daemon=True
            )
            feeder.start()
            time.sleep(3.0)  # let every task start playing
            playing = sum(
                1
                for t in task_ids
                if any(d["Status"] == 2 for d in c.ok("GetDriveStatus", {"TaskId": t})["DriveList"])
            )
            print(f"{len(task_ids)} tasks live, {playing} playing a drive", flush=True)
            lat = measure(c, task_ids, args.requests, args.interval)
            stop.set()
            feeder.join(10)
            driver.close()
    result = {
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": p99(lat),
        "max_ms": round(max(lat), 2),
        "baseline_p50_ms": round(statistics.median(baseline), 2),
        "baseline_p99_ms": p99(baseline),
        "requests": len(lat),
        "tasks": args.tasks,
        "playing": playing,
        "size": f"{args.width}x{args.height}" if args.width else "default",
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
