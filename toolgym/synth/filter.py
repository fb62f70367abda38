"""Stage 6, filter: keep the trajectories worth training on.

1. Quality (no model): the episode finished with an answer, used its tools (when required) and did not
   flood them with malformed calls.
2. The judge: an LLM scores the trajectory against its rubric, criterion by criterion with reasons
   (:class:`~toolgym.rewards.rubric.RubricReward`); it must pass.
3. Difficulty (optional): a reference model works the same task; if it passes too, the task is too easy.
4. Near-duplicates: of trajectories alike in request, tool calls and answer, the first (by id) stays.

Judgments are cached in ``filter/judgments.jsonl``; the decisions are remade on every run into
``filter/kept.jsonl``, and every dropped trajectory is in ``filter/rejected.jsonl`` with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolgym.agents.policy import Policy
from toolgym.agents.structured import RequestStats
from toolgym.rewards.rubric import JudgeError, Judgment, RubricReward
from toolgym.synth.config import FilterConfig, RolloutsConfig
from toolgym.synth.dedupe import near_duplicates
from toolgym.synth.records import JudgedRecord, TrajectoryRecord
from toolgym.synth.rollouts import make_env, read_trajectories, run_episode
from toolgym.synth.stage import Reject, Stage, StageResult
from toolgym.synth.store import RecordStore
from toolgym.synth.tasks import read_tasks
from toolgym.tools.base import Toolset
from toolgym.types import Episode, StopReason, Task

AGENT_ERRORS = frozenset({"invalid_json", "invalid_arguments", "unknown_tool", "malformed_call"})
KEPT_FILE = "kept.jsonl"


def quality_problem(episode: Episode, config: FilterConfig) -> str | None:
    """Why a trajectory is unusable before any judging, or None."""
    if episode.error is not None:
        return f"episode failed ({episode.error.kind})"
    if episode.stop_reason not in (StopReason.ANSWER, StopReason.FINAL_TOOL):
        return f"episode cut off ({episode.stop_reason.value if episode.stop_reason else 'unfinished'})"
    if not (episode.final_answer or "").strip():
        return "no final answer"
    results = [r for turn in episode.turns for r in turn.tool_results]
    if config.require_tool_use and not any(not r.is_error for r in results):
        return "no successful tool call"
    if results:
        bad = sum(1 for r in results if r.error_kind in AGENT_ERRORS)
        if bad / len(results) > config.max_tool_error_rate:
            return f"too many malformed tool calls ({bad} of {len(results)})"
    return None


def failed_criteria(judgment: Judgment) -> str:
    """The criteria a judgment found unmet, with the judge's reasons."""
    return "; ".join(f"{v.id} not met: {v.reason}" for v in judgment.criteria if not v.met) or "below the pass mark"


def trajectory_text(record: TrajectoryRecord) -> str:
    """What near-duplicate detection compares: the request, the tools called and the final answer."""
    episode = record.episode
    request = " ".join(str(m.get("content") or "") for m in episode.messages if m.get("role") == "user")
    calls = " ".join(r.name for turn in episode.turns for r in turn.tool_results)
    return f"{request} {calls} {episode.final_answer or ''}"


def scored(record: TrajectoryRecord, judgment: Judgment) -> TrajectoryRecord:
    """The trajectory with the judgment as its reward (as RubricReward would have scored it)."""
    episode = record.episode.model_copy(deep=True)
    episode.reward, episode.success = judgment.reward, judgment.success
    episode.reward_components = {f"criterion.{v.id}": v.score for v in judgment.criteria}
    episode.metadata["judge"] = judgment.model_dump()
    return record.model_copy(update={"episode": episode})


