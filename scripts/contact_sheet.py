"""Contact sheets of photo avatars: one PNG grid per picture, to look at what the engine makes.

Each picture is built as a photo avatar, then rendered at rest, with open "a", rounded "o",
closed "m", a blink, a head turn, a smile, and each action near its middle (the pose of largest
motion in the middle 40 % of the action), cropped to head and shoulders. A second sheet,
`<name>_closeup.png`, shows the source's mouth and the mouth in eight shapes, then one eye
opening, half shut and shut, enlarged: what users judge first.

    python scripts/contact_sheet.py [OUT_DIR] [--images DIR]   (default /tmp/contact_sheets)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.build.photo_preview import preview_crop  # noqa: E402
from avatar.motion import GENERIC_ACTIONS, action_delta, apply_delta  # noqa: E402
from avatar.registry import AvatarBuildError, build_avatar, load_renderer  # noqa: E402
from avatar.types import REST_PARAMS, FrameParams, MouthShape  # noqa: E402

TILE = 256
COLUMNS = 5
IMAGES = Path("/work/shared/media/images")


def _action_pose(name: str) -> FrameParams:
    best, best_size = REST_PARAMS, -1.0
    for u in np.linspace(0.3, 0.7, 21):
        d = action_delta(name, float(u))
        size = sum(abs(v) / (10.0 if k.startswith("head_") else 1.0) for k, v in d.items())
        if size > best_size:
            best, best_size = apply_delta(REST_PARAMS, d), size
    return best


def poses() -> list[tuple[str, FrameParams]]:
    m = MouthShape
    base = [
        ("rest", REST_PARAMS),
        ('open "a"', FrameParams(mouth=m(jaw_open=1.0))),
        ('round "o"', FrameParams(mouth=m(jaw_open=0.35, lip_round=1.0))),
        ('closed "m"', FrameParams(mouth=m(lip_press=1.0))),
        ("blink", FrameParams(blink=1.0)),
        ("head turn", FrameParams(head_yaw=8.0, head_pitch=-2.0)),
        ("smile", FrameParams(smile=1.0)),
    ]
    return base + [(name, _action_pose(name)) for name in GENERIC_ACTIONS]


def sheet(renderer) -> np.ndarray:  # type: ignore[no-untyped-def]
    x0, y0, x1, y1 = preview_crop(renderer)
    tiles = []
    for label, p in poses():
        rgba = renderer.render(p, 0.0)
        tile = cv2.resize(rgba[y0:y1, x0:x1, :3], (TILE, TILE), interpolation=cv2.INTER_AREA)
        tile = cv2.cvtColor(tile, cv2.COLOR_RGB2BGR)
        cv2.rectangle(tile, (0, 0), (TILE, 22), (0, 0, 0), -1)
        cv2.putText(tile, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        tiles.append(tile)
    while len(tiles) % COLUMNS:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + COLUMNS], 1) for i in range(0, len(tiles), COLUMNS)]
    return np.concatenate(rows, 0)


def _closeup_poses() -> list[tuple[str, FrameParams]]:
    m = MouthShape
    return [
        ("rest", REST_PARAMS),
        ('"a" half', FrameParams(mouth=m(jaw_open=0.5))),
        ('"a"', FrameParams(mouth=m(jaw_open=1.0))),
        ('"o"', FrameParams(mouth=m(jaw_open=0.35, lip_round=1.0))),
        ('"u"', FrameParams(mouth=m(jaw_open=0.1, lip_round=1.0))),
        ('"m"', FrameParams(mouth=m(lip_press=1.0))),
        ('"ee"', FrameParams(mouth=m(jaw_open=0.3, lip_width=1.0))),
        ("smile", FrameParams(smile=1.0)),
    ]


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = cv2.cvtColor(np.ascontiguousarray(tile), cv2.COLOR_RGB2BGR)
    cv2.rectangle(tile, (0, 0), (tile.shape[1], 20), (0, 0, 0), -1)
    cv2.putText(tile, text, (5, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return tile


def closeup(renderer) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Mouth close-ups (source first) in two rows, then the image-left eye blinking."""
    rig = renderer.rig
    e = rig.E
    w, h = renderer.size

    def crop(img: np.ndarray, cx: float, cy: float, half: float, up: float, down: float):
        x0, x1 = int(max(cx - half, 0)), int(min(cx + half, w))
        y0, y1 = int(max(cy - half * up, 0)), int(min(cy + half * down, h))
        tile = img[y0:y1, x0:x1, :3]
        th = int(round(TILE * tile.shape[0] / max(tile.shape[1], 1)))
        return cv2.resize(tile, (TILE, th), interpolation=cv2.INTER_CUBIC)

    cx, cy = rig.frame.origin
    mouths = [_label(crop(rig.rgba, cx, cy, 0.55 * e, 0.55, 1.05), "source")]
    for label, p in _closeup_poses():
        mouths.append(_label(crop(renderer.render(p, 0.0), cx, cy, 0.55 * e, 0.55, 1.05), label))
    mouths.append(np.zeros_like(mouths[0]))
    eye = rig.eyes[0]
    ex, ey = eye.origin
    eyes = [
        _label(crop(renderer.render(FrameParams(blink=b), 0.0), ex, ey, 0.3 * e, 0.6, 0.45), label)
        for label, b in (("eye open", 0.0), ("blink half", 0.5), ("blink shut", 1.0))
    ]
    eyes += [np.zeros_like(eyes[0])] * (COLUMNS - len(eyes))
    rows = [np.concatenate(mouths[i : i + COLUMNS], 1) for i in range(0, len(mouths), COLUMNS)]
    rows.append(np.concatenate(eyes, 1))
    return np.concatenate(rows, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="/tmp/contact_sheets")
    ap.add_argument("--images", default=str(IMAGES))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pictures = sorted(
        p
        for p in Path(args.images).iterdir()
        if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    )
    with tempfile.TemporaryDirectory() as tmp:
        for pic in pictures:
            t0 = time.monotonic()
            try:
                build_avatar("photo", pic, Path(tmp) / pic.stem)
            except AvatarBuildError as e:
                print(f"{pic.name}: FAILED ({e}) after {time.monotonic() - t0:.1f} s")
                continue
            built = time.monotonic() - t0
            renderer = load_renderer(Path(tmp) / pic.stem)
            cv2.imwrite(str(out / f"{pic.stem}.png"), sheet(renderer))
            if getattr(renderer, "rig", None) is not None:
                cv2.imwrite(str(out / f"{pic.stem}_closeup.png"), closeup(renderer))
            print(f"{pic.name}: built in {built:.1f} s -> {out / (pic.stem + '.png')}")


if __name__ == "__main__":
    main()
