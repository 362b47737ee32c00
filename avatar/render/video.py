"""The video avatar renderer: the person's own recording plays as an idle loop, and each frame's
mouth is replaced by a library mouth of the same person chosen for the target shape (Video
Rewrite, Bregler et al. 1997).

Per frame the work is: decode one stored JPEG frame, one streaming search step over the library,
one warp of a small crop, a displacement of the frame's chin onto the library mouth's jaw line
(avatars built before the jaw lines were kept skip it) and a feathered blend inside the mouth's
box. During silence the
person's real lips stay when they are near rest; the switch between real and library lips is a
short cross-fade. Named actions (stretches of the recording) are started with `start_action`
and enter and leave the loop with a cross-fade.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avatar.types import AvatarRenderer, FrameParams
from avatar.videoavatar.blend import Placement, blend_mouth, jaw_field
from avatar.videoavatar.select import LibraryIndex, MouthSearch
from avatar.videoavatar.store import ImageList

SILENT_OPEN = 0.08  # target opening below which a frame counts as silent
OWN_LIPS_MAX_OPEN = 0.25  # real lips are kept in silence when no more open than this
SWITCH_STEP = 0.34  # per-frame change of the library-mouth weight (about 3 frames)
ACTION_FADE_S = 0.3
CROP_CACHE = 96  # decoded library mouths kept


@dataclass(slots=True)
class _Seq:
    """One stored stretch (the loop or an action) with its per-frame data."""

    frames: ImageList
    alpha: ImageList | None
    places: list[Placement]
    shape: np.ndarray
    pose: np.ndarray
    own_ok: np.ndarray
    face_ok: np.ndarray  # a face was tracked in the frame: its mouth can be replaced
    region: np.ndarray  # (K, h/2, w/2) uint8 face region per frame
    jaw: np.ndarray | None  # (K, 17, 2) jaw line in crop pixels (None: built before it was kept)

    def __len__(self) -> int:
        return len(self.places)


class VideoAvatarRenderer(AvatarRenderer):
    """Renders a built video avatar (see `avatar.build.video`).

    Stateful (the mouth search, the real-lips fade, the playing action): use one renderer per
    stream or job, and call `render` with increasing `t` (a jump back or a gap over 0.5 s
    starts a new stretch)."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.size = (int(meta["size"][0]), int(meta["size"][1]))
        self.fps = float(meta["fps"])
        crop_size = (int(meta["crop_size"][0]), int(meta["crop_size"][1]))
        self._loop = self._load_seq(folder, "loop", crop_size)
        self._actions = {
            name: self._load_seq(folder, stem, crop_size)
            for name, stem in meta.get("action_seqs", {}).items()
        }
        lib = np.load(folder / "library.npz")
        self._mask = lib["mask"].astype(np.float32)
        self._region = lib["region"]
        self._jaw = lib["jaw"] if "jaw" in lib.files else None
        self._eye = float(lib["eye"]) if "eye" in lib.files else 0.0
        self.index = LibraryIndex(
            lib["shapes"], lib["teeth"], lib["pose"], lib["embed"], lib["frame"]
        )
        mouths = ImageList(folder, "mouths")
        self._mouths = mouths
        self._crop_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.search = MouthSearch(self.index, self.index.transition_matrix())
        self._weight = 0.0
        self._silent_run = 0
        self._last_t: float | None = None
        self._action: tuple[str, float] | None = None
        self.last_choice: int | None = None  # library entry blended in the last frame, if any

    def _load_seq(self, folder: Path, stem: str, crop_size: tuple[int, int]) -> _Seq:
        m = np.load(folder / f"{stem}_meta.npz")
        alpha = (
            ImageList(folder, f"{stem}_alpha") if (folder / f"{stem}_alpha.bin").exists() else None
        )
        places = [Placement(tc, crop_size, self.size) for tc in m["to_crop"]]
        return _Seq(
            ImageList(folder, stem),
            alpha,
            places,
            m["shape"],
            m["pose"],
            m["own_ok"],
            m["face_ok"],
            m["region"],
            m["jaw"] if "jaw" in m.files else None,
        )

    # --- timeline -------------------------------------------------------------------------

    def action_names(self) -> list[str]:
        return list(self._actions)

    def start_action(self, name: str, t: float) -> None:
        """Play the named stretch of the recording from stream time `t`."""
        if name not in self._actions:
            raise KeyError(name)
        self._action = (name, t)

    def stop_action(self) -> None:
        self._action = None

    def loop_index(self, t: float) -> int:
        return int(np.floor(t * self.fps + 1e-6)) % len(self._loop)

    def _frame_at(self, t: float) -> tuple[np.ndarray, _Seq, int, bool]:
        """(RGBA frame, its sequence, index in it, whether two frames are cross-faded)."""
        li = self.loop_index(t)
        if self._action is not None:
            name, t0 = self._action
            seq = self._actions[name]
            k = int(np.floor((t - t0) * self.fps + 1e-6))
            if k >= len(seq):
                self._action = None  # done: back in the loop
            elif k >= 0:
                fade = max(1, int(round(ACTION_FADE_S * self.fps)))
                w = min(1.0, (k + 1) / (fade + 1), (len(seq) - k) / (fade + 1))
                frame = self._decode(seq, k)
                if w >= 1.0:
                    return frame, seq, k, False
                loop = self._decode(self._loop, li)
                mixed = cv2.addWeighted(loop, 1.0 - w, frame, w, 0.0)
                return mixed, (seq if w >= 0.5 else self._loop), (k if w >= 0.5 else li), True
        return self._decode(self._loop, li), self._loop, li, False

    def _decode(self, seq: _Seq, k: int) -> np.ndarray:
        bgr = seq.frames.bgr(k)
        rgba = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
        if seq.alpha is not None:
            rgba[..., 3] = seq.alpha.grey(k)
        return rgba

    def loop_frame(self, t: float) -> np.ndarray:
        """The loop frame shown at `t` without any mouth change (for tests and previews)."""
        return self._decode(self._loop, self.loop_index(t))

    def crop(self, j: int) -> np.ndarray:
        """Library mouth j (canonical RGBA). Kept as JPEG and decoded on use, with a small cache:
        speech revisits a few dozen mouths, and a long recording's library stays out of RAM."""
        c = self._crop_cache.get(j)
        if c is None:
            c = self._crop_cache[j] = cv2.cvtColor(self._mouths.bgr(j), cv2.COLOR_BGR2RGBA)
            if len(self._crop_cache) > CROP_CACHE:
                self._crop_cache.popitem(last=False)
        else:
            self._crop_cache.move_to_end(j)
        return c

    def _jaw_field(self, seq: _Seq, k: int, j: int) -> np.ndarray | None:
        """How the frame's chin moves to sit under library mouth j (None: it stays)."""
        if self._jaw is None or seq.jaw is None:
            return None
        return jaw_field(self._jaw[j], seq.jaw[k], self._mask, self._eye)

    def _mask_for(self, seq: _Seq, k: int, j: int, warped: bool = False) -> np.ndarray:
        """Blend mask: the mouth ellipse where both the frame and the library mouth show face
        (`warped`: the frame's jaw was moved onto the library's, so the library's face alone)."""
        if warped:
            both = self._region[j].astype(np.float32) * 255.0
        else:
            both = seq.region[k].astype(np.float32) * self._region[j].astype(np.float32)
        h, w = self._mask.shape
        both = cv2.resize(both, (w, h), interpolation=cv2.INTER_LINEAR)
        return self._mask * both * (1.0 / 65025.0)

    # --- rendering ------------------------------------------------------------------------

    def render(self, params: FrameParams, t: float) -> np.ndarray:
        fresh = self._last_t is None or t < self._last_t or t - self._last_t > 0.5
        if fresh:
            self.search.reset()  # a new stretch of time: no continuity to keep
            self._silent_run = 1  # a silent first frame already counts as silence
        self._last_t = t
        frame, seq, k, mixed = self._frame_at(t)
        target = params.mouth.as_array()
        silent = target[0] < SILENT_OPEN and target[3] < 0.5
        self._silent_run = self._silent_run + 1 if silent else 0
        keep_own = (
            self._silent_run >= 2
            and seq.own_ok[k]
            and seq.shape[k, 0] <= OWN_LIPS_MAX_OPEN
            and not mixed
        )
        j = self.search.step(target, seq.pose[k])
        goal = 0.0 if keep_own or not seq.face_ok[k] else 1.0
        if fresh or mixed:
            self._weight = goal  # nothing on screen to fade from
        elif goal == 1.0 and self._weight == 0.0 and not silent:
            self._weight = 1.0  # speech starts now: no fade-in lag on the first syllable
        elif goal > self._weight:
            self._weight = min(goal, self._weight + SWITCH_STEP)
        else:
            self._weight = max(goal, self._weight - SWITCH_STEP)
        if not seq.face_ok[k]:
            self._weight = 0.0  # no face tracked here: nowhere to put a mouth
        self.last_choice = j if self._weight > 0 else None
        if self._weight > 0:
            field = self._jaw_field(seq, k, j)
            mask = self._mask_for(seq, k, j, warped=field is not None)
            blend_mouth(frame, seq.places[k], self.crop(j), mask, self._weight, field, self._mask)
        return frame
