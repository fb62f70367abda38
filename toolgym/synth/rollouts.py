"""Stage 5, rollouts: a policy works each task in a :class:`SimulatedToolEnv`, real tools where a live toolset
owns them and LLM-simulated ones otherwise (with seeded failures and edge cases), and a simulated user
answering in the task's persona. Each finished episode is one trajectory record."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolgym.agents.first_turn import FirstTurnToolChoice
from toolgym.agents.policy import Policy, Sampling
from toolgym.agents.rollout import rollout
from toolgym.agents.structured import RequestStats
from toolgym.envs.simulated_env import SimulatedToolEnv, stable_seed
from toolgym.synth.config import RolloutsConfig
from toolgym.synth.records import TrajectoryRecord
from toolgym.synth.stage import Reject, Stage, StageResult
from toolgym.synth.store import RecordStore
from toolgym.synth.tasks import read_tasks
from toolgym.tools.base import Toolset
from toolgym.types import Budget, Episode, Task

TRAJECTORIES_FILE = "trajectories.jsonl"


def make_env(
    tasks: list[Task],
    simulator: Policy,
    config: RolloutsConfig,
    *,
    real_tools: Mapping[str, Toolset] | None,
    seed: int,
    structured: bool,
) -> SimulatedToolEnv:
    """The environment trajectories are recorded in (unscored: the filter stage judges them)."""
    return SimulatedToolEnv(
        tasks,
        simulator=simulator,
        real_tools=real_tools,
        failure_rate=config.failure_rate,
        edge_case_rate=config.edge_case_rate,
        user_turns=config.user_turns,
        rubric=False,
        budget=Budget(max_turns=config.max_turns),
        seed=seed,
        structured=structured,
    )


async def run_episode(
    env: SimulatedToolEnv, policy: Policy, task: Task, config: RolloutsConfig, key: str, seed: int
) -> Episode:
    """One seeded episode of ``policy`` on ``task``."""
    sampling = Sampling(
        max_tokens=config.max_tokens, temperature=config.temperature, seed=stable_seed(seed, "agent", key)
    )
    return await rollout(env, policy, task, seed=stable_seed(seed, "episode", key), sampling=sampling)


async def record_rollouts(
    agent: Policy,
    simulator: Policy,
    out: str | Path,
    config: RolloutsConfig | None = None,
    *,
    real_tools: Mapping[str, Toolset] | None = None,
    seed: int = 0,
    concurrency: int = 4,
    progress: bool = False,
    structured: bool = True,
) -> StageResult:
    """Record ``config.per_task`` trajectories of ``agent`` per task of ``out`` in
    ``out/rollouts/trajectories.jsonl``; failed episodes are rejected with their error."""
    config = config or RolloutsConfig()
    stage = Stage("rollouts", out, seed=seed, concurrency=concurrency, progress=progress)
    if config.first_turn_tool_choice != "auto":
        agent = FirstTurnToolChoice(agent, config.first_turn_tool_choice)
    tasks = read_tasks(out)
    if not tasks:
        return stage.finish()
    envs: asyncio.Queue[SimulatedToolEnv] = asyncio.Queue()
    for _ in range(min(concurrency, len(tasks) * config.per_task)):
        envs.put_nowait(make_env(tasks, simulator, config, real_tools=real_tools, seed=seed, structured=structured))
    spent = RequestStats()

    def make(task: Task, key: str) -> Any:
        async def run() -> TrajectoryRecord:
            env = await envs.get()
            try:
                episode = await run_episode(env, agent, task, config, key, seed)
                spent.merge(env.simulation_usage())
            finally:
                envs.put_nowait(env)
            spent.merge(
                {
                    "requests": episode.usage.turns,
                    "prompt_tokens": episode.usage.prompt_tokens,
                    "completion_tokens": episode.usage.completion_tokens,
                }
            )
            if episode.error is not None:
                raise Reject(f"episode failed ({episode.error.kind}): {episode.error.message}")
            return TrajectoryRecord(id=key, task_id=task.id, episode=episode)

        return run

    items = [(f"{t.id}-r{j}", make(t, f"{t.id}-r{j}")) for t in tasks for j in range(config.per_task)]
    try:
        await stage.run(items, stage.store(TRAJECTORIES_FILE, TrajectoryRecord), label="rollouts")
    finally:
        while not envs.empty():
            await envs.get_nowait().aclose()
    return stage.finish(spent)


def read_trajectories(out: str | Path) -> list[TrajectoryRecord]:
    """The trajectories of a run folder, by id."""
    records = RecordStore(Path(out) / "rollouts" / TRAJECTORIES_FILE, TrajectoryRecord).read()
    return sorted(records.values(), key=lambda r: r.id)
