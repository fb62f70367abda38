"""MCP: use the tools of any MCP server in toolgym environments, and serve toolgym toolsets over MCP.

Needs the ``mcp`` extra (``pip install 'toolgym[mcp]'``); ``import toolgym`` works without it.
"""

try:
    import mcp  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("MCP support needs the official MCP SDK: pip install 'toolgym[mcp]'") from exc

from toolgym.tools.mcp.config import (
    HttpServerConfig,
    InProcessServerConfig,
    MCPConfigError,
    ServerConfig,
    StdioServerConfig,
    load_servers,
)
from toolgym.tools.mcp.connection import MCPServerError, ServerConnection
from toolgym.tools.mcp.serve import load_toolset, serve_http, serve_stdio, toolset_server
from toolgym.tools.mcp.toolset import MCPToolset

__all__ = [
    "HttpServerConfig",
    "InProcessServerConfig",
    "MCPConfigError",
    "MCPServerError",
    "MCPToolset",
    "ServerConfig",
    "ServerConnection",
    "StdioServerConfig",
    "load_servers",
    "load_toolset",
    "serve_http",
    "serve_stdio",
    "toolset_server",
]
