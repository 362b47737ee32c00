"""A small knowledge base with retrieval, for the customer-service agent: BM25 over passages.

Pure Python and offline. Passages are paragraphs of the given texts (or files); English is
matched by lower-case words, Chinese by character bigrams (it has no spaces), so one index serves
both. `context(query)` returns the best passages, ready to put into the system prompt.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "to",
        "of",
        "and",
        "or",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "it",
        "this",
        "that",
        "what",
        "how",
        "do",
        "does",
        "i",
        "you",
        "we",
        "my",
        "your",
        "can",
        "could",
        "would",
        "please",
        "me",
    ]
)


def terms(text: str) -> list[str]:
    """Index terms: English words (minus stop words, crude plural folding), Chinese bigrams."""
    text = text.lower()
    out = []
    for word in _WORD.findall(text):
        if word in _STOP:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    for run in _HAN_RUN.findall(text):
        if len(run) == 1:
            out.append(run)
        out += [run[i : i + 2] for i in range(len(run) - 1)]
    return out


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    source: str


class KnowledgeBase:
    """BM25 index of passages (k1=1.5, b=0.75)."""

    def __init__(self, passages: Iterable[Passage] = (), k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.passages: list[Passage] = []
        self._tf: list[Counter[str]] = []
        self._df: Counter[str] = Counter()
        self._total_len = 0
        for p in passages:
            self.add(p)

    @classmethod
    def from_texts(cls, texts: Iterable[str], source: str = "text") -> KnowledgeBase:
        """One passage per paragraph (blank-line separated) of each text."""
        kb = cls()
        for i, text in enumerate(texts):
            for para in re.split(r"\n\s*\n", text):
                if para.strip():
                    kb.add(Passage(para.strip(), f"{source}:{i}"))
        return kb

    @classmethod
    def from_dir(cls, folder: Path) -> KnowledgeBase:
        """Every .txt and .md file of `folder`, one passage per paragraph."""
        kb = cls()
        for path in sorted(folder.glob("**/*")):
            if path.suffix.lower() in (".txt", ".md") and path.is_file():
                for para in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
                    if para.strip():
                        kb.add(Passage(para.strip(), path.name))
        return kb

    def add(self, passage: Passage) -> None:
        tf = Counter(terms(passage.text))
        self.passages.append(passage)
        self._tf.append(tf)
        self._df.update(tf.keys())
        self._total_len += sum(tf.values())

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, query: str, k: int = 3) -> list[tuple[Passage, float]]:
        """The `k` best passages with their scores (only those sharing a term with the query)."""
        n = len(self.passages)
        if n == 0:
            return []
        avg = self._total_len / n or 1.0
        q = Counter(terms(query))
        scored = []
        for i, tf in enumerate(self._tf):
            length = sum(tf.values())
            score = 0.0
            for term in q:
                f = tf.get(term, 0)
                if not f:
                    continue
                idf = math.log(1 + (n - self._df[term] + 0.5) / (self._df[term] + 0.5))
                score += (
                    idf * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * length / avg))
                )
            if score > 0:
                scored.append((score, i))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [(self.passages[i], score) for score, i in scored[:k]]

    def context(self, query: str, k: int = 3, max_chars: int = 1200) -> str:
        """The best passages as one block of text (empty when nothing matches)."""
        parts: list[str] = []
        used = 0
        for passage, _ in self.search(query, k):
            if used + len(passage.text) > max_chars and parts:
                break
            parts.append(passage.text[:max_chars])
            used += len(passage.text)
        return "\n\n".join(parts)
