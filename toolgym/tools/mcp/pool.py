"""Connections shared across toolsets: one server per identical config and event loop, reference-counted.

Many environments of one run (one per concurrent episode) each build an MCPToolset from the same config;
they share one connection per server instead of starting a process each. The last toolset to close
stops the server.
"""

from __future__ import annotations

import asyncio
import weakref

from toolgym.tools.mcp.config import InProcessServerConfig, ServerConfig
from toolgym.tools.mcp.connection import ServerConnection

_TOOLSET_OPTIONS = {"include_tools", "exclude_tools", "prefix", "timeout"}

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, tuple[ServerConnection, int]]] = (
    weakref.WeakKeyDictionary()
)


def connection_key(config: ServerConfig) -> str:
    """What makes two configs the same server: everything but the options each toolset applies itself."""
    if isinstance(config, InProcessServerConfig):
        return f"in_process:{id(config.server)}:{config.model_dump_json(exclude={'server', *_TOOLSET_OPTIONS})}"
    return config.model_dump_json(exclude=_TOOLSET_OPTIONS)


def acquire(name: str, config: ServerConfig) -> ServerConnection:
    """A shared connection for ``config`` on the running loop (created, not yet started, if new)."""
    pool = _pools.setdefault(asyncio.get_running_loop(), {})
    key = connection_key(config)
    entry = pool.get(key)
    if entry is None:
        connection = ServerConnection(name, config)
        pool[key] = (connection, 1)
        return connection
    pool[key] = (entry[0], entry[1] + 1)
    return entry[0]


async def release(connection: ServerConnection) -> None:
    """Drop one reference; the last one stops the server."""
    pool = _pools.get(asyncio.get_running_loop(), {})
    key = connection_key(connection.config)
    entry = pool.get(key)
    if entry is None or entry[0] is not connection:
        await connection.aclose()
        return
    if entry[1] > 1:
        pool[key] = (connection, entry[1] - 1)
        return
    del pool[key]
    await connection.aclose()
