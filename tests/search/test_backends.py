"""Backends behind the search tools: the local index, and any toolset that has a search tool."""

from __future__ import annotations

import json

import pytest

from toolgym.search.backends import LocalIndexBackend, SearchBackend, ToolsetBackend
from toolgym.search.index import SearchIndex
from toolgym.tools.base import ToolError
from toolgym.tools.function import FunctionToolset


async def test_local_backend_searches_and_opens(small_index: SearchIndex) -> None:
    backend = LocalIndexBackend(small_index.path)  # a path works: the index is loaded once and shared
    assert isinstance(backend, SearchBackend)
    hits = await backend.search("klubeck currency", 2)
    assert hits[0].id == "zubrowka#0" and hits[0].doc_id == "zubrowka"
    assert (await backend.open("zubrowka")).title == "Zubrowka"
    with pytest.raises(ToolError) as info:
        await backend.open("atlantis#0")
    assert info.value.kind == "unknown_id" and "search results" in str(info.value)


def external_toolset() -> FunctionToolset:
    tools = FunctionToolset()

    @tools.tool
    def web_search(q: str, n: int = 3) -> list[dict]:
        """A search tool of another server, returning structured results."""
        return [
            {
                "url": f"https://example.org/{i}",
                "title": f"Page {i}",
                "content": f"{q} result {i}",
                "score": 1 / (i + 1),
            }
            for i in range(n)
        ]

    @tools.tool
    def text_search(query: str) -> str:
        """A search tool that answers in prose."""
        return f"Plain answer about {query}" if query != "nothing" else ""

    @tools.tool
    def json_text_search(query: str, k: int = 2) -> str:
        """A search tool that answers with JSON text (as MCP servers do)."""
        return json.dumps({"results": [{"id": f"d{i}", "text": f"{query} {i}"} for i in range(k)]})

    @tools.tool
    def fetch(id: str) -> str:
        """Fetch a document."""
        if id.startswith("d"):
            return f"full text of {id}"
        raise KeyError(id)

    @tools.tool
    def broken(query: str) -> str:
        """Always fails."""
        raise RuntimeError("search service down")

    return tools


async def test_toolset_backend_reads_structured_json_and_text_results() -> None:
    tools = external_toolset()
    structured = ToolsetBackend(tools, search_tool="web_search", query_arg="q", k_arg="n")
    hits = await structured.search("lutz", 2)
    assert [(h.id, h.title, h.text) for h in hits] == [
        ("https://example.org/0", "Page 0", "lutz result 0"),
        ("https://example.org/1", "Page 1", "lutz result 1"),
    ]
    assert hits[1].score == pytest.approx(0.5)
    assert (await structured.open("https://example.org/1")).text == "lutz result 1"  # served from earlier hits
    with pytest.raises(ToolError, match="open takes an id that a search returned"):
        await structured.open("https://example.org/9")

    prose = ToolsetBackend(tools, search_tool="text_search", k_arg=None)
    first, second = await prose.search("cheese", 5), await prose.search("river", 5)
    assert [h.text for h in first + second] == ["Plain answer about cheese", "Plain answer about river"]
    assert first[0].id != second[0].id
    assert await prose.search("nothing", 5) == []

    with_open = ToolsetBackend(tools, search_tool="json_text_search", open_tool="fetch")
    assert [h.id for h in await with_open.search("x", 2)] == ["d0", "d1"]
    assert (await with_open.open("d1")).text == "full text of d1"
    with pytest.raises(ToolError) as info:
        await with_open.open("zzz")
    assert info.value.kind in ("unknown_id", "tool_exception")


async def test_toolset_backend_passes_tool_failures_on() -> None:
    backend = ToolsetBackend(external_toolset(), search_tool="broken", k_arg=None)
    with pytest.raises(ToolError, match="search service down"):
        await backend.search("x", 3)
