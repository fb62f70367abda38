import asyncio
import threading

import pytest

from toolgym.tools import FunctionToolset, ToolArgumentsError, ToolError, UnknownToolError
from toolgym.tools.function import parse_docstring


def lookup(city: str, days: int = 3, metric: bool = True) -> dict:
    """Weather forecast for a city.

    Args:
        city: the city name
        days: how many days ahead
            (at most 10)
        metric: Celsius if true
    """
    return {"city": city, "days": days, "metric": metric}


async def slow_echo(text: str) -> str:
    """Echo text after a pause."""
    await asyncio.sleep(0)
    return text


async def test_schema_from_hints_and_docstring():
    ts = FunctionToolset([lookup])
    (spec,) = await ts.list_tools()
    assert spec.name == "lookup"
    assert spec.description == "Weather forecast for a city."
    params = spec.parameters
    assert params["type"] == "object"
    assert params["required"] == ["city"]
    assert params["properties"]["city"] == {"type": "string", "description": "the city name"}
    assert params["properties"]["days"]["type"] == "integer"
    assert params["properties"]["days"]["default"] == 3
    assert params["properties"]["days"]["description"] == "how many days ahead (at most 10)"
    assert params["additionalProperties"] is False


def test_sphinx_docstring():
    summary, params = parse_docstring("Do a thing.\n\n:param x: the x\n:param y: the y\n:returns: z")
    assert summary == "Do a thing."
    assert params == {"x": "the x", "y": "the y"}


async def test_sync_and_async_calls_return_text_or_json():
    ts = FunctionToolset([lookup, slow_echo])
    out = await ts.call("lookup", {"city": "Oslo"})
    assert out.structured == {"city": "Oslo", "days": 3, "metric": True}
    assert '"city": "Oslo"' in out.content
    assert (await ts.call("slow_echo", {"text": "hi"})).content == "hi"


async def test_bad_arguments_name_the_field():
    ts = FunctionToolset([lookup])
    with pytest.raises(ToolArgumentsError, match="days"):
        await ts.call("lookup", {"city": "Oslo", "days": "many"})
    with pytest.raises(ToolArgumentsError, match="city"):
        await ts.call("lookup", {})
    with pytest.raises(ToolArgumentsError, match="colour: Extra inputs"):
        await ts.call("lookup", {"city": "Oslo", "colour": "red"})


async def test_unknown_tool_and_raising_tool():
    ts = FunctionToolset()

    @ts.tool
    def boom(x: int) -> int:
        """Always fails."""
        raise RuntimeError("kaput")

    with pytest.raises(UnknownToolError, match="available tools: boom"):
        await ts.call("nope", {})
    with pytest.raises(ToolError, match="RuntimeError: kaput") as info:
        await ts.call("boom", {"x": 1})
    assert info.value.kind == "tool_exception"


async def test_thread_tool_runs_off_the_loop():
    ts = FunctionToolset()
    seen = []
    ts.add(lambda: seen.append(threading.current_thread().name) or "ok", name="where", thread=True)
    await ts.call("where", {})
    assert seen and seen[0] != threading.current_thread().name


def test_duplicate_and_varargs_rejected():
    ts = FunctionToolset([lookup])
    with pytest.raises(ValueError, match="already registered"):
        ts.add(lookup)

    def star(*args: int) -> int:
        return 0

    with pytest.raises(TypeError, match=r"\*args"):
        ts.add(star)


async def test_compose_merge_prefix_select():
    a = FunctionToolset([lookup])
    b = FunctionToolset([slow_echo])
    merged = a + b
    assert [s.name for s in await merged.list_tools()] == ["lookup", "slow_echo"]
    assert (await merged.call("slow_echo", {"text": "x"})).content == "x"

    with pytest.raises(ValueError, match="offered by two toolsets"):
        await (a + FunctionToolset([lookup])).list_tools()

    both = a + a.prefixed("w_")
    assert [s.name for s in await both.list_tools()] == ["lookup", "w_lookup"]
    assert (await both.call("w_lookup", {"city": "Rome"})).structured["city"] == "Rome"

    only = merged.select(["slow_*"])
    assert [s.name for s in await only.list_tools()] == ["slow_echo"]
    with pytest.raises(UnknownToolError):
        await only.call("lookup", {"city": "x"})
    hidden = merged.select(exclude=["look*"])
    assert [s.name for s in await hidden.list_tools()] == ["slow_echo"]
