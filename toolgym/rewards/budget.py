"""Budget penalties: an episode truncated by a budget is penalised instead of scored."""

from __future__ import annotations

from collections.abc import Iterable

from toolgym.rewards.base import Reward, Score, evaluate
from toolgym.types import Episode, StopReason, Task

_ALL_BUDGETS = frozenset(r for r in StopReason if r.is_budget)


class BudgetPenalty:
    """Wraps a reward: a truncated episode gets ``-penalty`` (Kimi K2's token-budget rule).

    ``on`` chooses which budgets trigger it (default: the token budget only; pass
    ``StopReason`` members or their names; an empty ``on`` means every budget). Other episodes
    get the wrapped reward unchanged.
    """

    def __init__(
        self, inner: Reward, penalty: float = 1.0, on: Iterable[StopReason | str] = (StopReason.MAX_TOKENS,)
    ) -> None:
        if penalty < 0:
            raise ValueError("penalty must be >= 0 (it is subtracted)")
        self.inner = inner
        self.penalty = penalty
        self.on = frozenset(StopReason(r) for r in on) or _ALL_BUDGETS
        self.name = inner.name

    async def score(self, task: Task, episode: Episode) -> Score:
        if episode.truncated and episode.stop_reason in self.on:
            return Score(-self.penalty, {"budget_penalty": -self.penalty}, success=False)
        inner = await evaluate(self.inner, task, episode)
        return Score(inner.value, {**inner.components, "budget_penalty": 0.0}, inner.success)
