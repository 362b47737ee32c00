"""CreateVideoDigitalHuman: turn a short recording of a person into a video avatar.

Two passes over the recording. Pass 1 tracks face landmarks on every frame and runs the checks.
Between passes: mouth shapes, the canonical mouth frame, the idle loop and the mouth library
are chosen from the landmarks alone. Pass 2 decodes again and writes only what the renderer
needs: the loop and action frames (JPEG, plus an alpha matte on a green screen) and the mouth
crops (JPEG at the canonical size) with their index. The renderer is `avatar.render.video`.

Hint keys (all optional): "range": [start_s, end_s] of the recording to use; "actions":
{"nod": [start_s, end_s], ...} named stretches (seconds in the recording); any field of
`VideoChecks` (e.g. "min_duration_s"). The API spellings "Range" and "Actions" are accepted too.

Progress is reported every few frames; a caller cancels a build by raising from `progress`
(the folder is then half-made, without avatar.json, and the caller removes it).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avatar.lipsync.speaker import fit_avatar
from avatar.registry import AvatarBuildError, ProgressFn
from avatar.types import AvatarRenderer
from avatar.videoavatar import geometry as g
from avatar.videoavatar.align import build_canon, face_region, teeth_fraction
from avatar.videoavatar.checks import VideoChecks, check_source, check_track
from avatar.videoavatar.chroma import ChromaKey, detect_key
from avatar.videoavatar.loop import choose_loop
from avatar.videoavatar.source import SourceError, iter_frames, probe, read_audio
from avatar.videoavatar.store import ImageListWriter
from avatar.videoavatar.track import MAX_TRACK_SIDE, TRIM_EVERY, release_memory, track_frames

MAX_LIBRARY = 600  # mouth crops kept; long recordings keep runs of consecutive frames
RUN = 12  # frames per run when the library is subsampled
EMBED_DIM = 16
FORMAT_VERSION = 3


def _library_frames(usable: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(usable)
    if len(idx) <= MAX_LIBRARY:
        return idx
    n_runs = MAX_LIBRARY // RUN
    starts = np.linspace(0, len(idx) - RUN, n_runs).astype(int)
    return np.unique(np.concatenate([idx[s : s + RUN] for s in starts]))


def _embed_input(crop: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (24, 20), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()


def _embed(small: list[np.ndarray], mask: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Appearance embedding of mouth crops for the search's continuity cost: PCA of small
    masked grey images, plus where the mouth sits in the crop (a jump in position shows as
    jitter), each block scaled to the same typical spread."""
    sm = cv2.resize(mask, (24, 20), interpolation=cv2.INTER_AREA).ravel()
    x = np.stack(small) * sm
    x -= x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    look = x @ vt[:EMBED_DIM].T
    pos = centres - centres.mean(0)
    look /= float(np.median(np.linalg.norm(look, axis=1))) or 1.0
    pos /= float(np.median(np.linalg.norm(pos, axis=1))) or 1.0
    return np.hstack([look, pos]).astype(np.float32)


def _normalise_hint(hint: dict | None) -> dict[str, Any]:
    """Accept the API's spelling too: "Range": [s, e], "Actions": {name: [s, e]} or
    [{"Action": name, "Start": s, "End": e}, ...]."""
    out = dict(hint or {})
    if "Range" in out:
        out.setdefault("range", out.pop("Range"))
    acts = out.pop("Actions", None)
    if acts is not None and "actions" not in out:
        if isinstance(acts, list):
            acts = {a["Action"]: [a["Start"], a["End"]] for a in acts}
        out["actions"] = acts
    return out


