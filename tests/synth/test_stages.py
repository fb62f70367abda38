"""Each stage against a scripted endpoint on 127.0.0.1 (the loop under test, not a model's quality)."""

from __future__ import annotations

import asyncio
import json

from tests.synth.conftest import clock_toolset
from tests.synth.scripted import SynthHandler
from toolgym.envs.tasks import load_tasks
from toolgym.rewards.rubric import Rubric
from toolgym.synth.agents import make_agents, read_agents, sample_tools
from toolgym.synth.config import AgentsConfig, EvolveConfig, RolloutsConfig, TasksConfig
from toolgym.synth.evolve import evolve_tools, read_pool
from toolgym.synth.harvest import harvest_tools, read_harvested
from toolgym.synth.records import CategoryRecord, DomainRecord, Rejection, ToolRecord
from toolgym.synth.rollouts import read_trajectories, record_rollouts
from toolgym.synth.schemas import check_tool
from toolgym.synth.stage import read_stats
from toolgym.synth.store import RecordStore
from toolgym.synth.tasks import make_tasks, read_tasks
from toolgym.tools.base import ToolOutput, Toolset
from toolgym.types import ToolSpec


def rejections(out, stage: str) -> dict[str, Rejection]:
    return RecordStore(out / stage / "rejected.jsonl", Rejection).read()


class Crashing(Toolset):
    async def list_tools(self) -> list[ToolSpec]:
        raise RuntimeError("server crashed on start")

    async def call(self, name, arguments) -> ToolOutput:
        raise AssertionError


class Hanging(Crashing):
    async def list_tools(self) -> list[ToolSpec]:
        await asyncio.sleep(3600)
        return []


class OddSchemas(Crashing):
    async def list_tools(self) -> list[ToolSpec]:
        good = ToolSpec(name="ping", description="Ping.", parameters={"type": "object", "properties": {}})
        bad = ToolSpec(name="broken", parameters={"type": "object", "properties": {"x": {"type": "nonsense"}}})
        return [good, bad]


class Counting(Toolset):
    def __init__(self, inner: Toolset) -> None:
        self.inner, self.listings = inner, 0

    async def list_tools(self) -> list[ToolSpec]:
        self.listings += 1
        return await self.inner.list_tools()

    async def call(self, name, arguments) -> ToolOutput:
        return await self.inner.call(name, arguments)


async def test_harvest_records_real_specs_by_source_and_survives_bad_servers(tmp_path) -> None:
    clock = Counting(clock_toolset())
    sources = {"clock": clock, "crashing": Crashing(), "hanging": Hanging(), "odd": OddSchemas()}
    result = await harvest_tools(sources, tmp_path, timeout=0.3)
    records = {r.id: r for r in read_harvested(tmp_path)}
    assert set(records) == {"clock:get_time", "clock:convert_time", "odd:ping"}
    assert records["clock:get_time"].real and records["clock:get_time"].source == "clock"
    assert records["clock:get_time"].spec.parameters["required"] == ["timezone"]
    rejected = rejections(tmp_path, "harvest")
    assert "server crashed on start" in rejected["source:crashing"].reason
    assert "within 0.3 s" in rejected["source:hanging"].reason
    assert "unusable tool schema" in rejected["odd:broken"].reason
    assert result.written == 3 and result.rejected == 3
    # a re-run skips the sources already harvested
    await harvest_tools({"clock": clock}, tmp_path)
    assert clock.listings == 1 and len(read_harvested(tmp_path)) == 3


