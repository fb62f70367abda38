"""MCPToolset: the tools of one or more MCP servers (stdio, streamable HTTP or in-process) as a Toolset."""

from __future__ import annotations

import asyncio
import fnmatch
import re
import signal
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import mcp_types

from toolgym.tools.base import ToolError, ToolOutput, Toolset, UnknownToolError
from toolgym.tools.mcp import pool, processes
from toolgym.tools.mcp.config import MCPConfigError, ServerConfig, ServersSource, load_servers
from toolgym.tools.mcp.connection import MCPServerError, ServerConnection
from toolgym.tools.mcp.results import tool_output, tool_spec
from toolgym.types import ToolSpec


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "server"


def _offered(config: ServerConfig, tool: str) -> bool:
    if config.include_tools is not None and not any(fnmatch.fnmatchcase(tool, p) for p in config.include_tools):
        return False
    return not any(fnmatch.fnmatchcase(tool, p) for p in config.exclude_tools)


class MCPToolset(Toolset):
    """The tools of the MCP servers in ``servers`` (a ``{"mcpServers": ...}`` file path or dict).

    Servers start on first use, all at once, each within its ``startup_timeout``. Tool names keep the
    server's names; a name offered by two servers becomes ``<server>_<name>`` on both (or set a
    server's ``prefix``). ``include_tools``/``exclude_tools`` globs pick a server's tools by their own names.

    With ``share=True`` (the default), toolsets built from the same config on one event loop share one
    connection per server (one process, concurrent calls), except servers marked ``per_episode``, which
    every toolset starts for itself and replaces with a fresh one when an episode begins.
    """

    def __init__(self, servers: ServersSource, *, share: bool = True) -> None:
        self.servers: dict[str, ServerConfig] = load_servers(servers)
        self.share = share
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: dict[str, ServerConnection] = {}
        self._specs: list[ToolSpec] | None = None
        self._routes: dict[str, tuple[str, str]] = {}
        self._listing: asyncio.Lock | None = None

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        name: str = "server",
        **options: Any,
    ) -> MCPToolset:
        """One server run as ``command args`` over stdio; ``options`` are the per-server options."""
        entry = {"command": command, "args": list(args), "env": dict(env or {}), **options}
        if cwd is not None:
            entry["cwd"] = str(cwd)
        return cls({"mcpServers": {name: entry}})

    @classmethod
    def http(
        cls, url: str, *, headers: Mapping[str, str] | None = None, name: str = "server", **options: Any
    ) -> MCPToolset:
        """One server at a streamable-HTTP ``url``."""
        return cls({"mcpServers": {name: {"url": url, "headers": dict(headers or {}), **options}}})

    @classmethod
    def in_process(cls, server: Any, *, name: str = "server", **options: Any) -> MCPToolset:
        """An ``MCPServer`` (or low-level ``Server``) object of this process, called without a transport."""
        return cls({"mcpServers": {name: {"type": "in_process", "server": server, **options}}})

    # ---- Toolset ------------------------------------------------------------------------------

    async def list_tools(self) -> list[ToolSpec]:
        if self._specs is None:
            if self._listing is None:
                self._listing = asyncio.Lock()
            async with self._listing:
                if self._specs is None:
                    names = list(self.servers)
                    listings = await asyncio.gather(*(self.connection(n).list_tools() for n in names))
                    self._specs = self._route(dict(zip(names, listings, strict=True)))
        return self._specs

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        if self._specs is None:
            try:
                await self.list_tools()
            except MCPServerError as exc:
                raise ToolError(str(exc), kind="server_unavailable") from None
        route = self._routes.get(name)
        if route is None:
            raise UnknownToolError(name, self._routes)
        server, tool = route
        # the deadline is this toolset's, even on a connection shared with toolsets configured otherwise
        return tool_output(
            await self.connection(server).call_tool(tool, arguments, timeout=self.servers[server].timeout)
        )

    async def on_episode_start(self) -> None:
        for connection in list(self._connections.values()):
            await connection.new_episode()

    async def aclose(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            self._abandon()  # made on a loop that is gone: nothing to close politely
        connections, self._connections = list(self._connections.values()), {}
        self._specs, self._routes, self._listing = None, {}, None  # a later use starts afresh, and is released
        await asyncio.gather(*(self._release(c) for c in connections), return_exceptions=True)

    # ---- more ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every server and list its tools now (else that happens on first use)."""
        await self.list_tools()

    def connection(self, server: str) -> ServerConnection:
        """The connection to ``server`` on the running event loop (made, not started, on first use)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._abandon()
            self._loop = loop
        connection = self._connections.get(server)
        if connection is None:
            if server not in self.servers:
                raise KeyError(f"no MCP server {server!r}; servers: {', '.join(self.servers)}")
            config = self.servers[server]
            if self.share and not config.per_episode:
                connection = pool.acquire(server, config)
            else:
                connection = ServerConnection(server, config)
            self._connections[server] = connection
        return connection

    def route(self, tool: str) -> tuple[str, str]:
        """The server and the server's own name of an offered tool."""
        return self._routes[tool]

    async def __aenter__(self) -> MCPToolset:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _route(self, listings: dict[str, list[mcp_types.Tool]]) -> list[ToolSpec]:
        offered = {s: [t for t in tools if _offered(self.servers[s], t.name)] for s, tools in listings.items()}
        counts = Counter(t.name for tools in offered.values() for t in tools)
        specs: list[ToolSpec] = []
        routes: dict[str, tuple[str, str]] = {}
        for server, tools in offered.items():
            prefix = self.servers[server].prefix
            for tool in tools:
                if isinstance(prefix, str):
                    name = prefix + tool.name
                elif prefix is True or (prefix is None and counts[tool.name] > 1):
                    name = f"{_slug(server)}_{tool.name}"
                else:
                    name = tool.name
                if name in routes:
                    raise MCPConfigError(
                        f"tool name {name!r} is offered by MCP servers {routes[name][0]!r} and {server!r}; "
                        "set a 'prefix' on one of them"
                    )
                routes[name] = (server, tool.name)
                specs.append(tool_spec(tool, name))
        self._routes = routes
        return specs

    async def _release(self, connection: ServerConnection) -> None:
        if self.share and not connection.config.per_episode:
            await pool.release(connection)
        else:
            await connection.aclose()

    def _abandon(self) -> None:
        """Connections of an event loop that is gone cannot be closed politely: kill their servers."""
        for connection in self._connections.values():
            if connection.pid is not None:
                processes.signal_group(connection.pid, signal.SIGKILL)
        self._connections = {}
        self._listing = None
