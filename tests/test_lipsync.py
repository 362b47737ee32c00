"""The lip-sync core on synthetic and real signals: silence, vowels, closures, both text paths,
smoothness and streaming cost."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.lipsync import make_mouth_tracker
from avatar.lipsync.coarticulation import VisemeTrack
from avatar.lipsync.phonetic import PhoneticMouthTracker
from avatar.lipsync.visemes import pinyin_units, split_pinyin
from avatar.types import CHUNK_SAMPLES, PhonemeTiming

FPS = 25
MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def run(tracker, pcm: np.ndarray) -> np.ndarray:
    shapes = []
    for i in range(0, len(pcm), CHUNK_SAMPLES):
        shapes += tracker.push_audio(pcm[i : i + CHUNK_SAMPLES])
    shapes += tracker.flush()
    return np.array([s.as_array() for s in shapes])


def espeak(text: str, voice: str = "en-us") -> np.ndarray:
    """16 kHz int16 speech from espeak-ng (installed system-wide)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    ).stdout
    import io

    import soundfile as sf

    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    from scipy.signal import resample_poly

    y = resample_poly(x, 16000 // 50, sr // 50) if sr != 16000 else x
    return (np.clip(y, -1, 1) * 32767).astype(np.int16)


def vowel(seconds: float, f0: float = 120.0, formants=(750, 1200, 2500)) -> np.ndarray:
    """A sustained open vowel /a/: a glottal pulse train through formant resonators."""
    from scipy.signal import lfilter

    sr = 16000
    n = int(seconds * sr)
    src = np.zeros(n)
    src[:: int(sr / f0)] = 1.0
    y = src
    for f, bw in zip(formants, (90, 110, 170), strict=True):
        r = np.exp(-np.pi * bw / sr)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], y)
    y = y / np.max(np.abs(y)) * 0.3
    return (y * 32767).astype(np.int16)


def hum(seconds: float, f0: float = 120.0) -> np.ndarray:
    """An /m/-like nasal murmur: voiced, energy below ~400 Hz, the mouth closed."""
    return vowel(seconds, f0, formants=(250, 1000, 2200)) // 3


def test_silence_is_closed() -> None:
    out = run(make_mouth_tracker(FPS), np.zeros(16000 * 2, np.int16))
    assert len(out) == 50
    assert np.abs(out).max() < 1e-3
    noise = (np.random.default_rng(0).standard_normal(32000) * 30).astype(np.int16)  # -60 dBFS hiss
    assert run(make_mouth_tracker(FPS), noise)[:, 0].max() < 0.1


def test_sustained_vowel_opens_and_is_steady() -> None:
    pcm = np.concatenate([np.zeros(8000, np.int16), vowel(1.0), np.zeros(8000, np.int16)])
    jaw = run(make_mouth_tracker(FPS), pcm)[:, 0]
    mid = jaw[int(0.7 * FPS) : int(1.3 * FPS)]
    assert mid.mean() > 0.3, jaw.round(2)
    assert jaw[: int(0.3 * FPS)].max() < 0.1  # closed before
    assert jaw[-int(0.2 * FPS) :].max() < 0.1  # and after
    assert np.abs(np.diff(mid)).max() < 0.1  # no jitter on a steady sound


def test_espeak_speech_opens_and_closes() -> None:
    pcm = espeak("Mama made a banana pie.")
    pcm = np.concatenate([np.zeros(8000, np.int16), pcm, np.zeros(8000, np.int16)])
    out = run(make_mouth_tracker(FPS), pcm)
    jaw = out[:, 0]
    assert jaw.max() > 0.4
    assert jaw[:5].max() < 0.05 and jaw[-5:].max() < 0.05
    assert np.abs(np.diff(out, axis=0)).max() <= 0.35 + 1e-6  # bounded frame-to-frame change


def test_m_like_closure_is_more_closed_than_vowel() -> None:
    seg = [vowel(0.4), hum(0.3), vowel(0.4)]
    pcm = np.concatenate([np.zeros(4000, np.int16), *seg, np.zeros(4000, np.int16)])
    tr = make_mouth_tracker(FPS)
    jaw = run(tr, pcm)[:, 0]
    lead = tr.track.lead_s  # the mouth moves ahead of the sound

    def frames(a: float, b: float) -> np.ndarray:  # frames showing sound time a..b
        return jaw[int((0.25 + a - lead) * FPS) : int((0.25 + b - lead) * FPS)]

    vowel_open = frames(0.15, 0.35).mean()
    closure = frames(0.4, 0.7).min()
    assert closure < 0.5 * vowel_open, jaw.round(2)


