"""MCPToolset over streamable HTTP on 127.0.0.1: our own `toolgym mcp serve` in a subprocess, an MCPServer
app under uvicorn (to see the configured headers arrive), and npm server-everything (stateful sessions)."""

import asyncio
import json
import os
import socket
import subprocess
import threading

import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer

from tests.tools.mcp.helpers import npm_server, serve_http, stop
from toolgym.envs.tool_env import ToolEnv
from toolgym.tools.base import ToolError
from toolgym.tools.mcp import MCPToolset
from toolgym.types import Message, Task


@pytest.fixture(scope="module")
def calculator_url():
    proc, url = serve_http("calculator")
    yield url
    stop(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_call(a: int, b: int, call_id: str = "c") -> dict:
    call = {"id": call_id, "type": "function", "function": {"name": "add", "arguments": json.dumps({"a": a, "b": b})}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


async def test_tools_and_calls_over_http(calculator_url):
    async with MCPToolset.http(calculator_url, name="calc") as tools:
        specs = {s.name: s for s in await tools.list_tools()}
        assert set(specs) == {"add", "subtract", "multiply", "divide"}
        assert specs["divide"].parameters["required"] == ["a", "b"] and "Divide" in specs["divide"].description
        assert (await tools.call("multiply", {"a": 6, "b": 7})).content == "42"
        zero = await tools.call("divide", {"a": 1, "b": 0})
        assert zero.is_error and "division by zero" in zero.content
        bad = await tools.call("add", {"a": "x", "b": 1})
        assert bad.is_error and "invalid arguments for tool 'add'" in bad.content


async def test_two_hundred_concurrent_calls_over_one_http_connection(calculator_url):
    async with MCPToolset.http(calculator_url) as tools:
        outs = await asyncio.gather(*(tools.call("add", {"a": i, "b": 1000}) for i in range(200)))
        assert [o.content for o in outs] == [str(i + 1000) for i in range(200)]
        assert tools.connection("server").starts == 1


async def test_http_server_killed_mid_episode_then_back():
    port = free_port()
    proc, url = serve_http("calculator", port)
    task = Task(id="t", prompt=[Message(role="user", content="1 + 2?")])
    env = ToolEnv(MCPToolset.http(url, name="calc", max_restarts=12), tasks=[task])
    try:
        await env.areset(task=task)
        obs, *_ = await env.astep(add_call(1, 2, "c1"))
        assert obs[-1]["content"] == "3"
        stop(proc)
        _, _, _, _, info = await env.astep(add_call(2, 2, "c2"))
        result = info["tool_results"][0]
        assert result.is_error and result.error_kind == "server_crashed" and "'calc'" in result.content
        proc, _ = serve_http("calculator", port)  # the server comes back on the same address
        obs, *_ = await env.astep(add_call(3, 4, "c3"))
        assert obs[-1]["content"] == "7"
        assert env.toolset.connection("calc").starts >= 2
    finally:
        await env.aclose()
        stop(proc)


class HeaderRecorder:
    """ASGI middleware noting the Authorization header of every request."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.seen.append(dict(scope["headers"]).get(b"authorization", b"").decode())
        await self.app(scope, receive, send)


@pytest.fixture
def secured_server():
    server = MCPServer("secured")

    @server.tool()
    def ping() -> str:
        """Answers pong."""
        return "pong"

    recorder = HeaderRecorder(server.streamable_http_app())
    port = free_port()
    web = uvicorn.Server(uvicorn.Config(recorder, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    while not web.started:
        thread.join(0.01)
    yield f"http://127.0.0.1:{port}/mcp", recorder
    web.should_exit = True
    thread.join(10)


async def test_configured_headers_reach_the_server(secured_server, monkeypatch):
    url, recorder = secured_server
    monkeypatch.setenv("TOOLGYM_TEST_TOKEN", "t0ken")
    config = {"mcpServers": {"secured": {"url": url, "headers": {"Authorization": "Bearer ${TOOLGYM_TEST_TOKEN}"}}}}
    async with MCPToolset(config) as tools:
        assert (await tools.call("ping", {})).content == "pong"
    assert recorder.seen and set(recorder.seen) == {"Bearer t0ken"}


async def test_unreachable_url_fails_with_the_server_named():
    tools = MCPToolset.http(f"http://127.0.0.1:{free_port()}/mcp", name="gone", max_restarts=0)
    with pytest.raises(Exception, match=r"'gone'.*ConnectError"):
        await tools.list_tools()
    with pytest.raises(ToolError) as err:
        await tools.call("add", {})
    assert err.value.kind == "server_unavailable"
    await tools.aclose()


def start_everything_http(port: int) -> subprocess.Popen[str]:
    """npm server-everything's streamable-HTTP mode: a third-party server with legacy (stateful) sessions."""
    command = [npm_server("mcp-server-everything"), "streamableHttp"]
    proc = subprocess.Popen(
        command, env={**os.environ, "PORT": str(port)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening" in line.lower():
            return proc
    raise RuntimeError("server-everything did not start")


async def test_a_restarted_stateful_http_server_gets_a_new_session():
    port = free_port()
    proc = start_everything_http(port)
    tools = MCPToolset.http(f"http://127.0.0.1:{port}/mcp", name="everything")
    try:
        assert (await tools.call("echo", {"message": "one"})).content == "Echo: one"
        stop(proc)
        proc = start_everything_http(port)  # knows nothing of the old session
        with pytest.raises(ToolError) as err:
            await tools.call("echo", {"message": "two"})
        assert err.value.kind == "server_crashed"
        assert (await tools.call("echo", {"message": "three"})).content == "Echo: three"
        assert tools.connection("everything").starts == 2
    finally:
        await tools.aclose()
        stop(proc)
