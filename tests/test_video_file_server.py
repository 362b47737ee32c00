"""A real server process killed (SIGKILL) in the middle of a video job: after the restart the
job is rendered again and finishes; nothing is lost and no partial file is left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import MEDIA, ServerProcess, serve_directory
from tests.test_video_file_helpers import probe

LONG = "audio/16k_mono/en_RD_Radio31_000.wav"  # 8 s

pytestmark = pytest.mark.slow


@pytest.fixture
def media() -> Iterator[str]:
    with serve_directory(MEDIA) as url:
        yield url


def test_server_killed_mid_job_finishes_it_after_restart(tmp_path: Path, media: str) -> None:
    data = tmp_path / "data"
    with ServerProcess(data) as srv:
        c = srv.client
        dh = c.ok("GetDigitalHumanList", {})["DigitalHumans"][0]["DigitalHumanId"]
        body = {"DigitalHumanId": dh, "AudioUrl": f"{media}/{LONG}", "Width": 1920, "Height": 1080}
        job_id = c.ok("CreateDigitalHumanVideo", body)["VideoTaskId"]
        q = {"VideoTaskId": job_id}
        c.wait(
            "GetDigitalHumanVideoStatus", q, lambda d: d["Status"] == 2 and d["Progress"] >= 30, 90
        )
        srv.restart(kill=True)  # no shutdown code runs
        done = c.wait("GetDigitalHumanVideoStatus", q, lambda d: d["Status"] >= 3, 120)
        assert done["Status"] == 4, done
        assert abs(done["Duration"] - 8.0) < 0.05
    videos = data / "videos"
    assert [p.name for p in videos.iterdir() if p.is_file()] == [f"{job_id}.mp4"]
    info = probe(videos / f"{job_id}.mp4")
    assert info.video and info.audio and abs(info.video.duration - 8.0) <= 0.1
