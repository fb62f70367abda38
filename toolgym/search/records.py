"""The records of search: documents, passages and hits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Document:
    """A document of a corpus; ``source`` says where it was read (``file:line``) for error messages."""

    id: str
    title: str
    text: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk of a document: its id (``doc_id#position``), document, title, text and position."""

    id: str
    doc_id: str
    title: str
    text: str
    position: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked search result. ``doc_id``/``position`` are set when the backend knows them."""

    id: str
    title: str
    text: str
    score: float
    doc_id: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class OpenedText:
    """What ``open`` shows: a passage or a whole document. ``doc_id`` names the document of a passage."""

    id: str
    title: str
    text: str
    doc_id: str | None = None


def passage_id(doc_id: str, position: int) -> str:
    """The id of passage ``position`` of document ``doc_id``."""
    return f"{doc_id}#{position}"
