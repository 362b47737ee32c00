"""Streaming audio decoders: bytes in as they arrive, 16 kHz mono int16 out as soon as possible.

WAV is parsed here (header, then raw samples), so the first audio comes out with the first bytes
of the data chunk; FFmpeg's WAV demuxer would first read ~64 KB. MP3 and anything else goes through
PyAV in a worker thread that reads from a blocking pipe. Both convert with a stateful
`av.AudioResampler`, so chunk boundaries leave no clicks.
"""

from __future__ import annotations

import queue
import struct
import threading
from collections.abc import Callable

import av
import numpy as np

from avatar.types import AUDIO_RATE


class AudioDecodeError(Exception):
    """The bytes are not audio we can decode; the message is the drive's fail reason."""


class PcmConverter:
    """Stateful conversion of interleaved PCM (any rate, channels) to 16 kHz mono int16."""

    def __init__(self, rate: int, channels: int) -> None:
        if channels < 1 or rate < 1000:
            raise AudioDecodeError(f"unsupported audio: {channels} channels at {rate} Hz")
        self.rate = rate
        self.channels = channels
        self._layout = "mono" if channels == 1 else "stereo" if channels == 2 else None
        self._pts = 0
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)

    def convert(self, samples: np.ndarray) -> np.ndarray:
        """`samples`: int16, shape (n, channels) or (n,) when mono. Returns int16 mono at 16 kHz."""
        if samples.ndim == 1:
            samples = samples[:, None]
        if self._layout is None:  # more than 2 channels: mix down here, FFmpeg needs a layout
            samples = samples.astype(np.int32).mean(axis=1).astype(np.int16)[:, None]
            layout = "mono"
        else:
            layout = self._layout
        if self.rate == AUDIO_RATE and samples.shape[1] == 1:
            return np.ascontiguousarray(samples[:, 0])
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.reshape(1, -1)), format="s16", layout=layout
        )
        frame.sample_rate = self.rate
        frame.pts = self._pts
        self._pts += samples.shape[0]
        return _frames_to_pcm(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        if self.rate == AUDIO_RATE and self._layout == "mono":
            return np.zeros(0, np.int16)
        return _frames_to_pcm(self._resampler.resample(None))


def _frames_to_pcm(frames: list[av.AudioFrame]) -> np.ndarray:
    if not frames:
        return np.zeros(0, np.int16)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16, copy=False)


class WavStreamDecoder:
    """Push-style WAV parser: `feed(bytes)` returns the 16 kHz mono int16 decoded so far.

    Handles PCM 8/16/24/32-bit and 32/64-bit float, WAVE_FORMAT_EXTENSIBLE, unknown chunks before
    `data`, and streamed files whose data size is 0 or 0xFFFFFFFF (read to the end).
    """

    _FORMATS = {1: "int", 3: "float"}

    def __init__(self) -> None:
        self._buf = bytearray()
        self._fmt: tuple[str, int, int, int] | None = None  # kind, channels, rate, bits
        self._in_data = False
        self._data_left: int | None = None  # None: until the end of the stream
        self._conv: PcmConverter | None = None
        self._header_done = False

    def feed(self, data: bytes) -> np.ndarray:
        self._buf += data
        if not self._in_data:
            self._parse_header()
            if not self._in_data:
                return np.zeros(0, np.int16)
        return self._decode_available()

    def finish(self) -> np.ndarray:
        if not self._in_data:
            raise AudioDecodeError("incomplete WAV file: no audio data")
        tail = self._decode_available()
        assert self._conv is not None
        return np.concatenate([tail, self._conv.flush()])

    def _parse_header(self) -> None:
        buf = self._buf
        if not self._header_done:
            if len(buf) < 12:
                return
            if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
                raise AudioDecodeError("not a WAV file")
            del buf[:12]
            self._header_done = True
        while len(buf) >= 8:
            cid = bytes(buf[:4])
            size = struct.unpack("<I", buf[4:8])[0]
            if cid == b"data":
                if self._fmt is None:
                    raise AudioDecodeError("WAV data before its format chunk")
                del buf[:8]
                self._in_data = True
                self._data_left = None if size in (0, 0xFFFFFFFF) else size
                kind, channels, rate, _ = self._fmt
                self._conv = PcmConverter(rate, channels)
                return
            padded = size + (size & 1)
            if len(buf) < 8 + padded:
                if padded > 1 << 20:
                    raise AudioDecodeError("WAV header chunk too large")
                return
            body = bytes(buf[8 : 8 + size])
            del buf[: 8 + padded]
            if cid == b"fmt ":
                self._fmt = self._parse_fmt(body)

    def _parse_fmt(self, body: bytes) -> tuple[str, int, int, int]:
        if len(body) < 16:
            raise AudioDecodeError("WAV format chunk too short")
        code, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
        if code == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the code is in the GUID
            code = struct.unpack("<H", body[24:26])[0]
        kind = self._FORMATS.get(code)
        if kind is None:
            raise AudioDecodeError(f"unsupported WAV encoding (format code {code})")
        if (kind == "int" and bits not in (8, 16, 24, 32)) or (
            kind == "float" and bits not in (32, 64)
        ):
            raise AudioDecodeError(f"unsupported WAV sample size ({bits} bits)")
        return kind, channels, rate, bits

    def _decode_available(self) -> np.ndarray:
        assert self._fmt is not None and self._conv is not None
        kind, channels, _, bits = self._fmt
        frame_bytes = channels * bits // 8
        n = len(self._buf)
        if self._data_left is not None:
            n = min(n, self._data_left)
        n -= n % frame_bytes
        if n <= 0:
            return np.zeros(0, np.int16)
        raw = bytes(self._buf[:n])
        del self._buf[:n]
        if self._data_left is not None:
            self._data_left -= n
        samples = _to_int16(raw, kind, bits).reshape(-1, channels)
        return self._conv.convert(samples)


