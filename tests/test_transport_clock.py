"""Audio and video timestamps come from the task's clock, so they agree after hours."""

import numpy as np

from avatar.transport.encode import OPUS_RATE, OpusChunkEncoder, to_av_frame
from avatar.types import AudioChunk, VideoFrame


def test_timestamps_agree_after_hours():
    enc = OpusChunkEncoder()
    silence = np.zeros(320, np.int16)
    fps = 25
    # Start three hours in, as a long-running task would be.
    first = 3 * 3600 * 50
    packets = []
    for k in range(first, first + 200):
        packets += enc.encode(AudioChunk(k, silence))
    assert len(packets) >= 195  # one packet per chunk once the codec has primed
    last = packets[-1]
    t_audio = float(last.pts * last.time_base)
    assert t_audio == (first + 199) * 0.02
    assert all(b.pts - a.pts == OPUS_RATE // 50 for a, b in zip(packets, packets[1:], strict=False))
    # The picture due at the same instant as a packet carries the same time.
    frame_index = (first + 198) // 2  # chunk first + 198 starts with this frame
    img = np.zeros((16, 16, 4), np.uint8)
    vf = to_av_frame(VideoFrame(frame_index, img), fps)
    t_video = vf.pts * vf.time_base
    assert any(p.pts * p.time_base == t_video for p in packets)
