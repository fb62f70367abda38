"""Stage 4, tasks: per agent, requests from simple to complex, each with a rubric.

A task is a plain :class:`toolgym.Task` (system prompt + user request). Its metadata carries everything needed
to run and judge it anywhere: the rubric (success criteria, checkpoints with weights, the expected tool-use
pattern), the difficulty, the user persona, and the tools' specs, sources and stated behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolgym.agents.policy import Policy
from toolgym.rewards.rubric import Criterion, Rubric
from toolgym.synth.agents import read_agents
from toolgym.synth.config import LLMSettings, TasksConfig
from toolgym.synth.records import AgentRecord
from toolgym.synth.stage import Stage, StageResult
from toolgym.synth.store import RecordStore
from toolgym.types import Message, Task

SYSTEM = "You write realistic tasks, with grading rubrics, for AI assistants that use tools. Reply with JSON only."
GUIDANCE = {
    "simple": "a simple request that one tool call answers",
    "moderate": "a request that needs two or three tool calls, using one call's result in the next",
    "complex": "a complex request needing several tool calls, a decision on intermediate results, "
    "and a short summary for the user",
}
TASKS_FILE = "tasks.jsonl"


def task_schema(tool_names: list[str]) -> dict[str, Any]:
    """The JSON a task reply must match: the request, a persona and the rubric's parts."""
    text = {"type": "string", "minLength": 10, "maxLength": 120}
    return {
        "type": "object",
        "properties": {
            "request": {"type": "string", "minLength": 15, "maxLength": 240},
            "persona": {"type": "string", "minLength": 5, "maxLength": 100},
            "success_criteria": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"description": text},
                    "required": ["description"],
                    "additionalProperties": False,
                },
                "minItems": 1,
                "maxItems": 2,
            },
            "checkpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"description": text, "weight": {"type": "number", "minimum": 0.1, "maximum": 1}},
                    "required": ["description", "weight"],
                    "additionalProperties": False,
                },
                "minItems": 1,
                "maxItems": 2,
            },
            "expected_tools": {"type": "array", "items": {"enum": tool_names}, "minItems": 1, "maxItems": 6},
        },
        "required": ["request", "persona", "success_criteria", "checkpoints", "expected_tools"],
        "additionalProperties": False,
    }


def difficulty_of(k: int, per_agent: int, levels: list[str]) -> str:
    """The difficulty of an agent's ``k``-th task: the levels spread evenly from simple to complex."""
    return levels[min(k * len(levels) // per_agent, len(levels) - 1)]


def _problem(value: dict[str, Any]) -> str | None:
    descriptions = [c["description"].strip().lower() for c in value["success_criteria"] + value["checkpoints"]]
    if len(set(descriptions)) != len(descriptions):
        return "every criterion and checkpoint must be different"
    return None


def build_task(agent: AgentRecord, task_id: str, difficulty: str, value: dict[str, Any], threshold: float) -> Task:
    """The Task for a validated reply: the agent's system prompt, the request, and the metadata to run and judge it."""
    criteria = [
        Criterion(id=f"s{i + 1}", description=c["description"].strip(), weight=1.0, required=True)
        for i, c in enumerate(value["success_criteria"])
    ]
    criteria += [
        Criterion(id=f"c{i + 1}", description=c["description"].strip(), weight=float(c["weight"]))
        for i, c in enumerate(value["checkpoints"])
    ]
    rubric = Rubric(criteria=criteria, expected_tools=value["expected_tools"], pass_threshold=threshold)
    tools = agent.all_tools
    return Task(
        id=task_id,
        prompt=[
            Message(role="system", content=agent.system_prompt),
            Message(role="user", content=value["request"].strip()),
        ],
        metadata={
            "agent_id": agent.id,
            "domain": agent.domain,
            "difficulty": difficulty,
            "persona": value["persona"].strip(),
            "rubric": rubric.model_dump(),
            "tool_specs": [t.spec.model_dump(exclude_none=True) for t in tools],
            "tool_sources": {t.spec.name: t.source for t in tools},
            "tool_behaviours": {t.spec.name: t.behaviour for t in tools if t.behaviour},
            "distractors": [t.spec.name for t in agent.distractors],
        },
    )


async def make_tasks(
    policy: Policy,
    out: str | Path,
    config: TasksConfig | None = None,
    *,
    llm: LLMSettings | None = None,
    seed: int = 0,
    concurrency: int = 4,
    progress: bool = False,
) -> StageResult:
    """Write ``config.per_agent`` tasks per agent of ``out`` to ``out/tasks/tasks.jsonl``."""
    config = config or TasksConfig()
    stage = Stage("tasks", out, policy=policy, llm=llm, seed=seed, concurrency=concurrency, progress=progress)

    def make(agent: AgentRecord, k: int, task_id: str) -> Any:
        difficulty = difficulty_of(k, config.per_agent, config.difficulties)

        async def run() -> Task:
            own = [t.spec.name for t in agent.tools]
            tools = "\n".join(
                f"- {t.spec.name}: {t.spec.description} Parameters: {t.spec.parameters.get('properties', {})}"
                for t in agent.tools
            )
            prompt = (
                f"The assistant's system prompt:\n{agent.system_prompt}\n\nIts tools:\n{tools}\n\n"
                f"Write {GUIDANCE.get(difficulty, difficulty)} (difficulty: {difficulty}) that a user of this "
                "assistant would send, with concrete details (names, dates, amounts). Then write its rubric: "
                "success_criteria (what a correct outcome must achieve), checkpoints (intermediate steps worth "
                "partial credit, each with a weight from 0.1 to 1), and expected_tools (the tool names a good "
                "solution calls, in order). Add the user's persona (who they are, how they talk)."
            )
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
            value = await stage.ask(messages, task_schema(own), key=task_id, validate=_problem, name="task")
            return build_task(agent, task_id, difficulty, value, config.pass_threshold)

        return run

    items = [
        (f"{agent.id}-t{k}", make(agent, k, f"{agent.id}-t{k}"))
        for agent in read_agents(out)
        for k in range(config.per_agent)
    ]
    await stage.run(items, stage.store(TASKS_FILE, Task), label="tasks")  # type: ignore[type-var]
    return stage.finish()


def read_tasks(out: str | Path) -> list[Task]:
    """The tasks of a run folder, by id (none if the stage has not run)."""
    records = RecordStore(Path(out) / "tasks" / TASKS_FILE, Task).read()  # type: ignore[type-var]
    return sorted(records.values(), key=lambda t: t.id)
