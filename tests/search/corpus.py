"""A small invented corpus (so no model or search engine knows it) and helpers to index it in tests."""

from __future__ import annotations

import json
from pathlib import Path

from toolgym.search.index import IndexConfig, SearchIndex, build_index

HISTORY = " ".join(
    f"In year {1800 + i} the council of Lutz met {i + 1} times and built {i + 2} bridges over the Kessel."
    for i in range(12)
)

DOCUMENTS = [
    {
        "id": "zubrowka",
        "title": "Zubrowka",
        "text": "Zubrowka is a small alpine republic. The capital of Zubrowka is Lutz, a city on the river "
        "Kessel. The currency of Zubrowka is the klubeck.",
    },
    {
        "id": "kessel",
        "title": "Kessel (river)",
        "text": "The Kessel is a river that flows through Lutz. It freezes every winter, and boats carry timber "
        "downstream in spring.",
    },
    {
        "id": "ember",
        "title": "Mount Ember",
        "text": "Mount Ember is a volcano east of Lutz. Its eruptions buried farms twice. Ember last erupted in 1907, "
        "when ash reached the capital.",
    },
    {
        "id": "cheese",
        "title": "Lutz cheese",
        "text": "Lutz cheese is a hard cheese ripened in caves for two years. Cheese makers of the valley sell "
        "cheese at the winter market.",
    },
    {"id": "history", "title": "History of Lutz", "text": HISTORY},
    {"id": "accents", "title": "Café Größe", "text": "The Café Größe in Lutz serves crème brûlée and naïve tea."},
    {"id": "empty", "title": "Nothing", "text": "   \n "},
]

CONFIG = IndexConfig(passage_words=30, overlap_words=5)


def write_corpus(path: Path) -> Path:
    """Write the corpus as JSONL and return its path."""
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS), encoding="utf-8")
    return path


def build_test_index(folder: Path) -> SearchIndex:
    """Index the corpus (30-word passages, 5 shared) in ``folder / "index"``."""
    corpus = write_corpus(folder / "corpus.jsonl")
    from toolgym.search.corpus import read_jsonl

    return build_index(read_jsonl(corpus), folder / "index", CONFIG, source=str(corpus))
