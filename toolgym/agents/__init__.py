"""Policies, the rollout loop and the Runner."""

from toolgym.agents.episode_log import EpisodeLog, read_episodes
from toolgym.agents.first_turn import FirstTurnToolChoice
from toolgym.agents.policy import Generation, Policy, PolicyError, Sampling
from toolgym.agents.rollout import rollout
from toolgym.agents.runner import Runner
from toolgym.agents.summary import RunSummary, summarize
from toolgym.agents.sync_policy import SyncPolicy

__all__ = [
    "EpisodeLog",
    "FirstTurnToolChoice",
    "Generation",
    "Policy",
    "PolicyError",
    "RunSummary",
    "Runner",
    "Sampling",
    "SyncPolicy",
    "read_episodes",
    "rollout",
    "summarize",
]


def __getattr__(name: str) -> object:
    if name == "OpenAIPolicy":
        from toolgym.agents.openai_policy import OpenAIPolicy

        return OpenAIPolicy
    if name == "LocalPolicy":
        from toolgym.agents.local_policy import LocalPolicy

        return LocalPolicy
    raise AttributeError(name)