def build(source: Path, folder: Path, hint: dict | None, progress: ProgressFn) -> dict[str, Any]:
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    hint = _normalise_hint(hint)
    checks = VideoChecks.from_hint(hint)
    try:
        info = probe(source)
    except SourceError as e:
        raise AvatarBuildError(str(e)) from e
    start_s, end_s = (float(v) for v in hint.get("range", (0.0, info.duration_s)))
    end_s = min(end_s, info.duration_s) if info.duration_s > 0 else end_s
    check_source(end_s - start_s, info.width, info.height, checks)
    for name, span in (hint.get("actions") or {}).items():
        if not 0.0 <= float(span[0]) < float(span[1]) <= end_s - start_s + 0.5:
            raise AvatarBuildError(f"action {name!r}: the stretch {span} is not in the recording")
    progress(1)

    # pass 1: landmarks on every frame
    n_exp = int((end_s - start_s) * info.fps)
    tr = track_frames(
        iter_frames(source, start_s, end_s, max_side=MAX_TRACK_SIDE),
        n_exp,
        (info.width, info.height),
        lambda p: progress(1 + int(54 * p)),
    )
    stages = {"track": time.perf_counter() - t_start}
    n = len(tr.times)
    fps = (n - 1) / (tr.times[-1] - tr.times[0]) if n > 1 else info.fps
    check_source(n / fps, info.width, info.height, checks)
    frontal = check_track(tr, fps, checks)

    # analysis on landmarks only
    lm = tr.landmarks
    poses = np.zeros((n, 3), np.float32)
    poses[tr.ok] = [g.head_pose(x) for x in lm[tr.ok]]
    measures = np.zeros((n, 4), np.float32)
    measures[tr.ok] = [g.mouth_measures(x) for x in lm[tr.ok]]
    scale = g.ShapeScale(measures[frontal])
    shapes = scale.to_params(measures)
    ref = int(np.argmin(np.where(frontal, np.abs(poses[:, 0]) + np.abs(poses[:, 1]), np.inf)))
    canon = build_canon(lm, tr.ok, ref)
    head_xy = lm[:, g.STABLE, :2].mean(1) / np.array(tr.size, np.float32)
    plan = choose_loop(tr.thumbs, head_xy, shapes[:, 0], frontal, fps)
    actions: dict[str, tuple[int, int]] = {}
    for name, span in (hint.get("actions") or {}).items():
        a = int(np.searchsorted(tr.times, float(span[0]) + start_s - 1e-6))
        b = int(np.searchsorted(tr.times, float(span[1]) + start_s - 1e-6))
        if b - a < 2:
            raise AvatarBuildError(f"action {name!r}: the stretch {span} is not in the recording")
        actions[str(name)] = (a, b)
    lib_idx = _library_frames(frontal)
    stages["checks_analysis"] = time.perf_counter() - t_start - sum(stages.values())
    progress(58)

    # pass 2: write loop frames, action frames and mouth crops
    seqs: dict[str, range] = {"loop": range(plan.start, plan.end)}
    seqs.update({f"act_{k}": range(a, b) for k, (a, b) in enumerate(actions.values())})
    fade_src = {plan.start - plan.fade + k: k for k in range(plan.fade)}
    fade_buf: dict[int, np.ndarray] = {}
    writers = {k: ImageListWriter(folder, k) for k in seqs}
    key = None
    alpha_writers: dict[str, ImageListWriter] = {}
    mouths = ImageListWriter(folder, "mouths", quality=94)
    lib_set = {int(i): j for j, i in enumerate(lib_idx)}
    small: list[np.ndarray] = [np.zeros(0)] * len(lib_idx)  # for the appearance embedding
    teeth = np.zeros(len(lib_idx), np.float32)
    w_c, h_c = canon.size
    try:
        for i, (_, rgb) in enumerate(iter_frames(source, start_s, end_s)):
            if i >= n:
                break
            if i == 0:
                k_rgb = detect_key([rgb])
                if k_rgb is not None:
                    key = ChromaKey(k_rgb)
                    alpha_writers = {k: ImageListWriter(folder, f"{k}_alpha", ".png") for k in seqs}
            if i in lib_set:
                j = lib_set[i]
                crop = cv2.warpAffine(
                    rgb,
                    canon.to_crop[i],
                    (w_c, h_c),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE,
                )
                mouths.add(crop)  # library frames come in order: entry j is the j-th added
                small[j] = _embed_input(crop)
                teeth[j] = teeth_fraction(crop, canon.lips[i])[0]
            if i in fade_src:
                fade_buf[i] = rgb
            for name, r in seqs.items():
                if i not in r:
                    continue
                out = rgb
                k = i - r.start
                if name == "loop" and k >= plan.length - plan.fade:
                    # cross-fade the loop's end into the frames that precede its start
                    f = k - (plan.length - plan.fade)
                    w = (f + 1) / (plan.fade + 1)
                    src = fade_buf[plan.start - plan.fade + f]
                    out = cv2.addWeighted(rgb, 1.0 - w, src, w, 0.0)
                if key is not None:
                    out, alpha = key.apply(out)
                    alpha_writers[name].add(alpha)
                writers[name].add(out)
                if name == "loop" and k == 0:
                    cv2.imwrite(str(folder / "preview.jpg"), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
            if i % 10 == 0:
                progress(58 + int(38 * i / max(1, n)))
            if i % TRIM_EVERY == TRIM_EVERY - 1:
                release_memory()
    finally:
        for wr in [*writers.values(), *alpha_writers.values(), mouths]:
            wr.close()

    stages["write"] = time.perf_counter() - t_start - sum(stages.values())

    # per stored frame: placement, pose, own mouth shape (blended on the loop's cross-fade)
    def seq_arrays(r: range, fade: int = 0) -> dict[str, np.ndarray]:
        idx = np.array(list(r))
        to_crop = canon.to_crop[idx].copy()
        sh = shapes[idx].copy()
        ps = poses[idx, :2].copy()
        own_ok = tr.ok[idx].copy()
        face_ok = tr.ok[idx].copy()
        for f in range(fade):
            k = len(idx) - fade + f
            w = (f + 1) / (fade + 1)
            o = plan.start - fade + f
            to_crop[k] = (1 - w) * to_crop[k] + w * canon.to_crop[o]
            ps[k] = (1 - w) * ps[k] + w * poses[o, :2]
            own_ok[k] = False  # two mouths cross-fading: always replace
            face_ok[k] &= tr.ok[o]
        jaw = canon.jaw[idx].copy()
        for f in range(fade):
            k = len(idx) - fade + f
            w = (f + 1) / (fade + 1)
            jaw[k] = (1 - w) * jaw[k] + w * canon.jaw[plan.start - fade + f]
        region = np.stack([face_region(x, canon.size, canon.eye) for x in jaw])
        return {
            "to_crop": to_crop,
            "shape": sh,
            "pose": ps,
            "own_ok": own_ok,
            "face_ok": face_ok,
            "region": region,
            "jaw": jaw.astype(np.float32),
        }

    for name, r in seqs.items():
        np.savez_compressed(
            folder / f"{name}_meta.npz", **seq_arrays(r, plan.fade if name == "loop" else 0)
        )
    np.savez_compressed(
        folder / "library.npz",
        shapes=shapes[lib_idx],
        teeth=teeth > 0.12,
        teeth_frac=teeth,
        pose=poses[lib_idx, :2],
        embed=_embed(small, canon.mask, canon.lips[lib_idx].mean(1)),
        frame=lib_idx.astype(np.int32),
        mask=canon.mask,
        region=np.stack([face_region(canon.jaw[i], canon.size, canon.eye) for i in lib_idx]),
        jaw=canon.jaw[lib_idx].astype(np.float32),
        eye=np.float32(canon.eye),
    )
    stages["index"] = time.perf_counter() - t_start - sum(stages.values())

    # the person's own audio-to-mouth fit (avatar.lipsync.speaker), from this recording only
    pcm = read_audio(source, float(tr.times[0]), end_s) if info.has_audio else None
    speaker = fit_avatar(folder, pcm, fps, shapes, tr.ok)
    stages["speaker"] = time.perf_counter() - t_start - sum(stages.values())
    build_s = time.perf_counter() - t_start
    progress(100)
    return {
        "kind": "video",
        "version": FORMAT_VERSION,
        "actions": list(actions),
        "action_spans": {
            k: [float(tr.times[a] - start_s), float(tr.times[b - 1] - start_s)]
            for k, (a, b) in actions.items()
        },
        "action_seqs": {k: f"act_{i}" for i, k in enumerate(actions)},
        "size": list(tr.size),
        "fps": float(fps),
        "crop_size": list(canon.size),
        "loop": {"start": plan.start, "end": plan.end, "fade": plan.fade, "cost": plan.cost},
        "green_screen": key is not None,
        "library_size": len(lib_idx),
        "teeth_share": float((teeth > 0.12).mean()),
        "scale": scale.to_dict(),
        "source_seconds": float(n / fps),
        "build_seconds": round(build_s, 2),
        "build_cpu_seconds": round(time.process_time() - cpu_start, 2),
        "build_stages": {k: round(v, 2) for k, v in stages.items()},
        "checks": asdict(checks),
        "speaker": speaker,
    }


def load(folder: Path, meta: dict[str, Any]) -> AvatarRenderer:
    from avatar.render.video import VideoAvatarRenderer

    if meta.get("version") != FORMAT_VERSION:
        raise AvatarBuildError(
            f"video avatar format {meta.get('version')} is not {FORMAT_VERSION}: build it again"
        )
    return VideoAvatarRenderer(folder, meta)
