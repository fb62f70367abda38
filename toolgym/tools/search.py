"""SearchToolset: ``search(query, k)`` and ``open(id, page)`` over any search backend.

Servable over MCP like any toolset: :func:`search_toolset_from_env` is a zero-argument factory that
reads the index path (or retriever URL) from the environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from toolgym.search.backends import LocalIndexBackend, SearchBackend
from toolgym.search.index import SearchIndex
from toolgym.search.records import SearchHit
from toolgym.tools.base import ToolArgumentsError, ToolError, ToolOutput, Toolset, UnknownToolError
from toolgym.types import ToolSpec

_WHITESPACE = re.compile(r"\s+")
INDEX_ENV = "TOOLGYM_SEARCH_INDEX"
RETRIEVER_ENV = "TOOLGYM_SEARCH_RETRIEVER_URL"


def snippet(text: str, limit: int) -> str:
    """``text`` on one line, cut after at most ``limit`` characters at a word boundary."""
    flat = _WHITESPACE.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit].rstrip() + " …"


def paginate(text: str, page_chars: int) -> list[str]:
    """``text`` in pages of at most ``page_chars`` characters, cut at a line break or space when one is near."""
    text = text.strip()
    pages: list[str] = []
    while len(text) > page_chars:
        cut = text.rfind("\n", page_chars // 2, page_chars)
        if cut < 0:
            cut = text.rfind(" ", page_chars // 2, page_chars)
        if cut < 0:
            cut = page_chars
        pages.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    pages.append(text)
    return pages


def _int_arg(tool: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ToolArgumentsError(tool, f"{name}: must be an integer, got {type(value).__name__}")
    try:
        number = int(value)
    except (ValueError, OverflowError):
        raise ToolArgumentsError(tool, f"{name}: must be an integer, got {value!r}") from None
    if number != float(value):
        raise ToolArgumentsError(tool, f"{name}: must be a whole number, got {value!r}")
    return number


class SearchToolset(Toolset):
    """Two tools over a search backend (a SearchIndex or its path works too):

    - ``search(query, k)``: the ``k`` best passages (default ``k``, at most ``max_k``), each with its id,
      title, score and a snippet of ``snippet_chars``; queries longer than ``max_query_chars`` are cut.
    - ``open(id, page)``: a passage (``doc#n``) or a whole document, in pages of ``page_chars``
      ("page i of n").

    Bad arguments (empty query, unknown id, a page past the end) are tool errors the model reads.
    """

    def __init__(
        self,
        backend: SearchBackend | SearchIndex | str | Path,
        *,
        k: int = 5,
        max_k: int = 20,
        snippet_chars: int = 400,
        page_chars: int = 2000,
        max_query_chars: int = 1000,
        search_name: str = "search",
        open_name: str = "open",
    ) -> None:
        if not 1 <= k <= max_k:
            raise ValueError(f"k must be 1..max_k ({max_k}), got {k}")
        if min(snippet_chars, page_chars, max_query_chars) < 20:
            raise ValueError("snippet_chars, page_chars and max_query_chars must each be >= 20")
        self.backend: SearchBackend = (
            backend if isinstance(backend, SearchBackend) else LocalIndexBackend(backend)  # type: ignore[arg-type]
        )
        self.k, self.max_k = k, max_k
        self.snippet_chars, self.page_chars, self.max_query_chars = snippet_chars, page_chars, max_query_chars
        self.search_name, self.open_name = search_name, open_name

    async def list_tools(self) -> list[ToolSpec]:
        search = ToolSpec(
            name=self.search_name,
            description=(
                "Search the corpus. Returns the best matching passages, each with an id, title, score and "
                f"snippet; read one fully with {self.open_name}(id)."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "keywords or a question"},
                    "k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": self.max_k,
                        "default": self.k,
                        "description": "number of results",
                    },
                },
                "required": ["query"],
            },
        )
        open_ = ToolSpec(
            name=self.open_name,
            description=(
                "Read a passage (id like 'doc#3') or a whole document (id like 'doc') from the search results, "
                "one page at a time."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "a passage or document id from the search results"},
                    "page": {"type": "integer", "minimum": 1, "default": 1, "description": "page number"},
                },
                "required": ["id"],
            },
        )
        return [search, open_]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        if name == self.search_name:
            return await self._search(arguments)
        if name == self.open_name:
            return await self._open(arguments)
        raise UnknownToolError(name, [self.search_name, self.open_name])

    async def _search(self, arguments: dict[str, Any]) -> ToolOutput:
        tool = self.search_name
        args = dict(arguments)
        query = args.pop("query", None)
        raw_k = args.pop("k", args.pop("topk", self.k))
        if args:
            raise ToolArgumentsError(tool, f"unexpected argument(s) {sorted(args)}; takes query and k")
        if not isinstance(query, str):
            got = "missing" if query is None else f"a {type(query).__name__}"
            raise ToolArgumentsError(tool, f"query: must be a string ({got})")
        query = query.strip()
        if not query:
            raise ToolArgumentsError(tool, "query: is empty; give words to search for")
        k = _int_arg(tool, "k", raw_k)
        if k < 1:
            raise ToolArgumentsError(tool, f"k: must be >= 1, got {k}")
        notes = []
        if k > self.max_k:
            notes.append(f"k lowered to {self.max_k}, the most results one search returns")
            k = self.max_k
        if len(query) > self.max_query_chars:
            notes.append(f"query cut to its first {self.max_query_chars} characters")
            query = query[: self.max_query_chars]
        hits = await self.backend.search(query, k)
        return self._format_hits(query, hits, notes)

    def _format_hits(self, query: str, hits: list[SearchHit], notes: list[str]) -> ToolOutput:
        shown = query if len(query) <= 80 else query[:77] + "..."
        lines = [f"({note})" for note in notes]
        if not hits:
            lines.append(f'No results for "{shown}". Try other words.')
        else:
            lines.append(f'{len(hits)} results for "{shown}":')
            for rank, hit in enumerate(hits, 1):
                title = f" · {hit.title}" if hit.title else ""
                lines.append(f"\n[{rank}] id: {hit.id}{title} · score {hit.score:.2f}")
                lines.append(snippet(hit.text, self.snippet_chars))
        results = [
            {"id": h.id, "title": h.title, "score": h.score, "snippet": snippet(h.text, self.snippet_chars)}
            | ({"doc_id": h.doc_id} if h.doc_id is not None else {})
            for h in hits
        ]
        return ToolOutput("\n".join(lines), structured={"query": query, "results": results})

    async def _open(self, arguments: dict[str, Any]) -> ToolOutput:
        tool = self.open_name
        args = dict(arguments)
        ref = args.pop("id", None)
        raw_page = args.pop("page", 1)
        if args:
            raise ToolArgumentsError(tool, f"unexpected argument(s) {sorted(args)}; takes id and page")
        if not isinstance(ref, str) or not ref.strip():
            got = "missing" if ref is None else repr(ref)
            raise ToolArgumentsError(tool, f"id: must be a non-empty string ({got})")
        page = _int_arg(tool, "page", raw_page)
        opened = await self.backend.open(ref.strip())
        pages = paginate(opened.text, self.page_chars)
        if not 1 <= page <= len(pages):
            raise ToolError(f"page {page} does not exist: {opened.id!r} has {len(pages)} page(s)", kind="bad_page")
        head = f"[{opened.id}]" + (f" {opened.title}" if opened.title else "") + f" · page {page} of {len(pages)}"
        if opened.doc_id and opened.doc_id != opened.id:
            head += f" · a passage of document {opened.doc_id!r} (open it for the whole text)"
        body = pages[page - 1]
        tail = f"\n\n(more: open page {page + 1} of {len(pages)})" if page < len(pages) else ""
        structured = {"id": opened.id, "title": opened.title, "page": page, "pages": len(pages), "text": body}
        return ToolOutput(f"{head}\n\n{body}{tail}", structured=structured)

    async def aclose(self) -> None:
        await self.backend.aclose()


def search_toolset_from_env() -> SearchToolset:
    """A SearchToolset configured by environment variables (a zero-argument factory, e.g. for MCP serving).

    ``TOOLGYM_SEARCH_INDEX`` (an index folder) or ``TOOLGYM_SEARCH_RETRIEVER_URL`` (a Search-R1 retriever);
    optional ``TOOLGYM_SEARCH_K`` and ``TOOLGYM_SEARCH_PAGE_CHARS``.
    """
    index, url = os.environ.get(INDEX_ENV), os.environ.get(RETRIEVER_ENV)
    if bool(index) == bool(url):
        raise ValueError(f"set exactly one of {INDEX_ENV} (an index folder) or {RETRIEVER_ENV} (a retriever URL)")
    backend: SearchBackend
    if url:
        from toolgym.search.retriever import RetrieverBackend

        backend = RetrieverBackend(url)
    else:
        backend = LocalIndexBackend(index)  # type: ignore[arg-type]
    k = int(os.environ.get("TOOLGYM_SEARCH_K", "5"))
    page_chars = int(os.environ.get("TOOLGYM_SEARCH_PAGE_CHARS", "2000"))
    return SearchToolset(backend, k=k, page_chars=page_chars)
