"""Accuracy metrics for ASR: word error rate (English) and character error rate (Mandarin)."""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s']|_", re.UNICODE)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between token lists (substitutions, insertions, deletions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation ("Wisconsin's" keeps its apostrophe)."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    return _PUNCT.sub(" ", text).split()


def normalize_chars(text: str) -> list[str]:
    """Characters without punctuation or spaces (for Chinese)."""
    text = unicodedata.normalize("NFKC", text)
    return [ch for ch in text if ch.isalnum()]


def wer(reference: str, hypothesis: str) -> float:
    ref = normalize_words(reference)
    return edit_distance(ref, normalize_words(hypothesis)) / max(1, len(ref))


def cer(reference: str, hypothesis: str) -> float:
    ref = normalize_chars(reference)
    return edit_distance(ref, normalize_chars(hypothesis)) / max(1, len(ref))
