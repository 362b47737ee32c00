"""Person-specific lip-sync: a small audio-to-mouth model fitted on one person's own recording.

A video avatar is built from a recording in which the person's mouth is measured on every frame
and the speech is heard, so the build can learn how *this* person's mouth follows *their* sound
(in the spirit of Video Rewrite). `fit_speaker` fits a ridge regression from

- the generic tracker's output (`make_mouth_tracker`) at the frame and 80-320 ms before it (it
  carries the phonetic knowledge; the history lets the fit learn the person's own timing), and
- the recording's own acoustic features (`FeatureStream`: the log-mel shape projected on the
  person's principal components, loudness, voicing, flatness) from 400 ms before the frame to
  40 ms after it, in 40 ms windows,

to the mouth shape measured in the recording (MouthShape units). The regularisation is chosen by
blocked cross-validation inside the recording, and the fit is kept only when it predicts the
opening better than the generic tracker there.

`SpeakerMouthTracker(inner, model)` wraps any tracker: audio goes to the inner tracker and to its
own feature stream; each frame of an audio drive gets the adapted shape, blended back to the
inner tracker's in silence; once phonemes are pushed (text drives) the inner output passes
unchanged. A fit stores a key of the generic tracker it was made with (`tracker_key`: a hash of
its output on a fixed probe signal), so a later change of the generic model makes an old fit
ignored rather than wrong; `refit` makes a new one from the data stored with the avatar.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatar.lipsync.base import MouthTracker, make_mouth_tracker
from avatar.lipsync.features import (
    N_FEAT,
    N_MELS,
    WIN,
    FeatureStream,
    append_rows,
    features,
)
from avatar.lipsync.phonetic import PhoneticMouthTracker
from avatar.types import AUDIO_RATE, MouthShape, PhonemeTiming

log = logging.getLogger(__name__)

DATA_FILE = "speaker_data.npz"  # what a refit needs: the build audio and the measured shapes
FORMAT = 1
BACK_MS = 400  # acoustic context before the frame centre
STEP_MS = 40  # width of each context window
AHEAD_OFFLINE_MS = 120  # video files: no latency budget, the mouth may lead the sound
N_PC = 6  # principal components of the person's log-mel shape
GEN_LAGS_MS = (0, 80, 160, 240, 320)  # generic outputs used, before the frame
LAMBDAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)
FOLDS = 8  # blocked cross-validation folds (short recordings need most of it to train)
MIN_FOLD = 10  # frames per fold at least
GUARD = 6  # frames left out on each side of a fold (the target is smooth over ~0.2 s)
MIN_GAIN = 0.0  # cross-validated r the fit must gain over the generic tracker
MIN_SPEECH_S = 4.0  # tracked speech needed before a fit is tried (below it CV is noise)
GATE_BACK_MS = 200  # a pause shorter than this keeps the fitted mouth
MAX_SPREAD_GAIN = 4.0  # bound on undoing the ridge's shrinkage (beyond it: no fit)
MAX_STEP = 0.35  # bound on the change per frame, as the generic tracker's
_LO = np.array([0.0, -1.0, 0.0, 0.0], np.float32)
_HI = np.array([1.0, 1.0, 1.0, 1.0], np.float32)
_REL, _ABS = N_MELS, N_MELS + 1  # FeatureStream columns: relative and absolute level


@dataclass(frozen=True, slots=True)
class Mode:
    """Live drives and video files use different generic trackers (video files trade latency
    for accuracy), so each gets its own fit."""

    name: str
    offline: bool  # the generic tracker's `offline` flag
    ahead_ms: int  # acoustic context after the frame centre

    @property
    def file(self) -> str:
        return f"speaker_{self.name}.npz"

    def generic(self) -> Callable[[int], MouthTracker]:
        """The default tracker of drives in this mode (used when there is no fit)."""
        offline = self.offline
        return lambda fps: make_mouth_tracker(fps, offline=offline)

    def inner(self) -> Callable[[int], MouthTracker]:
        """The generic tracker a fit wraps. Live: the default audio model with its mouth read at
        the frame centre, not behind it (the default reads 20 ms behind to put generic lips
        nearer the sound; a fit learns the person's own timing and needs the freshest
        output, and its own context already waits that long)."""
        if self.offline:
            return self.generic()

        def make(fps: int) -> MouthTracker:
            tr = make_mouth_tracker(fps)
            if isinstance(tr, PhoneticMouthTracker):
                return PhoneticMouthTracker(fps=fps, ahead_ms=self.ahead_ms, mouth_delay_s=0.0)
            return tr

        return make


# live: 40 ms of context after the frame centre: 58 ms of look-ahead at 25 fps (the default
# tracker's was 58 ms too until its mouth was read 20 ms behind the centre: now 38 ms)
LIVE = Mode("live", False, 40)
OFFLINE = Mode("offline", True, AHEAD_OFFLINE_MS)
MODES = (LIVE, OFFLINE)


# --- features -------------------------------------------------------------------------------


def _offsets(ahead_ms: int) -> np.ndarray:
    return np.arange(-BACK_MS, ahead_ms + 1, STEP_MS) / 1000.0


def _reduce(rows: np.ndarray, pc_mean: np.ndarray, pcs: np.ndarray) -> np.ndarray:
    """28 FeatureStream columns -> N_PC mel-shape components + the 4 level/voicing columns."""
    return np.hstack([(rows[:, :N_MELS] - pc_mean) @ pcs.T, rows[:, N_MELS:]]).astype(np.float32)


def _acoustic(red: np.ndarray, row0: int, centres_s: np.ndarray, ahead_ms: int) -> np.ndarray:
    """Context vectors (len(centres), positions * dims): the mean of the reduced rows in each
    40 ms window around the frame centres. `red[0]` is feature frame `row0`; windows reaching
    outside the rows are clamped to them (the stream starts in silence)."""
    n_rows = len(red)
    cs = np.vstack([np.zeros((1, red.shape[1])), np.cumsum(red, 0, dtype=np.float64)])
    half = STEP_MS / 2000.0
    c = centres_s[:, None] + _offsets(ahead_ms)[None, :]
    a = np.clip(np.round((c - half) * 100).astype(int) - row0, 0, n_rows - 1)
    b = np.clip(np.round((c + half) * 100).astype(int) - row0, a + 1, n_rows)
    out = (cs[b] - cs[a]) / (b - a)[..., None]
    return out.reshape(len(centres_s), -1).astype(np.float32)


def _gate(rows: np.ndarray, row0: int, centres_s: np.ndarray) -> np.ndarray:
    """1 in speech, 0 in silence: the absolute and the peak-relative level (the generic
    tracker's silence rule) over GATE_BACK_MS before to 40 ms after each frame, so short pauses
    inside speech keep the person's fitted mouth and only real silences rest."""
    out = np.empty(len(centres_s), np.float32)
    back = GATE_BACK_MS // 10
    for i, t in enumerate(centres_s):
        k = int(round(t * 100)) - row0
        lo, hi = max(0, k - back), min(len(rows), k + 4)
        if hi <= lo:
            out[i] = 0.0
            continue
        rel_db = float(rows[lo:hi, _REL].max()) * 4.0 * 4.343
        abs_db = (float(rows[lo:hi, _ABS].max()) - 2.0) * 30.0
        out[i] = np.clip((abs_db + 60.0) / 10.0, 0, 1) * np.clip((rel_db + 40.0) / 10.0, 0, 1)
    return out


def _generic_history(gen: np.ndarray, frames: np.ndarray, fps: float) -> np.ndarray:
    lags = [int(round(ms * fps / 1000.0)) for ms in GEN_LAGS_MS]
    idx = np.clip(frames[:, None] - np.array(lags)[None, :], 0, len(gen) - 1)
    return gen[idx].reshape(len(frames), -1)


def _centres(frames: np.ndarray, fps: float) -> np.ndarray:
    return (frames + 0.5) / fps


# --- the model ------------------------------------------------------------------------------


@dataclass
class SpeakerModel:
    """A fitted person-specific map (ridge regression on standardised inputs)."""

    key: str  # tracker_key() of the generic tracker the fit was made with
    ahead_ms: int  # acoustic context after the frame centre
    pc_mean: np.ndarray  # (N_MELS,)
    pcs: np.ndarray  # (N_PC, N_MELS)
    mu: np.ndarray  # (D,)
    sd: np.ndarray  # (D,)
    w: np.ndarray  # (D, 4)
    b: np.ndarray  # (4,)
    fps: float  # frame rate of the recording it was fitted on
    info: dict[str, Any]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mu) / self.sd) @ self.w + self.b

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path, format=FORMAT, key=self.key, ahead_ms=self.ahead_ms, pc_mean=self.pc_mean,
            pcs=self.pcs, mu=self.mu, sd=self.sd, w=self.w, b=self.b, fps=self.fps,
            info=json.dumps(self.info),
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> SpeakerModel | None:
        """The saved fit, or None when the file is missing or of another format."""
        if not path.exists():
            return None
        d = np.load(path)
        if int(d["format"]) != FORMAT:
            return None
        return cls(
            str(d["key"]), int(d["ahead_ms"]), d["pc_mean"], d["pcs"], d["mu"], d["sd"], d["w"],
            d["b"], float(d["fps"]), json.loads(str(d["info"])),
        )  # fmt: skip