async def filter_trajectories(
    judge: Policy,
    out: str | Path,
    config: FilterConfig | None = None,
    *,
    reference: Policy | None = None,
    simulator: Policy | None = None,
    rollouts_config: RolloutsConfig | None = None,
    real_tools: Mapping[str, Toolset] | None = None,
    seed: int = 0,
    concurrency: int = 4,
    progress: bool = False,
    structured: bool = True,
) -> StageResult:
    """Judge every trajectory of ``out`` and write the keepers to ``out/filter/kept.jsonl``.

    ``config.difficulty`` needs ``reference`` (the model whose success marks a task too easy) and ``simulator``.
    """
    config = config or FilterConfig()
    if config.difficulty and (reference is None or simulator is None):
        raise ValueError("the difficulty filter needs a reference policy and a simulator")
    stage = Stage("filter", out, seed=seed, concurrency=concurrency, progress=progress)
    tasks = {t.id: t for t in read_tasks(out)}
    trajectories = read_trajectories(out)
    reward = RubricReward(judge, pass_threshold=config.pass_threshold, structured=structured)
    envs = []
    spent = RequestStats()

    async def judge_one(task: Task, episode: Episode) -> Judgment:
        try:
            return await reward.judge(task, episode)
        except JudgeError as exc:
            raise Reject(f"judge gave no usable verdict: {exc.reason}", exc.raw) from None

    def make(record: TrajectoryRecord) -> Any:
        async def run() -> JudgedRecord:
            task = tasks.get(record.task_id)
            if task is None:
                raise Reject(f"task {record.task_id!r} is not in tasks/tasks.jsonl")
            problem = quality_problem(record.episode, config)
            if problem is not None:
                raise Reject(f"quality: {problem}")
            judgment = await judge_one(task, record.episode)
            reference_judgment = None
            if config.difficulty and judgment.success:
                assert reference is not None and simulator is not None
                env = make_env(
                    list(tasks.values()),
                    simulator,
                    rollouts_config or RolloutsConfig(),
                    real_tools=real_tools,
                    seed=seed,
                    structured=structured,
                )
                envs.append(env)
                episode = await run_episode(env, reference, task, rollouts_config or RolloutsConfig(), record.id, seed)
                spent.merge(env.simulation_usage())
                usage = episode.usage
                spent.merge(
                    {
                        "requests": usage.turns,
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                    }
                )
                reference_judgment = await judge_one(task, episode) if episode.error is None else None
            return JudgedRecord(id=record.id, task_id=record.task_id, judgment=judgment, reference=reference_judgment)

        return run

    store = stage.store("judgments.jsonl", JudgedRecord)
    try:
        judged = await stage.run([(r.id, make(r)) for r in trajectories], store, label="filter")
    finally:
        for env in envs:
            await env.aclose()
    kept = _decide(stage, trajectories, judged, config)
    stage.store(KEPT_FILE, TrajectoryRecord).write_all(kept)
    spent.merge(reward.stats)
    return stage.finish(spent)


def _decide(
    stage: Stage, trajectories: list[TrajectoryRecord], judged: dict[str, JudgedRecord], config: FilterConfig
) -> list[TrajectoryRecord]:
    candidates = []
    for record in trajectories:
        verdict = judged.get(record.id)
        if verdict is None:
            continue  # rejected before judging (already recorded)
        judgment = verdict.judgment
        if not judgment.success:
            stage.reject(record.id, f"judge: reward {judgment.reward:.2f}, {failed_criteria(judgment)}")
        elif verdict.reference is not None and verdict.reference.success:
            stage.reject(record.id, "too easy: the reference model solves this task")
        else:
            candidates.append(scored(record, judgment))
    duplicates = near_duplicates([(r.id, trajectory_text(r)) for r in candidates], config.dedupe_threshold)
    for duplicate, original in duplicates.items():
        stage.reject(duplicate, f"near-duplicate of trajectory {original}")
    return [r for r in candidates if r.id not in duplicates]


def read_kept(out: str | Path) -> list[TrajectoryRecord]:
    """The trajectories the filter kept, by id."""
    records = RecordStore(Path(out) / "filter" / KEPT_FILE, TrajectoryRecord).read()
    return sorted(records.values(), key=lambda r: r.id)


def read_judgments(out: str | Path) -> list[JudgedRecord]:
    """Every judgment of a run folder, by id."""
    records = RecordStore(Path(out) / "filter" / "judgments.jsonl", JudgedRecord).read()
    return sorted(records.values(), key=lambda r: r.id)
