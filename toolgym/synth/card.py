"""The dataset card (README.md) of an exported dataset: counts, domains, tool sources, pass rates, rejections,
models and the cost in requests and tokens, all read from the run folder."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from statistics import fmean
from typing import Any

from toolgym.synth.agents import read_agents
from toolgym.synth.config import ExportConfig
from toolgym.synth.evolve import read_pool
from toolgym.synth.filter import read_judgments
from toolgym.synth.records import Rejection
from toolgym.synth.rollouts import read_trajectories
from toolgym.synth.stage import read_stats
from toolgym.synth.store import RecordStore
from toolgym.synth.tasks import read_tasks

STAGES = ("harvest", "evolve", "agents", "tasks", "rollouts", "filter", "export")
FIELDS = (
    ("id", "trajectory id (`<task id>-r<n>`)"),
    ("task_id, agent_id, domain, difficulty", "where the task comes from and how hard it was meant to be"),
    ("messages", "the conversation (OpenAI chat format: system, user, assistant with tool_calls, tool results)"),
    ("tools", "JSON: the tools offered, OpenAI function format (the agent's own tools and distractors)"),
    ("tool_sources", "JSON: each tool's source (an MCP server name, or `synthetic`)"),
    ("rubric", "JSON: criteria (required ones are success criteria, others checkpoints) with weights"),
    ("reward", "the judge's weighted partial credit, 0 to 1"),
    ("judgment", "JSON: the judge's verdict and reason per criterion"),
    ("model, turns, tool_calls", "the policy that produced the trajectory and its size"),
)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) if rows else "_none_"


def _reason_kind(reason: str) -> str:
    head = reason.split(":", 1)[0].strip()
    return head if len(head) <= 60 else head[:57] + "..."


def _rejections(out: Path) -> list[tuple[str, int, str]]:
    rows = []
    for stage in STAGES:
        rejected = RecordStore(out / stage / "rejected.jsonl", Rejection).read()
        if rejected:
            kinds = Counter(_reason_kind(r.reason) for r in rejected.values()).most_common(3)
            rows.append((stage, len(rejected), "; ".join(f"{k} ({n})" for k, n in kinds)))
    return rows


def dataset_card(
    out: Path,
    config: ExportConfig,
    splits: dict[str, list[dict[str, Any]]],
    models: dict[str, str],
    hf_note: str | None = None,
) -> str:
    """The README.md of the dataset exported from the run folder ``out``."""
    pool, agents, tasks = read_pool(out), read_agents(out), read_tasks(out)
    trajectories, judgments = read_trajectories(out), read_judgments(out)
    rows = [r for split_rows in splits.values() for r in split_rows]
    kept_by_task = Counter(r["task_id"] for r in rows)
    difficulty = {t.id: t.metadata.get("difficulty", "?") for t in tasks}
    domain = {t.id: t.metadata.get("domain", "?") for t in tasks}

    sources: dict[tuple[str, str], int] = Counter((t.source, "real" if t.real else "synthetic") for t in pool)
    domains: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for task in tasks:
        domains[domain[task.id]][0] += 1
        domains[domain[task.id]][1] += kept_by_task[task.id]

    by_level: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in trajectories:
        by_level[difficulty.get(record.task_id, "?")]["trajectories"].append(1)
    for judged in judgments:
        level = by_level[difficulty.get(judged.task_id, "?")]
        level["rewards"].append(judged.judgment.reward)
        level["passed"].append(float(judged.judgment.success))
    for row in rows:
        by_level[row["difficulty"] or "?"]["kept"].append(1)
    pass_rows = [
        (
            level,
            len(v["trajectories"]),
            len(v["rewards"]),
            int(sum(v["passed"])),
            len(v["kept"]),
            f"{fmean(v['rewards']):.2f}" if v["rewards"] else "-",
        )
        for level, v in sorted(by_level.items())
    ]
    judged_pass = sum(j.judgment.success for j in judgments)
    stats = read_stats(out).get("stages", {})
    cost_rows = [
        (s, stats[s].get("requests", 0), stats[s].get("prompt_tokens", 0), stats[s].get("completion_tokens", 0))
        for s in STAGES
        if s in stats
    ]
    counts = [
        ("train rows", len(splits.get("train", []))),
        ("test rows", len(splits.get("test", []))),
        ("tools in the pool", f"{sum(t.real for t in pool)} real, {sum(not t.real for t in pool)} synthetic"),
        ("agents", len(agents)),
        ("tasks", len(tasks)),
        ("trajectories", len(trajectories)),
        ("judged", len(judgments)),
        ("passed the judge", f"{judged_pass} ({judged_pass / len(judgments):.0%})" if judgments else "0"),
        ("kept", f"{len(rows)} ({len(rows) / len(trajectories):.0%} of trajectories)" if trajectories else "0"),
    ]
    example = ""
    if rows:
        first = rows[0]
        example = (
            "\n## An example\n\n"
            f"Task `{first['task_id']}` ({first['difficulty']}, {first['domain']}), reward {first['reward']:.2f}: "
            f"{next((m['content'] for m in first['messages'] if m['role'] == 'user'), '')!s:.300}\n"
        )
    files = "`train.jsonl`, `test.jsonl`" + ("" if hf_note else ", and `hf/` (`datasets.load_from_disk`)")
    return "\n".join(
        [
            "---",
            f"pretty_name: {config.name}",
            "language: [en]",
            "tags: [tool-use, agents, synthetic, toolgym]",
            "task_categories: [text-generation]",
            "configs:",
            "- config_name: default",
            "  data_files:",
            "  - {split: train, path: train.jsonl}",
            "  - {split: test, path: test.jsonl}",
            "---",
            f"# {config.name}",
            "",
            "Synthetic multi-turn tool-use trajectories made by `toolgym synth` (harvest -> evolve -> agents -> "
            "tasks -> rollouts -> filter -> export): real tools harvested from MCP servers and synthetic tools "
            "evolved by domain, agents given tools and distractors, tasks with rubrics, trajectories against real "
            "or simulated tools with a simulated user, kept when an LLM judge passes them against the rubric.",
            "",
            f"Files: {files}." + (f" Hugging Face dataset {hf_note}." if hf_note else ""),
            "",
            "## Counts",
            "",
            _table(("", "count"), counts),
            "",
            "## Domains",
            "",
            _table(("domain", "tasks", "kept trajectories"), [(d, v[0], v[1]) for d, v in sorted(domains.items())]),
            "",
            "## Tool sources",
            "",
            _table(("source", "kind", "tools"), [(s, k, n) for (s, k), n in sorted(sources.items())]),
            "",
            "## Pass rates",
            "",
            _table(("difficulty", "trajectories", "judged", "passed", "kept", "mean reward"), pass_rows),
            "",
            "## Rejections",
            "",
            "Every record a stage gave up on is in `<stage>/rejected.jsonl` of the run folder, with its reason.",
            "",
            _table(("stage", "rejected", "most common reasons"), _rejections(out)),
            "",
            "## Models",
            "",
            _table(("part", "model"), sorted(models.items())),
            "",
            "## Requests and tokens",
            "",
            _table(("stage", "requests", "prompt tokens", "completion tokens"), cost_rows),
            "",
            "## Fields",
            "",
            _table(("field", "meaning"), list(FIELDS)),
            example,
        ]
    )
