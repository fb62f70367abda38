"""Serving a toolgym Toolset as an MCP server (stdio or streamable HTTP), for any MCP client to use."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import mcp_types
from mcp.server import Server

from toolgym.tools.base import ToolError, Toolset
from toolgym.tools.mcp.results import call_result, error_result, mcp_tool

logger = logging.getLogger(__name__)


def toolset_server(toolset: Toolset, *, name: str = "toolgym", timeout: float = 60.0) -> Server[Any]:
    """A low-level MCP ``Server`` offering ``toolset``'s tools; each call runs under ``timeout`` seconds.

    Tool errors, timeouts and crashes come back as ``is_error`` results; the toolset is closed when the
    server shuts down.
    """
    from toolgym import __version__

    async def list_tools(ctx: Any, params: mcp_types.PaginatedRequestParams | None) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=[mcp_tool(spec) for spec in await toolset.list_tools()])

    async def call_tool(ctx: Any, params: mcp_types.CallToolRequestParams) -> mcp_types.CallToolResult:
        try:
            async with asyncio.timeout(timeout):
                output = await toolset.call(params.name, dict(params.arguments or {}))
        except TimeoutError:
            return error_result(f"tool {params.name!r} timed out after {timeout:g}s")
        except ToolError as exc:
            return error_result(str(exc))
        except Exception as exc:  # a crashing tool is reported to the caller; the server stays up
            logger.exception("tool %r crashed", params.name)
            return error_result(f"tool {params.name!r} crashed: {type(exc).__name__}: {exc}")
        return call_result(output)

    @asynccontextmanager
    async def lifespan(server: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {}
        finally:
            await toolset.aclose()

    return Server(name, version=__version__, on_list_tools=list_tools, on_call_tool=call_tool, lifespan=lifespan)


async def serve_stdio(toolset: Toolset, *, name: str = "toolgym", timeout: float = 60.0) -> None:
    """Serve ``toolset`` over this process's stdin/stdout until stdin closes."""
    from mcp.server.stdio import stdio_server

    server = toolset_server(toolset, name=name, timeout=timeout)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_http(
    toolset: Toolset,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
    name: str = "toolgym",
    timeout: float = 60.0,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``toolset`` over streamable HTTP at ``http://host:port/path`` until interrupted.

    ``port=0`` picks a free port; ``on_ready`` gets the URL once the server accepts connections.
    """
    import uvicorn

    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server = toolset_server(toolset, name=name, timeout=timeout)
    app = server.streamable_http_app(streamable_http_path=path, json_response=True, host=host)
    web = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(web.serve(sockets=[sock]))
    try:
        while not web.started and not serving.done():
            await asyncio.sleep(0.01)
        if web.started and on_ready is not None:
            on_ready(f"http://{host}:{sock.getsockname()[1]}{path}")
        await serving
    finally:
        sock.close()


def _as_toolset(obj: Any, target: str, call: bool = True) -> Toolset:
    from toolgym.envs.tool_env import ToolEnv

    if isinstance(obj, Toolset):
        return obj
    if isinstance(obj, ToolEnv):
        return obj.toolset
    if call and callable(obj):
        try:
            made = obj()
        except TypeError as exc:
            raise ValueError(f"{target}: calling it with no arguments failed: {exc}") from None
        return _as_toolset(made, target, call=False)
    raise ValueError(f"{target} is a {type(obj).__name__}, not a Toolset, a ToolEnv or a zero-argument factory of one")


def load_toolset(target: str) -> Toolset:
    """The toolset ``target`` names: a registered environment (its toolset) or ``module:attr`` naming a
    Toolset, a ToolEnv, or a zero-argument factory of either."""
    if ":" not in target:
        from toolgym.envs import get_env_entry, make_env

        try:
            entry = get_env_entry(target)
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]}; or name a toolset as module:attr") from None
        return _as_toolset(make_env(entry.name), target)
    module_name, _, attr = target.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # `module:attr` names code in the working directory, as uvicorn does
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{target}: cannot import module {module_name!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{target}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return _as_toolset(obj, target)
