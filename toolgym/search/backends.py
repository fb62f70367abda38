"""Search backends: what the ``search``/``open`` tools ask. A local index, or any Toolset with a search tool.

The Search-R1 HTTP retriever lives in :mod:`toolgym.search.retriever`.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from toolgym.search.index import SearchIndex, open_index
from toolgym.search.records import OpenedText, SearchHit
from toolgym.tools.base import ToolError, Toolset


class UnknownIdError(ToolError):
    """``open`` was given an id the backend does not know."""

    def __init__(self, ref: str, hint: str = "use an id from the search results") -> None:
        super().__init__(f"unknown id {ref!r}: {hint}", kind="unknown_id")


@runtime_checkable
class SearchBackend(Protocol):
    """Ranked search and lookup by id, asynchronously. Failures the model should hear about raise ToolError."""

    name: str

    async def search(self, query: str, k: int) -> list[SearchHit]:
        """The ``k`` best hits for ``query``, best first."""
        ...

    async def open(self, ref: str) -> OpenedText:
        """The passage or document with id ``ref``; UnknownIdError if there is none."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class HitCache:
    """The texts of recent hits by id (bounded), so ``open`` works on backends that cannot fetch by id."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._hits: OrderedDict[str, SearchHit] = OrderedDict()

    def add(self, hits: list[SearchHit]) -> None:
        for hit in hits:
            self._hits[hit.id] = hit
            self._hits.move_to_end(hit.id)
        while len(self._hits) > self.size:
            self._hits.popitem(last=False)

    def open(self, ref: str) -> OpenedText:
        hit = self._hits.get(ref)
        if hit is None:
            raise UnknownIdError(ref, "open takes an id that a search returned")
        return OpenedText(hit.id, hit.title, hit.text, hit.doc_id)


class LocalIndexBackend:
    """A local :class:`SearchIndex` (or the path of one): queries run in a worker thread."""

    name = "local"

    def __init__(self, index: SearchIndex | str | Path) -> None:
        self.index = index if isinstance(index, SearchIndex) else open_index(index)

    async def search(self, query: str, k: int) -> list[SearchHit]:
        return await asyncio.to_thread(self.index.search, query, k)

    async def open(self, ref: str) -> OpenedText:
        try:
            return await asyncio.to_thread(self.index.lookup, ref)
        except KeyError:
            raise UnknownIdError(ref, "use a passage id (doc#n) or a document id from the search results") from None

    async def aclose(self) -> None:
        pass


def _hit_from(item: Any, fallback_id: str) -> SearchHit:
    if not isinstance(item, dict):
        return SearchHit(fallback_id, "", str(item), 0.0)
    doc: dict[str, Any] = item["document"] if isinstance(item.get("document"), dict) else item
    text = doc.get("text", doc.get("contents", doc.get("snippet", doc.get("content", ""))))
    score = item.get("score", doc.get("score", 0.0))
    try:
        score = float(score)
    except (TypeError, ValueError):
        score = 0.0
    ref = doc.get("id", doc.get("url", fallback_id))
    return SearchHit(str(ref), str(doc.get("title", "") or ""), str(text or ""), score, doc.get("doc_id"))


class ToolsetBackend:
    """Search through another toolset's search tool (e.g. an MCP search server).

    The tool is called with ``{query_arg: query, k_arg: k}`` (no ``k`` when ``k_arg`` is None). A JSON
    list of results (objects with ``id``/``title``/``text`` or ``contents``/``score``, or ``{"document":
    {...}, "score": ...}``), structured output of that shape, or plain text (one hit) are understood.
    ``open`` calls ``open_tool`` with ``{open_arg: id}`` if given, else serves the texts of earlier hits.
    """

    name = "toolset"

    def __init__(
        self,
        toolset: Toolset,
        search_tool: str = "search",
        query_arg: str = "query",
        k_arg: str | None = "k",
        open_tool: str | None = None,
        open_arg: str = "id",
    ) -> None:
        self.toolset = toolset
        self.search_tool, self.query_arg, self.k_arg = search_tool, query_arg, k_arg
        self.open_tool, self.open_arg = open_tool, open_arg
        self._cache = HitCache()
        self._unnamed = 0

    def _next_id(self) -> str:
        self._unnamed += 1
        return f"r{self._unnamed}"

    async def search(self, query: str, k: int) -> list[SearchHit]:
        args: dict[str, Any] = {self.query_arg: query}
        if self.k_arg:
            args[self.k_arg] = k
        out = await self.toolset.call(self.search_tool, args)
        if out.is_error:
            raise ToolError(f"search tool {self.search_tool!r} failed: {out.content}", kind="backend_error")
        items = out.structured
        if isinstance(items, dict):
            items = items.get("results", items.get("result"))
        if not isinstance(items, list):
            try:
                items = json.loads(out.content)
            except ValueError:
                items = None
            if isinstance(items, dict):
                items = items.get("results", items.get("result"))
        if isinstance(items, list):
            hits = [_hit_from(item, self._next_id()) for item in items[:k]]
        else:
            hits = [SearchHit(self._next_id(), "", out.content, 0.0)] if out.content.strip() else []
        self._cache.add(hits)
        return hits

    async def open(self, ref: str) -> OpenedText:
        if self.open_tool is None:
            return self._cache.open(ref)
        out = await self.toolset.call(self.open_tool, {self.open_arg: ref})
        if out.is_error:
            raise UnknownIdError(ref, out.content)
        return OpenedText(ref, "", out.content)

    async def aclose(self) -> None:
        await self.toolset.aclose()
