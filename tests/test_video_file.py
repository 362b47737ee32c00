"""Video files end to end through the render pipeline, checked by decoding what was written:
codecs, size, duration against the audio, audio present, alpha, subtitles, cancellation."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.tts.base import SpeechOptions
from avatar.types import FrameParams
from avatar.video.render import FrameRenderer, RenderCancelled, RenderInputs, render_file
from avatar.video.spec import LayoutSpec, SpecError, SubtitleSpec, VideoSpec, parse_color
from avatar.video.speech import AudioError, Speech, speech_from_file, speech_from_text
from avatar.video.subtitles import Cue

try:
    from tests.test_video_file_helpers import (
        ASTRONAUT,
        GREEN,
        SPEECH_3S,
        decode_rgba,
        make_avatar,
        probe,
    )
except ImportError:  # pytest run without the repo root on sys.path
    from test_video_file_helpers import (  # type: ignore[no-redef]
        ASTRONAUT,
        GREEN,
        SPEECH_3S,
        decode_rgba,
        make_avatar,
        probe,
    )


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_avatar(tmp_path_factory.mktemp("av") / "astronaut", ASTRONAUT)


@pytest.fixture(scope="module")
def green(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_avatar(tmp_path_factory.mktemp("av") / "green", GREEN, green_screen=True)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped avatar as the server builds it: the astronaut as a photo avatar."""
    from avatar.registry import AvatarBuildError, build_avatar

    folder = tmp_path_factory.mktemp("av") / "photo"
    try:
        build_avatar("photo", ASTRONAUT, folder)
    except (AvatarBuildError, ImportError) as e:
        pytest.skip(f"photo avatars unavailable here: {e}")
    return folder


@pytest.fixture(scope="module")
def speech3() -> Speech:
    sp = speech_from_file(SPEECH_3S)
    sp.cues = [Cue("请各位乘客注意安全。", 0.0, 1.6), Cue("下一站，人民广场。", 1.6, sp.duration)]
    return sp


def _piper():  # type: ignore[no-untyped-def]
    from agent.tts.registry import default_registry

    reg = default_registry()
    voices = [v for v in reg.voices() if v.language == "en"]
    if not voices:
        pytest.skip("no English TTS voice installed")
    return reg.get(voices[0].timbre_id)


def test_spec_validation() -> None:
    ok = VideoSpec("x", 1920, 1080, "mp4", text="hi")
    ok.validate()
    assert VideoSpec.from_dict(ok.to_dict()) == ok
    for bad in (
        VideoSpec("x", 1280, 720, "mp4", text="hi"),
        VideoSpec("x", 1920, 1080, "avi", text="hi"),
        VideoSpec("x", 1920, 1080, "mp4"),
        VideoSpec("x", 1920, 1080, "mp4", text="hi", audio_url="http://a/b.wav"),
        VideoSpec("x", 1920, 1080, "mp4", text="x" * 20000),
        VideoSpec("x", 1920, 1080, "mp4", text="hi", speech_rate=900),
    ):
        with pytest.raises(SpecError):
            bad.validate()
    assert parse_color("#00000000") == (0, 0, 0, 0)
    assert parse_color("#FF112233") == (0x11, 0x22, 0x33, 255)
    assert parse_color("#112233") == (0x11, 0x22, 0x33, 255)
    assert VideoSpec("x", format="webm", background_rgba=(0, 0, 0, 0)).transparent
    assert not VideoSpec("x", format="mp4", background_rgba=(0, 0, 0, 0)).transparent


def test_undecodable_audio_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(AudioError, match="cannot be decoded|no audio"):
        speech_from_file(bad)


@pytest.mark.slow
def test_mp4_1080p_from_tts_with_subtitles(astronaut: Path, tmp_path: Path) -> None:
    tts, voice = _piper()
    text = "Hello there. This is a short test video."
    speech = asyncio.run(speech_from_text(text, tts, voice, SpeechOptions()))
    assert [c.text for c in speech.cues] == ["Hello there.", "This is a short test video."]
    assert speech.cues[0].end <= speech.cues[1].start + 1e-6
    spec = VideoSpec(
        str(astronaut),
        1920,
        1080,
        "mp4",
        text=text,
        background_rgba=(30, 60, 120, 255),
        subtitles=SubtitleSpec(enable=True),
    )
    out = tmp_path / "v.mp4"
    res = render_file(spec, RenderInputs(speech), out)
    info = probe(out)
    assert info.video and info.audio
    assert (info.video.codec, info.audio.codec) == ("h264", "aac")
    assert (info.video.width, info.video.height) == (1920, 1080)
    assert abs(info.video.duration - speech.duration) <= 0.1
    assert abs(info.audio.duration - speech.duration) <= 0.1
    assert info.audio_rms > 0.01  # real speech, not silence
    assert res.frames == info.video.frames
    # The first sentence's subtitle is on screen at 0.5 s and its pixels are in the band.
    frame = decode_rgba(out, [12])[12]
    cv2.imwrite("/tmp/video_file_mp4_1080p.png", cv2.cvtColor(frame, cv2.COLOR_RGBA2BGR))
    band = frame[int(1080 * 0.8) : int(1080 * 0.94), 700:1220, :3]
    assert (band > 235).all(axis=2).sum() > 300  # white glyphs


