"""The {"mcpServers": ...} config: what MCP clients write, toolgym's options, and errors naming file and field."""

import json

import pytest

from toolgym.tools.mcp import (
    HttpServerConfig,
    InProcessServerConfig,
    MCPConfigError,
    StdioServerConfig,
    load_servers,
)


def write(tmp_path, data, name="servers.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_claude_desktop_style_file_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "s3cret")
    path = write(
        tmp_path,
        {
            "mcpServers": {
                "memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]},
                "github": {
                    "command": "docker",
                    "args": ["run", "-i", "ghcr.io/github/github-mcp-server"],
                    "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"},
                    "autoApprove": ["get_issue"],
                },
                "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}},
                "off": {"command": "nothing", "disabled": True},
            }
        },
    )
    servers = load_servers(path)
    assert list(servers) == ["memory", "github", "remote"]
    assert isinstance(servers["memory"], StdioServerConfig)
    assert servers["memory"].args == ["-y", "@modelcontextprotocol/server-memory"]
    assert servers["github"].env == {"GITHUB_PERSONAL_ACCESS_TOKEN": "s3cret"}
    assert isinstance(servers["remote"], HttpServerConfig)
    assert servers["remote"].headers == {"Authorization": "Bearer s3cret"}
    assert servers["memory"].per_episode is False and servers["memory"].timeout == 60


def test_vscode_style_servers_key_and_type_field():
    servers = load_servers(
        {
            "servers": {
                "a": {"type": "stdio", "command": "x"},
                "b": {"type": "http", "url": "http://127.0.0.1:1/mcp"},
                "c": {"type": "streamable-http", "url": "http://127.0.0.1:2/mcp"},
            }
        }
    )
    assert [type(s) for s in servers.values()] == [StdioServerConfig, HttpServerConfig, HttpServerConfig]


def test_toolgym_options_are_read():
    servers = load_servers(
        {
            "mcpServers": {
                "memory": {
                    "command": "mcp-server-memory",
                    "per_episode": True,
                    "include_tools": ["read_*", "search_*"],
                    "exclude_tools": ["*delete*"],
                    "prefix": "mem_",
                    "timeout": 5,
                    "startup_timeout": 10,
                    "max_restarts": 1,
                }
            }
        }
    )
    memory = servers["memory"]
    assert memory.per_episode and memory.include_tools == ["read_*", "search_*"]
    assert (memory.prefix, memory.timeout, memory.startup_timeout, memory.max_restarts) == ("mem_", 5, 10, 1)


def test_env_var_defaults_and_server_dir_placeholder(monkeypatch):
    monkeypatch.delenv("TOOLGYM_TEST_UNSET", raising=False)
    servers = load_servers(
        {
            "mcpServers": {
                "s": {
                    "command": "${TOOLGYM_TEST_UNSET:-mcp-server-memory}",
                    "env": {"MEMORY_FILE_PATH": "${TOOLGYM_SERVER_DIR}/memory.jsonl"},
                }
            }
        }
    )
    assert servers["s"].command == "mcp-server-memory"
    assert servers["s"].env["MEMORY_FILE_PATH"] == "${TOOLGYM_SERVER_DIR}/memory.jsonl"  # filled in at start


def test_in_process_server_object():
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("inproc")
    servers = load_servers({"mcpServers": {"local": {"server": server, "per_episode": False}}})
    assert isinstance(servers["local"], InProcessServerConfig) and servers["local"].server is server
    with pytest.raises(MCPConfigError, match=r"mcpServers\.bad\.server: .*MCPServer or Server object"):
        load_servers({"mcpServers": {"bad": {"server": object()}}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"mcpServers": {"a": {"command": "x",}}}', r"servers\.json:1:\d+: not valid JSON"),
        ({"servers_typo": {}}, r"servers\.json: must be a JSON object with an 'mcpServers' object"),
        ({"mcpServers": []}, r"servers\.json: mcpServers: must be an object"),
        ({"mcpServers": {}}, r"servers\.json: mcpServers: no \(enabled\) servers"),
        ({"mcpServers": {"a": "mcp-server-memory"}}, r"servers\.json: mcpServers\.a: a server entry must be an object"),
        ({"mcpServers": {"a": {"args": ["x"]}}}, r"servers\.json: mcpServers\.a: needs 'command' .* or 'url'"),
        ({"mcpServers": {"a": {"command": "x", "args": "--flag"}}}, r"servers\.json: mcpServers\.a\.args: "),
        ({"mcpServers": {"a": {"command": "x", "args": ["ok", 3]}}}, r"mcpServers\.a\.args\.1: "),
        ({"mcpServers": {"a": {"command": ""}}}, r"mcpServers\.a\.command: "),
        ({"mcpServers": {"a": {"command": "x", "per_epsiode": True}}}, r"mcpServers\.a\.per_epsiode: unknown field"),
        ({"mcpServers": {"a": {"command": "x", "timeout": 0}}}, r"mcpServers\.a\.timeout: "),
        ({"mcpServers": {"a": {"url": "127.0.0.1:8000/mcp"}}}, r"mcpServers\.a\.url: .*http:// or https://"),
        ({"mcpServers": {"a": {"type": "sse", "url": "http://x/sse"}}}, r"mcpServers\.a\.type: .*SSE"),
        ({"mcpServers": {"a": {"type": "pigeon", "url": "http://x"}}}, r"mcpServers\.a\.type: unknown transport"),
        (
            {"mcpServers": {"a": {"command": "x", "env": {"TOKEN": "${TOOLGYM_TEST_NOT_SET}"}}}},
            r"mcpServers\.a\.env\.TOKEN: environment variable 'TOOLGYM_TEST_NOT_SET' is not set",
        ),
    ],
)
def test_errors_name_the_file_and_field(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(MCPConfigError, match=message):
        load_servers(path)


def test_missing_file_and_dict_sources_are_named(tmp_path):
    with pytest.raises(MCPConfigError, match=r"nope\.json: no such MCP servers file"):
        load_servers(tmp_path / "nope.json")
    with pytest.raises(MCPConfigError, match=r"<dict>: mcpServers\.a\.args"):
        load_servers({"mcpServers": {"a": {"command": "x", "args": 5}}})
    with pytest.raises(MCPConfigError, match="file path or a dict"):
        load_servers(42)  # type: ignore[arg-type]
