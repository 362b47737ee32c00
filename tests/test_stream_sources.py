"""Drive sources with real files and real encoders: streaming WAV/MP3 decode (first audio before
the last byte), format variants made by sox and ffmpeg, errors, cancellation; push and text."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.tts.base import SpeechOptions
from avatar.stream.decode import AudioDecodeError
from avatar.stream.sources import AudioBytesSource, PushSource, TextSource
from avatar.types import AUDIO_RATE

MEDIA = Path("/work/shared/media/audio")
REF16 = MEDIA / "16k_mono/zh_bus_chinese.wav"  # 3.38 s
ORIG48 = MEDIA / "zh_bus_chinese.wav"  # 48 kHz stereo original of the same speech


@pytest.fixture(scope="module")
def ref() -> np.ndarray:
    pcm, rate = sf.read(REF16, dtype="int16")
    assert rate == AUDIO_RATE
    return pcm


class Feed:
    """An async byte iterator (a download) that records how much it has handed out."""

    def __init__(self, data: bytes, piece: int = 2048) -> None:
        self.data, self.piece = data, piece
        self.sent = 0
        self.closed = False

    def __aiter__(self):
        return self._gen()

    async def _gen(self):
        try:
            while self.sent < len(self.data):
                part = self.data[self.sent : self.sent + self.piece]
                self.sent += len(part)
                yield part
                await asyncio.sleep(0.001)
        finally:
            self.closed = True


async def decode(feed: Feed) -> tuple[np.ndarray, int]:
    """All decoded samples, and how many bytes had been fed when the first audio came out."""
    parts, first_at = [], None
    async for chunk in AudioBytesSource(feed).chunks():
        assert chunk.pcm.dtype == np.int16 and chunk.pcm.ndim == 1
        if first_at is None:
            first_at = feed.sent
        parts.append(chunk.pcm)
    assert first_at is not None
    return np.concatenate(parts), first_at


def convert(src: Path, dst: Path, *args: str) -> bytes:
    if dst.suffix == ".mp3":
        cmd = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), *args, str(dst)]
    else:
        cmd = ["sox", str(src), *args, str(dst)]
    subprocess.run(cmd, check=True)
    return dst.read_bytes()


def similarity(a: np.ndarray, b: np.ndarray, max_lag: int = 2400) -> float:
    """Normalized correlation of two signals at the best shift within `max_lag` (codec delay)."""
    from scipy.signal import correlate

    n = min(len(a), len(b))
    a = a[:n].astype(np.float64) - a[:n].mean()
    b = b[:n].astype(np.float64) - b[:n].mean()
    xc = correlate(a, b, mode="full", method="fft")[n - 1 - max_lag : n + max_lag]
    return float(xc.max() / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_wav_16k_is_exact_and_streams(ref: np.ndarray) -> None:
    data = REF16.read_bytes()
    feed = Feed(data)
    pcm, first_at = await decode(feed)
    assert np.array_equal(pcm, ref)
    assert first_at <= 8192  # first audio after the header and a piece, not the whole file
    assert feed.closed


async def test_wav_48k_stereo_is_resampled(ref: np.ndarray) -> None:
    feed = Feed(ORIG48.read_bytes(), piece=8192)
    pcm, first_at = await decode(feed)
    assert first_at < len(feed.data) // 10
    assert abs(len(pcm) - len(ref)) <= 160
    assert similarity(pcm, ref) > 0.98


@pytest.mark.parametrize(
    "args",
    [
        ["-b", "24"],
        ["-e", "floating-point", "-b", "32"],
        ["-b", "8", "-e", "unsigned"],
        ["-r", "24000"],
    ],
    ids=["pcm24", "float32", "u8", "24kHz"],
)
async def test_wav_variants(tmp_path: Path, ref: np.ndarray, args: list[str]) -> None:
    data = convert(REF16, tmp_path / "v.wav", *args)
    pcm, _ = await decode(Feed(data))
    assert abs(len(pcm) - len(ref)) <= 160
    assert similarity(pcm, ref) > 0.98


async def test_mp3_streams_and_matches(tmp_path: Path, ref: np.ndarray) -> None:
    data = convert(ORIG48, tmp_path / "a.mp3", "-b:a", "64k")
    feed = Feed(data, piece=1024)
    pcm, first_at = await decode(feed)
    assert first_at < len(data) // 4, "decoding must start before the download ends"
    assert abs(len(pcm) - len(ref)) < 0.06 * AUDIO_RATE  # MP3 adds its encoder padding
    assert similarity(pcm, ref) > 0.9


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"", "empty"),
        (b"<html><body>404 not found</body></html>" * 20, "decod"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x10\x00\x00\x00" + b"\x00" * 16, "format"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "no audio data"),
    ],
    ids=["empty", "html", "wav-without-fmt", "truncated-header"],
)
async def test_bad_bytes_raise_a_reason(data: bytes, needle: str) -> None:
    with pytest.raises(AudioDecodeError, match=needle):
        await decode(Feed(data))


async def test_closing_stops_the_decoder_thread_and_download(tmp_path: Path) -> None:
    data = convert(MEDIA / "16k_mono/en_musetalk_eng_0-12s.wav", tmp_path / "b.mp3", "-b:a", "32k")
    before = {t.name for t in threading.enumerate()}
    feed = Feed(data, piece=512)
    stream = AudioBytesSource(feed, max_pending=4).chunks()
    async for _ in stream:
        break
    assert "audio-decode" in {t.name for t in threading.enumerate()} - before
    await stream.aclose()
    assert feed.closed and feed.sent < len(data)
    for _ in range(100):
        if "audio-decode" not in {t.name for t in threading.enumerate()}:
            break
        await asyncio.sleep(0.02)
    assert "audio-decode" not in {t.name for t in threading.enumerate()}


async def test_download_error_surfaces() -> None:
    async def broken():
        yield REF16.read_bytes()[:5000]
        raise ConnectionError("connection reset")

    with pytest.raises(ConnectionError, match="reset"):
        async for _ in AudioBytesSource(broken()).chunks():
            pass


async def test_push_source(ref: np.ndarray) -> None:
    src = PushSource()
    out: list[np.ndarray] = []

    async def consume():
        async for chunk in src.chunks():
            out.append(chunk.pcm)

    consumer = asyncio.create_task(consume())
    src.push(ref[:8000])
    src.push(ref[8000:16000].tobytes())
    await asyncio.sleep(0.05)
    assert sum(map(len, out)) == 16000 and not consumer.done()  # waits for more until end()
    src.end()
    assert not src.push(ref[:100])  # after end: ignored
    await asyncio.wait_for(consumer, 1)
    assert np.array_equal(np.concatenate(out), ref[:16000])
    assert src.closed


async def test_push_source_24k_is_resampled_and_bounded(ref: np.ndarray, tmp_path: Path) -> None:
    pcm24, rate = sf.read(MEDIA / "zh_chinese_poem1.wav", dtype="int16")
    assert rate == 24000
    src = PushSource(sample_rate=24000)
    for i in range(0, len(pcm24), 2400):
        src.push(pcm24[i : i + 2400])
    src.end()
    got = np.concatenate([c.pcm async for c in src.chunks()])
    assert abs(len(got) - len(pcm24) * 2 / 3) <= 32
    ref16, _ = sf.read(MEDIA / "16k_mono/zh_chinese_poem1.wav", dtype="int16")
    assert similarity(got, ref16) > 0.98
    small = PushSource(max_buffer_s=0.5)
    small.push(np.zeros(6000, np.int16))
    with pytest.raises(BufferError):
        small.push(np.zeros(4000, np.int16))


def _registry():
    try:
        from agent.tts.registry import default_registry
    except ImportError:
        return None
    reg = default_registry()
    return reg if reg.voices() else None


async def test_text_source_with_offline_voice() -> None:
    reg = _registry()
    if reg is None:
        pytest.skip("no offline TTS voice installed")
    voice = reg.default_voice("en")
    src = TextSource.from_registry(reg, voice.timbre_id, "Hello there. This is a test.")
    chunks = [c async for c in src.chunks()]
    pcm = np.concatenate([c.pcm for c in chunks])
    assert pcm.dtype == np.int16 and len(pcm) > 0.8 * AUDIO_RATE
    words = [w for c in chunks for w in c.words]
    assert [w.text.strip(".,").lower() for w in words][:2] == ["hello", "there"]
    assert all(0 <= w.start <= w.end <= len(pcm) / AUDIO_RATE + 0.05 for w in words)
    with pytest.raises(KeyError):
        TextSource.from_registry(reg, "no-such-timbre", "hi", SpeechOptions())
