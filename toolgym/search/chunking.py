"""Chunking documents into passages: windows of whole words that overlap by a few words."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=16)
def _window(words: int) -> re.Pattern[str]:
    """Up to ``words`` whitespace-separated words (with the whitespace after each)."""
    return re.compile(r"(?:\S+\s*){1," + str(words) + "}")


def chunk_spans(text: str, passage_words: int = 100, overlap_words: int = 20) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the passages of ``text``.

    Each passage holds ``passage_words`` words (the last one fewer); consecutive passages share
    ``overlap_words`` words. Spans start and end on words, so passages keep the text's own layout
    (line breaks, code). A text with no words has no passages.
    """
    if passage_words < 1:
        raise ValueError(f"passage_words must be >= 1, got {passage_words}")
    if not 0 <= overlap_words < passage_words:
        raise ValueError(f"overlap_words must be >= 0 and < passage_words ({passage_words}), got {overlap_words}")
    end_of_text = len(text.rstrip())
    first = len(text) - len(text.lstrip())
    if first >= end_of_text:
        return []
    step, window = _window(passage_words - overlap_words), _window(passage_words)
    spans: list[tuple[int, int]] = []
    for block in step.finditer(text, first):
        start = block.start()
        match = window.match(text, start)
        assert match is not None  # a block starts on a word
        end = len(text[start : match.end()].rstrip()) + start
        spans.append((start, end))
        if end >= end_of_text:
            break
    return spans
