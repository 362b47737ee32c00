"""Shared value types of the avatar engine: audio format, mouth shapes, per-frame parameters.

Every part of the pipeline (lip-sync, renderers, the stream runtime, video files) speaks these
types, so a renderer or a lip-sync backend can be swapped without touching the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace

import numpy as np

# Internal audio format of every stream and drive: mono, signed 16-bit, 16 kHz, 20 ms chunks.
# 16 kHz is what ASR and lip-sync consume natively; WebRTC's Opus encoder resamples to 48 kHz.
AUDIO_RATE = 16000
CHUNK_MS = 20
CHUNK_SAMPLES = AUDIO_RATE * CHUNK_MS // 1000  # 320
DEFAULT_FPS = 25


@dataclass(frozen=True, slots=True)
class MouthShape:
    """Mouth parameters of one video frame. All are 0 at rest (closed, neutral lips).

    jaw_open: 0 closed .. 1 wide open ("a").
    lip_width: -1 narrow/pursed .. 0 neutral .. 1 spread ("i", smile-like).
    lip_round: 0 neutral .. 1 rounded and protruded ("o", "u").
    lip_press: 0 neutral .. 1 lips pressed together (/m b p/ closure).
    """

    jaw_open: float = 0.0
    lip_width: float = 0.0
    lip_round: float = 0.0
    lip_press: float = 0.0

    def as_array(self) -> np.ndarray:
        return np.array([self.jaw_open, self.lip_width, self.lip_round, self.lip_press], np.float32)

    @classmethod
    def from_array(cls, a: np.ndarray) -> MouthShape:
        return cls(float(a[0]), float(a[1]), float(a[2]), float(a[3]))


REST_MOUTH = MouthShape()


@dataclass(frozen=True, slots=True)
class PhonemeTiming:
    """One phoneme (or viseme-bearing unit) with its time in seconds from the start of a drive.

    `phoneme` is IPA for English (as espeak/piper emit it) or a pinyin initial/final for Mandarin
    (e.g. "zh", "ang"); `lang` says which.
    """

    phoneme: str
    start: float
    end: float
    lang: str = "en"


@dataclass(frozen=True, slots=True)
class WordTiming:
    """A word or sentence of a text drive with its time in seconds from the start of the drive."""

    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class FrameParams:
    """Everything a renderer needs for one frame. Angles in degrees, shifts in fractions of the
    face height, the rest in [0, 1] (gaze in [-1, 1]). All zero = the source picture at rest."""

    mouth: MouthShape = REST_MOUTH
    blink: float = 0.0  # 1 = eyes fully closed
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    head_yaw: float = 0.0
    head_pitch: float = 0.0
    head_roll: float = 0.0
    head_dx: float = 0.0
    head_dy: float = 0.0
    breath: float = 0.0  # -1..1, chest/shoulder rise
    sway: float = 0.0  # -1..1, body lean left/right
    smile: float = 0.0
    brow_raise: float = 0.0

    def with_mouth(self, mouth: MouthShape) -> FrameParams:
        return replace(self, mouth=mouth)


REST_PARAMS = FrameParams()


@dataclass(slots=True)
class VideoFrame:
    """An RGBA frame (H×W×4 uint8) with its presentation index on the task's clock."""

    index: int
    rgba: np.ndarray


@dataclass(slots=True)
class AudioChunk:
    """CHUNK_SAMPLES of int16 mono PCM at AUDIO_RATE, with its index on the task's clock."""

    index: int
    pcm: np.ndarray
    drive_id: str | None = None


class AvatarRenderer(ABC):
    """Turns per-frame parameters into RGBA frames of one avatar.

    Built once per avatar (analysis is done at build time and loaded from the avatar's folder);
    `render` is pure CPU work, called from a worker thread, never on the event loop.
    """

    #: width, height of the frames `render` returns
    size: tuple[int, int]
    #: every frame's alpha is 255 everywhere (compositors then need not look)
    opaque: bool = False

    @abstractmethod
    def render(self, params: FrameParams, t: float) -> np.ndarray:
        """Return an H×W×4 uint8 RGBA frame for `params` at stream time `t` seconds.

        `t` lets backends with their own timeline (a video avatar's idle loop) pick their frame.
        """

    def action_names(self) -> list[str]:
        """Actions this avatar can play besides the generic parameter actions."""
        return []


@dataclass(slots=True)
class AvatarInfo:
    """What the API layer needs to know about a built avatar on disk."""

    digital_human_id: str
    kind: str  # "photo" | "video"
    folder: str
    actions: list[str] = field(default_factory=list)
