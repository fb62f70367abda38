"""A local search index: build one from documents, load it, query it, look passages and documents up.

An index is a folder: ``manifest.json`` (format version, build config, counts), the text store
(documents as UTF-8 + passage byte ranges, memory-mapped) and ``bm25/`` (a tantivy inverted index).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from toolgym.errors import first_error
from toolgym.search.bm25 import Bm25Reader, Bm25Writer, import_tantivy
from toolgym.search.chunking import chunk_spans
from toolgym.search.corpus import CorpusError
from toolgym.search.records import Document, OpenedText, Passage, SearchHit, passage_id
from toolgym.search.store import StoreWriter, TextStore

VERSION = 1
MANIFEST = "manifest.json"
BM25_FOLDER = "bm25"


class SearchIndexError(ValueError):
    """An index folder that cannot be used (missing, damaged, or of an unknown format version)."""


class IndexConfig(BaseModel):
    """How a corpus is chunked and analysed."""

    passage_words: int = Field(default=100, ge=1, description="words per passage")
    overlap_words: int = Field(default=20, ge=0, description="words shared by consecutive passages")
    stemmer: str | None = Field(default="english", description="stemming language, or None")
    stopwords: str | None = Field(default="english", description="stop-word language, or None")
    index_titles: bool = Field(default=True, description="match document titles as part of every passage")
    max_query_terms: int = Field(default=64, ge=1, description="distinct terms of a query used; the rest is ignored")
    writer_heap_mb: int = Field(default=128, ge=16, description="memory of the index writer")
    threads: int = Field(default=1, ge=1, description="indexing threads")

    @model_validator(mode="after")
    def _overlap_fits(self) -> IndexConfig:
        if self.overlap_words >= self.passage_words:
            raise ValueError(f"overlap_words ({self.overlap_words}) must be < passage_words ({self.passage_words})")
        return self


class IndexManifest(BaseModel):
    """``manifest.json``: what an index folder holds and how it was built."""

    format: Literal["toolgym-search-index"] = "toolgym-search-index"
    version: int = VERSION
    config: IndexConfig
    documents: int
    passages: int
    empty_documents: int = 0
    source: str = ""
    created: float = Field(default_factory=time.time)
    build_seconds: float = 0.0
    toolgym_version: str = ""
    tantivy_version: str = ""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _clean(text: str) -> str:
    """``text`` as valid UTF-8 (lone surrogates from JSON escapes replaced)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def is_index(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a toolgym search index."""
    return (Path(path) / MANIFEST).is_file()


def build_index(
    documents: Iterable[Document],
    out: str | Path,
    config: IndexConfig | None = None,
    *,
    overwrite: bool = False,
    source: str = "",
    on_progress: Callable[[int, int], None] | None = None,
) -> SearchIndex:
    """Chunk ``documents`` into passages and index them in the folder ``out``; returns the loaded index.

    The index is built beside ``out`` and renamed into place when complete, so an interrupted build
    leaves no half-written index (and an existing one is replaced only with ``overwrite``).
    ``on_progress(documents, passages)`` is called every 256 documents and at the end.
    """
    config = config or IndexConfig()
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise FileExistsError(f"{out} exists: pass overwrite=True (--overwrite) to replace it")
        if not is_index(out) and (not out.is_dir() or any(out.iterdir())):
            raise FileExistsError(f"{out} exists and is not a toolgym search index: not replacing it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.building-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    start = time.perf_counter()
    store: StoreWriter | None = None
    bm25: Bm25Writer | None = None
    try:
        store = StoreWriter(tmp)
        bm25 = Bm25Writer(tmp / BM25_FOLDER, config.stemmer, config.stopwords, config.writer_heap_mb, config.threads)
        seen: set[str] = set()
        empty = count = 0
        for count, doc in enumerate(documents, 1):
            if doc.id in seen:
                raise CorpusError(f"{doc.source or doc.id}: field 'id': duplicate document id {doc.id!r}")
            seen.add(doc.id)
            text = _clean(doc.text)
            spans = chunk_spans(text, config.passage_words, config.overlap_words)
            if not spans:
                empty += 1
                continue
            first = store.passages
            title = _clean(doc.title)
            store.add(doc.id, title, text, spans)
            prefix = f"{title}\n" if config.index_titles and title else ""
            for i, (s, e) in enumerate(spans):
                bm25.add(first + i, prefix + text[s:e])
            if on_progress is not None and count % 256 == 0:
                on_progress(count, store.passages)
        if not store.passages:
            raise CorpusError(f"{source or 'the corpus'}: no text to index ({count} documents, all empty)")
        bm25.commit()
        store.close()
        manifest = IndexManifest(
            config=config,
            documents=store.documents,
            passages=store.passages,
            empty_documents=empty,
            source=source,
            build_seconds=time.perf_counter() - start,
            toolgym_version=_version("toolgym"),
            tantivy_version=_version("tantivy"),
        )
        (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if on_progress is not None:
            on_progress(count, store.passages)
        _replace(tmp, out)
    except BaseException:
        if bm25 is not None:
            bm25.abort()
        if store is not None:
            store.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SearchIndex(out)


def _replace(new: Path, out: Path) -> None:
    """Move the finished index ``new`` to ``out``, replacing what is there."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        out.rename(old)
    new.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(path: str | Path) -> IndexManifest:
    """The manifest of the index at ``path``; SearchIndexError if it is missing, damaged or too new."""
    path = Path(path)
    file = path / MANIFEST
    if not file.is_file():
        what = "no such folder" if not path.exists() else f"not a toolgym search index (no {MANIFEST})"
        raise SearchIndexError(f"{path}: {what}; build one with `toolgym index build CORPUS --out {path}`")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SearchIndexError(f"{file}: unreadable manifest: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("version"), int) and data["version"] > VERSION:
        raise SearchIndexError(
            f"{path}: index format version {data['version']} is newer than this toolgym reads ({VERSION}); "
            "upgrade toolgym or rebuild the index"
        )
    try:
        return IndexManifest.model_validate(data)
    except ValidationError as exc:
        field, message = first_error(exc, "(manifest)")
        raise SearchIndexError(f"{file}: field {field!r}: {message}") from None


class SearchIndex:
    """A built index, loaded from its folder: BM25 search over passages, lookups by id.

    Loading maps the files into memory (milliseconds for millions of passages). Methods are
    synchronous and thread-safe; the async tools run them in worker threads.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.config = self.manifest.config
        import_tantivy()
        try:
            self.store = TextStore(self.path)
            self._bm25 = Bm25Reader(self.path / BM25_FOLDER, self.config.stemmer, self.config.stopwords)
        except (OSError, ValueError, KeyError) as exc:
            raise SearchIndexError(f"{self.path}: damaged index: {exc}") from None
        if self.store.passages != self.manifest.passages:
            raise SearchIndexError(f"{self.path}: damaged index: {self.store.passages} passages, manifest says "
                              f"{self.manifest.passages}")  # fmt: skip

    def __repr__(self) -> str:
        return f"SearchIndex({str(self.path)!r}, documents={self.documents}, passages={self.passages})"

    @property
    def passages(self) -> int:
        return self.store.passages

    @property
    def documents(self) -> int:
        return self.store.documents

    def query_terms(self, query: str) -> list[str]:
        """The index terms a query is matched on (stop words dropped, stemmed, capped)."""
        return self._bm25.terms(query, self.config.max_query_terms)

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """The ``k`` passages that best match ``query`` (BM25), best first; [] if no term of it is indexed."""
        hits = []
        for number, score in self._bm25.search(self.query_terms(query), k):
            passage = self.passage(number)
            hits.append(SearchHit(passage.id, passage.title, passage.text, score, passage.doc_id, passage.position))
        return hits

    def passage(self, ref: int | str) -> Passage:
        """A passage by number or id (``doc_id#position``); KeyError if there is none."""
        number = ref if isinstance(ref, int) else self._passage_number(ref)
        if number is None or not 0 <= number < self.passages:
            raise KeyError(ref)
        store = self.store
        doc = store.passage_doc(number)
        position = number - store.doc_passage_range(doc)[0]
        doc_id = store.ids[doc]
        return Passage(passage_id(doc_id, position), doc_id, store.titles[doc], store.passage_text(number), position)

    def _passage_number(self, pid: str) -> int | None:
        doc_id, sep, position = pid.rpartition("#")
        if not sep or not position.isdigit():
            return None
        doc = self.store.doc_index(doc_id)
        if doc is None:
            return None
        first, end = self.store.doc_passage_range(doc)
        number = first + int(position)
        return number if number < end else None

    def document(self, doc_id: str) -> Document:
        """A whole document by id; KeyError if there is none."""
        doc = self.store.doc_index(doc_id)
        if doc is None:
            raise KeyError(doc_id)
        return Document(doc_id, self.store.titles[doc], self.store.doc_text(doc), str(self.path))

    def lookup(self, ref: str) -> OpenedText:
        """A passage (``doc_id#position``) or a whole document by id; KeyError if neither exists."""
        with contextlib.suppress(KeyError):
            passage = self.passage(ref)
            return OpenedText(passage.id, passage.title, passage.text, passage.doc_id)
        doc = self.document(ref)
        return OpenedText(doc.id, doc.title, doc.text)


_OPEN: dict[tuple[str, int], SearchIndex] = {}
_OPEN_LOCK = threading.Lock()


def open_index(path: str | Path) -> SearchIndex:
    """The index at ``path``, loaded once per process and shared (reloaded if it was rebuilt)."""
    resolved = Path(path).resolve()
    try:
        stamp = (resolved / MANIFEST).stat().st_mtime_ns
    except OSError:
        read_manifest(resolved)  # raises the clear error
        raise
    with _OPEN_LOCK:
        index = _OPEN.get((str(resolved), stamp))
        if index is None:
            index = SearchIndex(resolved)
            _OPEN[(str(resolved), stamp)] = index
        return index
