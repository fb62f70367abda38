"""Local search for search agents: corpus readers, chunking, a BM25 index, search backends, QA sets."""

from toolgym.search.backends import HitCache, LocalIndexBackend, SearchBackend, ToolsetBackend, UnknownIdError
from toolgym.search.chunking import chunk_spans
from toolgym.search.corpus import CorpusError, read_corpus, read_folder, read_jsonl
from toolgym.search.html_text import html_to_text
from toolgym.search.index import (
    IndexConfig,
    IndexManifest,
    SearchIndex,
    SearchIndexError,
    build_index,
    is_index,
    open_index,
    read_manifest,
)
from toolgym.search.qa import QAFileError, QAItem, QAReward, load_qa
from toolgym.search.records import Document, OpenedText, Passage, SearchHit
from toolgym.search.retriever import RetrieverBackend
from toolgym.search.server import RetrievalServer

__all__ = [
    "CorpusError",
    "Document",
    "HitCache",
    "IndexConfig",
    "IndexManifest",
    "LocalIndexBackend",
    "OpenedText",
    "Passage",
    "QAFileError",
    "QAItem",
    "QAReward",
    "RetrievalServer",
    "RetrieverBackend",
    "SearchBackend",
    "SearchHit",
    "SearchIndex",
    "SearchIndexError",
    "ToolsetBackend",
    "UnknownIdError",
    "build_index",
    "chunk_spans",
    "html_to_text",
    "is_index",
    "load_qa",
    "open_index",
    "read_corpus",
    "read_folder",
    "read_jsonl",
    "read_manifest",
]
