"""RTMP push output (Output.RtmpUrl): a stream task encoded to H.264 + AAC in FLV by FFmpeg
(PyAV) and sent to an RTMP server (nginx-rtmp, SRS, a CDN ingest...).

A MediaSink: the task's frames and chunks go into a bounded queue (the oldest video frame is
dropped when the encoder falls behind; audio is kept) and one thread encodes and sends them.
Timestamps come from the task's clock indices, from the moment the push started.
"""

from __future__ import annotations

import contextlib
import fractions
import logging
import queue
import threading

import av
import numpy as np

from avatar.types import AUDIO_RATE, CHUNK_SAMPLES, AudioChunk, VideoFrame

log = logging.getLogger(__name__)

AAC_RATE = 44_100
_STOP = object()


class RtmpPush:
    """Push one stream task to an RTMP URL until `close()` or the task ends."""

    def __init__(
        self,
        url: str,
        *,
        width: int,
        height: int,
        fps: int,
        bitrate: int,
        max_video_queued: int = 8,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.width, self.height = width - width % 2, height - height % 2
        self.fps = fps
        self.bitrate = bitrate
        self.connect_timeout_s = connect_timeout_s
        self._q: queue.Queue = queue.Queue()
        self._video_queued = 0
        self._max_video = max_video_queued
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rtmp-push", daemon=True)
        self.video_dropped = 0
        self.video_sent = 0
        self.audio_sent = 0
        self.error: str | None = None
        self.closed = threading.Event()

    def start(self) -> None:
        self._thread.start()

    # ---- MediaSink (event loop) ----

    def on_video(self, frame: VideoFrame) -> None:
        if self.closed.is_set():
            return
        with self._lock:
            if self._video_queued >= self._max_video:
                self.video_dropped += 1
                return  # the encoder is behind: skip this picture, keep the clock
            self._video_queued += 1
        self._q.put_nowait(frame)

    def on_audio(self, chunk: AudioChunk) -> None:
        if not self.closed.is_set():
            self._q.put_nowait(chunk)

    def on_event(self, message: dict) -> None:
        pass  # RTMP has no room messages

    def on_close(self) -> None:
        self._q.put_nowait(_STOP)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop and wait for the thread (call from a worker thread or at shutdown)."""
        self._q.put_nowait(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    # ---- encoder thread ----

    def _run(self) -> None:
        try:
            self._stream()
        except Exception as e:  # network errors end the push; the task goes on
            self.error = str(e) or type(e).__name__
            log.warning("RTMP push to %s ended: %s", self.url, self.error)
        finally:
            self.closed.set()

    def _stream(self) -> None:
        out = av.open(
            self.url,
            mode="w",
            format="flv",
            timeout=(self.connect_timeout_s, self.connect_timeout_s),
        )
        try:
            v = out.add_stream("libx264", rate=self.fps)
            v.width, v.height, v.pix_fmt = self.width, self.height, "yuv420p"
            v.bit_rate = self.bitrate
            v.codec_context.time_base = fractions.Fraction(1, self.fps)
            # Low latency, a keyframe every 2 s so that players can join quickly.
            v.options = {"preset": "veryfast", "tune": "zerolatency", "g": str(2 * self.fps)}
            a = out.add_stream("aac", rate=AAC_RATE)
            a.layout = "mono"
            a.bit_rate = 64_000
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=AAC_RATE)
            origin: float | None = None  # task seconds at the first item
            audio_pts = 0
            while True:
                item = self._q.get()
                if item is _STOP:
                    break
                if isinstance(item, VideoFrame):
                    with self._lock:
                        self._video_queued -= 1
                    t = item.index / self.fps
                    origin = t if origin is None else origin
                    if t < origin:
                        continue
                    img = np.ascontiguousarray(item.rgba)
                    fmt = "rgba" if img.shape[2] == 4 else "rgb24"
                    frame = av.VideoFrame.from_ndarray(img, format=fmt)
                    if (frame.width, frame.height) != (self.width, self.height):
                        frame = frame.reformat(self.width, self.height)
                    frame.pts = round((t - origin) * self.fps)
                    frame.time_base = fractions.Fraction(1, self.fps)
                    for p in v.encode(frame):
                        out.mux(p)
                    self.video_sent += 1
                else:
                    t = item.index * CHUNK_SAMPLES / AUDIO_RATE
                    origin = t if origin is None else origin
                    if t < origin:
                        continue
                    pcm = np.ascontiguousarray(item.pcm, np.int16).reshape(1, -1)
                    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                    frame.sample_rate = AUDIO_RATE
                    frame.pts = round((t - origin) * AUDIO_RATE)
                    frame.time_base = fractions.Fraction(1, AUDIO_RATE)
                    for f in resampler.resample(frame):
                        f.pts = audio_pts
                        f.time_base = fractions.Fraction(1, AAC_RATE)
                        audio_pts += f.samples
                        for p in a.encode(f):
                            out.mux(p)
                    self.audio_sent += 1
            for stream in (v, a):
                with contextlib.suppress(Exception):
                    for p in stream.encode(None):
                        out.mux(p)
        finally:
            out.close()


def start_rtmp_push(task, url: str) -> RtmpPush:
    """Attach an RtmpPush to a running task (sized and paced by its StreamConfig)."""
    cfg = task.config
    push = RtmpPush(
        url,
        width=cfg.scene.width,
        height=cfg.scene.height,
        fps=cfg.fps,
        bitrate=cfg.bitrate,
    )
    push.start()
    task.add_sink(push)
    return push
