"""MCP server configuration: the ``{"mcpServers": {...}}`` JSON that MCP clients use, plus toolgym's options.

Each entry is a stdio server (``command``, ``args``, ``env``, ``cwd``) or a streamable-HTTP server
(``url``, ``headers``); ``${VAR}`` and ``${VAR:-default}`` in those fields are read from the environment.
toolgym's own options sit beside them (``per_episode``, ``include_tools``, ``timeout``, ...). Errors name
the file and the field: ``servers.json: mcpServers.memory.args: Input should be a valid list``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SERVER_DIR_VAR = "TOOLGYM_SERVER_DIR"
"""``${TOOLGYM_SERVER_DIR}``: a fresh empty directory made for each start of a server, removed after it stops."""

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_HTTP_TYPES = {"http", "streamable-http", "streamable_http", "streamablehttp"}
_IGNORED_KEYS = {"autoApprove", "alwaysAllow", "disabled", "description", "type"}
_WRAPPER_KEYS = ("mcpServers", "servers")


class MCPConfigError(ValueError):
    """An MCP servers config that cannot be used, naming the file (or ``<dict>``) and the field."""


class ServerOptions(BaseModel):
    """toolgym's options for one server (they sit beside ``command``/``url`` in the entry)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    include_tools: list[str] | None = Field(default=None, description="glob patterns of tool names to offer")
    exclude_tools: list[str] = Field(default_factory=list, description="glob patterns of tool names to hide")
    prefix: str | bool | None = Field(
        default=None, description="prefix for every tool name; true = '<server>_'; default: only on collisions"
    )
    per_episode: bool = Field(default=False, description="start a fresh server for every episode")
    timeout: float = Field(default=60.0, gt=0, description="deadline of one tool call, seconds")
    startup_timeout: float = Field(default=30.0, gt=0, description="deadline of starting and connecting, seconds")
    max_restarts: int = Field(default=3, ge=0, description="restarts in a row without a successful call")


class StdioServerConfig(ServerOptions):
    """A server run as a child process, speaking MCP over its stdin and stdout."""

    type: Literal["stdio"] = "stdio"
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None


class HttpServerConfig(ServerOptions):
    """A server reached over streamable HTTP."""

    type: Literal["http"] = "http"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url


class InProcessServerConfig(ServerOptions):
    """An ``MCPServer`` (or low-level ``Server``) object in this process, reached without a transport."""

    type: Literal["in_process"] = "in_process"
    server: Any

    @field_validator("server")
    @classmethod
    def _is_server(cls, server: Any) -> Any:
        if not (hasattr(server, "_lowlevel_server") or hasattr(server, "create_initialization_options")):
            raise ValueError(f"must be an mcp MCPServer or Server object, got {type(server).__name__}")
        return server


ServerConfig = StdioServerConfig | HttpServerConfig | InProcessServerConfig
ServersSource = str | Path | Mapping[str, Any]


def _where(source: str, loc: tuple[Any, ...]) -> str:
    return f"{source}: {'.'.join(str(p) for p in loc)}"


