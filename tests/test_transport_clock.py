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


def test_opus_silence_is_sent_from_cache_once_settled():
    import av

    enc = OpusChunkEncoder()
    rng = np.random.default_rng(1)
    tone = (3000 * np.sin(np.arange(320) * 2 * np.pi * 440 / 16000)).astype(np.int16)
    silence = np.zeros(320, np.int16)
    chunks = [tone] * 20 + [silence] * 40 + [tone + rng.integers(-50, 50, 320).astype(np.int16)]
    packets = [enc.encode(AudioChunk(k, c)) for k, c in enumerate(chunks)]
    assert all(len(p) == 1 for p in packets)  # one packet per chunk, none held back
    # libopus ran for the tone, for the silence until it settled, and for the tone again
    assert enc.encoded == 20 + OpusChunkEncoder.SILENCE_SETTLE + 1
    cached = {bytes(p[0]) for p in packets[20 + OpusChunkEncoder.SILENCE_SETTLE : 60]}
    assert len(cached) == 1
    assert [p[0].pts for p in packets] == [k * OPUS_RATE // 50 for k in range(len(chunks))]
    # every packet decodes; the silence decodes to silence and the tone comes back after it
    dec = av.CodecContext.create("opus", "r")
    dec.sample_rate = OPUS_RATE
    out = []
    for p in packets:
        frames = dec.decode(p[0])
        assert frames
        out.append(np.concatenate([f.to_ndarray().reshape(-1) for f in frames]))
    assert max(float(np.abs(o).max()) for o in out[40:60]) < 1e-3
    assert float(np.abs(out[-1]).max()) > 0.02