def test_text_path_english() -> None:
    # "map": m (closed) -> a (open) -> p (closed), with pauses around it
    phs = [("^", 0.0, 0.2), ("m", 0.2, 0.3), ("ˈæ", 0.3, 0.5), ("p", 0.5, 0.6), ("$", 0.6, 1.0)]
    tr = make_mouth_tracker(FPS)
    tr.push_phonemes([PhonemeTiming(p, a, b, "en") for p, a, b in phs])
    out = run(tr, np.zeros(16000, np.int16))  # the audio is silent: the phonemes drive the mouth
    jaw, press = out[:, 0], out[:, 3]
    lead = tr.track.lead_s  # the mouth moves this much before the sound

    def f(s: float) -> int:  # frame showing the articulation of sound time s
        return int((s - lead) * FPS)

    assert jaw[0] < 0.05
    assert jaw[f(0.4)] > 0.5  # open on the vowel
    assert out[f(0.4), 1] > 0.2  # "æ" spreads the lips
    assert press[f(0.25)] > 0.5 and jaw[f(0.25)] < 0.15  # lips together for /m/
    assert press[f(0.55)] > 0.5 and jaw[f(0.55)] < 0.15  # and for /p/
    assert jaw[f(0.9)] < 0.05 and jaw[-1] < 0.05


def test_text_path_mandarin() -> None:
    # "wo3 mai3 bu4": w (rounded) o / m ai / b u
    phs = [
        ("w", 0.1, 0.18),
        ("o", 0.18, 0.4),
        ("m", 0.4, 0.48),
        ("ai", 0.48, 0.72),
        ("b", 0.72, 0.8),
        ("u", 0.8, 1.0),
    ]
    tr = make_mouth_tracker(FPS)
    tr.push_phonemes([PhonemeTiming(p, a, b, "zh") for p, a, b in phs])
    out = run(tr, np.zeros(int(1.4 * 16000), np.int16))
    lead = tr.track.lead_s

    def f(s: float) -> int:
        return int((s - lead) * FPS)

    assert out[f(0.25), 2] > 0.5  # "o" is rounded
    assert out[f(0.44), 0] < 0.15 and out[f(0.44), 3] > 0.5  # m closes
    assert out[f(0.5) : f(0.62), 0].max() > 0.5  # "ai" opens
    assert out[f(0.76), 0] < 0.2  # b closes
    assert out[f(0.9), 2] > 0.5  # "u" rounds
    assert out[-1, 0] < 0.05  # rest after the drive


def test_pinyin_syllables() -> None:
    assert split_pinyin("zhang1") == ("zh", "ang")
    assert split_pinyin("shi4") == ("sh", "-i")
    assert split_pinyin("ju") == ("j", "v")
    assert split_pinyin("yue4") == ("", "ve")
    assert split_pinyin("wo3") == ("", "uo")
    assert len(pinyin_units("ma1")) == 2


def test_text_path_is_smooth_and_bounded() -> None:
    seq = "ð ə k w ɪ k b ɹ aʊ n f ɒ k s dʒ ʌ m p s oʊ v ɚ ð ə l eɪ z i d ɔ ɡ"
    phs = [PhonemeTiming(p, 0.1 + 0.07 * i, 0.17 + 0.07 * i) for i, p in enumerate(seq.split())]
    raw = VisemeTrack()
    raw.add(phs)
    targets = raw.frames(FPS, 70)
    assert np.all(targets[:, 0] >= 0) and np.all(targets[:, 0] <= 1)
    tr = make_mouth_tracker(FPS)
    tr.push_phonemes(phs)
    out = run(tr, np.zeros(int(2.8 * 16000), np.int16))
    assert np.abs(np.diff(out, axis=0)).max() <= tr.max_step + 1e-6
    assert np.abs(out - targets).mean() < 0.05  # the bound rarely bites


def test_streaming_matches_offline_and_is_cheap() -> None:
    pcm = espeak("Streaming and offline give the same mouth.")
    one = run(make_mouth_tracker(FPS), pcm)
    tr = make_mouth_tracker(FPS)
    shapes = []
    for piece in np.array_split(pcm, 37):  # odd chunk sizes
        shapes += tr.push_audio(piece)
    shapes += tr.flush()
    two = np.array([s.as_array() for s in shapes])
    assert one.shape == two.shape and np.allclose(one, two, atol=1e-5)
    # cost per 20 ms chunk (the bound is generous: CI shares its cores)
    tr = make_mouth_tracker(FPS)
    long = np.tile(pcm, 3)
    t0 = time.process_time()
    for i in range(0, len(long), CHUNK_SAMPLES):
        tr.push_audio(long[i : i + CHUNK_SAMPLES])
    per_chunk = (time.process_time() - t0) / (len(long) / CHUNK_SAMPLES)
    assert per_chunk < 0.005, per_chunk


def test_lookahead_is_declared_and_emission_waits_for_it() -> None:
    tr = make_mouth_tracker(FPS)
    assert isinstance(tr, PhoneticMouthTracker)
    assert 0 < tr.lookahead_ms <= 120
    pcm = np.zeros(16000, np.int16)
    got = 0
    for i in range(0, len(pcm), CHUNK_SAMPLES):
        got += len(tr.push_audio(pcm[i : i + CHUNK_SAMPLES]))
        have_ms = (i + CHUNK_SAMPLES) / 16
        # every emitted frame ends at least lookahead_ms before the audio pushed so far
        if got:
            assert got * 1000 / FPS + tr.lookahead_ms <= have_ms + 1e-6
    assert got + len(tr.flush()) == FPS


