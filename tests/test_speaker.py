"""The person-specific lip-sync fit (avatar.lipsync.speaker) on a synthetic speaker whose mouth
follows their sound in a way the generic tracker does not know: an open and a close vowel with
different openings, and a mouth that trails the sound by 160 ms."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from avatar.lipsync import speaker as spk
from avatar.lipsync.base import make_mouth_tracker
from avatar.types import AUDIO_RATE, PhonemeTiming

FPS = 25
LAG_S = 0.16


def _vowel(f1: float, f2: float, dur: float, f0: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(dur * AUDIO_RATE)) / AUDIO_RATE
    out = np.zeros_like(t)
    for k in range(1, int(4000 / f0)):
        f = k * f0
        gain = 1.0 / (1 + ((f - f1) / 90) ** 2) + 0.5 / (1 + ((f - f2) / 150) ** 2)
        out += gain * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.03)
    return out * env


def _speaker(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pcm, per-frame jaw opening): syllables of /a/ (open) and /i/ (nearly closed) with pauses;
    the mouth opens with the vowel's openness, LAG_S after the sound."""
    rng = np.random.default_rng(seed)
    pcm, jaw_t = [], []
    t = 0.0
    while t < seconds:
        if rng.random() < 0.2:
            d = rng.uniform(0.15, 0.4)
            pcm.append(np.zeros(int(d * AUDIO_RATE)))
            jaw_t.append((t, t + d, 0.0))
        else:
            d = rng.uniform(0.12, 0.3)
            is_a = rng.random() < 0.5
            f1, f2, opening = (800, 1200, 0.9) if is_a else (300, 2300, 0.25)
            pcm.append(0.2 * _vowel(f1, f2, d, rng.uniform(100, 140), rng))
            jaw_t.append((t, t + d, opening))
        t += d
    x = np.concatenate(pcm)
    n = int(len(x) / AUDIO_RATE * FPS)
    centres = (np.arange(n) + 0.5) / FPS - LAG_S
    jaw = np.zeros(n)
    for a, b, o in jaw_t:
        jaw[(centres >= a) & (centres < b)] = o
    jaw = np.convolve(jaw, np.ones(3) / 3, mode="same")  # a mouth moves smoothly
    return (x * 32767).astype(np.int16), jaw.astype(np.float32)


def _shapes(jaw: np.ndarray) -> np.ndarray:
    return np.stack([jaw, np.zeros_like(jaw), np.zeros_like(jaw), np.zeros_like(jaw)], 1)


@pytest.fixture(scope="module")
def fitted() -> tuple[spk.SpeakerModel, dict]:
    pcm, jaw = _speaker(24.0, seed=1)
    model, report = spk.fit_speaker(pcm, FPS, _shapes(jaw), np.ones(len(jaw), bool))
    assert model is not None, report
    return model, report


def test_fit_learns_the_persons_mapping(fitted) -> None:
    model, report = fitted
    assert report["used"] and report["cv_r"] > report["generic_r"]
    pcm, jaw = _speaker(10.0, seed=2)  # new speech of the same person
    generic = spk.run_tracker(make_mouth_tracker(FPS), pcm)[:, 0]
    adapted = spk.run_tracker(spk.SpeakerMouthTracker(make_mouth_tracker(FPS), model), pcm)[:, 0]
    n = min(len(jaw), len(generic), len(adapted))
    r_gen = np.corrcoef(generic[:n], jaw[:n])[0, 1]
    r_fit = np.corrcoef(adapted[:n], jaw[:n])[0, 1]
    assert r_fit >= 0.7 and r_fit >= r_gen + 0.2, (r_fit, r_gen)


def test_output_does_not_depend_on_chunking(fitted) -> None:
    model, _ = fitted
    pcm, _ = _speaker(4.0, seed=3)
    a = spk.run_tracker(spk.SpeakerMouthTracker(make_mouth_tracker(FPS), model), pcm, 320)
    b = spk.run_tracker(spk.SpeakerMouthTracker(make_mouth_tracker(FPS), model), pcm, 1333)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_stated_delay_and_smooth(fitted) -> None:
    model, _ = fitted
    tr = spk.SpeakerMouthTracker(make_mouth_tracker(FPS), model)
    # the live fit's context ends 40 ms after the frame centre: 58 ms after the frame's end
    own = math.ceil((spk._need_s(spk.LIVE.ahead_ms) - 0.5 / FPS) * 1000)
    assert tr.lookahead_ms == max(make_mouth_tracker(FPS).lookahead_ms, own) <= 60
    pcm, _ = _speaker(6.0, seed=4)
    out = spk.run_tracker(tr, pcm)
    assert np.abs(np.diff(out, axis=0)).max() <= spk.MAX_STEP + 1e-6


def test_silence_rests(fitted) -> None:
    model, _ = fitted
    out = spk.run_tracker(
        spk.SpeakerMouthTracker(make_mouth_tracker(FPS), model), np.zeros(AUDIO_RATE, np.int16)
    )
    assert len(out) == FPS and np.abs(out).max() < 0.05


def test_text_drive_passes_through(fitted) -> None:
    model, _ = fitted
    pcm, _ = _speaker(2.0, seed=5)
    ph = [PhonemeTiming("a", 0.1 * i, 0.1 * i + 0.1, "en") for i in range(15)]
    inner, wrapped = (
        make_mouth_tracker(FPS),
        spk.SpeakerMouthTracker(make_mouth_tracker(FPS), model),
    )
    inner.push_phonemes(ph)
    wrapped.push_phonemes(ph)
    np.testing.assert_array_equal(spk.run_tracker(inner, pcm), spk.run_tracker(wrapped, pcm))


def test_falls_back_when_the_generic_tracker_is_already_right() -> None:
    pcm, _ = _speaker(12.0, seed=6)
    generic = spk.run_tracker(spk.LIVE.inner()(FPS), pcm)  # what the fit wraps
    model, report = spk.fit_speaker(pcm, FPS, generic, np.ones(len(generic), bool))
    assert model is None and not report["used"], report


def test_avatar_files_and_stale_fits(tmp_path: Path) -> None:
    pcm, jaw = _speaker(12.0, seed=7)
    reports = spk.fit_avatar(tmp_path, pcm, FPS, _shapes(jaw), np.ones(len(jaw), bool))
    assert reports["live"]["used"] and reports["offline"]["used"], reports
    live = spk.speaker_tracker_factory(tmp_path)(FPS)
    offline = spk.speaker_tracker_factory(tmp_path, offline=True)(FPS)
    assert isinstance(live, spk.SpeakerMouthTracker) and isinstance(
        offline, spk.SpeakerMouthTracker
    )
    assert offline.lookahead_ms > live.lookahead_ms  # video files may look further ahead
    # a fit made for another generic model is ignored, and a refit replaces it
    model = spk.SpeakerModel.load(tmp_path / spk.LIVE.file)
    assert model is not None
    model.key = "another-model"
    model.save(tmp_path / spk.LIVE.file)
    assert spk.load_speaker_model(tmp_path) is None
    assert not isinstance(spk.speaker_tracker_factory(tmp_path)(FPS), spk.SpeakerMouthTracker)
    assert spk.refit(tmp_path)["live"]["used"]
    assert spk.load_speaker_model(tmp_path) is not None
    # no sound: no fit, and old ones go
    assert spk.fit_avatar(tmp_path, None, FPS, _shapes(jaw), np.ones(len(jaw), bool))
    assert spk.load_speaker_model(tmp_path) is None
    assert not isinstance(spk.speaker_tracker_factory(None)(FPS), spk.SpeakerMouthTracker)