async def test_evolve_validates_retries_and_deduplicates(tmp_path, server, policy, handler: SynthHandler) -> None:
    handler.bad_json_first = {"tool"}
    handler.duplicate_focus = "searches"
    handler.invalid_tool_focus = "cancels"
    await harvest_tools({"clock": clock_toolset()}, tmp_path)
    config = EvolveConfig(categories=["Travel"], domains_per_category=1, tools_per_domain=8)
    await evolve_tools(policy, tmp_path, config, seed=3)
    pool = read_pool(tmp_path)
    real = [t for t in pool if t.real]
    synthetic = [t for t in pool if not t.real]
    assert [t.id for t in real] == ["clock:convert_time", "clock:get_time"] or len(real) == 2
    assert len(synthetic) == 6  # 8 focuses, minus one near-duplicate and one invalid schema
    for tool in synthetic:
        check_tool(tool.spec.name, tool.spec.description, tool.spec.parameters, strict=True)
        assert tool.behaviour and tool.domain == "Travel booking service" and tool.category == "Travel"
    rejected = rejections(tmp_path, "evolve")
    reasons = sorted(r.reason for r in rejected.values())
    assert len(reasons) == 2
    assert any(r.startswith("near-duplicate of tool c0-travel-d0-t") for r in reasons)
    assert any("required parameters ['ghost'] are not among the properties" in r for r in reasons)
    invalid = next(r for r in rejected.values() if "ghost" in r.reason)
    assert json.loads(invalid.raw)["parameters"]["required"] == ["ghost"]  # the raw reply is kept
    stats = read_stats(tmp_path)["stages"]["evolve"]
    # domains once; every tool twice (bad JSON first), the invalid one three times (the default attempts)
    assert dict(handler.counts) == {"domains": 1, "tool": 7 * 2 + 3}
    assert stats["requests"] == 1 + 7 * 2 + 3
    assert stats["invalid_replies"] == 8 + 2
    assert stats["completion_tokens"] > 0


async def test_evolve_generates_categories_when_none_are_given(tmp_path, server, policy) -> None:
    await evolve_tools(policy, tmp_path, EvolveConfig(n_categories=3, domains_per_category=2, tools_per_domain=1))
    categories = RecordStore(tmp_path / "evolve" / "categories.jsonl", CategoryRecord).read()
    assert [c.name for c in categories.values()] == ["Travel", "Finance", "Health"]
    domains = RecordStore(tmp_path / "evolve" / "domains.jsonl", DomainRecord).read()
    assert sorted(d.category for d in domains.values()) == sorted([c for c in categories for _ in range(2)])
    candidates = RecordStore(tmp_path / "evolve" / "candidates.jsonl", ToolRecord).read()
    assert len(candidates) == 6
    assert {t.category for t in read_pool(tmp_path)} <= {"Travel", "Finance", "Health"}


async def _pool(tmp_path, policy) -> None:
    await harvest_tools({"clock": clock_toolset()}, tmp_path)
    await evolve_tools(policy, tmp_path, EvolveConfig(categories=["Travel", "Finance"], tools_per_domain=3))


async def test_agents_sample_own_real_and_distractor_tools(tmp_path, server, policy) -> None:
    await _pool(tmp_path, policy)
    config = AgentsConfig(n=3, tools_per_agent=2, real_tools=1, distractors=2)
    await make_agents(policy, tmp_path, config, seed=5)
    made = read_agents(tmp_path)
    assert [a.id for a in made] == ["agent-0000", "agent-0001", "agent-0002"]
    for agent in made:
        own_domains = {t.domain for t in agent.tools if not t.real}
        assert len(own_domains) <= 1
        names = [t.spec.name for t in agent.all_tools]
        assert len(names) == len(set(names))
        assert all(t.domain not in own_domains for t in agent.distractors)
        assert agent.system_prompt.startswith("You help customers of")
    synthetic_agents = [a for a in made if not a.tools[0].real]
    assert synthetic_agents and all(any(t.real for t in a.tools) for a in synthetic_agents)
    pool = read_pool(tmp_path)
    assert sample_tools(pool, 1, config, 5) == sample_tools(pool, 1, config, 5)  # seeded: the same draw


