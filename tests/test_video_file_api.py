"""The video actions through the real app: create → status → file served with range requests,
aliases, listing, cancellation, and the codes for bad input at creation."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from api.errors import (
    DIGITAL_HUMAN_NOT_FOUND,
    INVALID_PARAMETER,
    TASK_NOT_FOUND,
    TIMBRE_NOT_FOUND,
)
from api.signature import callback_signature
from tests.support import MEDIA, TEST_SECRET, InProcessApp, serve_directory
from tests.test_video_file_helpers import decode_rgba, probe

SHORT = "audio/16k_mono/zh_bus_chinese.wav"
LONG = "audio/16k_mono/en_RD_Radio31_000.wav"


@pytest.fixture(scope="module")
def media() -> Iterator[str]:
    with serve_directory(MEDIA) as url:
        yield url


class _Receiver(http.server.BaseHTTPRequestHandler):
    events: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        n = int(self.headers.get("content-length", 0))
        type(self).events.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[str, list[dict]]]:
    """A webhook receiver on 127.0.0.1 (records the JSON bodies it is sent)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook", _Receiver.events
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, hooks: tuple[str, list[dict]]
) -> Iterator[InProcessApp]:
    from api.actions.videos import router

    api = InProcessApp(tmp_path_factory.mktemp("vapi") / "data", callback_url=hooks[0])
    api.app.include_router(router)  # the lead mounts it in api/app.py
    with api:
        yield api


def _dh(app: InProcessApp) -> str:
    data = app.client.ok("GetDigitalHumanList", {})
    return data["DigitalHumans"][0]["DigitalHumanId"]


@pytest.mark.slow
def test_create_poll_download_with_range(
    app: InProcessApp, media: str, hooks: tuple[str, list[dict]]
) -> None:
    c = app.client
    body = {
        "DigitalHumanId": _dh(app),
        "AudioUrl": f"{media}/{SHORT}",
        "Format": "MP4",
        "Width": 1080,
        "Height": 1920,
        "BackgroundUrl": f"{media}/images/cartoon_boy_3d_s7.jpg",
        "Assets": [
            {
                "AssetUrl": f"{media}/images/astronaut.png",
                "Layout": {"Left": 40, "Top": 40, "Width": 200, "Height": 200, "Layer": 1},
            }
        ],
        "Subtitles": {"Enable": True},
    }
    job_id = c.ok("CreateDigitalHumanVideo", body)["VideoTaskId"]
    data = c.wait(
        "GetDigitalHumanVideoStatus", {"VideoTaskId": job_id}, lambda d: d["Status"] >= 3, 120
    )
    assert data["Status"] == 4, data
    assert data["Progress"] == 100 and abs(data["Duration"] - 3.38) < 0.05
    assert (data["Width"], data["Height"], data["Format"]) == (1080, 1920, "mp4")
    assert c.ok("DescribeMetaHumanVideo", {"VideoTaskId": job_id})["Status"] == 4
    listed = c.ok("QueryDigitalHumanVideos", {})
    assert job_id in [j["VideoTaskId"] for j in listed["VideoTasks"]]
    # The file, whole and by byte ranges (players seek with these).
    url = data["VideoUrl"]
    full = app.http.get(url)
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    assert len(full.content) == data["Size"]
    head = app.http.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == data["Size"]
    assert head.headers.get("accept-ranges") == "bytes"
    part = app.http.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{data['Size']}"
    assert part.content == full.content[100:1100]
    out = Path(app.services.data_dir) / "videos" / url.rsplit("/", 1)[1]
    info = probe(out)
    assert info.video and info.audio and (info.video.width, info.video.height) == (1080, 1920)
    # The decoration in its box, over the background picture.
    frame = decode_rgba(out, [40])[40]
    cv2.imwrite("/tmp/video_file_api_frame.png", cv2.cvtColor(frame, cv2.COLOR_RGBA2BGR))
    deco = cv2.resize(cv2.imread(str(MEDIA / "images/astronaut.png")), (200, 200))
    got = cv2.cvtColor(frame[40:240, 40:240], cv2.COLOR_RGBA2BGR)
    assert np.abs(got.astype(int) - deco).mean() < 10
    # Beside the avatar: the background picture (scaled to cover), not the default black.
    side = frame[300:1900, 0:60, :3]
    assert side.mean() > 20 and side.std() > 5
    assert app.http.get(url.replace(".mp4", ".webm")).status_code == 404
    assert app.http.get(url.rsplit("/", 1)[0] + "/..%2Fdigital-human.db").status_code == 404
    # The fetched audio is not kept once the job is over.
    assert not list((Path(app.services.data_dir) / "videos" / "inputs").glob("*"))
    # The completion webhook, signed as the other callbacks.
    deadline = time.monotonic() + 5
    while not [e for e in hooks[1] if e["TaskId"] == job_id]:
        assert time.monotonic() < deadline, "no webhook"
        time.sleep(0.05)
    (ev,) = [e for e in hooks[1] if e["TaskId"] == job_id]
    assert ev["EventType"] == 5 and ev["Detail"]["Status"] == 4
    assert ev["Detail"]["VideoUrl"] == url and ev["Detail"]["VideoTaskId"] == job_id
    assert ev["Signature"] == callback_signature(TEST_SECRET, ev["Timestamp"], ev["Nonce"])


