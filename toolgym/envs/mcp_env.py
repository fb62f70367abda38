"""MCPEnv: tasks from a JSONL file, tools from the MCP servers users already run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.envs.tasks import TaskSource, load_tasks
from toolgym.envs.tool_env import ToolEnv
from toolgym.rewards.base import Reward, get_reward
from toolgym.types import Budget, Task

SYSTEM_PROMPT = "You are a helpful assistant with tools. Use them when they help, then reply with the final answer."


class MCPEnv(ToolEnv):
    """A ToolEnv whose tools are those of MCP servers.

    ``toolgym eval mcp --servers servers.json --tasks tasks.jsonl`` runs it from the command line.

    Args:
        servers: a ``{"mcpServers": {...}}`` JSON file (the format MCP clients use) or the same as a dict.
        tasks: a JSONL task file (one Task a line), a TaskSource or a list of Tasks; None to pass
            tasks to ``reset`` yourself.
        reward: a Reward, or the registered name of one (e.g. ``"exact_match"``); default: each task's
            ``scoring.reward``.
        budget: episode limits; ``tool_timeout`` overrides its per-call deadline.
        share: share one connection per server with other envs of the same config (one process for all
            concurrent episodes); servers marked ``per_episode`` are never shared.
        system_prompt: prepended when a task has no system message.
        **kwargs: the other ToolEnv arguments (``parser``, ``final_tool``, ...).
    """

    env_name = "mcp"

    def __init__(
        self,
        servers: str | Path | Mapping[str, Any],
        tasks: str | Path | TaskSource | Sequence[Task] | None = None,
        *,
        reward: Reward | str | None = None,
        budget: Budget | None = None,
        tool_timeout: float | None = None,
        share: bool = True,
        system_prompt: str | None = SYSTEM_PROMPT,
        **kwargs: Any,
    ) -> None:
        from toolgym.tools.mcp import MCPToolset

        toolset = MCPToolset(servers, share=share)
        if isinstance(tasks, str | Path):
            tasks = load_tasks(tasks)
        if isinstance(reward, str):
            reward = get_reward(reward)
        budget = budget or Budget()
        if tool_timeout is not None:
            budget = budget.model_copy(update={"tool_timeout": float(tool_timeout)})
        super().__init__(
            toolset=toolset, tasks=tasks, reward=reward, budget=budget, system_prompt=system_prompt, **kwargs
        )
