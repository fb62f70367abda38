"""Summaries of a run: accuracy and efficiency (tokens, turns, tool calls, seconds per success)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import fmean

from pydantic import BaseModel, Field

from toolgym.types import Episode


class RunSummary(BaseModel):
    """Aggregate figures of a set of episodes."""

    episodes: int = 0
    scored: int = Field(0, description="episodes that got a reward (not failed)")
    mean_reward: float | None = None
    success_rate: float | None = Field(None, description="solved / all episodes (failures count as unsolved)")
    mean_turns: float = 0.0
    mean_tokens: float = 0.0
    mean_completion_tokens: float = 0.0
    mean_tool_calls: float = 0.0
    mean_seconds: float = 0.0
    tokens_per_success: float | None = None
    turns_per_success: float | None = None
    tool_calls_per_success: float | None = None
    seconds_per_success: float | None = None
    components: dict[str, float] = Field(default_factory=dict, description="mean reward components (scored)")
    tool_calls_by_name: dict[str, float] = Field(default_factory=dict, description="mean calls per episode")
    stop_reasons: dict[str, int] = Field(default_factory=dict)
    errors: dict[str, int] = Field(default_factory=dict)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for display."""

        def fmt(x: float | None, digits: int = 3) -> str:
            return "-" if x is None else f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"

        rows = [
            ("episodes", str(self.episodes)),
            ("mean reward", fmt(self.mean_reward)),
            ("success rate", "-" if self.success_rate is None else f"{self.success_rate:.1%}"),
            ("mean turns", fmt(self.mean_turns)),
            ("mean tokens", fmt(self.mean_tokens)),
            ("mean tool calls", fmt(self.mean_tool_calls)),
            ("mean seconds", fmt(self.mean_seconds)),
            ("tokens / success", fmt(self.tokens_per_success)),
            ("seconds / success", fmt(self.seconds_per_success)),
            *((f"mean {name}", fmt(value)) for name, value in sorted(self.components.items())),
            *((f"mean {name} calls", fmt(value)) for name, value in sorted(self.tool_calls_by_name.items())),
            ("stop reasons", ", ".join(f"{k} {v}" for k, v in sorted(self.stop_reasons.items())) or "-"),
            ("errors", ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"),
        ]
        return rows


def summarize(episodes: Sequence[Episode]) -> RunSummary:
    """Figures over ``episodes``; the mean reward counts scored episodes, success counts all."""
    if not episodes:
        return RunSummary()
    n = len(episodes)
    rewards = [e.reward for e in episodes if e.reward is not None and e.error is None]
    successes = sum(1 for e in episodes if e.success)
    any_verdict = any(e.success is not None for e in episodes)

    def per_success(total: float) -> float | None:
        return total / successes if successes else None

    tokens = sum(e.usage.total_tokens for e in episodes)
    turns = sum(e.usage.turns for e in episodes)
    calls = sum(e.usage.tool_calls for e in episodes)
    seconds = sum(e.usage.wall_seconds for e in episodes)
    return RunSummary(
        episodes=n,
        scored=len(rewards),
        mean_reward=fmean(rewards) if rewards else None,
        success_rate=successes / n if any_verdict else None,
        mean_turns=turns / n,
        mean_tokens=tokens / n,
        mean_completion_tokens=sum(e.usage.completion_tokens for e in episodes) / n,
        mean_tool_calls=calls / n,
        mean_seconds=seconds / n,
        tokens_per_success=per_success(tokens),
        turns_per_success=per_success(turns),
        tool_calls_per_success=per_success(calls),
        seconds_per_success=per_success(seconds),
        components=_mean_components([e for e in episodes if e.reward is not None and e.error is None]),
        tool_calls_by_name={k: v / n for k, v in sorted(_calls_by_name(episodes).items())},
        stop_reasons=dict(Counter(e.stop_reason.value for e in episodes if e.stop_reason)),
        errors=dict(Counter(e.error.kind for e in episodes if e.error)),
    )


def _mean_components(scored: Sequence[Episode]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for episode in scored:
        totals.update(episode.reward_components)
    return {name: total / len(scored) for name, total in sorted(totals.items())}


def _calls_by_name(episodes: Sequence[Episode]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for episode in episodes:
        for turn in episode.turns:
            counts.update(r.name for r in turn.tool_results if r.name)
    return counts
