"""Plots of runs: one run's reward against turns and tokens; several runs' accuracy against the turn
budget and against tokens used."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from toolgym.types import Episode


def plot_run(episodes: Sequence[Episode], path: str | Path, title: str = "") -> Path:
    """Write a PNG with reward against turns (with the mean per turn count) and against tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [e for e in episodes if e.reward is not None]
    failed = len(episodes) - len(scored)
    jitter = random.Random(0)
    fig, (by_turns, by_tokens) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    turns = [e.usage.turns for e in scored]
    rewards = [float(e.reward) for e in scored]  # type: ignore[arg-type]
    by_turns.scatter([t + jitter.uniform(-0.15, 0.15) for t in turns], rewards, alpha=0.5, s=18)
    per_turn: dict[int, list[float]] = defaultdict(list)
    for t, r in zip(turns, rewards, strict=True):
        per_turn[t].append(r)
    xs = sorted(per_turn)
    by_turns.plot(xs, [sum(per_turn[x]) / len(per_turn[x]) for x in xs], "o-", color="C1", label="mean")
    by_turns.set_xlabel("turns")
    by_turns.set_ylabel("reward")
    by_turns.legend(loc="best")
    by_tokens.scatter([e.usage.total_tokens for e in scored], rewards, alpha=0.5, s=18, color="C2")
    by_tokens.set_xlabel("tokens (prompt + completion)")
    for ax in (by_turns, by_tokens):
        ax.grid(alpha=0.3)
    note = f" · {failed} failed episodes not shown" if failed else ""
    fig.suptitle(f"{title} · {len(scored)} episodes{note}".strip(" ·"))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class RunPoint:
    """One run in a comparison: its turn budget, accuracy and mean cost per episode."""

    def __init__(self, name: str, episodes: Sequence[Episode], metric: str = "success") -> None:
        if not episodes:
            raise ValueError(f"{name}: no episodes")
        self.name = name
        self.metric = metric
        self.episodes = len(episodes)
        first = episodes[0]
        self.series = " · ".join(x for x in (first.env, first.model) if x) or name
        budgets = Counter(e.budget.max_turns for e in episodes)
        self.max_turns: int | None = budgets.most_common(1)[0][0]
        self.accuracy = accuracy(episodes, metric)
        n = len(episodes)
        self.mean_tokens = sum(e.usage.total_tokens for e in episodes) / n
        self.mean_turns = sum(e.usage.turns for e in episodes) / n
        self.mean_seconds = sum(e.usage.wall_seconds for e in episodes) / n
        calls: Counter[str] = Counter()
        components: Counter[str] = Counter()
        for episode in episodes:
            calls.update(r.name for turn in episode.turns for r in turn.tool_results if r.name)
            components.update(episode.reward_components)
        self.calls = {name: count / n for name, count in sorted(calls.items())}
        self.components = {name: total / n for name, total in sorted(components.items())}


def accuracy(episodes: Sequence[Episode], metric: str = "success") -> float:
    """Mean over all episodes (a failed one counts 0) of ``metric``: ``success``, ``reward`` or a reward
    component such as ``em``, ``f1`` or ``judge``."""
    if not episodes:
        raise ValueError("no episodes")
    if metric == "success":
        values = [float(bool(e.success)) for e in episodes]
    elif metric == "reward":
        values = [float(e.reward or 0.0) if e.error is None else 0.0 for e in episodes]
    else:
        if not any(metric in e.reward_components for e in episodes):
            known = sorted({k for e in episodes for k in e.reward_components})
            raise ValueError(f"no episode has the reward component {metric!r}; known: success, reward, {known}")
        values = [e.reward_components.get(metric, 0.0) if e.error is None else 0.0 for e in episodes]
    return sum(values) / len(values)


def plot_runs(runs: Sequence[RunPoint], path: str | Path, title: str = "") -> Path:
    """Write a PNG with accuracy against the turn budget and against tokens used, one line per env · model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("no runs to plot")
    metric = runs[0].metric
    series: dict[str, list[RunPoint]] = defaultdict(list)
    for run in runs:
        series[run.series].append(run)
    fig, (by_budget, by_tokens) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    unlimited = 0
    for i, (label, points) in enumerate(sorted(series.items())):
        color = f"C{i % 10}"
        budgeted = sorted((p for p in points if p.max_turns is not None), key=lambda p: p.max_turns or 0)
        unlimited += len(points) - len(budgeted)
        if budgeted:
            xs = [p.max_turns for p in budgeted]
            by_budget.plot(xs, [p.accuracy for p in budgeted], "o-", color=color, label=label)
        ordered = sorted(points, key=lambda p: p.mean_tokens)
        by_tokens.plot([p.mean_tokens for p in ordered], [p.accuracy for p in ordered], "o-", color=color)
        for p in ordered:
            tag = f"{p.max_turns}" if p.max_turns is not None else "∞"
            by_tokens.annotate(tag, (p.mean_tokens, p.accuracy), textcoords="offset points", xytext=(4, 4), fontsize=8)
    budgets = sorted({r.max_turns for r in runs if r.max_turns})
    if budgets and max(budgets) >= 4 * min(budgets):
        by_budget.set_xscale("log", base=2)
    if budgets:
        by_budget.set_xticks(budgets, [str(b) for b in budgets])
        by_budget.minorticks_off()
    by_budget.set_xlabel("turn budget (max turns)" + (f" · {unlimited} unlimited runs not shown" if unlimited else ""))
    by_budget.set_ylabel(metric if metric != "success" else "accuracy (success rate)")
    tokens = [r.mean_tokens for r in runs if r.mean_tokens > 0]
    if tokens and max(tokens) >= 10 * min(tokens):
        by_tokens.set_xscale("log")
    by_tokens.set_xlabel("mean tokens per episode (labels: turn budget)")
    for ax in (by_budget, by_tokens):
        ax.grid(alpha=0.3)
        ax.set_ylim(-0.03, 1.03 if all(0 <= r.accuracy <= 1 for r in runs) else None)
    by_budget.legend(loc="best", fontsize=8)
    measure = "accuracy" if metric == "success" else metric
    fig.suptitle(title or f"{measure} against the turn budget and tokens used · {len(runs)} runs")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def comparison_table(runs: Sequence[RunPoint]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows comparing runs: budget, accuracy, reward components, calls per tool, cost."""
    components = sorted({c for r in runs for c in r.components})
    tools = sorted({t for r in runs for t in r.calls})
    metric = runs[0].metric if runs else "success"
    headers = ["run", "max turns", "episodes", "accuracy" if metric == "success" else metric]
    headers += [f"mean {c}" for c in components if c != metric] + [f"{t} calls" for t in tools]
    headers += ["mean turns", "mean tokens", "mean seconds"]
    rows = []
    for r in sorted(runs, key=lambda r: (r.series, r.max_turns or 0, r.name)):
        row = [r.name, "∞" if r.max_turns is None else str(r.max_turns), str(r.episodes), f"{r.accuracy:.3f}"]
        row += [f"{r.components.get(c, 0.0):.3f}" for c in components if c != metric]
        row += [f"{r.calls.get(t, 0.0):.2f}" for t in tools]
        row += [f"{r.mean_turns:.2f}", f"{r.mean_tokens:,.0f}", f"{r.mean_seconds:.2f}"]
        rows.append(row)
    return headers, rows
