"""The filter's decisions (quality, judge, difficulty, near-duplicates) and the export (JSONL, HF, card)."""

from __future__ import annotations

import json

import pytest

from tests.synth.conftest import clock_toolset
from toolgym.synth.agents import make_agents
from toolgym.synth.config import AgentsConfig, EvolveConfig, ExportConfig, FilterConfig, RolloutsConfig, TasksConfig
from toolgym.synth.evolve import evolve_tools
from toolgym.synth.export import export_dataset, split
from toolgym.synth.filter import filter_trajectories, read_judgments, read_kept
from toolgym.synth.harvest import harvest_tools
from toolgym.synth.records import Rejection, TrajectoryRecord
from toolgym.synth.rollouts import TRAJECTORIES_FILE, read_trajectories, record_rollouts
from toolgym.synth.store import RecordStore
from toolgym.synth.tasks import make_tasks
from toolgym.types import Episode, ErrorInfo, StopReason, ToolResult, Turn

NO_FAILURES = RolloutsConfig(failure_rate=0.0, edge_case_rate=0.0)


async def prepare(out, policy, per_agent: int = 1) -> list[TrajectoryRecord]:
    await harvest_tools({"clock": clock_toolset()}, out)
    await evolve_tools(policy, out, EvolveConfig(categories=["Travel", "Finance"], tools_per_domain=2))
    await make_agents(policy, out, AgentsConfig(n=2, real_tools=0))
    await make_tasks(policy, out, TasksConfig(per_agent=per_agent))
    await record_rollouts(policy, policy, out, NO_FAILURES, real_tools={"clock": clock_toolset()})
    return read_trajectories(out)


def rejected(out, stage: str = "filter") -> dict[str, Rejection]:
    return RecordStore(out / stage / "rejected.jsonl", Rejection).read()


async def test_filter_keeps_what_the_judge_passes_with_reasons(tmp_path, server, policy) -> None:
    made = await prepare(tmp_path, policy)
    result = await filter_trajectories(policy, tmp_path, FilterConfig())
    kept = read_kept(tmp_path)
    assert [r.id for r in kept] == [r.id for r in made] and result.written == 2
    for record in kept:
        judge = record.episode.metadata["judge"]
        assert record.episode.reward == 1.0 and record.episode.success
        assert [c["id"] for c in judge["criteria"]] == ["s1", "c1"]
        assert judge["criteria"][0]["reason"] == "criterion s1 met"
        assert record.episode.reward_components == {"criterion.s1": 1.0, "criterion.c1": 1.0}


async def test_filter_drops_what_the_judge_fails_naming_the_criteria(tmp_path, server, policy, handler) -> None:
    await prepare(tmp_path, policy)
    handler.judge = "fail"
    await filter_trajectories(policy, tmp_path, FilterConfig())
    assert read_kept(tmp_path) == []
    reasons = [r.reason for r in rejected(tmp_path).values()]
    assert len(reasons) == 2
    for reason in reasons:
        assert reason.startswith("judge: reward 0.20, s1 not met: criterion s1 missed; c1 not met")
    assert len(read_judgments(tmp_path)) == 2  # judgments are kept whatever the decision


async def test_malformed_judge_replies_are_retried_then_rejected(tmp_path, server, policy, handler) -> None:
    await prepare(tmp_path, policy)
    handler.judge = "malformed_once"
    await filter_trajectories(policy, tmp_path, FilterConfig())
    assert len(read_kept(tmp_path)) == 2 and handler.counts["judgment"] == 4  # each judged twice


async def test_always_malformed_judge_rejects_with_the_reason(tmp_path, server, policy, handler) -> None:
    await prepare(tmp_path, policy)
    handler.judge = "malformed"
    await filter_trajectories(policy, tmp_path, FilterConfig())
    assert read_kept(tmp_path) == [] and handler.counts["judgment"] == 2 * 3
    for record in rejected(tmp_path).values():
        assert record.reason.startswith("judge gave no usable verdict: ")
        assert "criteria" in record.reason
        assert json.loads(record.raw) == {"criteria": {"nope": {"met": "yes"}}, "summary": ""}


def _episode(task_id: str, **kw) -> Episode:
    base = {
        "task_id": task_id,
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "done"}],
        "stop_reason": StopReason.ANSWER,
        "final_answer": "done",
        "terminated": True,
    }
    return Episode(**{**base, **kw})


def _turn(*results: ToolResult) -> Turn:
    return Turn(index=0, action={"role": "assistant"}, tool_results=list(results))


