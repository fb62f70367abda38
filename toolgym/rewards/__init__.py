"""Rewards: score a finished Episode into a value plus named components."""

from toolgym.rewards.base import REWARDS, Reward, RewardError, Score, WeightedSum, evaluate, get_reward
from toolgym.rewards.budget import BudgetPenalty
from toolgym.rewards.match import (
    ExactMatch,
    NormalizedExactMatch,
    NumericMatch,
    TokenF1,
    normalize_answer,
    parse_number,
    token_f1,
)

__all__ = [
    "REWARDS",
    "BudgetPenalty",
    "ExactMatch",
    "NormalizedExactMatch",
    "NumericMatch",
    "Reward",
    "RewardError",
    "Score",
    "TokenF1",
    "WeightedSum",
    "evaluate",
    "get_reward",
    "normalize_answer",
    "parse_number",
    "token_f1",
]