@pytest.mark.slow
def test_cancel_through_the_api(app: InProcessApp, media: str) -> None:
    c = app.client
    body = {
        "DigitalHumanId": _dh(app),
        "AudioUrl": f"{media}/{LONG}",
        "Width": 1920,
        "Height": 1080,
    }
    job_id = c.ok("CreateDigitalHumanVideo", body)["VideoTaskId"]
    c.wait("GetDigitalHumanVideoStatus", {"VideoTaskId": job_id}, lambda d: d["Progress"] >= 15, 60)
    assert c.ok("CancelDigitalHumanVideo", {"VideoTaskId": job_id})["Status"] == 5
    data = c.wait(
        "GetDigitalHumanVideoStatus", {"VideoTaskId": job_id}, lambda d: d["Status"] == 5, 10
    )
    assert data["VideoUrl"] == "" and data["FailReason"] == "cancelled"
    deadline = time.monotonic() + 3  # the render thread stops at its next frame
    while list((Path(app.services.data_dir) / "videos").glob(f"{job_id}*")):
        assert time.monotonic() < deadline, "partial file left behind"
        time.sleep(0.05)
    # The job's copy of its audio goes once the job has unwound.
    deadline = time.monotonic() + 10
    while list((Path(app.services.data_dir) / "videos" / "inputs").glob("*")):
        assert time.monotonic() < deadline, "the cancelled job's inputs were left behind"
        time.sleep(0.05)


def test_bad_input_codes(app: InProcessApp, media: str) -> None:
    c = app.client
    dh = _dh(app)

    def code(body: dict) -> tuple[int, str]:
        r = c.call("CreateDigitalHumanVideo", body)
        return r["Code"], r["Message"]

    audio = f"{media}/{SHORT}"
    assert code({"DigitalHumanId": "nobody", "AudioUrl": audio})[0] == DIGITAL_HUMAN_NOT_FOUND
    got = code({"DigitalHumanId": dh, "AudioUrl": audio, "Width": 1280, "Height": 720})
    assert got[0] == INVALID_PARAMETER and "1280x720" in got[1]
    got = code({"DigitalHumanId": dh, "AudioUrl": audio, "Format": "avi"})
    assert got[0] == INVALID_PARAMETER and "Format" in got[1]
    assert code({"DigitalHumanId": dh, "Text": "x" * 10001})[0] == INVALID_PARAMETER
    assert code({"DigitalHumanId": dh})[0] == INVALID_PARAMETER
    assert code({"DigitalHumanId": dh, "Text": "hi", "AudioUrl": audio})[0] == INVALID_PARAMETER
    got = code({"DigitalHumanId": dh, "AudioUrl": "http://127.0.0.1:9/none.wav"})
    assert got[0] == INVALID_PARAMETER and "AudioUrl" in got[1]
    got = code({"DigitalHumanId": dh, "AudioUrl": f"{media}/MANIFEST.md"})
    assert got[0] == INVALID_PARAMETER and "decoded" in got[1]
    got = code({"DigitalHumanId": dh, "Text": "hi", "TTSConfig": {"TimbreId": "no-such-voice"}})
    assert got[0] == TIMBRE_NOT_FOUND
    got = code({"DigitalHumanId": dh, "AudioUrl": audio, "BackgroundColor": "blue"})
    assert got[0] == INVALID_PARAMETER and "BackgroundColor" in got[1]
    got = code({"DigitalHumanId": dh, "AudioUrl": audio, "BackgroundUrl": f"{media}/MANIFEST.md"})
    assert got[0] == INVALID_PARAMETER and "BackgroundUrl" in got[1]
    bad_asset = {"AssetUrl": f"{media}/nope.png", "Layout": {"Width": 10, "Height": 10}}
    got = code({"DigitalHumanId": dh, "AudioUrl": audio, "Assets": [bad_asset]})
    assert got[0] == INVALID_PARAMETER and "Assets[0].AssetUrl" in got[1]
    # The copies fetched before a failing URL are not left behind.
    assert not list((Path(app.services.data_dir) / "videos" / "inputs").glob("*"))
    r = c.call("GetDigitalHumanVideoStatus", {"VideoTaskId": "0" * 32})
    assert r["Code"] == TASK_NOT_FOUND
    assert c.call("CancelDigitalHumanVideo", {"VideoTaskId": "nope"})["Code"] == TASK_NOT_FOUND
    # Nothing was queued by the failed calls.
    assert not [
        j for j in c.ok("QueryDigitalHumanVideos", {})["VideoTasks"] if j["Status"] in (1, 2)
    ]