def _probe_signal() -> np.ndarray:
    """A fixed second of voiced and noisy sound with a pause (the same bytes everywhere)."""
    t = np.arange(AUDIO_RATE) / AUDIO_RATE
    f0 = 120 + 40 * t
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    noise = np.random.default_rng(7).standard_normal(AUDIO_RATE) * (t > 0.8)
    x = 0.25 * voiced * env + 0.05 * noise
    return (np.clip(x, -1, 1) * 20000).astype(np.int16)


_KEYS: dict[tuple[Mode, int], str] = {}


def tracker_key(mode: Mode, fps: int) -> str:
    """Identifies the generic tracker and the feature stream by what they compute: their output
    on a fixed probe signal, rounded, plus this module's settings. Any change of the generic
    model changes the key (computed once per process)."""
    k = _KEYS.get((mode, fps))
    if k is None:
        pcm = _probe_signal()
        tr = mode.inner()(fps)
        shapes = run_tracker(tr, pcm)
        h = hashlib.sha1(f"{type(tr).__name__}:{FORMAT}:{mode}:{BACK_MS}:{STEP_MS}".encode())
        h.update(f"{N_PC}:{GEN_LAGS_MS}".encode())
        h.update(np.round(shapes, 3).tobytes())
        h.update(np.round(features(pcm[:4000]), 3).astype(np.float32).tobytes())
        k = _KEYS[(mode, fps)] = h.hexdigest()[:16]
    return k


