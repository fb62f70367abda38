"""Corpus readers: JSONL records or a folder of text, Markdown and HTML files, read as Documents."""

from __future__ import annotations

import fnmatch
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from toolgym.jsonl import json_lines
from toolgym.search.html_text import html_to_text
from toolgym.search.records import Document

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
DEFAULT_INCLUDE = tuple(f"*{s}" for s in (*TEXT_SUFFIXES, *MARKDOWN_SUFFIXES, *HTML_SUFFIXES))


class CorpusError(ValueError):
    """A corpus that cannot be read, naming the file, line and field."""


def split_contents(contents: str) -> tuple[str, str]:
    """Title and text of a Search-R1 style ``contents`` value: ``'"Title"\\ntext'``."""
    first, _, rest = contents.partition("\n")
    if not rest:
        return "", contents
    return first.strip().strip('"'), rest


def read_jsonl(path: str | Path) -> Iterator[Document]:
    """Documents from JSONL: ``id`` (string or integer), ``text``, optional ``title``.

    Search-R1 corpora (``id`` and ``contents`` = ``"Title"\\ntext``) are read too. A bad record fails
    with the file, line and field.
    """
    for where, record in json_lines(path, CorpusError):
        yield _record_document(record, where)


def _record_document(record: dict[str, object], where: str) -> Document:
    doc_id = record.get("id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        got = "missing" if doc_id is None else f"a {type(doc_id).__name__}"
        raise CorpusError(f"{where}: field 'id': must be a string or an integer ({got})")
    doc_id = str(doc_id).strip()
    if not doc_id:
        raise CorpusError(f"{where}: field 'id': must not be empty")
    title = record.get("title", "")
    if "text" in record:
        text = record["text"]
        if not isinstance(text, str):
            raise CorpusError(f"{where}: field 'text': must be a string, got {type(text).__name__}")
    elif isinstance(record.get("contents"), str):
        parsed_title, text = split_contents(record["contents"])  # type: ignore[arg-type]
        title = record.get("title", parsed_title)
    else:
        raise CorpusError(f"{where}: field 'text': missing (or give Search-R1 style 'contents')")
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise CorpusError(f"{where}: field 'title': must be a string, got {type(title).__name__}")
    return Document(doc_id, title.strip(), text, where)


def read_file(path: Path, doc_id: str) -> Document:
    """One text, Markdown or HTML file as a Document (HTML converted to text)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read: {exc.strerror or exc}") from None
    content = raw.decode("utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        title, text = html_to_text(content)
        return Document(doc_id, title or path.stem, text, str(path))
    if suffix in MARKDOWN_SUFFIXES:
        heading = next((line for line in content.splitlines() if line.startswith("# ")), "")
        return Document(doc_id, heading[2:].strip() or path.stem, content, str(path))
    return Document(doc_id, path.stem, content, str(path))


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def read_folder(
    folder: str | Path, include: Sequence[str] = DEFAULT_INCLUDE, exclude: Sequence[str] = (), workers: int = 1
) -> Iterator[Document]:
    """Documents from the files under ``folder`` in sorted order; ids are paths relative to it.

    ``include``/``exclude`` are glob patterns matched against the relative path or the file name;
    hidden files and folders are skipped. Files other than text, Markdown and HTML are read as text.
    ``workers`` > 1 converts files in that many processes (HTML parsing is the slow part of a build).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"{folder}: not a folder")
    files = list(_matching_files(folder, include, exclude))
    if workers <= 1 or len(files) < 2 * workers:
        for path, relative in files:
            yield read_file(path, relative)
        return
    # spawn, not fork: the caller may run threads (a progress bar) whose locks a forked child would inherit
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        window: deque[Future[Document]] = deque()
        for path, relative in files:  # a bounded window of files in flight, results in order
            window.append(pool.submit(read_file, path, relative))
            if len(window) >= 4 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _matching_files(folder: Path, include: Sequence[str], exclude: Sequence[str]) -> Iterator[tuple[Path, str]]:
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if _matches(relative, include) and not _matches(relative, exclude):
                yield path, relative


def read_corpus(
    source: str | Path, include: Sequence[str] = DEFAULT_INCLUDE, exclude: Sequence[str] = (), workers: int = 1
) -> Iterator[Document]:
    """Documents from a JSONL file, a folder (read by ``workers`` processes), or a single text/Markdown/HTML
    file."""
    source = Path(source)
    if source.is_dir():
        return read_folder(source, include, exclude, workers)
    if not source.exists():
        raise CorpusError(f"{source}: no such file or folder")
    if source.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(source)
    return iter([read_file(source, source.name)])
