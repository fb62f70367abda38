"""``toolgym mcp serve`` (a toolset as an MCP server) and ``toolgym mcp tools`` (what configured servers offer)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from toolgym.cli.common import console, fail

app = typer.Typer(help="MCP: serve toolgym toolsets over MCP, inspect MCP servers.", no_args_is_help=True)


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


def _require_mcp() -> None:
    try:
        import toolgym.tools.mcp  # noqa: F401
    except ImportError as exc:
        raise fail(escape(str(exc))) from None


@app.command()
def serve(
    target: Annotated[str, typer.Argument(help="a registered env name (serves its tools) or module:attr")],
    transport: Annotated[Transport, typer.Option(help="stdio, or streamable HTTP")] = Transport.stdio,
    host: Annotated[str, typer.Option(help="HTTP interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port (0 = any free port)")] = 8000,
    path: Annotated[str, typer.Option(help="HTTP path of the MCP endpoint")] = "/mcp",
    name: Annotated[str, typer.Option(help="server name announced to clients")] = "toolgym",
    timeout: Annotated[float, typer.Option(min=0.001, help="deadline of one tool call, seconds")] = 60.0,
) -> None:
    """Serve a toolgym toolset over MCP, for any MCP client or agent.

    TARGET is a registered environment (e.g. `calculator`), or `module:attr` naming a Toolset, a ToolEnv
    or a zero-argument factory of one. With stdio nothing but MCP is written to stdout.
    """
    _require_mcp()
    from toolgym.tools.mcp.serve import load_toolset, serve_http, serve_stdio

    try:
        toolset = load_toolset(target)
    except ValueError as exc:
        raise fail(escape(str(exc))) from None
    if transport is Transport.stdio:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_stdio(toolset, name=name, timeout=timeout))
        return

    def ready(url: str) -> None:
        print(f"serving {target} over MCP at {url}", file=sys.stderr, flush=True)

    try:
        asyncio.run(serve_http(toolset, host=host, port=port, path=path, name=name, timeout=timeout, on_ready=ready))
    except OSError as exc:
        raise fail(escape(str(exc))) from None
    except KeyboardInterrupt:  # Ctrl-C is how an HTTP server is stopped
        pass


@app.command()
def tools(
    servers: Annotated[Path, typer.Argument(help='a {"mcpServers": {...}} JSON file')],
) -> None:
    """Start the servers of a config and list the tools they offer (as the model will see them)."""
    _require_mcp()
    from toolgym.tools.mcp import MCPConfigError, MCPServerError, MCPToolset

    try:
        toolset = MCPToolset(servers)
    except MCPConfigError as exc:
        raise fail(escape(str(exc))) from None

    async def listing() -> list[tuple[str, str, str]]:
        try:
            specs = await toolset.list_tools()
            return [(spec.name, toolset.route(spec.name)[0], spec.description) for spec in specs]
        finally:
            await toolset.aclose()

    try:
        rows = asyncio.run(listing())
    except (MCPServerError, MCPConfigError) as exc:
        raise fail(escape(str(exc))) from None
    table = Table("tool", "server", "description", title=str(servers))
    for tool, server, description in rows:
        table.add_row(tool, server, description.splitlines()[0] if description else "")
    console.print(table)
