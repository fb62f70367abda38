"""SimulatedToolEnv on a generated-style tasks file, with a scripted simulator/judge/user endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from tests.synth.scripted import SynthHandler
from toolgym.agents.openai_policy import OpenAIPolicy
from toolgym.agents.rollout import rollout
from toolgym.envs.registry import ENVS, register_env
from toolgym.envs.simulated_env import SimulatedToolEnv
from toolgym.rewards.rubric import Criterion, Rubric
from toolgym.testing.openai_server import ScriptedOpenAIServer
from toolgym.tools import FunctionToolset
from toolgym.types import Message, Task, ToolSpec

LOOKUP = ToolSpec(
    name="get_order",
    description="Fetch an order by id.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
CLOCK = ToolSpec(name="get_time", description="Current time.", parameters={"type": "object", "properties": {}})


def make_task(task_id: str = "shop-t0", tool: str = "get_order") -> Task:
    rubric = Rubric(
        criteria=[
            Criterion(id="s1", description="fetches the order", required=True),
            Criterion(id="c1", description="reports it", weight=0.5),
        ],
        expected_tools=[tool],
    )
    return Task(
        id=task_id,
        prompt=[
            Message(role="system", content="You run a shop."),
            Message(role="user", content=f"Please use {tool} for order 42."),
        ],
        metadata={
            "domain": "online shop",
            "persona": "a hurried customer",
            "rubric": rubric.model_dump(),
            "tool_specs": [LOOKUP.model_dump(), CLOCK.model_dump()],
            "tool_sources": {"get_order": "synthetic", "get_time": "clock"},
            "tool_behaviours": {"get_order": "Returns the order or not_found."},
        },
    )


@pytest.fixture
def handler() -> SynthHandler:
    return SynthHandler(user_continues=True)


@pytest.fixture
def server(handler):
    with ScriptedOpenAIServer(handler) as srv:
        yield srv


def policy(server) -> OpenAIPolicy:
    return OpenAIPolicy("scripted", base_url=server.base_url, max_retries=0, timeout=10)


def tasks_file(tmp_path, *tasks: Task):
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(t.model_dump_json() + "\n" for t in tasks))
    return path


class ClockTools(FunctionToolset):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


def clock() -> ClockTools:
    tools = ClockTools()

    @tools.tool
    def get_time() -> str:
        """Current time."""
        return "12:00 UTC"

    return tools


async def test_episode_with_simulated_tools_user_and_judge(tmp_path, server, handler) -> None:
    env = SimulatedToolEnv(tasks_file(tmp_path, make_task()), simulator=policy(server), user_turns=2)
    episode = await rollout(env, policy(server), make_task(), seed=3)
    assert episode.error is None and episode.stop_reason == "answer"
    roles = [m["role"] for m in episode.messages]
    # call, result, answer, the user asks for more, call, result, answer, the user is satisfied
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant"]
    assert episode.messages[5]["content"] == "Thanks. Also tell me the item's status."
    assert json.loads(episode.messages[3]["content"])["tool"] == "get_order"
    assert json.loads(episode.messages[7]["content"])["calls_seen"] == 1  # the simulator saw the earlier call
    assert episode.reward == 1.0 and episode.success
    assert [c["id"] for c in episode.metadata["judge"]["criteria"]] == ["s1", "c1"]
    usage = episode.metadata["simulation_usage"]
    assert usage["requests"] == handler.counts["tool_result"] + handler.counts["user_reply"] == 4
    await env.aclose()


async def test_real_tools_serve_their_source_and_stay_open(tmp_path, server) -> None:
    real = clock()
    env = SimulatedToolEnv(
        [make_task(tool="get_time")], simulator=policy(server), real_tools={"clock": real}, user_turns=0
    )
    episode = await rollout(env, policy(server), seed=0)
    assert [m["content"] for m in episode.messages if m["role"] == "tool"] == ["12:00 UTC"]
    assert {t["function"]["name"] for t in env.tools} == {"get_order", "get_time"}
    await env.aclose()
    assert not real.closed  # borrowed: its owner closes it


def test_gym_facade_and_bad_tasks(tmp_path, server) -> None:
    env = SimulatedToolEnv([make_task()], simulator=policy(server), user_turns=0, rubric=False)
    obs, info = env.reset(seed=1)
    assert obs[-1]["content"].startswith("Please use get_order") and info["task_id"] == "shop-t0"
    call = {"id": "c1", "type": "function", "function": {"name": "get_order", "arguments": '{"order_id": "42"}'}}
    obs, reward, terminated, truncated, _ = env.step({"role": "assistant", "content": None, "tool_calls": [call]})
    assert json.loads(obs[-1]["content"])["tool"] == "get_order" and not terminated
    bad = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{**call, "function": {"name": "get_order", "arguments": "{}"}}],
    }
    obs, *_ = env.step(bad)
    assert obs[-1]["content"].startswith("Error: invalid arguments for tool 'get_order'")
    obs, reward, terminated, truncated, info = env.step("Your order 42 is on its way.")
    assert terminated and reward == 0.0 and env.episode.final_answer == "Your order 42 is on its way."
    env.close()
    plain = Task(id="plain", prompt=[Message(role="user", content="hi")])
    with pytest.raises(ValueError, match=r"task 'plain' has no metadata\.tool_specs"):
        SimulatedToolEnv([plain], simulator=policy(server)).reset()


def test_toolgym_eval_simulated_with_a_tasks_file(tmp_path, server) -> None:
    from toolgym.cli import app

    if "simulated" not in ENVS:
        register_env("simulated", "toolgym.envs.simulated_env:SimulatedToolEnv", "Generated tasks, simulated tools.")
    path = tasks_file(tmp_path, make_task("a"), make_task("b"))
    out = tmp_path / "run.jsonl"
    args = [
        "eval",
        "simulated",
        "--tasks",
        str(path),
        "--model",
        "scripted",
        "--base-url",
        server.base_url,
        "--sim-model",
        "scripted",
        "--sim-base-url",
        server.base_url,
        "--n",
        "2",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    episodes = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(e["task_id"] for e in episodes) == ["a", "b"]
    assert all(e["reward"] == 1.0 and e["metadata"]["judge"]["criteria"] for e in episodes)


@pytest.mark.skipif(shutil.which("mcp-server-time") is None, reason="mcp-server-time is not installed")
async def test_servers_option_runs_a_real_mcp_server(tmp_path, server) -> None:
    pytest.importorskip("toolgym.tools.mcp")
    config = tmp_path / "servers.json"
    entry = {"command": shutil.which("mcp-server-time"), "args": ["--local-timezone", "UTC"]}
    config.write_text(json.dumps({"mcpServers": {"clock": entry}}))
    real_time = ToolSpec(
        name="get_current_time",
        description="Current time in a timezone.",
        parameters={"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    )
    task = make_task(tool="get_current_time")
    task.metadata["tool_specs"] = [LOOKUP.model_dump(), real_time.model_dump()]
    task.metadata["tool_sources"] = {"get_order": "synthetic", "get_current_time": "clock"}
    env = SimulatedToolEnv([task], simulator=policy(server), servers=str(config), user_turns=0)
    try:
        episode = await rollout(env, policy(server), seed=0)
    finally:
        await env.aclose()
    (result,) = [m["content"] for m in episode.messages if m["role"] == "tool"]
    # the real server answered (its own error for the scripted agent's made-up timezone), not the simulator
    assert "No time zone found with key 42" in result