@pytest.mark.skipif(
    not (MEDIA / "audio/16k_mono/en_musetalk_eng_0-12s.wav").exists(), reason="no shared media"
)
def test_real_speech_moves_and_rests() -> None:
    import soundfile as sf

    pcm, _ = sf.read(MEDIA / "audio/16k_mono/en_musetalk_eng_0-12s.wav", dtype="int16")
    jaw = run(make_mouth_tracker(FPS), pcm[: 16000 * 6])[:, 0]
    assert jaw.std() > 0.08  # it moves with the syllables
    assert (jaw < 0.1).mean() > 0.05  # and closes somewhere (pauses, closures)
    assert np.abs(np.diff(jaw)).max() <= 0.35 + 1e-6


@pytest.mark.skipif(
    not (MEDIA / "audio/16k_mono/en_musetalk_eng_0-12s.wav").exists(), reason="no shared media"
)
def test_offline_tracker_is_smoother_and_still_rests() -> None:
    """Video files use the wider model context and zero-phase smoothing: less frame-to-frame
    flicker than the live tracker on the same speech, the same frame count, closed in silence."""
    import soundfile as sf

    pcm, _ = sf.read(MEDIA / "audio/16k_mono/en_musetalk_eng_0-12s.wav", dtype="int16")
    pcm = np.concatenate([pcm[: 16000 * 6], np.zeros(16000, np.int16)])
    live = make_mouth_tracker(FPS)
    offline = make_mouth_tracker(FPS, offline=True)
    assert offline.lookahead_ms > live.lookahead_ms
    a, b = run(live, pcm)[:, 0], run(offline, pcm)[:, 0]
    assert len(a) == len(b) == 7 * FPS
    assert np.abs(np.diff(b)).mean() < 0.8 * np.abs(np.diff(a)).mean()
    assert b.std() > 0.06  # smoothed, not flattened
    assert b[-FPS // 2 :].max() < 0.05  # the trailing second of silence rests


@pytest.mark.skipif(
    not (MEDIA / "audio/16k_mono/en_musetalk_eng_0-12s.wav").exists(), reason="no shared media"
)
def test_whisper_tracker_for_files_moves_rests_and_keeps_text_timing() -> None:
    """The offline tracker (video files) uses Whisper's encoder when installed: all frames come at
    flush, they move with real speech and rest in silence; with phonemes, the text path rules."""
    import soundfile as sf

    from avatar.lipsync import whisper_audio

    assert whisper_audio.available(), "tiny.en and the regression ship with the asr extra"
    pcm, _ = sf.read(MEDIA / "audio/16k_mono/en_musetalk_eng_0-12s.wav", dtype="int16")
    pcm = np.concatenate([pcm[: 16000 * 6], np.zeros(16000, np.int16)])
    tr = make_mouth_tracker(FPS, offline=True)
    assert isinstance(tr, whisper_audio.WhisperMouthTracker)
    assert tr.push_audio(pcm[:16000]) == []  # nothing before the whole drive is known
    jaw = np.array([m.as_array() for m in tr.push_audio(pcm[16000:]) + tr.flush()])[:, 0]
    assert len(jaw) == 7 * FPS
    assert jaw[: 6 * FPS].std() > 0.08
    assert jaw[-FPS // 2 :].max() < 0.05
    assert np.abs(np.diff(jaw)).max() <= 0.35 + 1e-6

    speech = espeak("mama papa")
    phs = [PhonemeTiming("m", 0.1, 0.2, "en"), PhonemeTiming("a", 0.2, 0.5, "en")]
    text_only = PhoneticMouthTracker(FPS, ahead_ms=80, smooth_s=0.06)
    text_only.push_phonemes(phs)
    offline = make_mouth_tracker(FPS, offline=True)
    offline.push_phonemes(phs)
    np.testing.assert_allclose(run(offline, speech), run(text_only, speech))


def test_espeak_installed() -> None:
    assert shutil.which("espeak-ng"), "espeak-ng is a system dependency of these tests"


def test_mandarin_text_to_timed_initials_and_finals() -> None:
    from avatar.lipsync.text import mandarin_phonemes

    phs = mandarin_phonemes("你好，妈妈", 0.0, 1.0)
    assert [p.phoneme for p in phs] == ["n", "i", "h", "ao", "sil", "m", "a", "m", "a"]
    assert phs[0].start == 0.0 and abs(phs[-1].end - 1.0) < 1e-9
    assert all(a.end == b.start for a, b in zip(phs, phs[1:], strict=False))
    tr = make_mouth_tracker(FPS)
    tr.push_phonemes(phs)
    out = run(tr, np.zeros(int(1.3 * 16000), np.int16))
    lead = tr.track.lead_s
    m_frame = int((phs[5].start + phs[5].end) / 2 * FPS - lead * FPS)
    a_frame = int((phs[6].start + phs[6].end) / 2 * FPS - lead * FPS)
    assert out[m_frame, 0] < 0.15 and out[a_frame, 0] > 0.5
