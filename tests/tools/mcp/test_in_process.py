"""MCPToolset on an in-process MCPServer object: schemas, structured and binary content, errors, concurrency."""

import asyncio
import base64

import pytest
from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError as ServerToolError
from pydantic import BaseModel

from toolgym.envs.tool_env import ToolEnv
from toolgym.tools.base import ToolError
from toolgym.tools.mcp import MCPToolset
from toolgym.types import Message, Task

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class Forecast(BaseModel):
    city: str
    celsius: int


def weather_server() -> MCPServer:
    server = MCPServer("weather")

    @server.tool()
    def forecast(city: str, days: int = 1) -> Forecast:
        """Forecast for a city."""
        return Forecast(city=city, celsius=20 + days)

    @server.tool()
    async def slow_echo(text: str, seconds: float = 0.0) -> str:
        """Echo after a pause."""
        await asyncio.sleep(seconds)
        return text

    @server.tool()
    def radar(city: str) -> Image:
        """A radar picture."""
        return Image(data=PNG, format="png")

    @server.tool()
    def broken() -> str:
        """Always fails."""
        raise ServerToolError("sensor offline")

    return server


async def test_schemas_structured_content_and_placeholders():
    async with MCPToolset.in_process(weather_server(), name="weather") as tools:
        specs = {s.name: s for s in await tools.list_tools()}
        assert set(specs) == {"forecast", "slow_echo", "radar", "broken"}
        forecast = specs["forecast"]
        assert forecast.description == "Forecast for a city." and forecast.parameters["required"] == ["city"]
        assert forecast.output_schema["properties"]["celsius"]["type"] == "integer"

        out = await tools.call("forecast", {"city": "Oslo", "days": 3})
        assert out.structured == {"city": "Oslo", "celsius": 23} and '"celsius": 23' in out.content
        image = await tools.call("radar", {"city": "Oslo"})
        assert image.content == f"[image: image/png, {len(PNG)} bytes]"
        failed = await tools.call("broken", {})
        assert failed.is_error and "sensor offline" in failed.content
        invalid = await tools.call("forecast", {"days": "many"})
        assert invalid.is_error and "city" in invalid.content


async def test_call_deadline_applies_to_in_process_calls():
    async with MCPToolset.in_process(weather_server(), timeout=0.2) as tools:
        with pytest.raises(ToolError) as err:
            await tools.call("slow_echo", {"text": "late", "seconds": 5})
        assert err.value.kind == "timeout"
        assert (await tools.call("slow_echo", {"text": "on time"})).content == "on time"


async def test_two_hundred_concurrent_calls_all_answered_correctly():
    async with MCPToolset.in_process(weather_server()) as tools:
        outs = await asyncio.gather(
            *(tools.call("slow_echo", {"text": f"m{i}", "seconds": 0.01 * (i % 5)}) for i in range(200))
        )
        assert [o.content for o in outs] == [f"m{i}" for i in range(200)]


async def test_two_hundred_concurrent_episodes_share_one_server_connection():
    server = weather_server()
    config = {"mcpServers": {"weather": {"server": server}}}
    task = Task(id="t", prompt=[Message(role="user", content="Weather?")])
    envs = [ToolEnv(MCPToolset(config), tasks=[task]) for _ in range(200)]

    async def episode(i: int, env: ToolEnv) -> str:
        await env.areset(task=task)
        call = {"id": "c", "type": "function", "function": {"name": "forecast", "arguments": f'{{"city": "c{i}"}}'}}
        obs, *_ = await env.astep({"role": "assistant", "content": None, "tool_calls": [call]})
        return obs[-1]["content"]

    try:
        results = await asyncio.gather(*(episode(i, env) for i, env in enumerate(envs)))
        assert all(f'"city": "c{i}"' in r for i, r in enumerate(results))
        connections = {id(env.toolset.connection("weather")) for env in envs}
        assert len(connections) == 1 and envs[0].toolset.connection("weather").starts == 1
    finally:
        await asyncio.gather(*(env.aclose() for env in envs))
