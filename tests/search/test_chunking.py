"""Chunking: word windows with overlap that keep the text's layout."""

from __future__ import annotations

import pytest

from toolgym.search.chunking import chunk_spans


def words(text: str, spans: list[tuple[int, int]]) -> list[list[str]]:
    return [text[s:e].split() for s, e in spans]


def test_windows_have_the_size_and_overlap_asked_for() -> None:
    text = " ".join(f"w{i}" for i in range(10))
    assert words(text, chunk_spans(text, 4, 1)) == [
        ["w0", "w1", "w2", "w3"],
        ["w3", "w4", "w5", "w6"],
        ["w6", "w7", "w8", "w9"],
    ]
    assert words(text, chunk_spans(text, 4, 0)) == [["w0", "w1", "w2", "w3"], ["w4", "w5", "w6", "w7"], ["w8", "w9"]]


def test_every_word_is_covered_and_no_window_is_only_overlap() -> None:
    for n in range(1, 40):
        text = " ".join(f"w{i}" for i in range(n))
        chunks = words(text, chunk_spans(text, 7, 3))
        covered = [w for chunk in chunks for w in chunk]
        assert set(covered) == set(text.split())
        assert all(len(c) == 7 for c in chunks[:-1])
        if len(chunks) > 1:
            assert len(chunks[-1]) > 3  # the last window adds words of its own


def test_spans_start_and_end_on_words_and_keep_layout() -> None:
    text = "\n  def f(x):\n      return x  \n\nnext   paragraph here\n"
    spans = chunk_spans(text, 4, 0)
    assert [text[s:e] for s, e in spans] == ["def f(x):\n      return x", "next   paragraph here"]


def test_empty_text_has_no_passages_and_bad_sizes_fail() -> None:
    assert chunk_spans("", 5, 1) == [] and chunk_spans(" \n\t ", 5, 1) == []
    assert chunk_spans("one", 5, 1) == [(0, 3)]
    with pytest.raises(ValueError, match="passage_words"):
        chunk_spans("a b", 0, 0)
    with pytest.raises(ValueError, match="overlap_words"):
        chunk_spans("a b", 3, 3)