def _to_int16(raw: bytes, kind: str, bits: int) -> np.ndarray:
    if kind == "float":
        f = np.frombuffer(raw, "<f4" if bits == 32 else "<f8")
        return (np.clip(f, -1.0, 1.0) * 32767).astype(np.int16)
    if bits == 8:
        return ((np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if bits == 16:
        return np.frombuffer(raw, "<i2").astype(np.int16)
    if bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        return (b[:, 2].astype(np.int8).astype(np.int16) << 8 | b[:, 1]).astype(np.int16)
    return (np.frombuffer(raw, "<i4") >> 16).astype(np.int16)


class BytePipe:
    """A blocking file-like reader for FFmpeg, fed from another thread (the event loop)."""

    def __init__(self) -> None:
        self._q: queue.Queue[bytes | None] = queue.Queue()
        self._buf = b""
        self._eof = False

    def write(self, data: bytes) -> None:
        self._q.put(data)

    def close(self) -> None:
        """End of input: reads drain what is left, then return b''."""
        self._q.put(None)

    def read(self, n: int) -> bytes:
        while not self._buf and not self._eof:
            item = self._q.get()
            if item is None:
                self._eof = True
            else:
                self._buf += item
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def decode_with_ffmpeg(
    pipe: BytePipe,
    fmt: str | None,
    emit: Callable[[np.ndarray], None],
    cancelled: threading.Event,
) -> None:
    """Blocking: demux and decode what `pipe` delivers, calling `emit` with 16 kHz mono int16.

    Runs in its own thread. Small probe sizes make the first audio come out after a few KB.
    """
    try:
        container = av.open(
            pipe,
            mode="r",
            format=fmt,
            options={"probesize": "2048", "analyzeduration": "0"},
            buffer_size=4096,
        )
    except av.FFmpegError as exc:
        raise AudioDecodeError(f"audio could not be decoded: {exc}") from exc
    try:
        if not container.streams.audio:
            raise AudioDecodeError("no audio stream in the file")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        try:
            for frame in container.decode(audio=0):
                if cancelled.is_set():
                    return
                frame.pts = None  # pts gaps in MP3 make the resampler insert silence
                pcm = _frames_to_pcm(resampler.resample(frame))
                if len(pcm):
                    emit(pcm)
        except av.FFmpegError as exc:
            raise AudioDecodeError(f"audio could not be decoded: {exc}") from exc
        tail = _frames_to_pcm(resampler.resample(None))
        if len(tail):
            emit(tail)
    finally:
        container.close()


def sniff_format(head: bytes) -> str | None:
    """'wav', 'mp3', or None (let FFmpeg probe) from a file's first bytes."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None
