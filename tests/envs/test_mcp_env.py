"""MCPEnv on the shipped example (mcp-server-time + npm server-memory): episodes, a server killed
mid-episode, and `toolgym eval mcp --servers ... --tasks ...` end to end."""

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.tools.mcp.helpers import installed_server, npm_server
from toolgym.agents import Runner
from toolgym.agents.policy import Generation
from toolgym.cli import app
from toolgym.envs import register_env
from toolgym.envs.mcp_env import MCPEnv
from toolgym.envs.tasks import TaskFileError
from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer
from toolgym.tools.mcp import MCPConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mcp"
SERVERS, TASKS = EXAMPLES / "servers.json", EXAMPLES / "tasks.jsonl"
register_env("mcp", "toolgym.envs.mcp_env:MCPEnv", "Tasks from JSONL, tools from MCP servers.")


@pytest.fixture(autouse=True)
def servers_installed():
    npm_server("mcp-server-memory")
    installed_server("mcp-server-time", "pip install mcp-server-time")


def next_move(messages: list[dict]) -> dict:
    """Solves the example tasks with the real tools: a tool call (repeated after an error) or the answer."""
    question = next(m["content"] for m in messages if m["role"] == "user")
    results = [m["content"] for m in messages if m["role"] == "tool" and not m["content"].startswith("Error:")]
    last = messages[-1]
    if last["role"] == "tool" and last["content"].startswith("Error:"):
        return {"tool_calls": [messages[-2]["tool_calls"][0]["function"] | {"id": f"retry{len(messages)}"}]}
    if (when := re.match(r"It is (\S+) in (\S+)\. What time is it in (\S+)\?", question)) is not None:
        if not results:
            args = {"source_timezone": when[2], "time": when[1], "target_timezone": when[3]}
            return {"tool_calls": [{"name": "convert_time", "arguments": args}]}
        return {"content": json.loads(results[-1])["target"]["datetime"][11:16]}
    who, fact = re.match(
        r"Store in the knowledge graph that (\w+) \(a person\) (works at \w+|lives in \w+)", question
    ).groups()
    if not results:
        entity = {"name": who, "entityType": "person", "observations": [fact]}
        return {"tool_calls": [{"name": "create_entities", "arguments": {"entities": [entity]}}]}
    if len(results) == 1:
        return {"tool_calls": [{"name": "search_nodes", "arguments": {"query": who}}]}
    return {"content": json.loads(results[-1])["entities"][0]["observations"][0].split()[-1]}


def as_message(move: dict, turn: int) -> dict:
    calls = [
        call if "function" in call else {"id": f"c{turn}", "type": "function", "function": call}
        for call in move.get("tool_calls", [])
    ]
    for call in calls:
        if not isinstance(call["function"]["arguments"], str):
            call["function"]["arguments"] = json.dumps(call["function"]["arguments"])
    if calls:
        return {"role": "assistant", "content": None, "tool_calls": calls}
    return {"role": "assistant", "content": move["content"]}


class ExampleSolver:
    """An in-process policy for the example tasks; ``before`` runs before each generation."""

    name = "example-solver"

    def __init__(self, before=None) -> None:
        self.before = before

    async def generate(self, messages, tools=None, sampling=None) -> Generation:
        if self.before is not None:
            await self.before(messages)
        return Generation(message=as_message(next_move(messages), len(messages)), completion_tokens=5)

    async def aclose(self) -> None:
        pass


async def test_example_tasks_are_solved_through_the_real_servers():
    env = MCPEnv(SERVERS, TASKS)
    policy = ExampleSolver()
    runner = Runner(lambda: env, policy, concurrency=1)
    summary = await runner.arun(env.tasks.take(5))
    assert summary.episodes == 5 and summary.success_rate == 1.0
    by_id = {e.task_id: e for e in runner.episodes}
    assert by_id["time-tokyo-kolkata"].final_answer == "05:30"
    assert by_id["memory-bob"].final_answer == "Lisbon"
    tools = [t["function"]["name"] for t in env.tools]
    assert tools == ["create_entities", "search_nodes"]  # the task's own selection


async def test_server_killed_mid_episode_is_recorded_restarted_and_the_run_finishes(tmp_path):
    env = MCPEnv(SERVERS, TASKS)
    memory = None

    async def kill_during_the_first_memory_call(messages):
        nonlocal memory
        if "Bob" in messages[-1].get("content", "") and messages[-1]["role"] == "user":
            memory = env.toolset.connection("memory")
            await memory.start()
            pid = memory.pid
            os.kill(pid, signal.SIGSTOP)  # frozen: the next call hangs until the kill lands mid-call
            asyncio.get_running_loop().call_later(0.3, os.kill, pid, signal.SIGKILL)

    solver = ExampleSolver(kill_during_the_first_memory_call)
    runner = Runner(lambda: env, solver, concurrency=1, out=tmp_path / "run.jsonl")
    summary = await runner.arun(env.tasks.take(5))
    assert summary.episodes == 5 and not summary.errors
    bob = next(e for e in runner.episodes if e.task_id == "memory-bob")
    failed = [r for t in bob.turns for r in t.tool_results if r.is_error]
    assert [r.error_kind for r in failed] == ["server_crashed"]
    assert "killed by signal 9" in failed[0].content
    assert bob.success and bob.final_answer == "Lisbon"  # the retried call reached the restarted server
    assert memory.crashes == 1
    assert len((tmp_path / "run.jsonl").read_text().splitlines()) == 5


def scripted_handler(request: dict) -> Reply:
    move = next_move(request["messages"])
    if "tool_calls" in move:
        return Reply(tool_calls=move["tool_calls"])
    return Reply(content=move["content"])


def test_toolgym_eval_mcp_with_servers_and_tasks_options(tmp_path):
    out = tmp_path / "mcp.jsonl"
    with ScriptedOpenAIServer(scripted_handler) as server:
        result = CliRunner().invoke(
            app,
            [
                *["eval", "mcp", "--servers", str(SERVERS), "--tasks", str(TASKS), "--n", "5", "--concurrency", "3"],
                *["--model", "scripted", "--base-url", server.base_url, "--out", str(out)],
            ],
            catch_exceptions=False,
        )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and all(r["reward"] == 1.0 for r in records), records
    assert "100.0%" in result.output


def test_bad_servers_or_tasks_fail_with_the_file_and_field(tmp_path):
    broken = tmp_path / "servers.json"
    broken.write_text(json.dumps({"mcpServers": {"memory": {"command": "mcp-server-memory", "args": "x"}}}))
    with pytest.raises(MCPConfigError, match=r"servers\.json: mcpServers\.memory\.args"):
        MCPEnv(broken, TASKS)
    bad_tasks = tmp_path / "tasks.jsonl"
    bad_tasks.write_text('{"id": "a", "prompt": []}\n')
    with pytest.raises(TaskFileError, match=r"tasks\.jsonl:1: field 'prompt'"):
        MCPEnv(SERVERS, bad_tasks)
    result = CliRunner().invoke(app, ["eval", "mcp", "--servers", str(broken), "--tasks", str(TASKS)])
    assert result.exit_code == 2 and "mcpServers.memory.args" in result.output