async def test_tasks_carry_rubric_difficulty_and_tool_specs(tmp_path, server, policy) -> None:
    await _pool(tmp_path, policy)
    await make_agents(policy, tmp_path, AgentsConfig(n=2))
    await make_tasks(policy, tmp_path, TasksConfig(per_agent=3))
    made = read_tasks(tmp_path)
    assert len(made) == 6
    assert len(load_tasks(tmp_path / "tasks" / "tasks.jsonl")) == 6  # a plain task file
    by_agent = {a.id: a for a in read_agents(tmp_path)}
    assert [t.metadata["difficulty"] for t in made[:3]] == ["simple", "moderate", "complex"]
    for task in made:
        agent = by_agent[task.metadata["agent_id"]]
        assert [m.role for m in task.prompt] == ["system", "user"]
        assert task.prompt[0].content == agent.system_prompt
        rubric = Rubric.of_task(task)
        assert [c.id for c in rubric.criteria] == ["s1", "c1"] and rubric.criteria[0].required
        assert rubric.criteria[1].weight == 0.5
        assert set(rubric.expected_tools) <= {t.spec.name for t in agent.tools}
        assert {s["name"] for s in task.metadata["tool_specs"]} == {t.spec.name for t in agent.all_tools}
        assert task.metadata["distractors"] == [t.spec.name for t in agent.distractors]
        assert task.metadata["persona"]


async def test_rollouts_record_trajectories_with_real_and_simulated_tools(
    tmp_path, server, policy, handler: SynthHandler
) -> None:
    await _pool(tmp_path, policy)
    await make_agents(policy, tmp_path, AgentsConfig(n=2, real_tools=1))
    await make_tasks(policy, tmp_path, TasksConfig(per_agent=1))
    config = RolloutsConfig(per_task=2, max_turns=4, failure_rate=0.0, edge_case_rate=0.0)
    await record_rollouts(policy, policy, tmp_path, config, real_tools={"clock": clock_toolset()}, seed=1)
    made = read_trajectories(tmp_path)
    assert len(made) == 4
    task_by_id = {t.id: t for t in read_tasks(tmp_path)}
    for record in made:
        episode = record.episode
        expected = Rubric.of_task(task_by_id[record.task_id]).expected_tools[0]
        assert episode.error is None and episode.stop_reason == "answer"
        results = [r for turn in episode.turns for r in turn.tool_results]
        assert [r.name for r in results] == [expected] and not results[0].is_error
        source = task_by_id[record.task_id].metadata["tool_sources"][expected]
        if source == "clock":
            assert "12:00 in" in results[0].content or "13:00" in results[0].content
        else:
            assert json.loads(results[0].content)["tool"] == expected
        assert episode.metadata["simulation_usage"]["requests"] >= 1  # the user (and maybe the tool) simulator
    stats = read_stats(tmp_path)["stages"]["rollouts"]
    assert stats["written"] == 4 and stats["requests"] >= 4 * 3


async def test_rollouts_reject_failed_episodes_with_their_error(tmp_path, server, policy) -> None:
    from toolgym.agents.openai_policy import OpenAIPolicy

    await _pool(tmp_path, policy)
    await make_agents(policy, tmp_path, AgentsConfig(n=1))
    await make_tasks(policy, tmp_path, TasksConfig(per_agent=1))
    dead = OpenAIPolicy("scripted", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    result = await record_rollouts(dead, policy, tmp_path, RolloutsConfig())
    assert result.rejected == 1 and not read_trajectories(tmp_path)
    (reason,) = [r.reason for r in rejections(tmp_path, "rollouts").values()]
    assert reason.startswith("episode failed (connection)")


async def test_first_turn_tool_choice_is_sent_on_the_first_reply_only(tmp_path, server, policy) -> None:
    await _pool(tmp_path, policy)
    await make_agents(policy, tmp_path, AgentsConfig(n=1))
    await make_tasks(policy, tmp_path, TasksConfig(per_agent=1))
    config = RolloutsConfig(first_turn_tool_choice="required", failure_rate=0.0, edge_case_rate=0.0, user_turns=0)
    await record_rollouts(policy, policy, tmp_path, config)
    turns = [r for r in server.requests if r.get("tools")]
    assert [r.get("tool_choice") for r in turns] == ["required", None]
