"""MCPToolset against real third-party MCP servers over stdio: npm server-memory and server-filesystem."""

import asyncio
import json

import pytest

from tests.tools.mcp.helpers import npm_server
from toolgym.envs.tool_env import ToolEnv
from toolgym.tools.mcp import MCPToolset
from toolgym.types import Budget, Message, Task


def memory_config(**options) -> dict:
    path = npm_server("mcp-server-memory")
    env = {"MEMORY_FILE_PATH": "${TOOLGYM_SERVER_DIR}/memory.jsonl"}
    return {"command": path, "env": env, **options}


def tool_call(name: str, arguments: dict, call_id: str = "c1") -> dict:
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


ALICE = {"entities": [{"name": "Alice", "entityType": "person", "observations": ["works at Acme"]}]}


async def test_memory_server_tools_schemas_and_calls():
    async with MCPToolset({"mcpServers": {"memory": memory_config()}}) as tools:
        specs = {s.name: s for s in await tools.list_tools()}
        assert {"create_entities", "read_graph", "search_nodes"} <= set(specs)
        create = specs["create_entities"]
        assert create.parameters["required"] == ["entities"] and create.description
        assert create.output_schema is not None and "entities" in create.output_schema["properties"]

        out = await tools.call("create_entities", ALICE)
        assert not out.is_error and out.structured["entities"][0]["name"] == "Alice"
        found = await tools.call("search_nodes", {"query": "Acme"})
        assert json.loads(found.content)["entities"][0]["observations"] == ["works at Acme"]
        bad = await tools.call("create_entities", {"entities": "Alice"})  # the server rejects the arguments
        assert bad.is_error and "entities" in bad.content


async def test_filesystem_server_reads_and_writes_inside_its_root(tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    (root / "notes.txt").write_text("hello from toolgym\n")
    config = {"mcpServers": {"fs": {"command": npm_server("mcp-server-filesystem"), "args": [str(root)]}}}
    async with MCPToolset(config) as tools:
        names = {s.name for s in await tools.list_tools()}
        assert {"read_text_file", "write_file", "list_directory"} <= names
        read = await tools.call("read_text_file", {"path": str(root / "notes.txt")})
        assert read.content == "hello from toolgym\n" and not read.is_error
        wrote = await tools.call("write_file", {"path": str(root / "out.txt"), "content": "42"})
        assert not wrote.is_error and (root / "out.txt").read_text() == "42"
        outside = await tools.call("read_text_file", {"path": "/etc/hostname"})
        assert outside.is_error and "denied" in outside.content.lower()


async def test_two_servers_prefix_only_colliding_names_and_filter_by_glob(tmp_path):
    fs = npm_server("mcp-server-filesystem")
    config = {
        "mcpServers": {
            "memory": memory_config(include_tools=["read_graph", "search_*", "create_entities"]),
            "docs": {"command": fs, "args": [str(tmp_path)], "exclude_tools": ["*write*", "edit_*", "move_*"]},
            "notes": {"command": fs, "args": [str(tmp_path)], "include_tools": ["read_text_file", "write_file"]},
        }
    }
    async with MCPToolset(config) as tools:
        names = {s.name for s in await tools.list_tools()}
        assert {"read_graph", "search_nodes", "create_entities"} <= names and "delete_entities" not in names
        # read_text_file is offered by both filesystem servers: both get their server's name as prefix
        assert {"docs_read_text_file", "notes_read_text_file"} <= names and "read_text_file" not in names
        assert "write_file" in names  # only "notes" offers it, so it keeps its own name
        assert not any("edit_file" in n for n in names)
        (tmp_path / "a.txt").write_text("A")
        assert (await tools.call("docs_read_text_file", {"path": str(tmp_path / "a.txt")})).content == "A"
        assert tools.route("notes_read_text_file") == ("notes", "read_text_file")


async def test_episode_through_tool_env_records_results_and_errors():
    task = Task(id="m1", prompt=[Message(role="user", content="Remember Alice.")])
    env = ToolEnv(MCPToolset({"mcpServers": {"memory": memory_config()}}), tasks=[task], budget=Budget(max_turns=4))
    try:
        _, info = await env.areset(task=task)
        assert any(t["function"]["name"] == "create_entities" for t in info["tools"])
        obs, _, _, _, step = await env.astep(tool_call("create_entities", ALICE))
        assert "Alice" in obs[-1]["content"] and not step["tool_results"][0].is_error
        _, _, _, _, step = await env.astep(tool_call("search_nodes", {"entities": 1}, "c2"))
        result = step["tool_results"][0]
        assert result.is_error and result.error_kind == "tool_reported"
        _, reward, terminated, _, _ = await env.astep({"role": "assistant", "content": "Done."})
        assert terminated and env.episode.final_answer == "Done."
    finally:
        await env.aclose()


async def test_two_hundred_concurrent_calls_share_one_stdio_connection():
    async with MCPToolset({"mcpServers": {"memory": memory_config()}}) as tools:
        names = [{"name": f"e{i}", "entityType": "n", "observations": [f"v{i}"]} for i in range(200)]
        await tools.call("create_entities", {"entities": names})
        outs = await asyncio.gather(*(tools.call("open_nodes", {"names": [f"e{i}"]}) for i in range(200)))
        assert [o.structured["entities"][0]["observations"] for o in outs] == [[f"v{i}"] for i in range(200)]
        assert tools.connection("memory").starts == 1


@pytest.mark.parametrize("per_episode", [False, True])
async def test_server_state_is_shared_or_fresh_per_episode(per_episode):
    config = {"mcpServers": {"memory": memory_config(per_episode=per_episode)}}
    tasks = [Task(id=f"t{i}", prompt=[Message(role="user", content="hi")]) for i in range(2)]
    env = ToolEnv(MCPToolset(config), tasks=tasks)
    try:
        await env.areset(task=tasks[0])
        await env.astep(tool_call("create_entities", ALICE))
        first_pid = env.toolset.connection("memory").pid
        await env.areset(task=tasks[1])
        obs, *_ = await env.astep(tool_call("read_graph", {}))
        graph = json.loads(obs[-1]["content"])
        connection = env.toolset.connection("memory")
        if per_episode:
            assert graph["entities"] == [] and connection.pid != first_pid and connection.starts == 2
        else:
            assert graph["entities"][0]["name"] == "Alice" and connection.pid == first_pid
    finally:
        await env.aclose()
