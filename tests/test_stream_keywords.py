"""Keyword actions found in word timings: single words, sentence-level timings (interpolated),
Chinese without spaces, and no false hits inside other words."""

from __future__ import annotations

import pytest

from avatar.stream.drive import PcmFifo
from avatar.stream.keywords import KeywordActions
from avatar.types import WordTiming


def test_words_and_sentences() -> None:
    kw = KeywordActions({"nod": ["yes", "of course"], "greet": "hello", "think": ["你好"]})
    assert kw.hits(WordTiming("Yes,", 1.0, 1.3)) == [(1.0, "nod")]
    assert kw.hits(WordTiming("yesterday", 1.0, 1.6)) == []  # not inside another word
    # A sentence-level timing: the hit is placed by character position within it.
    hits = kw.hits(WordTiming("Well, of course. Hello!", 2.0, 4.0))
    assert [a for _, a in hits] == ["nod", "greet"]
    (t_nod, _), (t_hello, _) = hits
    assert 2.0 < t_nod < t_hello < 4.0
    assert t_hello == pytest.approx(2.0 + 2.0 * 16 / 23, abs=0.1)
    assert kw.hits(WordTiming("大家好，你好啊", 0.0, 1.4)) == [(pytest.approx(0.8), "think")]
    assert not KeywordActions(None) and KeywordActions({"nod": ["yes"]})


def test_pcm_fifo_keeps_order_across_pieces() -> None:
    import numpy as np

    fifo = PcmFifo()
    data = np.arange(1000, dtype=np.int16)
    for i in range(0, 1000, 130):
        fifo.push(data[i : i + 130])
    out = [fifo.take(320) for _ in range(4)]
    assert [len(o) for o in out] == [320, 320, 320, 40]
    assert np.array_equal(np.concatenate(out), data) and fifo.samples == 0
