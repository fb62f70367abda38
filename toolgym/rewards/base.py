"""The Reward contract, weighted composition and a registry of rewards by name."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from toolgym.types import Episode, Task


class RewardError(ValueError):
    """A reward produced something that is not a usable score (NaN, infinity, out of range)."""


@dataclass(slots=True)
class Score:
    """A reward's verdict: the value, its named components and whether the task counts as solved."""

    value: float
    components: dict[str, float] = field(default_factory=dict)
    success: bool | None = None

    def checked(self, source: str) -> Score:
        """This score, or RewardError naming ``source`` if any number in it is not finite."""
        if not isinstance(self.value, int | float) or not math.isfinite(self.value):
            raise RewardError(f"reward {source!r} returned a non-finite value {self.value!r}")
        for name, value in self.components.items():
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise RewardError(f"reward {source!r} component {name!r} is not finite: {value!r}")
        return self


@runtime_checkable
class Reward(Protocol):
    """Scores a finished episode of a task."""

    name: str

    async def score(self, task: Task, episode: Episode) -> Score: ...


async def evaluate(reward: Reward, task: Task, episode: Episode) -> Score:
    """Run ``reward`` and validate its result (finite numbers only)."""
    score = await reward.score(task, episode)
    if not isinstance(score, Score):
        raise RewardError(f"reward {reward.name!r} returned {type(score).__name__}, not a Score")
    return score.checked(reward.name)


class WeightedSum:
    """A weighted sum of rewards; each part appears in the components under its name.

    The composite counts as solved when every part that has an opinion says so.
    """

    def __init__(self, parts: Sequence[tuple[Reward, float]], name: str = "weighted") -> None:
        if not parts:
            raise ValueError("WeightedSum needs at least one (reward, weight) part")
        for _, weight in parts:
            if not math.isfinite(weight):
                raise ValueError(f"reward weight must be finite, got {weight!r}")
        self.parts = list(parts)
        self.name = name

    async def score(self, task: Task, episode: Episode) -> Score:
        total = 0.0
        components: dict[str, float] = {}
        verdicts: list[bool] = []
        for reward, weight in self.parts:
            part = await evaluate(reward, task, episode)
            total += weight * part.value
            components[reward.name] = part.value
            for key, value in part.components.items():
                components.setdefault(f"{reward.name}.{key}", value)
            if part.success is not None:
                verdicts.append(part.success)
        return Score(total, components, all(verdicts) if verdicts else None)


REWARDS: dict[str, Callable[..., Reward]] = {}


def register_reward(name: str, factory: Callable[..., Reward]) -> None:
    """Make a reward available by name (as in a task's ``scoring.reward``)."""
    REWARDS[name] = factory


def get_reward(name: str, **params: object) -> Reward:
    """A reward by its registered name, built with ``params``."""
    try:
        factory = REWARDS[name]
    except KeyError:
        raise ValueError(f"unknown reward {name!r}; known: {', '.join(sorted(REWARDS))}") from None
    return factory(**params)