def _expand(value: str, source: str, loc: tuple[Any, ...]) -> str:
    """``${VAR}`` / ``${VAR:-default}`` from the environment; ``${TOOLGYM_SERVER_DIR}`` is left for start time."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name == SERVER_DIR_VAR:
            return match.group(0)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise MCPConfigError(f"{_where(source, loc)}: environment variable {name!r} is not set")

    return _VAR.sub(replace, value)


def _expand_entry(entry: dict[str, Any], source: str, loc: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(entry)
    for key in ("command", "cwd", "url"):
        if isinstance(out.get(key), str):
            out[key] = _expand(out[key], source, (*loc, key))
    if isinstance(out.get("args"), list):
        out["args"] = [
            _expand(a, source, (*loc, "args", i)) if isinstance(a, str) else a for i, a in enumerate(out["args"])
        ]
    for key in ("env", "headers"):
        if isinstance(out.get(key), dict):
            out[key] = {k: _expand(v, source, (*loc, key, k)) if isinstance(v, str) else v for k, v in out[key].items()}
    return out


def _entry_type(entry: Mapping[str, Any], source: str, loc: tuple[Any, ...]) -> type[ServerOptions]:
    kind = entry.get("type")
    if kind is not None:
        if not isinstance(kind, str):
            raise MCPConfigError(f"{_where(source, (*loc, 'type'))}: must be a string")
        kind = kind.lower()
        if kind == "stdio":
            return StdioServerConfig
        if kind in _HTTP_TYPES:
            return HttpServerConfig
        if kind == "sse":
            raise MCPConfigError(
                f"{_where(source, (*loc, 'type'))}: the legacy SSE transport is not supported; "
                "use the server's streamable-HTTP endpoint (type 'http')"
            )
        if kind == "in_process":
            return InProcessServerConfig
        raise MCPConfigError(f"{_where(source, (*loc, 'type'))}: unknown transport {kind!r}; use 'stdio' or 'http'")
    if "command" in entry:
        return StdioServerConfig
    if "url" in entry:
        return HttpServerConfig
    if "server" in entry:
        return InProcessServerConfig
    raise MCPConfigError(f"{_where(source, loc)}: needs 'command' (a stdio server) or 'url' (a streamable-HTTP server)")


def parse_server(name: str, entry: Any, source: str = "<dict>", loc: tuple[Any, ...] = ()) -> ServerConfig | None:
    """One server entry as a config, or None when it is ``"disabled": true``."""
    loc = loc or (name,)
    if isinstance(entry, ServerOptions):
        return entry  # type: ignore[return-value]
    if not isinstance(entry, Mapping):
        raise MCPConfigError(f"{_where(source, loc)}: a server entry must be an object, got {type(entry).__name__}")
    if entry.get("disabled") is True:
        return None
    model = _entry_type(entry, source, loc)
    fields = {k: v for k, v in entry.items() if k not in _IGNORED_KEYS}
    fields = _expand_entry(fields, source, loc)
    try:
        return model.model_validate(fields)  # type: ignore[return-value]
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _where(source, (*loc, *err["loc"]))
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(k for k in model.model_fields if k != "type"))
            raise MCPConfigError(f"{where}: unknown field; a {model.__name__} takes {allowed}") from None
        raise MCPConfigError(f"{where}: {err['msg']}") from None


def _read_file(path: Path) -> Any:
    if not path.is_file():
        raise MCPConfigError(f"{path}: no such MCP servers file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MCPConfigError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise MCPConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None


def load_servers(source: ServersSource) -> dict[str, ServerConfig]:
    """The servers of a ``{"mcpServers": {name: entry}}`` file path or dict (``"servers"`` is read too).

    Entries with ``"disabled": true`` are left out. Raises :class:`MCPConfigError` naming the file and field.
    """
    if isinstance(source, str | Path):
        where = str(source)
        data = _read_file(Path(source))
    elif isinstance(source, Mapping):
        where, data = "<dict>", source
    else:
        raise MCPConfigError(f"MCP servers must be a file path or a dict, not {type(source).__name__}")
    if not isinstance(data, Mapping):
        raise MCPConfigError(f"{where}: must be a JSON object with an 'mcpServers' object")
    key = next((k for k in _WRAPPER_KEYS if k in data), None)
    if key is None:
        raise MCPConfigError(f"{where}: must be a JSON object with an 'mcpServers' object")
    entries = data[key]
    if not isinstance(entries, Mapping):
        raise MCPConfigError(f"{where}: {key}: must be an object mapping server names to servers")
    servers: dict[str, ServerConfig] = {}
    for name, entry in entries.items():
        if not isinstance(name, str) or not name.strip():
            raise MCPConfigError(f"{where}: {key}: server names must be non-empty strings, got {name!r}")
        config = parse_server(name, entry, where, (key, name))
        if config is not None:
            servers[name] = config
    if not servers:
        raise MCPConfigError(f"{where}: {key}: no (enabled) servers")
    return servers