@pytest.mark.slow
def test_webm_2k_transparent_green_screen(green: Path, speech3: Speech, tmp_path: Path) -> None:
    # The 512x485 picture at 2x: its top-left green corner at output (868, 530), the face
    # (picture (250, 250)) at output (1368, 970).
    spec = VideoSpec(
        str(green),
        2560,
        1440,
        "webm",
        audio_url="file",
        background_rgba=(0, 0, 0, 0),
        layout=LayoutSpec(768, 470, 1024, 970),
    )
    out = tmp_path / "v.webm"
    render_file(spec, RenderInputs(speech3), out)
    info = probe(out)
    assert info.video and info.audio
    assert (info.video.codec, info.audio.codec) == ("vp9", "opus")
    assert (info.video.width, info.video.height) == (2560, 1440)
    assert abs(info.video.duration - speech3.duration) <= 0.1
    assert abs(info.audio.duration - speech3.duration) <= 0.1
    assert info.audio_rms > 0.01
    frames = decode_rgba(out, [0, 50])
    for i, f in frames.items():
        a = f[..., 3]
        cv2.imwrite(f"/tmp/video_file_webm_alpha_{i}.png", cv2.cvtColor(f, cv2.COLOR_RGBA2BGRA))
        assert a[100:300, 100:600].max() == 0  # transparent background colour
        assert a[510:590, 800:900].max() <= 2  # the keyed-out green screen
        assert a[940:1000, 1340:1400].min() >= 253  # the face
        assert a[1360:1430, 1100:1600].min() >= 253  # the jacket


def test_subtitles_change_only_the_band(astronaut: Path, speech3: Speech) -> None:
    base = VideoSpec(str(astronaut), 1920, 1080, "mp4", audio_url="f")
    subbed = VideoSpec(str(astronaut), 1920, 1080, "mp4", audio_url="f")
    subbed.subtitles = SubtitleSpec(enable=True)
    plain = FrameRenderer(base, RenderInputs(speech3))
    with_subs = FrameRenderer(subbed, RenderInputs(speech3))
    assert with_subs.subtitles is not None
    top, bottom = with_subs.subtitles.band()
    assert 1080 * 0.7 < top < bottom <= 1080
    p = FrameParams()
    for t in (0.5, 2.0):  # one frame of each cue
        i = int(t * 25)
        a, b = plain.rgba(p, i), with_subs.rgba(p, i)
        diff = np.any(a != b, axis=2)
        rows = np.nonzero(diff.any(axis=1))[0]
        assert len(rows) > 10, "no subtitle drawn"
        assert rows.min() >= top and rows.max() < bottom
        if t == 0.5:
            cv2.imwrite("/tmp/video_file_subtitle.png", cv2.cvtColor(b, cv2.COLOR_RGBA2BGR))
    # After the speech: no cue, no change.
    i = int(speech3.duration * 25) + 5
    assert np.array_equal(plain.rgba(p, i), with_subs.rgba(p, i))


def test_cancel_mid_render(astronaut: Path, speech3: Speech, tmp_path: Path) -> None:
    spec = VideoSpec(str(astronaut), 1920, 1080, "mp4", audio_url="f")
    cancel = threading.Event()
    seen: list[float] = []

    def progress(f: float) -> None:
        seen.append(f)
        if f >= 0.3:
            cancel.set()

    out = tmp_path / "c.mp4"
    with pytest.raises(RenderCancelled):
        render_file(spec, RenderInputs(speech3), out, progress, cancel)
    assert seen and max(seen) < 0.6
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial file left


