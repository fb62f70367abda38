"""The text store of an index: documents as UTF-8 in one file, passages as byte ranges into it.

Passages cost no extra text (overlapping passages share their words); the arrays and the text are
memory-mapped on load, so opening an index of millions of passages takes milliseconds.
"""

from __future__ import annotations

import json
import mmap
from array import array
from pathlib import Path
from typing import IO

import numpy as np

TEXT_FILE = "documents.bin"
DOCS_FILE = "documents.json"
DOC_OFFSETS = "doc_offsets.npy"
DOC_PASSAGES = "doc_passages.npy"
PASSAGE_DOCS = "passage_docs.npy"
PASSAGE_SPANS = "passage_spans.npy"


def byte_offsets(text: str, positions: list[int]) -> list[int]:
    """UTF-8 byte offsets of the (sorted) character ``positions`` of ``text``."""
    out, char, byte = [], 0, 0
    for position in positions:
        byte += len(text[char:position].encode("utf-8"))
        char = position
        out.append(byte)
    return out


class StoreWriter:
    """Appends documents and their passage spans; ``close`` writes the arrays and the id/title list."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._text: IO[bytes] = (folder / TEXT_FILE).open("wb")
        self._size = 0
        self._ids: list[str] = []
        self._titles: list[str] = []
        self._doc_offsets = array("q", [0])
        self._doc_passages = array("q", [0])
        self._passage_docs = array("i")
        self._passage_spans = array("q")

    @property
    def passages(self) -> int:
        return len(self._passage_docs)

    @property
    def documents(self) -> int:
        return len(self._ids)

    def add(self, doc_id: str, title: str, text: str, spans: list[tuple[int, int]]) -> None:
        """Store one document and the character spans of its passages."""
        data = text.encode("utf-8")
        doc, base = len(self._ids), self._size
        if len(data) == len(text):  # ASCII: characters are bytes
            for start, end in spans:
                self._passage_spans.extend((base + start, base + end))
        else:
            chars = sorted({p for span in spans for p in span})
            to_byte = dict(zip(chars, byte_offsets(text, chars), strict=True))
            for start, end in spans:
                self._passage_spans.extend((base + to_byte[start], base + to_byte[end]))
        self._passage_docs.extend([doc] * len(spans))
        self._text.write(data)
        self._size += len(data)
        self._ids.append(doc_id)
        self._titles.append(title)
        self._doc_offsets.append(self._size)
        self._doc_passages.append(len(self._passage_docs))

    def abort(self) -> None:
        """Close the text file without writing the arrays (the build failed)."""
        self._text.close()

    def close(self) -> None:
        self._text.close()
        np.save(self.folder / DOC_OFFSETS, np.frombuffer(self._doc_offsets, dtype=np.int64))
        np.save(self.folder / DOC_PASSAGES, np.frombuffer(self._doc_passages, dtype=np.int64))
        np.save(self.folder / PASSAGE_DOCS, np.frombuffer(self._passage_docs, dtype=np.int32))
        spans = np.frombuffer(self._passage_spans, dtype=np.int64).reshape(-1, 2)
        np.save(self.folder / PASSAGE_SPANS, spans)
        with (self.folder / DOCS_FILE).open("w", encoding="utf-8") as fh:
            json.dump({"ids": self._ids, "titles": self._titles}, fh, ensure_ascii=False)


class TextStore:
    """Read access to a store written by :class:`StoreWriter` (memory-mapped, safe to share across threads)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._doc_offsets = np.load(folder / DOC_OFFSETS, mmap_mode="r")
        self._doc_passages = np.load(folder / DOC_PASSAGES, mmap_mode="r")
        self._passage_docs = np.load(folder / PASSAGE_DOCS, mmap_mode="r")
        self._passage_spans = np.load(folder / PASSAGE_SPANS, mmap_mode="r")
        with (folder / TEXT_FILE).open("rb") as fh:
            size = fh.seek(0, 2)
            self._text = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        with (folder / DOCS_FILE).open(encoding="utf-8") as fh:
            docs = json.load(fh)
        self.ids: list[str] = docs["ids"]
        self.titles: list[str] = docs["titles"]
        self._by_id: dict[str, int] | None = None
        if not len(self.ids) + 1 == len(self._doc_offsets) == len(self._doc_passages):
            raise ValueError(f"{folder}: the document list and the document arrays disagree (a damaged index)")

    @property
    def passages(self) -> int:
        return len(self._passage_docs)

    @property
    def documents(self) -> int:
        return len(self.ids)

    def doc_index(self, doc_id: str) -> int | None:
        """The number of the document ``doc_id``, or None."""
        if self._by_id is None:
            self._by_id = {doc_id: i for i, doc_id in enumerate(self.ids)}
        return self._by_id.get(doc_id)

    def doc_text(self, doc: int) -> str:
        start, end = int(self._doc_offsets[doc]), int(self._doc_offsets[doc + 1])
        return self._text[start:end].decode("utf-8")

    def doc_passage_range(self, doc: int) -> tuple[int, int]:
        """Passage numbers ``[first, last + 1)`` of document ``doc``."""
        return int(self._doc_passages[doc]), int(self._doc_passages[doc + 1])

    def passage_doc(self, passage: int) -> int:
        return int(self._passage_docs[passage])

    def passage_text(self, passage: int) -> str:
        start, end = self._passage_spans[passage]
        return self._text[int(start) : int(end)].decode("utf-8")

    def close(self) -> None:
        if isinstance(self._text, mmap.mmap):
            self._text.close()
