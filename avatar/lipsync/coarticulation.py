"""Timed phonemes to a continuous mouth track (dominance-blended visemes, pure).

Each phoneme becomes one or two viseme keys placed inside its interval (a diphthong's two targets
at 30 % and 75 %). The mouth at time t is the dominance-weighted mean of the keys' targets; a
key's dominance is flat over its own interval and falls off as a Gaussian of width `reach_s`
outside it, so neighbours blend (coarticulation), /m b p/ still close (high dominance) and onsets
are smooth. Pauses are keys with the rest shape. Articulation leads sound: the track is evaluated
`lead_s` ahead (100 ms: the mouth starts to open well before the sound it makes, e.g. Chandrasekaran
et al. 2009, PLoS Comput Biol, report 100-300 ms at onsets; the issue notes ~120 ms on one video).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import numpy as np

from avatar.lipsync.visemes import SILENCE, SILENT, Viseme, units
from avatar.types import PhonemeTiming


class VisemeTrack:
    """Accumulates timed phonemes; `at(t)` gives the (jaw, width, round, press) array at t."""

    def __init__(
        self, lead_s: float = 0.1, reach_s: float = 0.07, min_pause_s: float = 0.06
    ) -> None:
        self.lead_s = lead_s
        self.min_pause_s = min_pause_s
        self.reach_s = reach_s
        self._starts: list[float] = []  # key interval starts (sorted)
        # (start, end, target, dominance, reach)
        self._keys: list[tuple[float, float, np.ndarray, np.ndarray, float]] = []
        self._end = 0.0
        self._stress_start: float | None = None

    @property
    def end(self) -> float:
        """End time of the last phoneme pushed."""
        return self._end

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, phonemes: Iterable[PhonemeTiming]) -> None:
        for ph in phonemes:
            dur = max(ph.end - ph.start, 1e-3)
            mark = _mark_only(ph.phoneme)
            if mark == "length" and self._keys:  # piper's separate "ː": the last key lasts longer
                a, b, tgt, dom, kr = self._keys[-1]
                self._keys[-1] = (a, max(b, ph.end), tgt, dom, kr)
                self._end = max(self._end, ph.end)
                continue
            if mark == "stress":  # piper's separate "ˈ": its time belongs to the next phoneme
                self._stress_start = ph.start if self._stress_start is None else self._stress_start
                continue
            if self._stress_start is not None:
                ph = PhonemeTiming(ph.phoneme, min(self._stress_start, ph.start), ph.end, ph.lang)
                self._stress_start = None
            if ph.phoneme == " " or (ph.phoneme.strip() in SILENT and dur < self.min_pause_s):
                # word boundaries and short pauses do not close the mouth
                self._end = max(self._end, ph.start + dur)
                continue
            vis = units(ph.phoneme, ph.lang)
            if len(vis) == 1:
                spans = [(ph.start, ph.end)]
            else:  # split the interval evenly between the units
                edges = np.linspace(ph.start, ph.end, len(vis) + 1)
                spans = list(zip(edges[:-1], edges[1:], strict=True))
            for v, (a, b) in zip(vis, spans, strict=True):
                self._insert(a, b, v)
            self._end = max(self._end, ph.start + dur)

    def _insert(self, a: float, b: float, v: Viseme) -> None:
        tgt, dom = v.arrays()
        i = bisect.bisect_right(self._starts, a)
        self._starts.insert(i, a)
        self._keys.insert(i, (a, b, tgt, dom, v.reach * self.reach_s))

    def at(self, t: float) -> np.ndarray:
        """Mouth parameters (jaw, width, round, press) at time t in seconds; rest before the
        first and after the last key, reached with the same soft fall-off."""
        return self.at_many(np.array([t], np.float64))[0]

    def at_many(self, times: np.ndarray) -> np.ndarray:
        """`at` for an array of times: (len(times), 4)."""
        t = np.asarray(times, np.float64) + self.lead_s
        out = np.zeros((len(t), 4))
        if not self._keys or not len(t):
            return out
        r = self.reach_s
        lo = bisect.bisect_left(self._starts, float(t.min()) - 6 * r - 3.0)
        hi = bisect.bisect_right(self._starts, float(t.max()) + 4 * r)
        keys = self._keys[lo:hi]
        if not keys:
            return out
        a = np.array([k[0] for k in keys])
        b = np.array([k[1] for k in keys])
        tgt = np.array([k[2] for k in keys])
        dom = np.array([k[3] for k in keys])
        kr = np.array([k[4] for k in keys])
        d = np.maximum(0.0, np.maximum(a[None, :] - t[:, None], t[:, None] - b[None, :]))
        w = np.exp(-((d / kr[None, :]) ** 2))[:, :, None] * dom[None, :, :]  # (m, n, 4)
        num = np.einsum("mnc,nc->mc", w, tgt)
        den = w.sum(axis=1)
        # implicit silence before the first key and after the last one
        first = self._keys[0][0]
        last = max(k[1] for k in keys)
        gap = np.maximum(0.0, np.maximum(first - t, t - last))
        sil_t, sil_d = SILENCE.arrays()
        ws = sil_d[None, :] * (1.0 - np.exp(-((gap / r) ** 2)))[:, None]
        num += ws * sil_t[None, :]
        den += ws
        out = num / np.maximum(den, 1e-9)
        # lips that press together hide the jaw's residual opening
        out[:, 0] *= 1.0 - np.clip(out[:, 3], 0.0, 1.0)
        return out

    def frames(self, fps: float, n: int, start: int = 0) -> np.ndarray:
        """Mouth arrays (n, 4) at the centres of frames start..start+n-1."""
        return self.at_many((np.arange(start, start + n) + 0.5) / fps)

    def drop_before(self, t: float) -> None:
        """Forget keys that ended long before t (bounded memory on long drives)."""
        cut = t + self.lead_s - 6 * self.reach_s - 3.0
        keep = [k for k in self._keys if k[1] >= cut]
        if len(keep) != len(self._keys):
            self._keys = keep
            self._starts = [k[0] for k in keep]


def _mark_only(phoneme: str) -> str | None:
    """ "length" or "stress" for tokens that are only a length or stress mark, else None."""
    s = phoneme.strip()
    if s and all(c in "ːˑ" for c in s):
        return "length"
    if s and all(c in "ˈˌ" for c in s):
        return "stress"
    return None