def _straight_over(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Reference 'over' in float, straight alpha, opaque destination."""
    a = src[..., 3:4].astype(np.float64) / 255
    out = dst.astype(np.float64)
    out[..., :3] = src[..., :3] * a + out[..., :3] * (1 - a)
    return out


def test_layers_background_image_and_decorations_in_front_and_behind() -> None:
    from avatar.compose import Asset, Layout, Scene
    from avatar.video.layers import FastCompositor

    w, h = 640, 360
    grad = np.zeros((90, 160, 4), np.uint8)  # a background image of another aspect ratio
    grad[..., 0] = np.linspace(0, 255, 160, dtype=np.uint8)[None, :]
    grad[..., 2] = 200
    grad[..., 3] = 255
    behind = np.zeros((40, 40, 4), np.uint8)
    behind[:] = (255, 0, 0, 255)
    front = np.zeros((40, 40, 4), np.uint8)
    front[:] = (0, 255, 0, 128)  # half transparent
    avatar = np.zeros((100, 100, 4), np.uint8)
    avatar[:] = (250, 250, 250, 255)
    avatar[:, :30, 3] = 0  # a removed background strip on its left
    scene = Scene(
        w,
        h,
        background_rgba=(0, 0, 0, 255),
        background_image=grad,
        avatar_layout=Layout(200, 100, 200, 200, 1),
        avatar_layer=1,
        assets=[
            Asset(behind, Layout(180, 120, 80, 80, 0)),
            Asset(front, Layout(300, 250, 80, 80, 2)),
        ],
    )
    out = FastCompositor(scene, (100, 100)).compose(avatar)
    assert out.shape == (h, w, 4) and (out[..., 3] == 255).all()
    # The background image covers the picture (scaled 4x: its columns become 4 pixels wide).
    assert abs(int(out[10, 320, 0]) - int(grad[0, 80, 0])) <= 3 and out[10, 320, 2] == 200
    # The decoration behind shows where the avatar is transparent, and is hidden elsewhere.
    assert tuple(out[150, 190, :3]) == (255, 0, 0)  # left of the avatar
    assert tuple(out[150, 230, :3]) == (255, 0, 0)  # in the avatar's transparent strip
    assert tuple(out[150, 300, :3]) == (250, 250, 250)  # the avatar
    # The decoration in front is blended over the avatar.
    ref = _straight_over(np.full((1, 1, 4), 250, np.uint8), front[:1, :1])[0, 0]
    assert np.abs(out[280, 340, :3].astype(int) - ref[:3]).max() <= 2
    cv2.imwrite("/tmp/video_file_layers.png", cv2.cvtColor(out, cv2.COLOR_RGBA2BGR))


def test_layers_transparent_background_keeps_alpha() -> None:
    from avatar.compose import Scene
    from avatar.video.layers import FastCompositor

    avatar = np.zeros((50, 50, 4), np.uint8)
    avatar[10:40, 10:40] = (200, 100, 50, 255)
    out = FastCompositor(Scene(200, 100, background_rgba=(0, 0, 0, 0)), (50, 50)).compose(avatar)
    a = out[..., 3]
    assert a[0, 0] == 0 and a.max() == 255 and (out[a == 0][:, :3] == 0).all()


@pytest.mark.slow
def test_webm_2k_transparent_from_the_shipped_photo_avatar(
    photo: Path, speech3: Speech, tmp_path: Path
) -> None:
    # Fitted bottom-centre: the 512x512 picture at 2.8125x from x=560; the astronaut's face
    # (picture (225, 100)) at output (1192, 281), the photo's own backdrop at picture (20, 20)
    # and (490, 20) at output (616, 56) and (1938, 56).
    spec = VideoSpec(
        str(photo),
        2560,
        1440,
        "webm",
        audio_url="file",
        background_rgba=(0, 0, 0, 0),
        remove_background=True,
        subtitles=SubtitleSpec(enable=True),
    )
    out = tmp_path / "p.webm"
    render_file(spec, RenderInputs(speech3), out)
    info = probe(out)
    assert info.video and info.audio and (info.video.codec, info.audio.codec) == ("vp9", "opus")
    assert abs(info.video.duration - speech3.duration) <= 0.1
    for i, f in decode_rgba(out, [10, 60]).items():
        a = f[..., 3]
        cv2.imwrite(f"/tmp/video_file_photo_alpha_{i}.png", cv2.cvtColor(f, cv2.COLOR_RGBA2BGRA))
        assert a[:, :500].max() == 0  # beside the avatar
        assert a[40:72, 600:632].max() <= 2 and a[40:72, 1922:1954].max() <= 2  # its backdrop
        assert a[260:300, 1172:1212].min() >= 253  # the face


def test_keyword_actions_start_at_their_sentence(speech3: Speech) -> None:
    from avatar.video.render import frame_params
    from avatar.video.spec import KeywordAction

    plain = VideoSpec("x", audio_url="f")
    keyed = VideoSpec("x", audio_url="f", keyword_actions=[KeywordAction("人民广场", "nod")])
    n = int(speech3.duration * 25)
    a, b = frame_params(plain, speech3, n), frame_params(keyed, speech3, n)
    start = int(np.ceil(speech3.cues[1].start * 25))  # the second sentence has the keyword
    assert a[:start] == b[:start]
    assert any(
        abs(x.head_pitch - y.head_pitch) > 1.0 for x, y in zip(a[start:], b[start:], strict=True)
    )


def test_avatar_frames_render_in_order_on_one_thread(
    astronaut: Path, speech3: Speech, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Renderers may carry state from frame to frame (video avatars choose each mouth to follow
    # the last one), so the pipeline must call them sequentially even with several workers.
    calls: list[tuple[int, int]] = []
    original = FrameRenderer.avatar

    def recording(self: FrameRenderer, params: FrameParams, index: int) -> np.ndarray:
        calls.append((threading.get_ident(), index))
        return original(self, params, index)

    monkeypatch.setattr(FrameRenderer, "avatar", recording)
    spec = VideoSpec(str(astronaut), 1920, 1080, "mp4", audio_url="f")
    res = render_file(spec, RenderInputs(speech3), tmp_path / "o.mp4", workers=3)
    assert [i for _, i in calls] == list(range(res.frames))
    assert len({t for t, _ in calls}) == 1


@pytest.mark.slow
def test_keyword_plays_a_video_avatars_own_action(tmp_path: Path, speech3: Speech) -> None:
    from avatar.registry import AvatarBuildError, build_avatar
    from avatar.video.render import own_action_starts
    from avatar.video.spec import KeywordAction

    try:
        build_avatar(
            "video",
            Path("/work/shared/media/video/en_talking_female_WDA_KatieHill_000.mp4"),
            tmp_path / "v",
            {"actions": {"wave": [5.0, 7.5]}},
        )
    except (AvatarBuildError, ImportError) as e:
        pytest.skip(f"video avatars unavailable here: {e}")
    keyed = VideoSpec(
        str(tmp_path / "v"), audio_url="f", keyword_actions=[KeywordAction("人民广场", "wave")]
    )
    a, b = FrameRenderer(keyed, RenderInputs(speech3)), FrameRenderer(keyed, RenderInputs(speech3))
    assert a.own_actions == {"wave"}
    a.action_starts = own_action_starts(keyed, speech3, a.own_actions)
    start = int(np.ceil(speech3.cues[1].start * 25))
    assert a.action_starts == {start: ["wave"]}
    p = FrameParams()
    differs = []
    for i in range(start + 10):
        fa, fb = a.avatar(p, i), b.avatar(p, i)
        differs.append(not np.array_equal(fa, fb))
    assert not any(differs[:start])  # same idle loop until the keyword
    assert any(differs[start:])  # then the recorded action plays


def test_long_sentences_become_timed_cues_without_cutting_words() -> None:
    from avatar.video.subtitles import split_long_cue

    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    cues = split_long_cue(Cue(text, 1.0, 5.0), 30)
    assert len(cues) > 1 and all(len(c.text) <= 30 for c in cues)
    assert " ".join(c.text for c in cues) == text  # whole words only, nothing lost
    assert cues[0].start == 1.0 and abs(cues[-1].end - 5.0) < 1e-9
    assert all(abs(a.end - b.start) < 1e-9 for a, b in zip(cues, cues[1:], strict=False))
    zh = split_long_cue(Cue("一二三四五六七八九十，一二三四五六七八九十。", 0.0, 2.0), 12)
    assert [c.text for c in zh] == ["一二三四五六七八九十，", "一二三四五六七八九十。"]


def _children() -> list[int]:
    """Pids of this process's children (from /proc)."""
    me, out = os.getpid(), []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.append(int(d.name))
    return out


@pytest.mark.slow
def test_isolated_render_survives_a_crash_and_cancels(
    astronaut: Path, speech3: Speech, tmp_path: Path
) -> None:
    from avatar.video.isolate import RenderCrashed, render_file_isolated

    spec = VideoSpec(str(astronaut), 1920, 1080, "mp4", audio_url="f")
    out = tmp_path / "i.mp4"
    res = render_file_isolated(spec, RenderInputs(speech3), out)
    info = probe(out)
    assert info.video and res.frames == info.video.frames
    out.unlink()

    before = set(_children())
    killed: list[int] = []

    def kill_child(f: float) -> None:  # the child crashes hard in the middle of the video
        if f >= 0.3 and not killed:
            for pid in set(_children()) - before:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    with pytest.raises(RenderCrashed, match="signal 9"):
        render_file_isolated(spec, RenderInputs(speech3), out, kill_child)
    assert killed and not list(tmp_path.iterdir())  # no file, no partial file

    cancel = threading.Event()
    with pytest.raises(RenderCancelled):
        render_file_isolated(
            spec, RenderInputs(speech3), out, lambda f: f >= 0.3 and cancel.set(), cancel
        )
    assert not list(tmp_path.iterdir())
