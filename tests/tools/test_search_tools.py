"""SearchToolset: search and open over a real local index, alone and inside a ToolEnv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.search.corpus import HISTORY, build_test_index
from toolgym.envs.tool_env import ToolEnv
from toolgym.search.index import SearchIndex
from toolgym.tools.base import ToolArgumentsError, ToolError, UnknownToolError
from toolgym.tools.search import INDEX_ENV, RETRIEVER_ENV, SearchToolset, paginate, search_toolset_from_env, snippet
from toolgym.types import Budget, Message, Task


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> SearchIndex:
    return build_test_index(tmp_path_factory.mktemp("tools-index"))


@pytest.fixture
def tools(index: SearchIndex) -> SearchToolset:
    return SearchToolset(index, k=3, max_k=5, snippet_chars=60, page_chars=200)


async def test_tools_are_listed_with_schemas(tools: SearchToolset) -> None:
    search, open_ = await tools.list_tools()
    assert (search.name, open_.name) == ("search", "open")
    assert search.parameters["required"] == ["query"]
    assert search.parameters["properties"]["k"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "default": 3,
        "description": "number of results",
    }
    assert open_.parameters["required"] == ["id"] and "page" in open_.parameters["properties"]


async def test_search_returns_ranked_snippets_with_ids(tools: SearchToolset, index: SearchIndex) -> None:
    out = await tools.call("search", {"query": "capital of Zubrowka", "k": 2})
    expected = index.search("capital of Zubrowka", 2)
    assert [r["id"] for r in out.structured["results"]] == [h.id for h in expected]
    assert out.structured["results"][0]["score"] == pytest.approx(expected[0].score)
    assert out.content.startswith('2 results for "capital of Zubrowka":')
    assert f"[1] id: zubrowka#0 · Zubrowka · score {expected[0].score:.2f}" in out.content
    first_snippet = out.structured["results"][0]["snippet"]
    assert first_snippet.endswith(" …") and len(first_snippet) <= 62 and first_snippet in out.content
    default_k = await tools.call("search", {"query": "Lutz"})
    assert len(default_k.structured["results"]) == 3


async def test_search_edge_cases(tools: SearchToolset) -> None:
    none = await tools.call("search", {"query": "zzyzx quux"})
    assert none.content == 'No results for "zzyzx quux". Try other words.' and none.structured["results"] == []
    many = await tools.call("search", {"query": "Lutz", "k": 50})
    assert many.content.startswith("(k lowered to 5,") and len(many.structured["results"]) == 5
    huge = await tools.call("search", {"query": "klubeck " + "word " * 5000})
    assert huge.content.startswith("(query cut to its first 1000 characters)")
    assert huge.structured["results"][0]["id"] == "zubrowka#0"
    assert len(huge.structured["query"]) == 1000
    as_text = await tools.call("search", {"query": "klubeck", "topk": "2"})  # Search-R1's name, a numeric string
    assert len(as_text.structured["results"]) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "query: must be a string (missing)"),
        ({"query": ["a", "b"]}, "query: must be a string (a list)"),
        ({"query": "   "}, "query: is empty"),
        ({"query": "x", "k": 0}, "k: must be >= 1"),
        ({"query": "x", "k": "many"}, "k: must be an integer"),
        ({"query": "x", "k": 2.5}, "k: must be a whole number"),
        ({"query": "x", "k": True}, "k: must be an integer, got bool"),
        ({"query": "x", "k": float("inf")}, "k: must be an integer"),
        ({"query": "x", "limit": 3}, "unexpected argument(s) ['limit']"),
    ],
)
async def test_bad_search_arguments_name_the_field(tools: SearchToolset, arguments: dict, message: str) -> None:
    with pytest.raises(ToolArgumentsError) as info:
        await tools.call("search", arguments)
    assert message in str(info.value) and info.value.kind == "invalid_arguments"


async def test_open_pages_a_document(tools: SearchToolset) -> None:
    pages = paginate(HISTORY, 200)
    first = await tools.call("open", {"id": "history"})
    assert first.content.startswith(f"[history] History of Lutz · page 1 of {len(pages)}\n\n{pages[0]}")
    assert first.content.endswith(f"(more: open page 2 of {len(pages)})")
    last = await tools.call("open", {"id": "history", "page": len(pages)})
    assert last.structured == {
        "id": "history",
        "title": "History of Lutz",
        "page": len(pages),
        "pages": len(pages),
        "text": pages[-1],
    }
    assert "(more:" not in last.content
    assert " ".join(" ".join(pages).split()) == " ".join(HISTORY.split())  # pages lose no words


async def test_open_a_passage_names_its_document(tools: SearchToolset, index: SearchIndex) -> None:
    out = await tools.call("open", {"id": "history#2", "page": 1})
    assert "a passage of document 'history'" in out.content
    assert out.structured["text"] == index.passage("history#2").text


@pytest.mark.parametrize(
    ("arguments", "kind", "message"),
    [
        ({"id": "atlantis"}, "unknown_id", "unknown id 'atlantis'"),
        ({"id": "history", "page": 99}, "bad_page", "page 99 does not exist: 'history' has"),
        ({"id": "history", "page": 0}, "bad_page", "page 0 does not exist"),
        ({"id": ""}, "invalid_arguments", "id: must be a non-empty string"),
        ({"page": 1}, "invalid_arguments", "id: must be a non-empty string (missing)"),
        ({"id": "history", "page": "two"}, "invalid_arguments", "page: must be an integer"),
        ({"id": "history", "mode": "raw"}, "invalid_arguments", "unexpected argument(s) ['mode']"),
    ],
)
async def test_bad_open_calls_are_tool_errors(tools: SearchToolset, arguments: dict, kind: str, message: str) -> None:
    with pytest.raises(ToolError) as info:
        await tools.call("open", arguments)
    assert info.value.kind == kind and message in str(info.value)


async def test_unknown_tool_and_configuration(tools: SearchToolset, index: SearchIndex) -> None:
    with pytest.raises(UnknownToolError):
        await tools.call("browse", {})
    with pytest.raises(ValueError, match="k must be"):
        SearchToolset(index, k=30, max_k=20)
    with pytest.raises(ValueError, match=">= 20"):
        SearchToolset(index, page_chars=5)


def test_snippets_and_pages() -> None:
    assert snippet("a  b\n c", 10) == "a b c"
    assert snippet("word " * 30, 22) == "word word word word …"
    assert snippet("x" * 50, 20) == "x" * 20 + " …"
    assert paginate("short", 100) == ["short"]
    assert paginate("", 100) == [""]
    text = "line one\nline two\nline three"
    assert paginate(text, 20) == ["line one\nline two", "line three"]
    assert paginate("y" * 45, 20) == ["y" * 20, "y" * 20, "y" * 5]


def call(name: str, args: str, call_id: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


async def test_inside_a_tool_env_malformed_calls_become_tool_errors(tools: SearchToolset) -> None:
    task = Task(id="t", prompt=[Message(role="user", content="What is the currency of Zubrowka?")])
    env = ToolEnv(tools, budget=Budget(max_turns=4))
    await env.areset(task=task)
    action = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            call("search", "{not json", "c1"),
            call("search", json.dumps({"query": ""}), "c2"),
            call("open", json.dumps({"id": "nowhere"}), "c3"),
            call("search", json.dumps({"query": "currency Zubrowka", "k": 1}), "c4"),
        ],
    }
    obs, _, terminated, truncated, info = await env.astep(action)
    results = info["tool_results"]
    assert [r.error_kind for r in results] == ["invalid_json", "invalid_arguments", "unknown_id", None]
    assert all(obs[-4 + i]["content"].startswith("Error:") for i in range(3))
    assert "zubrowka#0" in obs[-1]["content"] and not (terminated or truncated)
    obs, _, terminated, *_ = await env.astep("The klubeck.")
    assert terminated and env.episode.final_answer == "The klubeck."


def test_zero_argument_factory_reads_the_environment(monkeypatch, index: SearchIndex) -> None:
    monkeypatch.delenv(RETRIEVER_ENV, raising=False)
    monkeypatch.delenv(INDEX_ENV, raising=False)
    with pytest.raises(ValueError, match="set exactly one"):
        search_toolset_from_env()
    monkeypatch.setenv(INDEX_ENV, str(index.path))
    monkeypatch.setenv("TOOLGYM_SEARCH_K", "2")
    tools = search_toolset_from_env()
    assert tools.k == 2 and tools.backend.index.path == Path(index.path).resolve()
    monkeypatch.delenv(INDEX_ENV)
    monkeypatch.setenv(RETRIEVER_ENV, "http://127.0.0.1:9/retrieve")
    assert search_toolset_from_env().backend.url == "http://127.0.0.1:9/retrieve"
