"""BM25 over tantivy: the analyzer, writing the inverted index, and ranked retrieval by passage number.

tantivy (Rust) is imported lazily: it is the optional extra ``toolgym[search]``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import ModuleType
from typing import Any

ANALYZER = "toolgym"
MAX_TOKEN_BYTES = 40


def import_tantivy() -> ModuleType:
    """The tantivy module, or an ImportError saying how to install it."""
    try:
        import tantivy
    except ImportError:
        raise ImportError("the local search index needs tantivy: pip install 'toolgym[search]'") from None
    return tantivy


def make_analyzer(stemmer: str | None, stopwords: str | None) -> Any:
    """Words split on non-alphanumerics, lower-cased, ASCII-folded, stop words dropped, stemmed.

    ``stemmer``/``stopwords`` name a language (``"english"``) or are None to skip that step.
    """
    tantivy = import_tantivy()
    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    builder = builder.filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES)).filter(tantivy.Filter.lowercase())
    builder = builder.filter(tantivy.Filter.ascii_fold())
    try:
        if stopwords:
            builder = builder.filter(tantivy.Filter.stopword(stopwords))
        if stemmer:
            builder = builder.filter(tantivy.Filter.stemmer(stemmer))
    except ValueError as exc:
        languages = f"stemmer={stemmer!r}, stopwords={stopwords!r}"
        raise ValueError(f"unsupported analyzer language ({languages}): {exc}") from None
    return builder.build()


def _schema(tantivy: ModuleType) -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pid", stored=True, indexed=False, fast=False)
    builder.add_text_field("text", stored=False, tokenizer_name=ANALYZER, index_option="freq")
    return builder.build()


class Bm25Writer:
    """Adds passages (number + text) to a new tantivy index in ``folder``; ``commit`` makes it final."""

    def __init__(
        self, folder: Path, stemmer: str | None, stopwords: str | None, heap_mb: int = 128, threads: int = 1
    ) -> None:
        tantivy = import_tantivy()
        self._tantivy = tantivy
        folder.mkdir(parents=True, exist_ok=True)
        self._index = tantivy.Index(_schema(tantivy), path=str(folder))
        self._index.register_tokenizer(ANALYZER, make_analyzer(stemmer, stopwords))
        self._writer = self._index.writer(heap_size=heap_mb * 1_000_000, num_threads=threads)

    def add(self, pid: int, text: str) -> None:
        self._writer.add_document(self._tantivy.Document(pid=pid, text=text))

    def commit(self) -> None:
        self._writer.commit()
        self._writer.wait_merging_threads()
        self._writer = None

    def abort(self) -> None:
        """Drop what was added and stop the writer's threads (before its folder is deleted)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.rollback()
            with contextlib.suppress(Exception):
                writer.wait_merging_threads()
        self._index = None


class Bm25Reader:
    """Ranked retrieval over a tantivy index written by :class:`Bm25Writer`; safe to share across threads."""

    def __init__(self, folder: Path, stemmer: str | None, stopwords: str | None) -> None:
        tantivy = import_tantivy()
        self._tantivy = tantivy
        self._index = tantivy.Index.open(str(folder))
        self._analyzer = make_analyzer(stemmer, stopwords)
        self._index.register_tokenizer(ANALYZER, self._analyzer)
        self._schema = self._index.schema
        self._searcher = self._index.searcher()

    def terms(self, query: str, limit: int) -> list[str]:
        """The distinct index terms of ``query`` in order, at most ``limit`` of them."""
        seen: dict[str, None] = {}
        for term in self._analyzer.analyze(query):
            seen.setdefault(term)
            if len(seen) >= limit:
                break
        return list(seen)

    def search(self, terms: list[str], k: int) -> list[tuple[int, float]]:
        """``(passage number, BM25 score)`` of the ``k`` best passages matching any of ``terms``."""
        if not terms or k < 1:
            return []
        tantivy, schema = self._tantivy, self._schema
        should = tantivy.Occur.Should
        query = tantivy.Query.boolean_query([(should, tantivy.Query.term_query(schema, "text", t)) for t in terms])
        searcher = self._searcher
        hits = searcher.search(query, k, count=False).hits
        ranked = [(searcher.doc(address)["pid"][0], float(score)) for score, address in hits]
        ranked.sort(key=lambda hit: (-hit[1], hit[0]))  # ties in passage order: the same ranking every run
        return ranked
