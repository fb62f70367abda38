"""`toolgym mcp serve` and `toolgym mcp tools` (through a local typer app holding the `mcp` sub-app)."""

import asyncio
import json
import socket
import sys

import typer
from typer.testing import CliRunner

from tests.tools.mcp.helpers import MCP_CLI, ROOT, misbehaving, serve_http, stop
from toolgym.cli.mcp import app as mcp_app
from toolgym.tools.mcp import MCPToolset


def run_cli(*args: str) -> tuple[int, str]:
    """`toolgym mcp ARGS` through a local typer app; the output with line wrapping undone."""
    cli = typer.Typer()
    cli.add_typer(mcp_app, name="mcp")
    result = CliRunner().invoke(cli, ["mcp", *args])
    return result.exit_code, " ".join(result.output.split())


def test_cli_serve_rejects_a_bad_target():
    code, output = run_cli("serve", "toolgym.envs.calculator:missing")
    assert code == 2 and "has no attribute 'missing'" in output


def test_cli_tools_lists_the_tools_of_a_config(tmp_path):
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"test": misbehaving(include_tools=["echo", "add"])}}))
    code, output = run_cli("tools", str(config))
    assert code == 0, output
    assert "echo" in output and "add" in output and "crash" not in output
    config.write_text(json.dumps({"mcpServers": {"test": {"command": "toolgym-no-such-server"}}}))
    code, output = run_cli("tools", str(config))
    assert code == 2 and "not found" in output
    config.write_text("{}")
    code, output = run_cli("tools", str(config))
    assert code == 2 and "mcpServers" in output


async def test_serve_over_stdio_through_the_cli():
    command = ["-c", MCP_CLI, "mcp", "serve", "calculator"]
    served = MCPToolset.stdio(sys.executable, command, env={"PYTHONPATH": str(ROOT)}, cwd=ROOT, name="calc")
    async with served as tools:
        assert {s.name for s in await tools.list_tools()} == {"add", "subtract", "multiply", "divide"}
        outs = await asyncio.gather(*(tools.call("multiply", {"a": i, "b": 3}) for i in range(50)))
        assert [o.content for o in outs] == [str(3 * i) for i in range(50)]


async def test_serve_a_module_toolset_over_http_on_a_chosen_path():
    proc, url = serve_http("tests.tools.mcp.test_serve:lookup_toolset", 0, "--path", "/tools", "--name", "lookup")
    try:
        assert url.endswith("/tools")
        async with MCPToolset.http(url) as tools:
            out = await tools.call("lookup", {"city": "Oslo"})
            assert out.structured == {"city": "Oslo", "population": 1000}
    finally:
        stop(proc)


def test_cli_serve_reports_a_port_in_use():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, output = run_cli("serve", "calculator", "--transport", "http", "--port", str(port))
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in output