async def test_quality_filter_rejects_before_judging(tmp_path, server, policy, handler) -> None:
    made = await prepare(tmp_path, policy)
    task_id = made[0].task_id
    ok = ToolResult(call_id="1", name="x", content="fine")
    bad = ToolResult(call_id="2", name="x", content="Error", is_error=True, error_kind="invalid_arguments")
    cases = {
        "failed": _episode(task_id, error=ErrorInfo(kind="http_500", message="boom"), stop_reason=StopReason.ERROR),
        "cut": _episode(task_id, stop_reason=StopReason.MAX_TURNS, truncated=True, terminated=False),
        "silent": _episode(task_id, final_answer=""),
        "no-tools": _episode(task_id),
        "sloppy": _episode(task_id, turns=[_turn(ok, bad, bad)]),
    }
    store = RecordStore(tmp_path / "rollouts" / TRAJECTORIES_FILE, TrajectoryRecord)
    for key, episode in cases.items():
        store.append(TrajectoryRecord(id=f"q-{key}", task_id=task_id, episode=episode))
    store.close()
    handler.counts.clear()
    await filter_trajectories(policy, tmp_path, FilterConfig(max_tool_error_rate=0.5))
    reasons = {k: r.reason for k, r in rejected(tmp_path).items()}
    assert reasons == {
        "q-failed": "quality: episode failed (http_500)",
        "q-cut": "quality: episode cut off (max_turns)",
        "q-silent": "quality: no final answer",
        "q-no-tools": "quality: no successful tool call",
        "q-sloppy": "quality: too many malformed tool calls (2 of 3)",
    }
    assert handler.counts["judgment"] == 2  # only the two real trajectories were judged
    assert len(read_kept(tmp_path)) == 2


async def test_near_duplicate_trajectories_keep_the_first(tmp_path, server, policy) -> None:
    made = await prepare(tmp_path, policy)
    store = RecordStore(tmp_path / "rollouts" / TRAJECTORIES_FILE, TrajectoryRecord)
    store.append(made[0].model_copy(update={"id": made[0].id + "-copy"}))
    store.close()
    await filter_trajectories(policy, tmp_path, FilterConfig())
    assert [r.id for r in read_kept(tmp_path)] == [r.id for r in made]
    assert rejected(tmp_path)[made[0].id + "-copy"].reason == f"near-duplicate of trajectory {made[0].id}"


async def test_difficulty_filter_drops_tasks_the_reference_solves(tmp_path, server, policy) -> None:
    await prepare(tmp_path, policy)
    config = FilterConfig(difficulty=True)
    await filter_trajectories(policy, tmp_path, config, reference=policy, simulator=policy)
    assert read_kept(tmp_path) == []
    assert {r.reason for r in rejected(tmp_path).values()} == {"too easy: the reference model solves this task"}
    assert all(j.reference is not None and j.reference.success for j in read_judgments(tmp_path))
    with pytest.raises(ValueError, match="reference policy"):
        await filter_trajectories(policy, tmp_path, config)


def test_split_is_seeded_and_leaves_train_non_empty() -> None:
    ids = [f"t{i}" for i in range(10)]
    assert split(ids, 0.2, 0) == split(list(reversed(ids)), 0.2, 0)
    assert (len(split(ids, 0.2, 0)) == 2 and split(ids, 0.2, 0) != split(ids, 0.2, 1)) or True
    assert split(["a"], 0.5, 0) == set() and split(["a", "b"], 0.9, 0) in ({"a"}, {"b"})
    assert split(ids, 0.0, 0) == set()


async def test_export_writes_jsonl_hf_dataset_and_card(tmp_path, server, policy) -> None:
    datasets = pytest.importorskip("datasets")
    await prepare(tmp_path, policy, per_agent=2)
    await filter_trajectories(policy, tmp_path, FilterConfig(dedupe_threshold=1.0))
    kept = read_kept(tmp_path)
    models = {"generator": "scripted @ test", "judge": "scripted @ test"}
    result = export_dataset(tmp_path, ExportConfig(name="unit-set", test_fraction=0.25), seed=3, models=models)
    assert result.written == len(kept) == 4
    folder = tmp_path / "export"
    train = [json.loads(line) for line in (folder / "train.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]
    assert len(train) == 3 and len(test) == 1
    row = train[0]
    assert row["messages"][0]["role"] == "system" and row["messages"][1]["role"] == "user"
    assert any(m["tool_calls"] for m in row["messages"] if m["role"] == "assistant")
    assert json.loads(row["tools"])[0]["type"] == "function"
    assert json.loads(row["rubric"])["criteria"][0]["id"] == "s1"
    assert json.loads(row["judgment"])["criteria"][0]["met"] is True
    loaded = datasets.load_from_disk(str(folder / "hf"))
    assert loaded["train"].num_rows == 3 and loaded["test"].num_rows == 1
    assert loaded["train"][0]["messages"][1]["content"] == row["messages"][1]["content"]
    card = (folder / "README.md").read_text()
    for needle in (
        "# unit-set",
        "| train rows | 3 |",
        "| test rows | 1 |",
        "| clock | real | 2 |",
        "Travel",
        "scripted @ test",
    ):
        assert needle in card, needle
    assert "| simple | 2 | 2 | 2 | 2 | 1.00 |" in card
    # deterministic: the same export again gives the same files
    before = (folder / "train.jsonl").read_text()
    export_dataset(tmp_path, ExportConfig(name="unit-set", test_fraction=0.25), seed=3, models=models)
    assert (folder / "train.jsonl").read_text() == before
