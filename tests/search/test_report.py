"""Comparing runs: accuracy against the turn budget and tokens, the table, and the plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolgym.report import RunPoint, accuracy, comparison_table, plot_runs
from toolgym.types import Budget, Episode, ErrorInfo, ToolResult, Turn, Usage


def episode(max_turns: int | None, em: float, tokens: int, calls: tuple[str, ...] = ("search",), **kw) -> Episode:
    results = [ToolResult(call_id=str(i), name=name, content="") for i, name in enumerate(calls)]
    return Episode(
        task_id=kw.pop("task_id", "t"),
        env="search",
        model=kw.pop("model", "m"),
        budget=Budget(max_turns=max_turns),
        turns=[Turn(index=0, action={}, tool_results=results)],
        usage=Usage(prompt_tokens=tokens, completion_tokens=0, turns=len(calls) + 1, wall_seconds=1.0),
        reward=em,
        reward_components={"em": em, "f1": min(1.0, em + 0.5)},
        success=em >= 1.0,
        **kw,
    )


def test_accuracy_measures() -> None:
    runs = [episode(4, 1.0, 100), episode(4, 0.0, 300), episode(4, 0.0, 200, error=ErrorInfo(kind="x", message="y"))]
    assert accuracy(runs) == pytest.approx(1 / 3)
    assert accuracy(runs, "em") == pytest.approx(1 / 3)
    assert accuracy(runs, "f1") == pytest.approx(1.5 / 3)  # the failed episode counts 0
    assert accuracy(runs, "reward") == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no episode has the reward component 'judge'"):
        accuracy(runs, "judge")
    with pytest.raises(ValueError):
        accuracy([])


def test_run_points_and_table() -> None:
    short = RunPoint("short.jsonl", [episode(2, 0.0, 100), episode(2, 1.0, 300, ("search", "open"))], "em")
    long = RunPoint("long.jsonl", [episode(8, 1.0, 1000, ("search", "search", "open"))] * 2, "em")
    assert (short.max_turns, short.accuracy, short.mean_tokens, short.series) == (2, 0.5, 200.0, "search · m")
    assert short.calls == {"open": 0.5, "search": 1.0} and long.calls == {"open": 1.0, "search": 2.0}
    headers, rows = comparison_table([long, short])
    assert headers == ["run", "max turns", "episodes", "em", "mean f1", "open calls", "search calls", "mean turns",
                       "mean tokens", "mean seconds"]  # fmt: skip
    assert [row[:4] for row in rows] == [["short.jsonl", "2", "2", "0.500"], ["long.jsonl", "8", "2", "1.000"]]
    assert rows[1][4:7] == ["1.000", "1.00", "2.00"]


def test_plot_writes_a_png_per_series_with_unlimited_budgets(tmp_path: Path) -> None:
    runs = [
        RunPoint(f"{model}-{turns}", [episode(turns, float(turns >= 8), 50 * turns, model=model)])
        for model in ("small", "large")
        for turns in (2, 4, 8, 16, 32, 128)
    ]
    runs.append(RunPoint("unlimited", [episode(None, 1.0, 9000, model="large")]))
    path = plot_runs(runs, tmp_path / "runs.png", title="budget sweep")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    with pytest.raises(ValueError):
        plot_runs([], tmp_path / "none.png")
