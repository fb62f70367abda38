"""Stage 3, agents: a synthesized system prompt plus a seeded sample of tools (real and synthetic) and
distractors, tools offered that the agent's tasks do not need."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolgym.agents.policy import Policy
from toolgym.synth.config import AgentsConfig, LLMSettings
from toolgym.synth.evolve import read_pool
from toolgym.synth.records import AgentRecord, ToolRecord
from toolgym.synth.stage import Reject, Stage, StageResult
from toolgym.synth.store import RecordStore

SYSTEM = "You write system prompts for AI assistants that use tools. Reply with JSON only."
AGENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3, "maxLength": 60},
        "system_prompt": {"type": "string", "minLength": 40, "maxLength": 500},
    },
    "required": ["name", "system_prompt"],
    "additionalProperties": False,
}


def sample_tools(
    pool: Sequence[ToolRecord], index: int, config: AgentsConfig, seed: int
) -> tuple[str, list[ToolRecord], list[ToolRecord]]:
    """Agent ``index``'s domain, own tools and distractors, drawn with a seed (the same draw on every run).

    Domains take turns; the agent gets up to ``tools_per_agent`` tools of its domain, ``real_tools`` real tools
    (when its domain is synthetic and real ones exist) and ``distractors`` tools of other domains. Tool names
    are unique within an agent.
    """
    by_domain: dict[str, list[ToolRecord]] = defaultdict(list)
    for record in pool:
        by_domain[record.domain or record.source].append(record)
    domains = sorted(by_domain)
    if not domains:
        raise ValueError("the tool pool is empty: run harvest and/or evolve first")
    rng = random.Random(f"{seed}:agent:{index}")
    domain = domains[index % len(domains)]
    names: set[str] = set()

    def take(candidates: Sequence[ToolRecord], k: int) -> list[ToolRecord]:
        picked = []
        for record in rng.sample(list(candidates), len(candidates)):
            if len(picked) >= k:
                break
            if record.spec.name not in names:
                names.add(record.spec.name)
                picked.append(record)
        return picked

    own = take(sorted(by_domain[domain], key=lambda r: r.id), config.tools_per_agent)
    if config.real_tools and not own[0].real:
        real = sorted((r for r in pool if r.real), key=lambda r: r.id)
        own += take(real, config.real_tools)
    others = sorted((r for r in pool if (r.domain or r.source) != domain and r not in own), key=lambda r: r.id)
    distractors = take(others, config.distractors)
    return domain, own, distractors


def _describe(tools: Sequence[ToolRecord]) -> str:
    return "\n".join(f"- {t.spec.name}: {t.spec.description}" for t in tools)


async def make_agents(
    policy: Policy,
    out: str | Path,
    config: AgentsConfig | None = None,
    *,
    llm: LLMSettings | None = None,
    seed: int = 0,
    concurrency: int = 4,
    progress: bool = False,
) -> StageResult:
    """Synthesize ``config.n`` agents from the tool pool of ``out`` into ``out/agents/agents.jsonl``."""
    config = config or AgentsConfig()
    pool = read_pool(out)
    stage = Stage("agents", out, policy=policy, llm=llm, seed=seed, concurrency=concurrency, progress=progress)
    if not pool:
        stage.reject("pool", "no tools to build agents from: harvest found none and evolve made none")
        return stage.finish()

    def make(index: int, agent_id: str) -> Any:
        async def run() -> AgentRecord:
            domain, own, distractors = sample_tools(pool, index, config, seed)
            if not own:
                raise Reject(f"domain {domain!r} has no tools")
            prompt = (
                f"Write the system prompt of an assistant for {domain}. It can use these tools:\n{_describe(own)}\n"
                "The prompt says who the assistant serves, what it helps with, how it should use the tools "
                "(check inputs, confirm before changing anything, report errors honestly) and its tone. "
                'Reply as {"name": <a short name for the assistant>, "system_prompt": ...}.'
            )
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
            value = await stage.ask(messages, AGENT_SCHEMA, key=agent_id, name="agent")
            return AgentRecord(
                id=agent_id,
                name=value["name"].strip(),
                domain=domain,
                system_prompt=value["system_prompt"].strip(),
                tools=own,
                distractors=distractors,
            )

        return run

    items = [(f"agent-{i:04d}", make(i, f"agent-{i:04d}")) for i in range(config.n)]
    await stage.run(items, stage.store("agents.jsonl", AgentRecord), label="agents")
    return stage.finish()


def read_agents(out: str | Path) -> list[AgentRecord]:
    """The agents of a run folder, by id."""
    records = RecordStore(Path(out) / "agents" / "agents.jsonl", AgentRecord).read()
    return sorted(records.values(), key=lambda a: a.id)
