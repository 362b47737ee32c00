"""Writing the file: H.264 + AAC in MP4, or VP9 (with alpha) + Opus in WebM, through PyAV.

PyAV's wheel ships libx264, libvpx-vp9 and libopus. Video frames arrive already converted to the
encoder's pixel format (the conversion runs in the render workers); audio arrives as the
pipeline's 16 kHz mono int16 and is resampled to 48 kHz here. Audio is muxed alongside the video
frame by frame so the file interleaves well and a player can start before it has read it all.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from avatar.types import AUDIO_RATE

OUT_AUDIO_RATE = 48000


def pixel_format(fmt: str, alpha: bool) -> str:
    return "yuva420p" if fmt == "webm" and alpha else "yuv420p"


class VideoEncoder:
    """One output file. Not thread-safe: one thread feeds it."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        width: int,
        height: int,
        fps: int,
        alpha: bool = False,
        preset: str | None = None,
    ) -> None:
        self.fmt = fmt
        self.fps = fps
        self.pix_fmt = pixel_format(fmt, alpha)
        options = {"movflags": "+faststart"} if fmt == "mp4" else {}
        self._c = av.open(str(path), "w", format=fmt, options=options)
        try:
            if fmt == "mp4":
                self._v = self._c.add_stream("libx264", rate=fps)
                # veryfast keeps 1080p near real time on two cores at a fifth of ultrafast's
                # file size; at 2K superfast halves its cost. crf 21 is visually clean.
                big = width * height > 1920 * 1080
                self._v.options = {
                    "preset": preset or ("superfast" if big else "veryfast"),
                    "crf": "21",
                }
                self._a = self._c.add_stream("aac", rate=OUT_AUDIO_RATE)
                self._a.bit_rate = 128000
                afmt = "fltp"
            else:
                self._v = self._c.add_stream("libvpx-vp9", rate=fps)
                # realtime deadline with cpu-used 8: the only VP9 setting near real time at 2K
                # on CPU. Constant quality (crf 30, no bitrate target) keeps flat areas flat:
                # with a bitrate target the alpha plane's transparent areas decode as 1, not 0.
                self._v.options = {
                    "deadline": "realtime",
                    "cpu-used": preset or "8",
                    "row-mt": "1",
                    "lag-in-frames": "0",
                    "crf": "30",
                    "b": "0",
                }
                self._a = self._c.add_stream("libopus", rate=OUT_AUDIO_RATE)
                self._a.bit_rate = 96000
                afmt = "s16"
            self._v.width, self._v.height = width, height
            self._v.pix_fmt = self.pix_fmt
            self._v.time_base = Fraction(1, fps)
            self._v.thread_count = 2
            self._a.layout = "mono"
            self._resampler = av.AudioResampler(format=afmt, layout="mono", rate=OUT_AUDIO_RATE)
        except Exception:
            self._c.close()
            raise
        self._vframes = 0
        self._audio = np.zeros(0, np.int16)
        self._audio_sent = 0  # input samples already given to the audio encoder
        self._closed = False

    def set_audio(self, pcm: np.ndarray) -> None:
        """The whole soundtrack (16 kHz mono int16); muxed as the video advances."""
        self._audio = np.ascontiguousarray(pcm, dtype=np.int16)

    def add_video(self, frame: av.VideoFrame) -> None:
        frame.pts = self._vframes
        frame.time_base = Fraction(1, self.fps)
        for p in self._v.encode(frame):
            self._c.mux(p)
        self._vframes += 1
        # Feed audio up to this frame's end (plus a little, so packets stay interleaved).
        upto = min(len(self._audio), (self._vframes + 1) * AUDIO_RATE // self.fps)
        self._feed_audio(upto)

    def _feed_audio(self, upto: int) -> None:
        if upto <= self._audio_sent:
            return
        pcm = self._audio[self._audio_sent : upto]
        af = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        af.sample_rate = AUDIO_RATE
        af.pts = self._audio_sent
        af.time_base = Fraction(1, AUDIO_RATE)
        for rf in self._resampler.resample(af):
            for p in self._a.encode(rf):
                self._c.mux(p)
        self._audio_sent = upto

    def close(self) -> None:
        """Flush the encoders and finish the file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._feed_audio(len(self._audio))
            for rf in self._resampler.resample(None):
                for p in self._a.encode(rf):
                    self._c.mux(p)
            for p in self._a.encode():
                self._c.mux(p)
            for p in self._v.encode():
                self._c.mux(p)
        finally:
            self._c.close()

    def abort(self) -> None:
        """Close without flushing (the file is deleted by the caller)."""
        if not self._closed:
            self._closed = True
            self._c.close()


def to_video_frame(rgba: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """RGBA array → encoder-ready frame. OpenCV's I420 conversion gives the same BT.601
    limited-range values as swscale's default at several times its speed (SIMD, threads)."""
    h, w = rgba.shape[:2]
    i420 = cv2.cvtColor(rgba, cv2.COLOR_RGBA2YUV_I420)
    if pix_fmt == "yuv420p":
        return av.VideoFrame.from_ndarray(i420, format="yuv420p")
    if pix_fmt != "yuva420p":
        raise ValueError(f"unsupported pixel format {pix_fmt}")
    frame = av.VideoFrame(w, h, "yuva420p")
    q = h // 4
    planes = (
        i420[:h],
        i420[h : h + q].reshape(h // 2, w // 2),
        i420[h + q : h + 2 * q].reshape(h // 2, w // 2),
        rgba[..., 3],
    )
    for plane, data in zip(frame.planes, planes, strict=True):
        rows, cols = data.shape
        view = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        view[:rows, :cols] = data
    return frame
