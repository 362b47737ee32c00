"""Sentence splitting for TTS: whole texts and streamed LLM tokens, English and Chinese.

Pure and I/O-free. `split_sentences` cuts a finished text; `SentenceSplitter` takes text as it
streams (`push` returns the sentences completed so far, `flush` the rest), so TTS can start on the
first sentence while the LLM is still writing the second. Abbreviations ("Mr.", "e.g.") and
decimals ("3.14") do not end a sentence; very long sentences are cut at a clause mark so no single
TTS call holds up the audio for long.
"""

from __future__ import annotations

import re

# Marks that end a sentence at once (CJK full-width marks need no following space).
_CJK_END = "。！？；…"
# ASCII marks end a sentence only when followed by whitespace (or the end of the text).
_ASCII_END = ".!?;"
# Closing quotes/brackets that stay with the sentence they close.
_CLOSERS = "\"')]}”’」』）】》"
# Clause marks where an over-long sentence may be cut.
_CLAUSE = ",，、:：—"

_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "a.m", "p.m"}
    | {"fig", "inc", "ltd", "u.s", "u.k", "approx", "dept"}
)

DEFAULT_MAX_CHARS = 200


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def _ends_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at `dot` belongs to an abbreviation, an initial or a number."""
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:dot].lower().lstrip("\"'([")
    if not word:
        return False
    if word in _ABBREVIATIONS:
        return True
    # A single capital letter ("J. Smith") is an initial.
    return len(word) == 1 and word.isalpha() and text[dot - 1].isupper()


class SentenceSplitter:
    """Streaming splitter: push text pieces, get complete sentences back.

    `first_clause_chars`: when > 0, the first sentence may be cut early at a clause mark once it
    is at least that long, so speech can start sooner on a long opening sentence.
    """

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS, first_clause_chars: int = 0) -> None:
        self.max_chars = max_chars
        self.first_clause_chars = first_clause_chars
        self._buf = ""
        self._emitted = 0

    def push(self, text: str) -> list[str]:
        """Add streamed text; return the sentences it completed (stripped, never empty)."""
        self._buf += text
        out: list[str] = []
        while True:
            cut = self._find_cut(final=False)
            if cut is None:
                break
            self._take(cut, out)
        return out

    def flush(self) -> list[str]:
        """End of stream: return whatever is left as sentences."""
        out: list[str] = []
        while self._buf.strip():
            cut = self._find_cut(final=True)
            self._take(cut if cut is not None else len(self._buf), out)
        self._buf = ""
        return out

    def reset(self) -> None:
        """Drop buffered text (after an interruption)."""
        self._buf = ""
        self._emitted = 0

    def _take(self, cut: int, out: list[str]) -> None:
        piece, self._buf = self._buf[:cut].strip(), self._buf[cut:]
        if piece and any(ch.isalnum() for ch in piece):
            out.append(piece)
            self._emitted += 1
        elif piece and out:
            out[-1] += piece  # stray punctuation belongs to the previous sentence

    def _find_cut(self, final: bool) -> int | None:
        """Index just past the first sentence end in the buffer, or None if not yet known."""
        buf = self._buf
        n = len(buf)
        if self._emitted == 0 and self.first_clause_chars > 0:
            cut = self._first_clause(buf)
            if cut is not None:
                return cut
        i = 0
        while i < n:
            ch = buf[i]
            if ch in _CJK_END or (ch in _ASCII_END and self._ascii_end(buf, i, final)):
                j = i + 1
                # Runs like "?!" or "……" and closing quotes stay with the sentence.
                while j < n and (buf[j] in _CJK_END or buf[j] in _ASCII_END or buf[j] in _CLOSERS):
                    j += 1
                if j == n and not final and ch in _ASCII_END:
                    return None  # more marks or a closer may still come
                return j
            if ch == "\n" and buf[:i].strip():
                return i + 1
            i += 1
        if len(buf.strip()) >= self.max_chars:
            return self._clause_cut(buf)
        return None

    def _first_clause(self, buf: str) -> int | None:
        """End of the first clause when it is at least first_clause_chars long and comes before
        the first sentence end."""
        for k in range(len(buf) - 1):
            ch = buf[k]
            if ch in _CJK_END or (ch in _ASCII_END and buf[k + 1].isspace()):
                return None  # the sentence ends first
            # "1,000" is not a clause break: the mark must be followed by a space or CJK.
            if (
                ch in _CLAUSE
                and k + 1 >= self.first_clause_chars
                and (buf[k + 1].isspace() or _is_cjk(buf[k + 1]))
            ):
                return k + 1
        return None

    def _ascii_end(self, buf: str, i: int, final: bool) -> bool:
        nxt = buf[i + 1] if i + 1 < len(buf) else ""
        if nxt == "":
            if not final:
                return False  # "3." may become "3.14"; wait for the next piece
        elif not (nxt.isspace() or nxt in _CLOSERS or nxt in _ASCII_END or _is_cjk(nxt)):
            return False
        return not (buf[i] == "." and _ends_abbreviation(buf, i))

    def _clause_cut(self, buf: str) -> int:
        """Cut an over-long sentence at its last clause mark (or space) in the second half of
        max_chars; with no break point at all (a long CJK run) hard at max_chars."""
        limit = self.max_chars
        for marks in (_CLAUSE, " "):
            for k in range(min(len(buf), limit) - 1, limit // 2 - 1, -1):
                if buf[k] in marks and buf[:k].strip():
                    return k + 1
        return min(len(buf), limit)


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Split a finished text into sentences for TTS."""
    splitter = SentenceSplitter(max_chars=max_chars)
    return splitter.push(text) + splitter.flush()


_WORD_RE = re.compile(r"[\u3400-\u9fff]|[^\s\u3400-\u9fff]+")


def words_of(sentence: str) -> list[str]:
    """Words for timing: whitespace-separated tokens, and one Chinese character per word."""
    return [w for w in _WORD_RE.findall(sentence) if any(ch.isalnum() for ch in w)]


def language_of(text: str) -> str:
    """ "zh" when Chinese characters make up at least a third of the letters, else "en"."""
    han = sum("\u3400" <= ch <= "\u9fff" for ch in text)
    letters = sum(ch.isalpha() for ch in text)
    return "zh" if letters and han * 3 >= letters else "en"
