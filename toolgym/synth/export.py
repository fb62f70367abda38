"""Stage 7, export: the kept trajectories as a dataset (JSONL and Hugging Face ``datasets``), split into train
and test, with a dataset card (``README.md``)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from toolgym.synth.card import dataset_card
from toolgym.synth.config import ExportConfig
from toolgym.synth.filter import read_kept
from toolgym.synth.records import TrajectoryRecord
from toolgym.synth.stage import Stage, StageResult
from toolgym.synth.tasks import read_tasks
from toolgym.types import Task

MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """A chat message with every column present (so all rows share one Arrow schema)."""
    calls = message.get("tool_calls")
    return {
        "role": message.get("role"),
        "content": message.get("content"),
        "tool_calls": [
            {
                "id": c.get("id"),
                "type": c.get("type", "function"),
                "function": {"name": c["function"].get("name"), "arguments": c["function"].get("arguments")},
            }
            for c in calls
        ]
        if calls
        else None,
        "tool_call_id": message.get("tool_call_id"),
        "name": message.get("name"),
    }


def dataset_row(record: TrajectoryRecord, task: Task) -> dict[str, Any]:
    """One dataset row: the conversation, the tools offered, the rubric and the judge's verdict."""
    episode, meta = record.episode, task.metadata
    judge = episode.metadata.get("judge") or {}
    tools = [{"type": "function", "function": spec} for spec in meta.get("tool_specs", [])]
    return {
        "id": record.id,
        "task_id": task.id,
        "agent_id": meta.get("agent_id"),
        "domain": meta.get("domain"),
        "difficulty": meta.get("difficulty"),
        "messages": [_message(m) for m in episode.messages],
        "tools": json.dumps(tools, ensure_ascii=False),
        "tool_sources": json.dumps(meta.get("tool_sources", {}), ensure_ascii=False),
        "rubric": json.dumps(meta.get("rubric", {}), ensure_ascii=False),
        "reward": episode.reward,
        "judgment": json.dumps(judge, ensure_ascii=False),
        "model": episode.model,
        "turns": episode.usage.turns,
        "tool_calls": episode.usage.tool_calls,
    }


def split(ids: list[str], test_fraction: float, seed: int) -> set[str]:
    """The ids that go to the test split: ``ceil(n * fraction)`` of them, chosen by a seeded hash."""
    if not ids or test_fraction <= 0:
        return set()
    n_test = min(math.ceil(len(ids) * test_fraction), len(ids) - 1) if len(ids) > 1 else 0
    ranked = sorted(ids, key=lambda i: hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest())
    return set(ranked[:n_test])


def _features() -> Any:
    import datasets

    string, text = datasets.Value("string"), datasets.Value("string")
    call = {"id": string, "type": string, "function": {"name": string, "arguments": text}}
    message = {
        "role": string,
        "content": text,
        "tool_calls": datasets.List(call),
        "tool_call_id": string,
        "name": string,
    }
    columns: dict[str, Any] = {k: string for k in ("id", "task_id", "agent_id", "domain", "difficulty", "model")}
    columns.update({k: text for k in ("tools", "tool_sources", "rubric", "judgment")})
    columns.update(
        messages=datasets.List(message),
        reward=datasets.Value("float64"),
        turns=datasets.Value("int64"),
        tool_calls=datasets.Value("int64"),
    )
    return datasets.Features(columns)


def save_hf(rows: dict[str, list[dict[str, Any]]], folder: Path) -> None:
    """Save the splits as a Hugging Face ``DatasetDict`` (``datasets.load_from_disk(folder)``)."""
    import datasets

    datasets.disable_progress_bars()
    features = _features()
    splits = {}
    for name, split_rows in rows.items():
        if split_rows:
            splits[name] = datasets.Dataset.from_list(split_rows, features=features)
        else:
            splits[name] = datasets.Dataset.from_dict({k: [] for k in features}, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(folder))


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def export_dataset(
    out: str | Path, config: ExportConfig | None = None, *, seed: int = 0, models: dict[str, str] | None = None
) -> StageResult:
    """Write ``out/export/{train,test}.jsonl``, ``out/export/hf/`` (when ``config.hf`` and ``datasets`` is
    installed) and ``out/export/README.md``. Rewritten in full on every run (it is cheap and deterministic)."""
    config = config or ExportConfig()
    stage = Stage("export", out, seed=seed)
    tasks = {t.id: t for t in read_tasks(out)}
    rows = []
    for record in read_kept(out):
        task = tasks.get(record.task_id)
        if task is None:
            stage.reject(record.id, f"task {record.task_id!r} is not in tasks/tasks.jsonl")
            continue
        rows.append(dataset_row(record, task))
    test_ids = split([r["id"] for r in rows], config.test_fraction, seed)
    splits = {"train": [r for r in rows if r["id"] not in test_ids], "test": [r for r in rows if r["id"] in test_ids]}
    stage.dir.mkdir(parents=True, exist_ok=True)
    for name, split_rows in splits.items():
        _write_jsonl(stage.dir / f"{name}.jsonl", split_rows)
    hf_note = None
    if config.hf:
        try:
            save_hf(splits, stage.dir / "hf")
        except ImportError:
            hf_note = "not written: the `datasets` package is not installed (pip install 'toolgym[synth]')"
    card = dataset_card(Path(out), config, splits, models or {}, hf_note)
    (stage.dir / "README.md").write_text(card, encoding="utf-8")
    stage.result.written = len(rows)
    return stage.finish()