def run_tracker(tracker: MouthTracker, pcm: np.ndarray, chunk: int = 320) -> np.ndarray:
    """(frames, 4) shapes of a whole signal pushed in 20 ms chunks, as a live drive would."""
    out: list[MouthShape] = []
    for i in range(0, len(pcm), chunk):
        out += tracker.push_audio(pcm[i : i + chunk])
    out += tracker.flush()
    return np.array([s.as_array() for s in out], np.float32).reshape(-1, 4)


def _design(
    rows: np.ndarray,
    gen: np.ndarray,
    n: int,
    fps: float,
    pc_mean: np.ndarray,
    pcs: np.ndarray,
    ahead_ms: int,
) -> np.ndarray:
    frames = np.arange(n)
    red = _reduce(rows, pc_mean, pcs)
    ac = _acoustic(red, 0, _centres(frames, fps), ahead_ms)
    return np.hstack([ac, _generic_history(gen, frames, fps)]).astype(np.float32)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu, sd = x.mean(0), x.std(0) + 1e-6
    return (x - mu) / sd, mu, sd


def _ridge_solve(
    z: np.ndarray, y: np.ndarray, lams: Sequence[float], prior: slice
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Ridge regressions of y on standardised z, one per lambda, shrunk towards the affine map
    of each output's own column in `prior` (the generic tracker's current output) instead of
    towards zero: with little data or a large lambda the fit becomes the generic output in the
    person's own scale. Returns the intercept and the weights per lambda."""
    b = y.mean(0)
    yc = y - b
    w0 = np.zeros((z.shape[1], y.shape[1]))
    for k, col in enumerate(range(prior.start, prior.stop)):
        zk = z[:, col]
        w0[col, k] = float(zk @ yc[:, k]) / (float(zk @ zk) + 1e-3 * len(z))
    # one eigendecomposition of the Gram matrix serves every lambda
    e, v = np.linalg.eigh(z.T @ z)
    zty, vw0 = v.T @ (z.T @ yc), v.T @ w0
    n = len(z)
    return b, [v @ ((zty + lam * n * vw0) / (e + lam * n)[:, None]) for lam in lams]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _cv_scores(
    x: np.ndarray, y: np.ndarray, g: np.ndarray, ok: np.ndarray, prior: slice
) -> tuple[np.ndarray, np.ndarray]:
    """Blocked cross-validation of the opening: each contiguous fold predicted by fits on the
    others, with a guard band so that overlapping context windows do not leak across the fold
    border. Returns r(fit, measured) per fold and lambda (folds, lambdas) and r(generic `g`,
    measured) per fold."""
    n = len(x)
    folds = int(np.clip(ok.sum() // MIN_FOLD, 2, FOLDS))
    edges = np.linspace(0, n, folds + 1).astype(int)
    idx = np.arange(n)
    fit_r: list[list[float]] = []
    gen_r: list[float] = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        train = ((idx < a - GUARD) | (idx >= b + GUARD)) & ok
        test = (idx >= a) & (idx < b) & ok
        if train.sum() < 20 or test.sum() < 8:
            continue
        z, mu, sd = _standardise(x[train])
        c, ws = _ridge_solve(z, y[train], LAMBDAS, prior)
        zt = (x[test] - mu) / sd
        fit_r.append([_corr(zt @ w[:, 0] + c[0], y[test, 0]) for w in ws])
        gen_r.append(_corr(g[test], y[test, 0]))
    return np.array(fit_r).reshape(-1, len(LAMBDAS)), np.array(gen_r)


def _need_s(ahead_ms: int) -> float:
    """Audio needed beyond a frame's centre for the last context window (its half width, the
    feature window's half, and rounding to 10 ms)."""
    return (ahead_ms + STEP_MS / 2) / 1000.0 + (WIN / 2) / AUDIO_RATE + 0.005


def fit_speaker(
    pcm: np.ndarray,
    fps: float,
    shapes: np.ndarray,
    ok: np.ndarray,
    mode: Mode = LIVE,
    rows: np.ndarray | None = None,
) -> tuple[SpeakerModel | None, dict[str, Any]]:
    """Fit on a recording: `pcm` 16 kHz int16 from the first frame's time, `shapes` (n, 4) the
    measured MouthShape arrays per video frame, `ok` where they were measured. Returns the
    model (None when it does not beat the generic tracker in cross-validation) and a report."""
    n = len(shapes)
    report: dict[str, Any] = {"frames": int(n), "used": False}
    rows = features(pcm) if rows is None else rows  # (the same for every mode)
    gen = run_tracker(mode.inner()(int(round(fps))), pcm)
    if len(gen) == 0 or ok.sum() < MIN_SPEECH_S * fps:
        report["reason"] = "too little tracked speech"
        return None, report
    if len(gen) < n:  # the audio ended before the last frames
        gen = np.vstack([gen, np.repeat(gen[-1:], n - len(gen), 0)])
    # the person's own spectral axes, from the frames with sound
    loud = rows[:, _ABS] > rows[:, _ABS].max() - 40 / 30
    mel = rows[loud, :N_MELS] if loud.sum() > 20 else rows[:, :N_MELS]
    pc_mean = mel.mean(0)
    _, _, vt = np.linalg.svd(mel - pc_mean, full_matrices=False)
    pcs = vt[:N_PC].astype(np.float32)
    ahead_ms = mode.ahead_ms
    x = _design(rows, gen, n, fps, pc_mean, pcs, ahead_ms)
    n_ac = x.shape[1] - 4 * len(GEN_LAGS_MS)
    prior = slice(n_ac, n_ac + 4)  # the generic output at the frame itself
    y = shapes.astype(np.float32)
    m = ok & (_gate(rows, 0, _centres(np.arange(n), fps)) > 0.5)  # speech frames
    report["speech_frames"] = int(m.sum())
    if m.sum() < MIN_SPEECH_S * fps:
        report["reason"] = "too little tracked speech"
        return None, report
    # the opening is what the fit is judged by: the choice of lambda and the fallback
    fit_r, gen_r = _cv_scores(x, y, gen[:n, 0], m, prior)
    if len(gen_r) < 2:
        report["reason"] = "too little tracked speech"
        return None, report
    # (the one-standard-error rule, leaning to larger lambdas, did worse here: 0.23 vs 0.32)
    mean = fit_r.mean(0)
    k = int(np.argmax(mean))
    cv_r, generic_r, lam = float(mean[k]), float(gen_r.mean()), LAMBDAS[k]
    report.update(cv_r=round(cv_r, 3), generic_r=round(generic_r, 3), lam=lam)
    if cv_r <= generic_r + MIN_GAIN:
        report["reason"] = "the fit does not beat the generic tracker in cross-validation"
        return None, report
    z, mu, sd = _standardise(x[m])
    b, (w,) = _ridge_solve(z, y[m], [lam], prior)
    # Ridge predictions spread less than the real mouth (shrinkage): scale them back to the
    # person's own spread, so the renderer shows distinct shapes, not a mushy average.
    spread = np.clip(y[m].std(0) / ((z @ w).std(0) + 1e-6), 1.0, None)
    report["spread_gain"] = [round(float(v), 2) for v in spread]
    if spread[0] > MAX_SPREAD_GAIN:
        # the fit is a nearly constant opening: the generic tracker at least moves with speech
        report["reason"] = "the fit predicts a nearly constant opening"
        return None, report
    w = w * np.minimum(spread, MAX_SPREAD_GAIN)[None, :]
    report["used"] = True
    model = SpeakerModel(
        tracker_key(mode, int(round(fps))), ahead_ms, pc_mean.astype(np.float32), pcs,
        mu.astype(np.float32), sd.astype(np.float32), w.astype(np.float32), b.astype(np.float32),
        float(fps), dict(report),
    )  # fmt: skip
    return model, report


# --- the streaming wrapper ------------------------------------------------------------------


class SpeakerMouthTracker(MouthTracker):
    """Wraps a tracker: audio frames get the person's adapted shape, text drives pass through."""

    def __init__(self, inner: MouthTracker, model: SpeakerModel) -> None:
        super().__init__(inner.fps, inner.sample_rate)
        self.inner = inner
        self.model = model
        # audio needed beyond a frame's centre for its last context window
        self._need_s = _need_s(model.ahead_ms)
        self._lags = [int(round(ms * self.fps / 1000.0)) for ms in GEN_LAGS_MS]
        self._reset()

    def _reset(self) -> None:
        self._feats = FeatureStream()
        self._rows = np.zeros((0, N_FEAT), np.float32)
        self._row0 = 0
        self._samples = 0
        self._frame = 0  # next frame to emit
        self._pending: deque[MouthShape] = deque()  # inner frames waiting for our features
        self._gen: deque[np.ndarray] = deque(maxlen=max(self._lags) + 1)  # recent inner output
        self._prev = np.zeros(4, np.float32)
        self._phonemes = False

    @property
    def lookahead_ms(self) -> int:
        own = math.ceil((self._need_s - 0.5 / self.fps) * 1000)
        return max(self.inner.lookahead_ms, own, 0)

    def push_phonemes(self, phonemes: Sequence[PhonemeTiming]) -> None:
        if phonemes:
            self._phonemes = True  # text drive: the viseme track is already this speech's
        self.inner.push_phonemes(phonemes)

    def push_audio(self, pcm: np.ndarray) -> list[MouthShape]:
        pcm = np.asarray(pcm, np.int16).reshape(-1)
        self._samples += len(pcm)
        self._add_rows(self._feats.push(pcm))
        self._pending.extend(self.inner.push_audio(pcm))
        have_s = self._samples / self.sample_rate
        n = 0
        while (
            n < len(self._pending) and (self._frame + n + 0.5) / self.fps + self._need_s <= have_s
        ):
            n += 1
        return self._emit(n)

    def flush(self) -> list[MouthShape]:
        self._add_rows(self._feats.flush())
        self._pending.extend(self.inner.flush())
        out = self._emit(len(self._pending))
        self._reset()
        return out

    def _add_rows(self, rows: np.ndarray) -> None:
        # keep what the context of the next frames can reach
        keep_from = int(round(self._frame / self.fps * 100)) - BACK_MS // 10 - 16
        self._rows, self._row0 = append_rows(self._rows, self._row0, rows, keep_from)

    def _emit(self, n: int) -> list[MouthShape]:
        out = []
        for _ in range(n):
            g = self._pending.popleft().as_array()
            self._gen.append(g)
            m = g if self._phonemes or len(self._rows) == 0 else self._adapt(g)
            out.append(MouthShape.from_array(m))
            self._prev = m
            self._frame += 1
        return out

    def _adapt(self, g: np.ndarray) -> np.ndarray:
        t = np.array([(self._frame + 0.5) / self.fps])
        red = _reduce(self._rows, self.model.pc_mean, self.model.pcs)
        hist = self._gen  # the last entry is this frame's
        gh = np.concatenate([hist[max(0, len(hist) - 1 - k)] for k in self._lags])
        x = np.concatenate([_acoustic(red, self._row0, t, self.model.ahead_ms)[0], gh])
        pred = np.clip(self.model.predict(x), _LO, _HI)
        gate = float(_gate(self._rows, self._row0, t)[0])
        m = g + gate * (pred - g)  # silence: the generic rest (and the renderer's own lips)
        m = self._prev + np.clip(m - self._prev, -MAX_STEP, MAX_STEP)
        return np.clip(m, _LO, _HI).astype(np.float32)


# --- avatars --------------------------------------------------------------------------------


def load_speaker_model(folder: Path | None, mode: Mode = LIVE) -> SpeakerModel | None:
    """The avatar's fit for `mode` when it has one made with today's generic tracker."""
    if folder is None:
        return None
    path = Path(folder) / mode.file
    try:
        model = SpeakerModel.load(path)
    except (OSError, ValueError, KeyError) as e:
        log.warning("speaker model %s unreadable: %s", path, e)
        return None
    if model is not None and model.key != tracker_key(mode, int(round(model.fps))):
        log.warning(
            "%s was fitted for another generic lip-sync model: the generic one is used "
            "(avatar.lipsync.speaker.refit makes a new fit)",
            path,
        )
        return None
    return model


def speaker_tracker_factory(
    folder: Path | None, offline: bool = False
) -> Callable[[int], MouthTracker]:
    """A tracker factory for drives of the avatar in `folder`: its speaker fit around the
    generic tracker when it has a current one, the generic tracker otherwise. The fit is
    loaded (and its key checked) once, here: call it off the event loop."""
    mode = OFFLINE if offline else LIVE
    model = load_speaker_model(folder, mode)
    if model is None:
        return mode.generic()
    inner = mode.inner()

    def make(fps: int) -> MouthTracker:
        return SpeakerMouthTracker(inner(fps), model)

    return make


def fit_avatar(
    folder: Path, pcm: np.ndarray | None, fps: float, shapes: np.ndarray, ok: np.ndarray
) -> dict[str, Any]:
    """Fit every mode and save the fits that beat the generic tracker (removing stale ones),
    plus the data a refit needs; returns {mode: report} for the avatar's meta. `pcm` None or
    empty: a recording without sound, no fit."""
    folder = Path(folder)
    if pcm is None or len(pcm) == 0:
        for mode in MODES:
            (folder / mode.file).unlink(missing_ok=True)
        return {"reason": "no audio"}
    np.savez_compressed(folder / DATA_FILE, pcm=pcm, fps=fps, shapes=shapes, ok=ok)
    reports = {}
    rows = features(pcm)
    for mode in MODES:
        model, reports[mode.name] = fit_speaker(pcm, fps, shapes, ok, mode, rows)
        if model is not None:
            model.save(folder / mode.file)
        else:
            (folder / mode.file).unlink(missing_ok=True)
    return reports


def refit(folder: Path) -> dict[str, Any]:
    """Fit again from the stored data, e.g. after the generic lip-sync model changed."""
    d = np.load(Path(folder) / DATA_FILE)
    return fit_avatar(folder, d["pcm"], float(d["fps"]), d["shapes"], d["ok"])
