"""Serving toolgym toolsets over MCP: in memory, over stdio through `toolgym mcp serve`, and the CLI."""

import asyncio
import json

import pytest
from mcp import Client

from toolgym.envs.calculator import CalculatorEnv, calculator_toolset
from toolgym.tools.base import ToolOutput
from toolgym.tools.function import FunctionToolset
from toolgym.tools.mcp import MCPToolset
from toolgym.tools.mcp.serve import load_toolset, toolset_server


def lookup_toolset() -> FunctionToolset:
    tools = FunctionToolset()

    @tools.tool
    def lookup(city: str) -> dict:
        """Facts about a city.

        Args:
            city: the city name
        """
        return {"city": city, "population": 1000}

    @tools.tool
    async def stall() -> str:
        """Never finishes in time."""
        await asyncio.sleep(30)
        return "late"

    @tools.tool
    def explode() -> str:
        """Raises."""
        raise KeyError("boom")

    return tools


class Exploding(FunctionToolset):
    async def call(self, name, arguments) -> ToolOutput:
        raise RuntimeError("the toolset itself is broken")


async def test_any_mcp_client_can_call_a_served_toolset():
    async with Client(toolset_server(lookup_toolset(), timeout=0.3)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["lookup"].input_schema["properties"]["city"]["description"] == "the city name"
        result = await client.call_tool("lookup", {"city": "Oslo"})
        assert not result.is_error and result.structured_content == {"city": "Oslo", "population": 1000}
        assert json.loads(result.content[0].text)["city"] == "Oslo"
        bad = await client.call_tool("lookup", {"town": "Oslo"})
        assert bad.is_error and "city" in bad.content[0].text
        assert "timed out after 0.3s" in (await client.call_tool("stall", {})).content[0].text
        raised = await client.call_tool("explode", {})
        assert raised.is_error and "KeyError" in raised.content[0].text
        unknown = await client.call_tool("nope", {})
        assert unknown.is_error and "unknown tool 'nope'" in unknown.content[0].text


async def test_a_crashing_toolset_is_reported_and_the_server_stays_up():
    broken = Exploding([calculator_toolset()._tools["add"].fn])
    async with Client(toolset_server(broken)) as client:
        for _ in range(2):
            result = await client.call_tool("add", {"a": 1, "b": 2})
            assert result.is_error and "the toolset itself is broken" in result.content[0].text


async def test_round_trip_toolgym_to_mcp_to_toolgym_keeps_specs_and_results():
    original = calculator_toolset()
    async with MCPToolset.in_process(toolset_server(original)) as tools:
        assert [s.model_dump() for s in await tools.list_tools()] == [
            s.model_dump() for s in await original.list_tools()
        ]
        assert (await tools.call("divide", {"a": 9, "b": 3})).content == (
            await original.call("divide", {"a": 9, "b": 3})
        ).content


def test_load_toolset_resolves_envs_toolsets_and_factories():
    assert isinstance(load_toolset("calculator"), FunctionToolset)
    assert isinstance(load_toolset("toolgym.envs.calculator:calculator_toolset"), FunctionToolset)
    assert isinstance(load_toolset("toolgym.envs.calculator:CalculatorEnv"), FunctionToolset)
    assert isinstance(load_toolset("tests.tools.mcp.test_serve:lookup_toolset"), FunctionToolset)
    assert CalculatorEnv  # the class named above


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nope", "unknown environment 'nope'"),
        ("no_such_module:tools", "cannot import module 'no_such_module'"),
        ("toolgym.envs.calculator:missing", "has no attribute 'missing'"),
        ("toolgym.envs.calculator:SYSTEM_PROMPT", "is a str, not a Toolset"),
        ("toolgym.envs.calculator:add", "calling it with no arguments failed"),
    ],
)
def test_load_toolset_errors_say_what_is_wrong(target, message):
    with pytest.raises(ValueError, match=message):
        load_toolset(target)