@pytest.mark.slow
def test_text_job_with_speech_rate_and_subtitles(app: InProcessApp) -> None:
    c = app.client
    voices = [t for t in c.ok("GetTimbreList", {})["Timbres"] if t.get("Language") == "en"]
    if not voices:
        pytest.skip("no English voice installed")
    text = "Welcome to the course. Today we learn one thing."

    def make(rate: int) -> dict:
        body = {
            "DigitalHumanId": _dh(app),
            "Text": text,
            "TTSConfig": {"TimbreId": voices[0]["TimbreId"], "SpeechRate": rate},
            "Width": 1920,
            "Height": 1080,
            "Subtitles": {"Enable": True},
            "KeywordActions": [{"Keyword": "today", "Action": "nod"}],
        }
        job_id = c.ok("CreateDigitalHumanVideo", body)["VideoTaskId"]
        return c.wait(
            "GetDigitalHumanVideoStatus", {"VideoTaskId": job_id}, lambda d: d["Status"] >= 3, 120
        )

    normal, fast = make(0), make(400)
    assert normal["Status"] == 4 and fast["Status"] == 4, (normal, fast)
    # SpeechRate +400 is 1.8x faster on ZEGO's scale: clearly shorter.
    assert fast["Duration"] < normal["Duration"] * 0.8
    path = Path(app.services.data_dir) / "videos" / normal["VideoUrl"].rsplit("/", 1)[1]
    info = probe(path)
    assert info.audio and abs(info.audio.duration - normal["Duration"]) <= 0.1


@pytest.mark.slow
def test_chinese_script_with_the_default_voice_and_subtitles(app: InProcessApp) -> None:
    c = app.client
    body = {
        "DigitalHumanId": _dh(app),
        "Text": "大家好。欢迎观看。",
        "Width": 1080,
        "Height": 1920,
        "Subtitles": {"Enable": True},
    }
    reply = c.call("CreateDigitalHumanVideo", body)
    if reply["Code"] == TIMBRE_NOT_FOUND:
        pytest.skip("no Mandarin voice installed")
    job_id = reply["Data"]["VideoTaskId"]
    data = c.wait(
        "GetDigitalHumanVideoStatus", {"VideoTaskId": job_id}, lambda d: d["Status"] >= 3, 180
    )
    assert data["Status"] == 4, data
    out = Path(app.services.data_dir) / "videos" / data["VideoUrl"].rsplit("/", 1)[1]
    frame = decode_rgba(out, [10])[10]
    cv2.imwrite("/tmp/video_file_zh_subtitle.png", cv2.cvtColor(frame, cv2.COLOR_RGBA2BGR))
    band = frame[int(1920 * 0.8) : int(1920 * 0.94), :, :3]
    assert (band > 235).all(axis=2).sum() > 200  # white CJK glyphs of the first sentence
