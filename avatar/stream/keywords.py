"""Keyword actions: an avatar's `avatar.json` may map actions to trigger words,
`"keywords": {"nod": ["yes", "indeed"], "greet": ["hello", "你好"]}`; when a text drive's word
timings say one of them, the action starts at that word's time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from avatar.types import WordTiming

_NON_WORD = re.compile(r"[^\w]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def _norm(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


class KeywordActions:
    """Finds trigger words in word timings (which may be single words or whole sentences)."""

    def __init__(self, mapping: Mapping[str, Sequence[str]] | None) -> None:
        self._pairs: list[tuple[str, str]] = []
        for action, words in (mapping or {}).items():
            if isinstance(words, str):
                words = [words]
            for word in words:
                key = _norm(str(word))
                if key:
                    self._pairs.append((key, action))

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def hits(self, word: WordTiming) -> list[tuple[float, str]]:
        """(time in seconds from the drive's start, action) for each keyword said in `word`.

        When the timing covers several words, the time is interpolated by character position,
        which is close enough for a gesture.
        """
        text = _norm(word.text)
        if not text:
            return []
        out: list[tuple[float, str]] = []
        for key, action in self._pairs:
            if text == key:
                out.append((word.start, action))
                continue
            # Latin scripts match whole words; CJK has no spaces, so a substring is a word.
            hay, needle = (text, key) if _CJK.search(key) else (f" {text} ", f" {key} ")
            pos = hay.find(needle)
            while pos >= 0:
                frac = pos / max(1, len(hay))
                out.append((word.start + (word.end - word.start) * frac, action))
                pos = hay.find(needle, pos + len(needle))
        return out
