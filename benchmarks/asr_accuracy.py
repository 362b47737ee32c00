"""ASR accuracy and latency on the shared speech clips: English WER, Mandarin CER.

Clips: every audio file in shared/media/audio/16k_mono and every video with speech whose name
starts with a language code (en_, zh_, de_). References are the Whisper transcripts quoted in
shared/media/MANIFEST.md where it gives one (a quote with "..." is part of the speech: compared
with the best-matching stretch of the transcript); the two recited classical poems are scored
against the poems' canonical text, apart ("zh_cer_poems"); any other clip has no reference and
is reported with its transcript and "reference": null, outside the averages.

    python benchmarks/asr_accuracy.py [--media DIR] [--threads 1]

Prints one JSON line per clip and model, then a final summary line:
{"en_wer": ..., "zh_cer": ..., "en_wer_tiny_en": ..., "latency_ms": {...}, ...}.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.asr.metrics import (  # noqa: E402
    cer,
    edit_distance,
    normalize_chars,
    normalize_words,
    wer,
)
from agent.asr.whisper import WhisperASR  # noqa: E402
from avatar.types import AUDIO_RATE  # noqa: E402

LANGS = ("en", "zh", "de")
# Two clips are recitations of classical poems whose text is canonical; MANIFEST gives no
# transcript for them, so they are scored apart ("zh_cer_poems") from the MANIFEST references.
POEMS = {
    "audio/16k_mono/zh_chinese_poem1.wav": "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "audio/16k_mono/zh_chinese_poem2.wav": "常记溪亭日暮，沉醉不知归路。兴尽晚回舟，误入藕花深处。...",
}


def default_media() -> Path:
    for candidate in (
        Path(__file__).resolve().parents[2] / "shared" / "media",
        Path("/work/shared/media"),
    ):
        if candidate.is_dir():
            return candidate
    raise SystemExit("shared/media not found: pass --media")


def manifest_references(media: Path) -> dict[str, str]:
    """file (relative to media) -> the Whisper quote in its MANIFEST row."""
    refs: dict[str, str] = {}
    manifest = media / "MANIFEST.md"
    if not manifest.is_file():
        return refs
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or "whisper:" not in line:
            continue
        name = line.split("|")[1].strip()
        match = re.search(r'whisper:\s*"(.+?)"(?:,|\))', line)
        if match:
            refs[name] = match.group(1)
    return refs


def load_audio(path: Path) -> np.ndarray:
    """int16 mono 16 kHz from a WAV or the audio track of a video (PyAV)."""
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
    out = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(0, np.int16)
        for frame in container.decode(audio=0):
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    return np.concatenate(out) if out else np.zeros(0, np.int16)


def clips(media: Path) -> list[tuple[str, str]]:
    """(relative path, language) of the speech clips."""
    found = []
    for path in sorted((media / "audio" / "16k_mono").glob("*.wav")):
        found.append((str(path.relative_to(media)), path.name[:2]))
    for path in sorted((media / "video").glob("*.mp4")):
        if path.name[:3] in tuple(f"{lang}_" for lang in LANGS):
            found.append((str(path.relative_to(media)), path.name[:2]))
    return [(rel, lang) for rel, lang in found if lang in LANGS]


def _window_error(ref: list[str], hyp: list[str], anchored: bool) -> float:
    """Error of `ref` against the stretch of `hyp` of the same length that matches it best
    (anchored: only the stretch at the start)."""
    starts = [0] if anchored else range(max(1, len(hyp) - len(ref) + 1))
    best = min(edit_distance(ref, hyp[i : i + len(ref)]) for i in starts)
    return best / max(1, len(ref))


def score(lang: str, reference: str | None, text: str) -> float | None:
    """WER (en, de) or CER (zh). A quote ending in "..." is the start of the clip's speech, one
    starting with "..." a stretch from its middle: compared with the best-matching stretch."""
    if reference is None:
        return None
    ref = reference.strip()
    head, tail = ref.startswith("..."), ref.endswith("...")
    ref = ref.strip(".").strip() if (head or tail) else ref
    if not (head or tail):
        return cer(ref, text) if lang == "zh" else wer(ref, text)
    if lang == "zh":
        return _window_error(normalize_chars(ref), normalize_chars(text), anchored=not head)
    return _window_error(normalize_words(ref), normalize_words(text), anchored=not head)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    media = args.media or default_media()
    refs = manifest_references(media)
    # Plain base for every language; tiny.en as the fast English path the conversation uses.
    models = {
        "base": WhisperASR(threads=args.threads, fast_english=False),
        "tiny.en": WhisperASR(threads=args.threads, fast_english=True),
    }
    t0 = time.perf_counter()
    models["base"].load(("zh",))
    models["tiny.en"].load(("en",))
    load_s = time.perf_counter() - t0
    scores: dict[str, list[float]] = {}
    latency: dict[str, list[float]] = {}
    for rel, lang in clips(media):
        audio = load_audio(media / rel)
        if len(audio) < AUDIO_RATE // 2:
            continue
        # A clip named after a video's audio may have a reference under the original file.
        reference = refs.get(rel) or refs.get(rel.replace("audio/16k_mono/", "audio/"))
        source = "manifest" if reference else None
        if reference is None and rel in POEMS:
            reference, source = POEMS[rel], "poem"
        for model_name, asr in models.items():
            if model_name == "tiny.en" and lang != "en":
                continue
            result = asr.transcribe_detailed(audio, language=lang)
            value = score(lang, reference, result.text)
            key = f"{lang}_{'cer' if lang == 'zh' else 'wer'}" + (
                "" if model_name == "base" else "_tiny_en"
            )
            if source == "poem":
                key += "_poems"
            if value is not None:
                scores.setdefault(key, []).append(value)
            latency.setdefault(model_name, []).append(result.compute_seconds)
            print(
                json.dumps(
                    {
                        "clip": rel,
                        "lang": lang,
                        "model": model_name,
                        "audio_s": round(result.audio_seconds, 2),
                        "latency_ms": round(result.compute_seconds * 1000),
                        "reference": reference,
                        "reference_source": source,
                        "transcript": result.text,
                        key: None if value is None else round(value, 3),
                    },
                    ensure_ascii=False,
                ),
                flush=True,
            )
    summary: dict[str, object] = {k: round(statistics.mean(v), 3) for k, v in scores.items()}
    summary["clips_with_reference"] = {k: len(v) for k, v in scores.items()}
    summary["latency_ms"] = {
        k: {"p50": round(statistics.median(v) * 1000), "max": round(max(v) * 1000)}
        for k, v in latency.items()
    }
    summary["load_s"] = round(load_s, 2)
    summary["threads"] = args.threads
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
