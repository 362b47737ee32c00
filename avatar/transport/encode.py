"""Work done once per stream task for all its viewers: Opus packets of the task's audio and
yuv420p AVFrames of its pictures (encoded once per codec in video.py).

Audio is encoded here, on the event loop (about 0.1 ms per 20 ms chunk), instead of by
aiortc's per-viewer encoder in the shared thread pool: under load that pool is busy with video
encodes and audio is what starved first. Packets carry pts from the task's clock
(chunk index × 960 at 48 kHz), so audio and video timestamps come from one clock.
"""

from __future__ import annotations

import fractions

import av
import cv2
import numpy as np

from avatar.types import AUDIO_RATE, CHUNK_MS, AudioChunk, VideoFrame

OPUS_RATE = 48_000
OPUS_TIME_BASE = fractions.Fraction(1, OPUS_RATE)
OPUS_SAMPLES = OPUS_RATE * CHUNK_MS // 1000  # 960
VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)


class OpusChunkEncoder:
    """20 ms 16 kHz int16 chunks → one Opus packet each (48 kHz mono, as WebRTC expects)."""

    def __init__(self, bitrate: int = 48_000) -> None:
        self.codec = av.CodecContext.create("libopus", "w")
        self.codec.sample_rate = OPUS_RATE
        self.codec.layout = "mono"
        self.codec.format = "s16"
        self.codec.bit_rate = bitrate
        self.codec.time_base = OPUS_TIME_BASE
        self.codec.options = {"application": "voip"}
        self.resampler = av.AudioResampler(
            format="s16", layout="mono", rate=OPUS_RATE, frame_size=OPUS_SAMPLES
        )
        self._in_pts = 0

    def encode(self, chunk: AudioChunk) -> list[av.Packet]:
        pcm = np.ascontiguousarray(chunk.pcm, dtype=np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._in_pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._in_pts += pcm.shape[1]
        packets: list[av.Packet] = []
        for f in self.resampler.resample(frame):
            packets.extend(self.codec.encode(f))
        # The resampler and the encoder each hold a few ms back; the clock index, not the
        # codec's counters, dates what goes out, so the delay stays constant.
        for i, p in enumerate(packets):
            p.pts = (chunk.index - len(packets) + 1 + i) * OPUS_SAMPLES
            p.time_base = OPUS_TIME_BASE
        return packets


def to_yuv420p(frame: VideoFrame, fps: int) -> av.VideoFrame:
    """An RGB(A) picture as a yuv420p AVFrame with pts = index / fps on the 90 kHz RTP clock
    (BT.601 limited range like swscale's, but about 13× faster at 512×512: OpenCV's converter).
    """
    img = np.ascontiguousarray(frame.rgba)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"unsupported frame shape {img.shape}")
    h, w = img.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        code = cv2.COLOR_RGBA2YUV_I420 if img.shape[2] == 4 else cv2.COLOR_RGB2YUV_I420
        out = av.VideoFrame.from_ndarray(cv2.cvtColor(img, code), format="yuv420p")
    else:  # odd sizes: swscale pads the chroma planes
        fmt = "rgba" if img.shape[2] == 4 else "rgb24"
        out = av.VideoFrame.from_ndarray(img, format=fmt).reformat(format="yuv420p")
    out.pts = round(frame.index * VIDEO_CLOCK / fps)
    out.time_base = VIDEO_TIME_BASE
    return out


def to_av_frame(frame: VideoFrame, fps: int) -> av.VideoFrame:
    """A picture as a yuv420p AVFrame with pts = index / fps on the 90 kHz RTP clock."""
    return to_yuv420p(frame, fps)
