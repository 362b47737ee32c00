"""What a video file job renders: a validated, JSON-serialisable description of the output.

The API layer turns a CreateDigitalHumanVideo request into a `VideoSpec` (checking what can be
checked at creation); the spec is stored with the job and travels to whichever worker runs it,
so it holds plain values only (URLs and paths, never images or open files).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from avatar.types import DEFAULT_FPS

# Output sizes of the API: landscape and portrait 1080p and 2K.
SIZES: tuple[tuple[int, int], ...] = ((1920, 1080), (1080, 1920), (2560, 1440), (1440, 2560))
FORMATS = ("mp4", "webm")
MAX_TEXT_CHARS = 10000  # a course video's script; a stream drive is limited to 1800
MAX_URL_BYTES = 1024


class SpecError(ValueError):
    """The request cannot describe a video; the message says which field and why."""


@dataclass(slots=True)
class LayoutSpec:
    """A placement in output pixels (origin top-left); larger `layer` is in front."""

    left: int
    top: int
    width: int
    height: int
    layer: int = 0


@dataclass(slots=True)
class AssetSpec:
    """A decoration image by URL (or local path, for tests and the CLI) and where it goes."""

    url: str
    layout: LayoutSpec


@dataclass(slots=True)
class SubtitleSpec:
    """Burned-in subtitles: one cue per sentence, in a band at the bottom of the picture."""

    enable: bool = False
    font_size: int = 0  # 0: 4.5 % of the output's short side
    color: tuple[int, int, int, int] = (255, 255, 255, 255)
    stroke_color: tuple[int, int, int, int] = (0, 0, 0, 255)
    bottom_margin: int = 0  # 0: 6 % of the output height


@dataclass(slots=True)
class KeywordAction:
    """Play `action` when the speech reaches the sentence containing `keyword`."""

    keyword: str
    action: str


@dataclass(slots=True)
class VideoSpec:
    """Everything a worker needs to render one video file."""

    avatar_folder: str  # relative: inside the data dir (which workers may mount elsewhere)
    width: int = 1920
    height: int = 1080
    format: str = "mp4"
    fps: int = DEFAULT_FPS
    text: str | None = None
    timbre_id: str | None = None
    speech_rate: int = 0
    pitch_rate: int = 0
    volume: int = 50
    audio_url: str | None = None
    background_rgba: tuple[int, int, int, int] = (0, 0, 0, 255)
    background_url: str | None = None
    remove_background: bool = False  # cut the person out of the avatar's own background
    green_screen: bool = False  # the avatar was filmed on a green screen: key it out
    layout: LayoutSpec | None = None
    assets: list[AssetSpec] = field(default_factory=list)
    subtitles: SubtitleSpec = field(default_factory=SubtitleSpec)
    keyword_actions: list[KeywordAction] = field(default_factory=list)
    # URL → its copy fetched when the job was created (a path relative to the data dir, which
    # every worker shares); URLs not in here are fetched by the worker.
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def transparent(self) -> bool:
        """Whether the output keeps an alpha channel (WebM with a see-through background)."""
        return self.format == "webm" and self.background_rgba[3] < 255 and not self.background_url

    def validate(self) -> None:
        """Raise SpecError for what can be known without running the job."""
        if (self.width, self.height) not in SIZES:
            sizes = ", ".join(f"{w}x{h}" for w, h in SIZES)
            raise SpecError(f"Width x Height {self.width}x{self.height} unsupported; use {sizes}")
        if self.format not in FORMATS:
            raise SpecError(f"Format {self.format!r} unsupported; use mp4 or webm")
        if not 1 <= self.fps <= 60:
            raise SpecError("Fps must be in [1, 60]")
        has_text = bool(self.text and self.text.strip())
        if has_text == bool(self.audio_url):
            raise SpecError("give exactly one of Text and AudioUrl")
        if has_text and len(self.text or "") > MAX_TEXT_CHARS:
            raise SpecError(f"Text longer than {MAX_TEXT_CHARS} characters")
        for name, v in (("SpeechRate", self.speech_rate), ("PitchRate", self.pitch_rate)):
            if not -500 <= v <= 500:
                raise SpecError(f"TTSConfig.{name} must be in [-500, 500]")
        if not 1 <= self.volume <= 100:
            raise SpecError("TTSConfig.Volume must be in [1, 100]")
        for url in [self.audio_url, self.background_url, *(a.url for a in self.assets)]:
            if url is not None and len(url.encode()) > MAX_URL_BYTES:
                raise SpecError(f"URL longer than {MAX_URL_BYTES} bytes")
        for lay in [self.layout, *(a.layout for a in self.assets)]:
            if lay is not None and (lay.width <= 0 or lay.height <= 0 or lay.layer < 0):
                raise SpecError("Layout needs Width > 0, Height > 0 and Layer >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoSpec:
        d = dict(d)
        if d.get("layout"):
            d["layout"] = LayoutSpec(**d["layout"])
        d["assets"] = [
            AssetSpec(a["url"], LayoutSpec(**a["layout"])) for a in d.get("assets") or []
        ]
        sub = dict(d.get("subtitles") or {})
        for k in ("color", "stroke_color"):
            if k in sub:
                sub[k] = tuple(sub[k])
        d["subtitles"] = SubtitleSpec(**sub)
        d["keyword_actions"] = [KeywordAction(**k) for k in d.get("keyword_actions") or []]
        d["background_rgba"] = tuple(d.get("background_rgba") or (0, 0, 0, 255))
        return cls(**d)


_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def parse_color(value: str) -> tuple[int, int, int, int]:
    """`#RRGGBB` (opaque) or ZEGO's older `#AARRGGBB` (`#00000000` = transparent) → RGBA."""
    m = _HEX.match(value.strip())
    if not m:
        raise SpecError(f"colour {value!r} is not #RRGGBB or #AARRGGBB")
    h = m.group(1)
    if len(h) == 6:
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255
    return int(h[2:4], 16), int(h[4:6], 16), int(h[6:8], 16), int(h[0:2], 16)
