"""toolgym: multi-turn tool environments, rollouts and evals for agentic RL.

``import toolgym`` registers the built-in environments with Gymnasium
(``gymnasium.make("toolgym/Calculator-v0")``).
"""

from toolgym.agents import Generation, Policy, PolicyError, Runner, Sampling, rollout
from toolgym.envs import ToolEnv, make_env, register_env
from toolgym.rewards import Reward, Score
from toolgym.tools import FunctionToolset, Toolset
from toolgym.types import Budget, Episode, Message, Scoring, StopReason, Task, ToolSpec, Turn, Usage

__version__ = "0.1.0"

__all__ = [
    "Budget",
    "Episode",
    "FunctionToolset",
    "Generation",
    "Message",
    "Policy",
    "PolicyError",
    "Reward",
    "Runner",
    "Sampling",
    "Score",
    "Scoring",
    "StopReason",
    "Task",
    "ToolEnv",
    "ToolSpec",
    "Toolset",
    "Turn",
    "Usage",
    "make_env",
    "register_env",
    "rollout",
]
